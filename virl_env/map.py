"""Top-down map (Pillow) and text rendering of a city, a route and the agent.

The map is drawn only when ``render()`` is called (never during ``step``); the static city layer
is cached per city and size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from PIL import Image, ImageDraw, ImageFont

from virl_env.world.city import City
from virl_env.released.dataset import EpisodeRoute
from virl_env.world.instructions import compass_name
from virl_env.world.routes import RailPoint, Route
from virl_env.streetview.signs import load_font

__all__ = ["render_ansi", "render_map", "render_route_ansi", "render_route_map"]

ROUTE_COLOR = (30, 110, 230)
START_COLOR = (20, 150, 60)
DEST_COLOR = (215, 40, 40)
AGENT_COLOR = (255, 150, 0)
HEADER_HEIGHT = 0.06  # fraction of the image


_font = load_font


class _Frame:
    """World (metres, y north) to pixel (y down) transform fitting the city in a square image."""

    def __init__(self, bounds: tuple[float, float, float, float], size: int) -> None:
        min_x, min_y, max_x, max_y = bounds
        top = int(size * HEADER_HEIGHT)
        pad = size * 0.03
        span = max(max_x - min_x, max_y - min_y)
        self.scale = (size - 2 * pad - top) / span
        self.ox = pad + (size - 2 * pad - (max_x - min_x) * self.scale) / 2 - min_x * self.scale
        self.oy = top + pad + (size - top - 2 * pad - (max_y - min_y) * self.scale) / 2 + max_y * self.scale

    def __call__(self, x: float, y: float) -> tuple[float, float]:
        return self.ox + x * self.scale, self.oy - y * self.scale


@lru_cache(maxsize=8)
def _city_layer(city: City, size: int) -> tuple[Image.Image, _Frame]:
    pal = city.style.palette
    img = Image.new("RGB", (size, size), pal.background)
    draw = ImageDraw.Draw(img)
    frame = _Frame(city.bounds, size)
    width = max(3, int(round(12 * frame.scale)))
    pts = city.node_points
    for a, b in city.edges.tolist():
        draw.line([frame(*pts[a]), frame(*pts[b])], fill=pal.street_outline, width=width + 2)
    for a, b in city.edges.tolist():
        draw.line([frame(*pts[a]), frame(*pts[b])], fill=pal.street, width=width)
    for n in city.intersections.tolist():
        x, y = frame(*pts[n])
        r = width / 2
        draw.ellipse([x - r, y - r, x + r, y + r], fill=pal.street)
    r = max(2, size // 300)
    for lm in city.landmarks:
        x, y = frame(*lm.position)
        draw.rectangle([x - r, y - r, x + r, y + r], fill=pal.landmark)
    # North arrow and scale bar.
    font = _font(max(10, size // 50))
    nx, ny = size - size * 0.05, size * (HEADER_HEIGHT + 0.05)
    arrow = size * 0.025
    draw.polygon([(nx, ny - arrow), (nx - arrow * 0.6, ny + arrow * 0.6), (nx, ny + arrow * 0.2),
                  (nx + arrow * 0.6, ny + arrow * 0.6)], fill=pal.label)
    draw.text((nx, ny + arrow * 0.8), "N", fill=pal.label, font=font, anchor="mt")
    bar = 200.0 * frame.scale
    bx, by = size * 0.04, size * 0.965
    draw.line([(bx, by), (bx + bar, by)], fill=pal.label, width=3)
    for tick in (bx, bx + bar):
        draw.line([(tick, by - 5), (tick, by + 5)], fill=pal.label, width=2)
    draw.text((bx + bar / 2, by - 6), "200 m", fill=pal.label, font=font, anchor="md")
    return img, frame


def _overlaps(box: tuple[float, float, float, float], boxes: list[tuple[float, float, float, float]]) -> bool:
    x0, y0, x1, y1 = box
    return any(x0 < b[2] and b[0] < x1 and y0 < b[3] and b[1] < y1 for b in boxes)


Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class _MapLayout:
    """Where the map's labels go: every box clear of the route, its rail points, the start and
    destination markers, the instruction landmarks and each other.

    Attributes:
        route_px: The route polyline in pixels.
        labels: ``(anchor, box, text, colour)`` per label (box: ``x0, y0, x1, y1``).
        legend: The legend's box.
        keep_clear: What no label may cover (a shapely geometry in pixels).
    """

    route_px: tuple[tuple[float, float], ...]
    labels: tuple[tuple[tuple[float, float], Box, str, tuple[int, int, int]], ...]
    legend: Box
    keep_clear: shapely.Geometry


def _route_line_width(size: int) -> int:
    return max(4, size // 150)


def _rail_radius(size: int) -> int:
    return max(2, size // 320) + 1


def _marker_radius(size: int) -> int:
    return max(5, size // 110)


def _free_spot(w: float, h: float, near: tuple[float, float], size: int, keep_clear: shapely.Geometry,
               placed: list[Box], offsets: list[tuple[float, float]]) -> Box:
    """The first ``w`` x ``h`` box at ``near`` plus one of ``offsets`` (tried in order), then
    anywhere on the map nearest to ``near``, that stays inside the map, covers nothing of
    ``keep_clear`` and overlaps no placed box."""
    lo, hi = size * HEADER_HEIGHT + 2, size - 4
    tried = [(near[0] + dx, near[1] + dy) for dx, dy in offsets]
    step = max(6, size // 96)
    grid = [(float(x), float(y)) for y in np.arange(lo, hi - h, step) for x in np.arange(4, size - w - 4, step)]
    grid.sort(key=lambda p: (p[0] + w / 2 - near[0]) ** 2 + (p[1] + h / 2 - near[1]) ** 2)
    for x, y in tried + grid:
        x, y = min(max(x, 4.0), size - w - 4), min(max(y, lo), hi - h)
        box = (x, y, x + w, y + h)
        if not _overlaps(box, placed) and not keep_clear.intersects(shapely.box(*box)):
            return box
    raise RuntimeError(f"no room for a {w:.0f} x {h:.0f} map label on a {size}-pixel map")


def _legend_entries(landmark_color: tuple[int, int, int]) -> list[tuple[str, tuple[int, int, int], str]]:
    return [("start", START_COLOR, "dot"), ("destination", DEST_COLOR, "dot"),
            ("instruction landmark", ROUTE_COLOR, "square"), ("other landmark", landmark_color, "small"),
            ("rail point", ROUTE_COLOR, "ring"), ("agent", AGENT_COLOR, "triangle")]


def _map_layout(city: City, route: Route, rail: Sequence[RailPoint], size: int) -> _MapLayout:
    """Place the map's labels and legend (pure geometry: nothing is drawn)."""
    _, frame = _city_layer(city, size)
    route_px = tuple(frame(*p) for p in route.points)
    pad = 2.0
    parts = [shapely.LineString(route_px).buffer(_route_line_width(size) / 2 + pad)]
    parts += [shapely.Point(frame(*p.position)).buffer(_rail_radius(size) + pad) for p in rail]
    parts += [shapely.Point(p).buffer(_marker_radius(size) + pad) for p in (route_px[0], route_px[-1])]
    start = city.landmarks[route.start]
    dest = city.landmarks[route.destination]
    named = [city.landmark_by_name[leg.landmark] for leg in route.legs[:-1] if leg.landmark is not None]
    parts += [shapely.Point(frame(*lm.position)).buffer(_marker_radius(size) + pad) for lm in named]
    keep_clear = shapely.unary_union(parts)
    shapely.prepare(keep_clear)
    measure = ImageDraw.Draw(Image.new("L", (1, 1)))
    legend_font = _font(max(10, size // 60))
    line = max(14, size // 48)
    entries = _legend_entries(city.style.palette.landmark)
    lw = max(measure.textbbox((0, 0), name, font=legend_font)[2] for name, _, _ in entries) + line + 16
    lh = line * len(entries) + 8
    corners = [(size - lw - 10, size - lh - 8), (10, size - lh - 40), (10, size * HEADER_HEIGHT + 10),
               (size - lw - 10, size * HEADER_HEIGHT + size * 0.1)]
    legend = _free_spot(lw, lh, (0.0, 0.0), size, keep_clear, [], corners)
    placed: list[Box] = [legend]
    font = _font(max(10, size // 52))
    labels = []
    for lm, text, color in ([(start, f"Start: {start.name}", START_COLOR),
                             (dest, f"Destination: {dest.name}", DEST_COLOR)]
                            + [(lm, lm.name, ROUTE_COLOR) for lm in named]):
        x, y = frame(*lm.position)
        left, top, right, bottom = measure.textbbox((0, 0), text, font=font)
        w, h = right - left + 6, bottom - top + 6
        gap = 10
        offsets = [(-w / 2, -h - gap), (-w / 2, gap), (gap, -h / 2), (-w - gap, -h / 2), (gap, -h - gap),
                   (-w - gap, gap), (gap, gap), (-w - gap, -h - gap), (-w / 2, -2 * h - 2 * gap),
                   (-w / 2, h + 2 * gap)]
        box = _free_spot(w, h, (x, y), size, keep_clear, placed, offsets)
        placed.append(box)
        labels.append(((x, y), box, text, color))
    return _MapLayout(route_px=route_px, labels=tuple(labels), legend=legend, keep_clear=keep_clear)


def _legend(draw: ImageDraw.ImageDraw, box: Box, size: int, landmark_color: tuple[int, int, int],
            font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> None:
    line = max(14, size // 48)
    x0, y0, x1, y1 = box
    draw.rectangle([x0, y0, x1, y1], fill=(255, 255, 255), outline=(120, 120, 120))
    r = line * 0.3
    for k, (name, color, shape) in enumerate(_legend_entries(landmark_color)):
        cx, cy = x0 + 8 + line / 2, y0 + 4 + k * line + line / 2
        if shape == "dot":
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
        elif shape == "square":
            draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=color)
        elif shape == "small":
            draw.rectangle([cx - r / 2, cy - r / 2, cx + r / 2, cy + r / 2], fill=color)
        elif shape == "ring":
            draw.ellipse([cx - r / 1.5, cy - r / 1.5, cx + r / 1.5, cy + r / 1.5], fill=(255, 255, 255), outline=color)
        else:
            draw.polygon([(cx, cy - r * 1.3), (cx - r, cy + r), (cx + r, cy + r)], outline=color, width=2)
        draw.text((x0 + 8 + line + 6, cy), name, fill=(20, 20, 20), font=font, anchor="lm")


def render_map(city: City, route: Route, rail: Sequence[RailPoint], index: int, size: int = 768) -> np.ndarray:
    """Draw the city from above with the route, its landmarks, the rail and the agent.

    Labels and the legend are placed clear of the route, its rail points and markers (the first
    free spot near their landmark, else the nearest free spot on the map, with a leader line);
    the agent is a hollow arrow, so the route and the rail point under it stay visible.

    Returns:
        ``(size, size, 3)`` ``uint8`` array.
    """
    base, frame = _city_layer(city, size)
    layout = _map_layout(city, route, rail, size)
    img = base.copy()
    draw = ImageDraw.Draw(img)
    font = _font(max(10, size // 52))
    for (x, y), box, _text, color in layout.labels:   # leader lines first: the route covers them
        bx, by = min(max(x, box[0]), box[2]), min(max(y, box[1]), box[3])
        if math.hypot(bx - x, by - y) > 24:
            draw.line([(x, y), (bx, by)], fill=color, width=1)
    draw.line(layout.route_px, fill=ROUTE_COLOR, width=_route_line_width(size), joint="curve")
    r = _rail_radius(size) - 1
    for k, p in enumerate(rail):
        x, y = frame(*p.position)
        fill = ROUTE_COLOR if k < index else (255, 255, 255)
        draw.ellipse([x - r - 1, y - r - 1, x + r + 1, y + r + 1], fill=fill, outline=ROUTE_COLOR)
    big = _marker_radius(size)
    for (x, y), color in ((layout.route_px[0], START_COLOR), (layout.route_px[-1], DEST_COLOR)):
        draw.ellipse([x - big, y - big, x + big, y + big], fill=color, outline=(255, 255, 255), width=2)
    for leg in route.legs[:-1]:
        if leg.landmark is not None:
            x, y = frame(*city.landmark_by_name[leg.landmark].position)
            draw.rectangle([x - big + 1, y - big + 1, x + big - 1, y + big - 1], fill=ROUTE_COLOR,
                           outline=(255, 255, 255))
    for _anchor, box, text, color in layout.labels:
        draw.rectangle(box, fill=(255, 255, 255), outline=color, width=2)
        left, top, _, _ = draw.textbbox((0, 0), text, font=font)
        draw.text((box[0] + 3 - left, box[1] + 3 - top), text, fill=(20, 20, 20), font=font)
    # Agent: a hollow arrow pointing along its heading.
    here = rail[min(index, len(rail) - 1)]
    ax, ay = frame(*here.position)
    h = math.radians(here.heading)
    tip = size / 45
    fx, fy = math.sin(h), -math.cos(h)  # heading in pixel coordinates (y down)
    px, py = -fy, fx
    draw.polygon([(ax + fx * tip, ay + fy * tip),
                  (ax - fx * tip * 0.6 + px * tip * 0.55, ay - fy * tip * 0.6 + py * tip * 0.55),
                  (ax - fx * tip * 0.6 - px * tip * 0.55, ay - fy * tip * 0.6 - py * tip * 0.55)],
                 outline=AGENT_COLOR, width=max(2, size // 250))
    _legend(draw, layout.legend, size, city.style.palette.landmark, _font(max(10, size // 60)))
    header_font = _font(max(11, size // 40))
    title = (f"{city.style.name} (city seed {city.seed})   route {route.index}: {len(route.legs)} legs, "
             f"{route.length:.0f} m   point {min(index, len(rail) - 1) + 1}/{len(rail)}")
    draw.rectangle([0, 0, size, int(size * HEADER_HEIGHT)], fill=(255, 255, 255))
    draw.text((size * 0.02, size * HEADER_HEIGHT / 2), title, fill=(20, 20, 20), font=header_font, anchor="lm")
    return np.asarray(img, dtype=np.uint8)


def render_ansi(city: City, route: Route, rail: Sequence[RailPoint], index: int, mode: str, *,
                finished: bool, points_solved: Sequence[bool]) -> str:
    """A text summary of the episode state."""
    point = rail[min(index, len(rail) - 1)]
    lines = [
        f"V-IRL  style={city.style.name}  city_seed={city.seed}  route={route.index}  "
        f"legs={len(route.legs)}  length={route.length:.0f} m  actions={mode}",
        f"point {index + 1}/{len(rail)} ({point.kind})  position=({point.position[0]:.0f}, "
        f"{point.position[1]:.0f})  heading={point.heading:.0f} ({compass_name(point.heading)})",
        f"observation: {point.observation}",
        f"solved {sum(points_solved)}/{len(points_solved)} finished points"
        + ("  [episode finished]" if finished else ""),
        "instruction:",
        route.instruction,
    ]
    return "\n".join(lines) + "\n"


def render_route_map(route: EpisodeRoute, rail: Sequence[RailPoint], index: int, size: int = 768) -> np.ndarray:
    """A plain top-down picture of a released-dataset route (no city around it): legs, rail points
    and the agent.

    Returns:
        ``(size, size, 3)`` ``uint8`` array.
    """
    img = Image.new("RGB", (size, size), (236, 232, 224))
    draw = ImageDraw.Draw(img)
    pts = np.asarray(route.points + tuple(p.position for p in rail))
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    span = max(float((hi - lo).max()), 50.0)
    scale = size * 0.84 / span
    mid = (lo + hi) / 2

    def px(p: tuple[float, float]) -> tuple[float, float]:
        return size / 2 + (p[0] - mid[0]) * scale, size / 2 - (p[1] - mid[1]) * scale

    draw.line([px(p) for p in route.points], fill=(30, 110, 230), width=max(3, size // 150))
    r = max(3, size // 200)
    for k, p in enumerate(rail):
        x, y = px(p.position)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(30, 110, 230) if k < index else (255, 255, 255),
                     outline=(30, 110, 230))
    here = rail[min(index, len(rail) - 1)]
    x, y = px(here.position)
    h = math.radians(here.heading)
    tip = size / 40
    fx, fy = math.sin(h), -math.cos(h)
    draw.polygon([(x + fx * tip, y + fy * tip), (x - fx * tip * 0.6 - fy * tip * 0.5, y - fy * tip * 0.6 + fx * tip * 0.5),
                  (x - fx * tip * 0.6 + fy * tip * 0.5, y - fy * tip * 0.6 - fx * tip * 0.5)], fill=(255, 150, 0))
    draw.text((10, 10), f"dataset route {route.index}: {len(route.points) - 1} legs", fill=(20, 20, 20))
    return np.asarray(img, dtype=np.uint8)


def render_route_ansi(route: EpisodeRoute, rail: Sequence[RailPoint], index: int, mode: str) -> str:
    """A text summary of the episode state on a released-dataset route."""
    point = rail[index]
    return (f"V-IRL dataset route {route.index}  actions={mode}\n"
            f"point {index + 1}/{len(rail)} ({point.kind})  heading={point.heading:.0f}\n"
            f"observation: {point.observation}\ninstruction:\n{route.instruction}\n")
