"""Top-down map (Pillow) and text rendering of a city, a route and the agent.

The map is drawn only when ``render()`` is called (never during ``step``); the static city layer
is cached per city and size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from virl_env.city import City
from virl_env.instructions import compass_name
from virl_env.routes import RailPoint, Route

__all__ = ["render_ansi", "render_map"]

ROUTE_COLOR = (30, 110, 230)
START_COLOR = (20, 150, 60)
DEST_COLOR = (215, 40, 40)
AGENT_COLOR = (255, 150, 0)
HEADER_HEIGHT = 0.06  # fraction of the image


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: fixed-size bitmap font
        return ImageFont.load_default()


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


def _label(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, color: tuple[int, int, int],
           font: ImageFont.ImageFont | ImageFont.FreeTypeFont, size: int,
           placed: list[tuple[float, float, float, float]]) -> None:
    """Draw a boxed label near ``xy`` at the first candidate spot that overlaps no placed label."""
    x, y = xy
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    w, h = right - left, bottom - top
    gap = 10
    candidates = [(x - w / 2, y - h - gap - 4), (x - w / 2, y + gap), (x + gap, y - h / 2),
                  (x - w - gap - 6, y - h / 2), (x + gap, y - h - gap - 4), (x - w - gap - 6, y + gap),
                  (x - w / 2, y - 2 * h - 2 * gap - 8), (x - w / 2, y + h + 2 * gap + 4)]
    lo, hi = size * HEADER_HEIGHT + 2, size - 4
    box = None
    for cx, cy in candidates:
        cx = min(max(cx, 4), size - w - 10)
        cy = min(max(cy, lo), hi - h - 6)
        trial = (cx - 3, cy - 2, cx + w + 3, cy + h + 4)
        if not _overlaps(trial, placed):
            box = trial
            break
    if box is None:
        cx, cy = min(max(candidates[0][0], 4), size - w - 10), min(max(candidates[0][1], lo), hi - h - 6)
        box = (cx - 3, cy - 2, cx + w + 3, cy + h + 4)
    placed.append(box)
    draw.rectangle(box, fill=(255, 255, 255), outline=color, width=2)
    draw.text((box[0] + 3 - left, box[1] + 2 - top), text, fill=(20, 20, 20), font=font)


def _legend(draw: ImageDraw.ImageDraw, size: int, landmark_color: tuple[int, int, int],
            font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> None:
    entries = [("start", START_COLOR, "dot"), ("destination", DEST_COLOR, "dot"),
               ("instruction landmark", ROUTE_COLOR, "square"), ("other landmark", landmark_color, "small"),
               ("rail point", ROUTE_COLOR, "ring"), ("agent", AGENT_COLOR, "triangle")]
    line = max(14, size // 48)
    width = max(draw.textbbox((0, 0), name, font=font)[2] for name, _, _ in entries) + line + 16
    x0, y0 = size - width - 10, size - line * len(entries) - 16
    draw.rectangle([x0, y0, size - 10, size - 8], fill=(255, 255, 255), outline=(120, 120, 120))
    r = line * 0.3
    for k, (name, color, shape) in enumerate(entries):
        cx, cy = x0 + 8 + line / 2, y0 + 8 + k * line + line / 2
        if shape == "dot":
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
        elif shape == "square":
            draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=color)
        elif shape == "small":
            draw.rectangle([cx - r / 2, cy - r / 2, cx + r / 2, cy + r / 2], fill=color)
        elif shape == "ring":
            draw.ellipse([cx - r / 1.5, cy - r / 1.5, cx + r / 1.5, cy + r / 1.5], fill=(255, 255, 255), outline=color)
        else:
            draw.polygon([(cx, cy - r * 1.3), (cx - r, cy + r), (cx + r, cy + r)], fill=color)
        draw.text((x0 + 8 + line + 6, cy), name, fill=(20, 20, 20), font=font, anchor="lm")


def render_map(city: City, route: Route, rail: Sequence[RailPoint], index: int, size: int = 768) -> np.ndarray:
    """Draw the city from above with the route, its landmarks, the rail and the agent.

    Returns:
        ``(size, size, 3)`` ``uint8`` array.
    """
    base, frame = _city_layer(city, size)
    img = base.copy()
    draw = ImageDraw.Draw(img)
    font = _font(max(10, size // 52))
    route_px = [frame(*p) for p in route.points]
    draw.line(route_px, fill=ROUTE_COLOR, width=max(4, size // 150), joint="curve")
    r = max(2, size // 320)
    for k, p in enumerate(rail):
        x, y = frame(*p.position)
        fill = ROUTE_COLOR if k < index else (255, 255, 255)
        draw.ellipse([x - r - 1, y - r - 1, x + r + 1, y + r + 1], fill=fill, outline=ROUTE_COLOR)
    big = max(5, size // 110)
    for (x, y), color in ((route_px[0], START_COLOR), (route_px[-1], DEST_COLOR)):
        draw.ellipse([x - big, y - big, x + big, y + big], fill=color, outline=(255, 255, 255), width=2)
    start = city.landmarks[route.start]
    dest = city.landmarks[route.destination]
    named = [city.landmark_by_name[leg.landmark] for leg in route.legs[:-1] if leg.landmark is not None]
    for lm in named:
        x, y = frame(*lm.position)
        draw.rectangle([x - big + 1, y - big + 1, x + big - 1, y + big - 1], fill=ROUTE_COLOR,
                       outline=(255, 255, 255))
    placed: list[tuple[float, float, float, float]] = [(size * 0.74, size * 0.80, size, size)]  # legend
    _label(draw, frame(*start.position), f"Start: {start.name}", START_COLOR, font, size, placed)
    _label(draw, frame(*dest.position), f"Destination: {dest.name}", DEST_COLOR, font, size, placed)
    for lm in named:
        _label(draw, frame(*lm.position), lm.name, ROUTE_COLOR, font, size, placed)
    # Agent: a triangle pointing along its heading.
    here = rail[min(index, len(rail) - 1)]
    ax, ay = frame(*here.position)
    h = math.radians(here.heading)
    tip = size / 45
    fx, fy = math.sin(h), -math.cos(h)  # heading in pixel coordinates (y down)
    px, py = -fy, fx
    draw.polygon([(ax + fx * tip, ay + fy * tip),
                  (ax - fx * tip * 0.6 + px * tip * 0.55, ay - fy * tip * 0.6 + py * tip * 0.55),
                  (ax - fx * tip * 0.6 - px * tip * 0.55, ay - fy * tip * 0.6 - py * tip * 0.55)],
                 fill=AGENT_COLOR, outline=(60, 30, 0))
    _legend(draw, size, city.style.palette.landmark, _font(max(10, size // 60)))
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
