"""Street views: perspective pictures of a generated city (Pillow + numpy), and of real panoramas.

Synthetic views (:func:`render_view`, :func:`render_grid`) are drawn from the city model in the
city's :class:`~virl_env.styles.StreetLook`: sky and haze, the ground with roads, curbs, centre
lines and zebra crossings (Pillow polygons, clipped at the camera's near plane), building facades
with windows, cornices and storefronts (a vectorised numpy ray cast: one ray per image column
against the facade segments, then per-pixel texture from the hit's height and position along the
facade), and a sign naming every landmark within :data:`~virl_env.city.VIEW_RADIUS` (the landmarks
the text observation names), lettered with Pillow's bundled font. Signs are camera-facing boards at
shop-fascia height whose size follows perspective, with a floor of :data:`MIN_SIGN_TEXT_PX` pixel
lettering so that the names a route names stay readable at small view sizes.

The camera stands on the street centre line at :data:`EYE_HEIGHT` metres, looks level, with a
:data:`FOV` degree horizontal field of view. :func:`render_grid` assembles the four views of a point
in a 2x2 grid, in the order the prompt states: front, right (top row) / back, left (bottom row),
separated by thin black lines.

Everything is deterministic: the buildings of a city (widths, heights, colours, lit windows) are
drawn once per (city, look) from ``numpy.random.default_rng([seed, style_key, stream])``.
Scenes and finished grids are cached per process.

Real data (:func:`project_panorama`) cuts a perspective view out of an equirectangular panorama
with a precomputed ray grid and bilinear sampling.
"""

from __future__ import annotations

import math
import zlib
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from virl_env.city import VIEW_RADIUS, City, style_key
from virl_env.styles import StreetLook

__all__ = [
    "EYE_HEIGHT",
    "FOV",
    "MIN_SIGN_TEXT_PX",
    "SCENE_RADIUS",
    "VIEW_NAMES",
    "VIEW_OFFSETS",
    "SignPlacement",
    "clear_view_cache",
    "compose_grid",
    "grid_size",
    "project_panorama",
    "render_grid",
    "render_view",
    "separator_width",
    "sign_color",
]

VIEW_NAMES: tuple[str, ...] = ("front", "right", "back", "left")
"""The four views of a grid, in grid order (row-major: front, right / back, left)."""

VIEW_OFFSETS: tuple[float, ...] = (0.0, 90.0, 180.0, 270.0)
"""Heading offset of each view from the agent's heading, in degrees clockwise."""

FOV = 90.0
"""Horizontal (and vertical: views are square) field of view in degrees, as in the paper."""

EYE_HEIGHT = 2.2
"""Camera height in metres (a Street View car camera is about 2.5 m up)."""

SCENE_RADIUS = 170.0
"""Metres beyond which streets and buildings are not drawn (the haze has swallowed them)."""

MIN_SIGN_TEXT_PX = 9
"""Sign lettering is never drawn smaller than this many pixels (while the sign is within
:data:`VIEW_RADIUS`), so the landmark names stay legible at 256-pixel views."""

NEAR = 0.5
GROUND_FLOOR = 4.2          # metres: shop floor under the first storey
SIGN_BOTTOM = 3.1           # metres above the street
SIGN_LINE = 1.0             # metres per line of lettering (times look.sign_scale)
SIGN_OUT = 0.8              # metres the sign stands in front of its facade
_STREAM = 7                 # separates street-view draws from city and route seeds
_GRID_CACHE_BYTES = 96 * 2**20

# Facade pixel classes.
_FACADE, _GLASS, _LIT, _TRIM, _FASCIA, _SHOP = range(6)


# ---- fonts and colours ---------------------------------------------------------------------
@lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: fixed-size bitmap font
        return ImageFont.load_default()


def _scale(color: Sequence[float], factor: float) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, round(c * factor)))) for c in color)  # type: ignore[return-value]


def sign_color(look: StreetLook, kind: str) -> tuple[int, int, int]:
    """The sign board colour of a landmark kind in a look (stable across processes: CRC32)."""
    return look.sign_colors[zlib.crc32(kind.encode("utf-8")) % len(look.sign_colors)]


def separator_width(view_size: int) -> int:
    """Width in pixels of the black lines between the four views of a grid."""
    return max(2, int(round(view_size / 128)))


def grid_size(view_size: int) -> int:
    """Side in pixels of the 2x2 grid of ``view_size`` views."""
    return 2 * view_size + separator_width(view_size)


# ---- scene: the city's geometry prepared for drawing ------------------------------------------
@dataclass(frozen=True, eq=False)
class _Scene:
    look: StreetLook
    # Facades (one row per building front).
    wx0: np.ndarray
    wy0: np.ndarray
    wx1: np.ndarray
    wy1: np.ndarray
    wlen: np.ndarray
    wheight: np.ndarray
    wbay: np.ndarray
    wfacade: np.ndarray      # id of the street side the facade belongs to (edge * 2 + side)
    wseed: np.ndarray
    wpalette: np.ndarray     # (N, 6, 3) float32 colours per pixel class, lit and shaded
    wshop: np.ndarray
    # Ground polygons, drawn in order.
    gverts: np.ndarray       # (M, 2)
    gstart: np.ndarray       # (P,) first vertex of each polygon
    gindex: np.ndarray       # (P,) palette index of each polygon (1..K; 0 is "no polygon")
    gpal32: np.ndarray       # (K + 1,) RGBA colours as uint32 words
    gcenter: np.ndarray      # (P, 2)
    gradius: np.ndarray      # (P,)
    greach: np.ndarray       # (P,) metres within which the polygon is drawn
    # Signs.
    signs: tuple[tuple[int, float, float, int, str], ...]  # landmark, x, y, facade id, kind
    landmark_xy: np.ndarray


def _clearance(city: City, node: int, leaving: float, side: int, setback: float, limit: float) -> float:
    """Distance along a street from ``node`` at which its facade on ``side`` (+1 right, -1 left,
    walking away from the node) meets the facade of the neighbouring street."""
    others = [b for _nb, _e, b, _len in city.node_streets[node] if abs(((b - leaving) + 180) % 360 - 180) > 1e-6]
    if not others:
        return 0.0  # dead end: the facade runs to the end of the street
    gaps = [((b - leaving) * side) % 360.0 for b in others]
    alpha = min(gaps)
    if alpha >= 179.0:
        return 0.0 if alpha < 181.0 else max(-setback, setback / math.tan(math.radians(alpha / 2)))
    return min(limit, setback / math.tan(math.radians(alpha / 2)))


def _build_scene(city: City, look: StreetLook) -> _Scene:
    rng = np.random.default_rng([city.seed, style_key(city.style), _STREAM])
    setback = float(city.style.setback)
    w = min(look.road_half_width, setback - 1.5)
    pts = city.node_xy
    shop_kind: dict[tuple[int, int], list[tuple[float, str]]] = {}
    for lm in city.landmarks:
        shop_kind.setdefault((lm.edge, 1 if lm.side == "right" else -1), []).append((lm.offset, lm.kind))

    rows: list[tuple] = []
    sun = math.radians(look.sun_azimuth)
    for e, (a, b) in enumerate(city.edges.tolist()):
        p, q = pts[a], pts[b]
        length = float(math.hypot(*(q - p)))
        d = (q - p) / length
        right = np.array([d[1], -d[0]])
        theta = math.degrees(math.atan2(d[0], d[1])) % 360.0
        for side in (1, -1):
            t0 = _clearance(city, a, theta, side, setback, length / 2)
            t1 = length - _clearance(city, b, (theta + 180.0) % 360.0, -side, setback, length / 2)
            if t1 - t0 < 2.0:
                continue
            base = p + right * side * setback
            normal = -right * side  # facades face the street
            shade = 0.80 + 0.20 * max(0.0, math.cos(math.atan2(normal[0], normal[1]) - sun))
            shops = shop_kind.get((e, side), [])
            t = t0
            while t < t1 - 1e-6:
                width = float(rng.uniform(*look.building_width))
                if t1 - (t + width) < look.building_width[0] * 0.6:
                    width = t1 - t
                floors = int(rng.integers(look.floors[0], look.floors[1] + 1))
                height = GROUND_FLOOR + (floors - 1) * look.floor_height + 0.8
                color = np.asarray(look.facades[int(rng.integers(len(look.facades)))], dtype=np.float32)
                color = color * float(rng.uniform(0.92, 1.06))
                kinds = [k for off, k in shops if t - 1e-6 <= off <= t + width + 1e-6]
                fascia = sign_color(look, kinds[0]) if kinds else look.trim
                x0, y0 = base + d * t
                x1, y1 = base + d * (t + width)
                bays = max(1, int(round(width / 3.2)))
                rows.append((x0, y0, x1, y1, width, height, width / bays, e * 2 + (side > 0),
                             int(rng.integers(1 << 30)), color, shade, fascia, bool(kinds)))
                t += width
    n = len(rows)
    col = {name: np.asarray([r[i] for r in rows], dtype=np.float64) for i, name in
           enumerate(("x0", "y0", "x1", "y1", "len", "height", "bay"))}
    palette = np.zeros((n, 6, 3), dtype=np.float32)
    light = look.light
    for i, r in enumerate(rows):
        color, shade, fascia = r[9], r[10], r[11]
        palette[i, _FACADE] = np.clip(color * shade * light, 0, 255)
        palette[i, _GLASS] = np.asarray(look.window, dtype=np.float32) * min(1.0, light * 1.1)
        palette[i, _LIT] = look.window_lit
        palette[i, _TRIM] = np.clip(np.asarray(look.trim, dtype=np.float32) * shade * light, 0, 255)
        palette[i, _FASCIA] = fascia if r[12] else np.clip(np.asarray(fascia) * shade * light, 0, 255)
        palette[i, _SHOP] = (np.asarray(look.window_lit) * 0.55 + 60) if light < 0.7 else \
            np.asarray(look.window, dtype=np.float32) * 0.8 + 40

    # Ground: curbs (wider), roads, junction patches, centre lines, zebra crossings.
    polys: list[np.ndarray] = []
    colors: list[tuple[int, int, int]] = []
    reach: list[float] = []
    road = _scale(look.road, light)
    curb = _scale(look.curb, light)
    mark = _scale(look.marking, max(light, 0.75))
    edge_vec = []
    for a, b in city.edges.tolist():
        p, q = pts[a], pts[b]
        length = float(math.hypot(*(q - p)))
        d = (q - p) / length
        n_ = np.array([d[1], -d[0]])
        edge_vec.append((p, q, d, n_, length))
    for hw, c in ((w + 0.35, curb), (w, road)):
        for p, q, d, n_, _ in edge_vec:
            polys.append(np.array([p + n_ * hw, q + n_ * hw, q - n_ * hw, p - n_ * hw]))
            colors.append(c)
            reach.append(SCENE_RADIUS)
    angles = np.linspace(0, 2 * np.pi, 13)[:-1]
    ring = np.stack([np.sin(angles), np.cos(angles)], axis=1)
    for node in np.flatnonzero(city.node_degree >= 2).tolist():
        polys.append(pts[node] + ring * (w * 1.05))
        colors.append(road)
        reach.append(SCENE_RADIUS)
    if look.marking_style != "none":
        for p, q, d, n_, length in edge_vec:
            s0, s1 = w + 1.0, length - (w + 1.0)
            if s1 - s0 < 2.0:
                continue
            if look.marking_style == "dashed":
                pieces = [(s, min(s + 3.0, s1)) for s in np.arange(s0, s1, 9.0)]
                offsets = [(0.0, 0.08)]
            elif look.marking_style == "double":
                pieces, offsets = [(s0, s1)], [(-0.18, 0.07), (0.18, 0.07)]
            else:
                pieces, offsets = [(s0, s1)], [(0.0, 0.09)]
            for u0, u1 in pieces:
                for off, half in offsets:
                    a_, b_ = p + d * u0 + n_ * off, p + d * u1 + n_ * off
                    polys.append(np.array([a_ + n_ * half, b_ + n_ * half, b_ - n_ * half, a_ - n_ * half]))
                    colors.append(mark)
                    reach.append(90.0 if len(pieces) > 1 else SCENE_RADIUS)
    if look.crosswalks:
        zebra = _scale((236, 236, 232), max(light, 0.7))
        for node in city.intersections.tolist():
            for _nb, e, bear, length in city.node_streets[node]:
                if length < 3 * w + 6:
                    continue
                rad = math.radians(bear)
                d = np.array([math.sin(rad), math.cos(rad)])
                n_ = np.array([d[1], -d[0]])
                u0, u1 = w + 1.2, w + 4.2
                stripes = max(3, int(round(2 * w / 1.2)))
                for k in range(stripes):
                    c = -w + (k + 0.5) * (2 * w / stripes)
                    half = 0.3 * (2 * w / stripes)
                    polys.append(np.array([pts[node] + d * u0 + n_ * (c - half), pts[node] + d * u1 + n_ * (c - half),
                                           pts[node] + d * u1 + n_ * (c + half), pts[node] + d * u0 + n_ * (c + half)]))
                    colors.append(zebra)
                    reach.append(70.0)
    starts = np.cumsum([0] + [len(p) for p in polys[:-1]])
    verts = np.concatenate(polys).astype(np.float64)
    distinct = list(dict.fromkeys(colors))
    gindex = np.asarray([distinct.index(c) + 1 for c in colors], dtype=np.uint8)
    pal4 = np.full((len(distinct) + 1, 4), 255, dtype=np.uint8)
    pal4[0] = 0
    pal4[1:, :3] = distinct
    gpal32 = pal4.view(np.uint32).ravel().copy()
    centers = np.asarray([p.mean(axis=0) for p in polys])
    radius = np.asarray([float(np.max(np.hypot(*(p - c).T))) for p, c in zip(polys, centers)])

    signs = []
    for lm in city.landmarks:
        toward = np.asarray(lm.street_point) - np.asarray(lm.position)
        toward = toward / max(float(np.hypot(*toward)), 1e-9)
        x, y = np.asarray(lm.position) + toward * SIGN_OUT
        signs.append((lm.index, float(x), float(y), lm.edge * 2 + (lm.side == "right"), lm.kind))
    return _Scene(look=look, wx0=col["x0"], wy0=col["y0"], wx1=col["x1"], wy1=col["y1"], wlen=col["len"],
                  wheight=col["height"], wbay=col["bay"], wfacade=np.asarray([r[7] for r in rows], dtype=np.int64),
                  wseed=np.asarray([r[8] for r in rows], dtype=np.int64), wpalette=palette,
                  wshop=np.asarray([r[12] for r in rows], dtype=bool), gverts=verts, gstart=starts.astype(np.int64),
                  gindex=gindex, gpal32=gpal32, gcenter=centers, gradius=radius,
                  greach=np.asarray(reach), signs=tuple(signs),
                  landmark_xy=city.landmark_xy)


@lru_cache(maxsize=16)
def _scene(city: City, look: StreetLook) -> _Scene:
    return _build_scene(city, look)


@lru_cache(maxsize=32)
def _background(look: StreetLook, size: int) -> np.ndarray:
    """Sky gradient above the horizon, hazy pavement below (RGBA, read-only)."""
    f = (size / 2) / math.tan(math.radians(FOV / 2))
    y = np.arange(size, dtype=np.float64) + 0.5
    horizon = size / 2
    out = np.empty((size, 3), dtype=np.float64)
    t = np.clip((horizon - y) / horizon, 0, 1) ** 0.6
    sky = np.asarray(look.sky_horizon) * (1 - t[:, None]) + np.asarray(look.sky_top) * t[:, None]
    below = y > horizon
    dist = np.where(below, f * EYE_HEIGHT / np.maximum(y - horizon, 1e-6), 1e9)
    fog = 1 - np.exp(-dist / look.haze_distance)
    ground = np.asarray(_scale(look.ground, look.light), dtype=np.float64)
    g = ground * (1 - fog[:, None]) + np.asarray(look.haze) * fog[:, None]
    out[:] = np.where(below[:, None], g, sky)
    rgba = np.concatenate([np.clip(out, 0, 255), np.full((size, 1), 255.0)], axis=1).astype(np.uint8)
    img = np.repeat(rgba[:, None, :], size, axis=1)
    img.setflags(write=False)
    return img


@lru_cache(maxsize=32)
def _background_words(look: StreetLook, size: int) -> np.ndarray:
    """:func:`_background` as one RGBA uint32 word per row, ``(size, 1)`` (every column of the
    background is the same, so a strip of any width is filled by broadcasting)."""
    words = _background(look, size)[:, :1].copy().view(np.uint32).reshape(size, 1)
    words.setflags(write=False)
    return words


@lru_cache(maxsize=32)
def _ground_palette(scene: _Scene, size: int) -> np.ndarray:
    """Ground polygon colours per image row below the horizon, faded into the haze by the row's
    distance: ``(K + 1, rows, 1)`` uint32 RGBA words, one column of row colours per palette index.
    Index 0 ("no polygon") is the row's bare background pavement."""
    look = scene.look
    f = (size / 2) / math.tan(math.radians(FOV / 2))
    y = np.arange(size // 2, size, dtype=np.float64) + 0.5
    dist = f * EYE_HEIGHT / np.maximum(y - size / 2, 1e-6)
    fog = (1 - np.exp(-dist / look.haze_distance))[None, :, None]
    colors = scene.gpal32.view(np.uint8).reshape(-1, 4)[:, None, :3].astype(np.float64)
    faded = colors * (1 - fog) + np.asarray(look.haze, dtype=np.float64) * fog
    table = np.full((len(scene.gpal32), len(y), 4), 255, dtype=np.uint8)
    table[..., :3] = np.clip(faded + 0.5, 0, 255)
    words = table.view(np.uint32)   # (K + 1, rows, 1)
    words[0] = _background_words(look, size)[size // 2:]
    words.setflags(write=False)
    return words


# ---- drawing -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SignPlacement:
    """Where a landmark's sign was drawn in a view: the landmark name, the view index (0 front,
    1 right, 2 back, 3 left) and its pixel box ``(x0, y0, x1, y1)`` within that view."""

    name: str
    view: int
    box: tuple[int, int, int, int]


def _ground_subset(scene: _Scene, ox: float, oy: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """The ground polygons worth drawing from a point: vertices, first-vertex offsets, the index of
    each vertex's successor around its polygon, and the polygons' palette indices."""
    gd = np.hypot(scene.gcenter[:, 0] - ox, scene.gcenter[:, 1] - oy) - scene.gradius
    sub = np.flatnonzero(gd <= scene.greach)
    if len(sub) == 0:
        return np.zeros((0, 2)), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), []
    ends = np.append(scene.gstart[1:], len(scene.gverts))
    lens = ends[sub] - scene.gstart[sub]
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    # Ragged arange: the vertex indices of the kept polygons, in order.
    total = int(lens.sum())
    idx = np.repeat(scene.gstart[sub] - starts, lens) + np.arange(total)
    succ = np.arange(1, total + 1)
    succ[starts + lens - 1] = starts
    return scene.gverts[idx], starts, succ, scene.gindex[sub].tolist()


def _draw_ground(index: np.ndarray, ground: tuple[np.ndarray, np.ndarray, np.ndarray, list[int]],
                 ox: float, oy: float, frames: Sequence[tuple[tuple[float, float], tuple[float, float]]],
                 size: int, focal: float, top: int) -> None:
    """Draw the ground polygons' palette indices into ``index``, the image rows from ``top`` down
    (ground never rises above the horizon) of the views with the given ``(forward, right)`` frames,
    side by side. The projection and clipping of every view is computed in one batch; Pillow then
    rasterises each view's polygons into an ``L`` image of its own."""
    v, starts, succ, colors = ground
    rows = size - top
    if len(starts) == 0:
        index[...] = 0
        return
    half = size / 2
    fx, fy = (np.asarray([fr[0][i] for fr in frames])[:, None] for i in (0, 1))
    rx, ry = (np.asarray([fr[1][i] for fr in frames])[:, None] for i in (0, 1))
    dx, dy = v[:, 0] - ox, v[:, 1] - oy
    f_all = dx * fx + dy * fy          # (views, vertices)
    r_all = dx * rx + dy * ry
    fmax = np.maximum.reduceat(f_all, starts, axis=1)
    # Cheap frustum test: skip polygons entirely behind, or entirely outside the 45-degree wedge.
    rmin = np.minimum.reduceat(r_all - f_all, starts, axis=1)
    rmax = np.maximum.reduceat(r_all + f_all, starts, axis=1)
    keep = (fmax >= NEAR) & (rmax >= 0) & (rmin <= 0)
    # Sutherland-Hodgman clip against the near plane f >= NEAR, for all polygons at once: the edge
    # from each vertex to its successor emits the vertex if it is in front, then the crossing
    # point if the edge crosses the plane (a polygon wholly in front comes out unchanged). Same
    # arithmetic, in the same order, as clipping one polygon at a time, so identical pixels.
    f_next, r_next = f_all[:, succ], r_all[:, succ]
    front = f_all >= NEAR
    crosses = front != front[:, succ]
    with np.errstate(divide="ignore", invalid="ignore"):  # edges that do not cross are dropped
        r_cross = r_all + (NEAR - f_all) / (f_next - f_all) * (r_next - r_all)
    emit = np.stack([front, crosses], axis=2).ravel()
    f_out = np.stack([f_all, np.full_like(f_all, NEAR)], axis=2).ravel()[emit]
    r_out = np.stack([r_all, r_cross], axis=2).ravel()[emit]
    counts = np.add.reduceat(front.astype(np.int64) + crosses, starts, axis=1)
    # Interleaved x, y coordinates of every output vertex, as one flat list to slice per polygon.
    xy = np.empty(2 * len(f_out))
    xy[0::2] = half + focal * r_out / f_out
    xy[1::2] = (half - top) + focal * EYE_HEIGHT / f_out
    flat = xy.tolist()
    ends = np.cumsum(2 * counts.ravel())
    begins = (ends - 2 * counts.ravel()).tolist()
    ends = ends.tolist()
    drawn = keep & (counts >= 3)
    npoly = len(starts)
    for view in range(len(frames)):
        img = Image.new("L", (size, rows), 0)
        # The core drawing call of ImageDraw.polygon(xy, fill=c) without its per-call ink parsing
        # (the ink of an "L" image is the pixel value itself): a hundred-odd polygons per view.
        draw = ImageDraw.Draw(img).draw
        base = view * npoly
        for i in np.flatnonzero(drawn[view]).tolist():
            draw.draw_polygon(flat[begins[base + i]:ends[base + i]], colors[i], 1)
        index[:, view * size:(view + 1) * size] = np.frombuffer(img.tobytes(), dtype=np.uint8).reshape(rows, size)


def _cast_walls(scene: _Scene, near_walls: np.ndarray, ox: float, oy: float, fwd: tuple[float, float],
                right: tuple[float, float], size: int, focal: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per image column: depth of the nearest facade (inf if none), its index and the hit's
    distance along it."""
    idx = np.flatnonzero(near_walls)
    k = (np.arange(size) + 0.5 - size / 2) / focal
    depth = np.full(size, np.inf)
    wall = np.zeros(size, dtype=np.int64)
    along = np.zeros(size)
    if len(idx) == 0:
        return depth, wall, along
    x0, y0 = scene.wx0[idx] - ox, scene.wy0[idx] - oy
    x1, y1 = scene.wx1[idx] - ox, scene.wy1[idx] - oy
    # Cull facades outside the view wedge |r| <= f (both ends on the same outer side).
    f0, f1 = x0 * fwd[0] + y0 * fwd[1], x1 * fwd[0] + y1 * fwd[1]
    r0, r1 = x0 * right[0] + y0 * right[1], x1 * right[0] + y1 * right[1]
    ok = ~(((r0 > f0) & (r1 > f1)) | ((r0 < -f0) & (r1 < -f1)) | ((f0 < NEAR) & (f1 < NEAR)))
    if not ok.any():
        return depth, wall, along
    idx, f0, f1, r0, r1 = idx[ok], f0[ok], f1[ok], r0[ok], r1[ok]
    # In camera coordinates the ray of column c is (f, r) = s * (1, k_c); the facade is
    # (f0, r0) + t * (ef, er). Solve s * (1, k) = (f0, r0) + t * (ef, er).
    ef, er = f1 - f0, r1 - r0
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = er[None, :] - k[:, None] * ef[None, :]          # (W, N)
        t = (k[:, None] * f0[None, :] - r0[None, :]) / denom
        s = f0[None, :] + t * ef[None, :]
        valid = (t >= 0.0) & (t <= 1.0) & (s > NEAR)
        s = np.where(valid, s, np.inf)
    best = np.argmin(s, axis=1)
    cols = np.arange(size)
    depth = s[cols, best]
    hit = np.isfinite(depth)
    wall = idx[best]
    along = np.where(hit, t[cols, best], 0.0) * scene.wlen[wall]
    return depth, wall, along


_Z_STEPS = 10            # facade texture lookup resolution: steps per metre
_Z_MAX = 220.0           # metres (tallest building: 40 storeys)


@lru_cache(maxsize=32)
def _facade_lut(look: StreetLook) -> np.ndarray:
    """Pixel class by (column type, height in 0.1 m steps) for the look's window pattern.

    Column type bits: 1 = the column crosses a window, 2 = the building is a landmark's shop,
    4 = the column crosses the shop window (not a mullion).
    """
    z = (np.arange(int(_Z_MAX * _Z_STEPS)) + 0.5) / _Z_STEPS
    rel = (z - GROUND_FLOOR) / look.floor_height
    zf = rel - np.floor(rel)
    upper = z >= GROUND_FLOOR
    w0, w1 = {"grid": (0.28, 0.80), "tall": (0.12, 0.86), "pairs": (0.30, 0.80), "bands": (0.36, 0.84),
              "glass": (0.10, 0.97)}[look.window_style]
    lut = np.zeros((8, len(z)), dtype=np.uint8)
    ground = z < GROUND_FLOOR - 0.35
    trim = (z >= GROUND_FLOOR - 0.35) & (z < GROUND_FLOOR)
    for t in range(8):
        window_col, shop, shop_col = bool(t & 1), bool(t & 2), bool(t & 4)
        row = np.zeros(len(z), dtype=np.uint8)
        if window_col:
            row[upper & (zf >= w0) & (zf <= w1)] = _GLASS
        if shop:
            row[ground & (z >= GROUND_FLOOR - 1.35)] = _FASCIA
            if shop_col:
                row[ground & (z >= 0.35) & (z < GROUND_FLOOR - 1.6)] = _SHOP
        elif window_col:
            row[ground & (z >= 0.9) & (z < 2.7)] = _GLASS
        row[trim] = _TRIM
        lut[t] = row
    lut.setflags(write=False)
    return lut


def _window_columns(style: str, uf: np.ndarray) -> np.ndarray:
    if style == "grid":
        return (uf >= 0.28) & (uf <= 0.72)
    if style == "tall":
        return (uf >= 0.32) & (uf <= 0.68)
    if style == "pairs":
        return ((uf >= 0.14) & (uf <= 0.40)) | ((uf >= 0.60) & (uf <= 0.86))
    if style == "bands":
        return uf % 0.5 >= 0.04
    return uf % 0.5 >= 0.05  # glass curtain wall


def _paint_walls(out: np.ndarray, scene: _Scene, depth: np.ndarray, wall: np.ndarray, along: np.ndarray,
                 size: int, focal: float) -> None:
    """Paint the facades into ``out``, an ``(size, W)`` ``uint32`` view of the RGBA image whose
    ``W`` columns have the given hits (the four views side by side)."""
    look = scene.look
    ncols = len(depth)
    hit = np.isfinite(depth)
    if not hit.any():
        return
    d = np.where(hit, depth, 1.0)
    height = np.where(hit, scene.wheight[wall], -1.0)
    half = size / 2
    top = np.clip(np.floor(half - focal * (height - EYE_HEIGHT) / d), 0, size)
    bottom = np.clip(np.ceil(half + focal * EYE_HEIGHT / d), 0, size)
    r0, r1 = int(top[hit].min()), int(bottom[hit].max())
    if r1 <= r0:
        return
    # Height above the street of each pixel of the band, in texture steps (float32, in place).
    rows = (half - (np.arange(r0, r1, dtype=np.float32) + 0.5))[:, None]
    zq = rows * (d * _Z_STEPS / focal).astype(np.float32)[None, :]
    zq += np.float32(EYE_HEIGHT * _Z_STEPS)
    hq = (height * _Z_STEPS).astype(np.float32)
    inwall = zq >= 0
    inwall &= zq <= hq
    # Texture row per pixel. Only pixels inside a wall (0 <= zq <= hq) are ever shown, and there
    # truncation is the floor; elsewhere any value will do, as long as the lookups stay in bounds
    # (mode="clip", which is also cheaper than the default bounds check).
    zn = int(_Z_MAX * _Z_STEPS)
    zi = zq.astype(np.intp)
    if float(hq.max()) >= zn:  # a building taller than the texture table: clamp to its top row
        np.minimum(zi, zn - 1, out=zi)
    bay = scene.wbay[wall]
    uf = (along / bay) % 1.0
    shop = scene.wshop[wall]
    coltype = (_window_columns(look.window_style, uf).astype(np.intp) + 2 * shop
               + 4 * (shop & ((uf % 0.5) >= 0.04)))
    lit_code = None
    if look.lit_fraction > 0:
        # Which windows are lit: a fixed integer hash of (building, bay, storey) (its low 10 bits
        # do not depend on the integer width).
        bay_index = np.floor(along / bay).astype(np.int32)
        column_code = (bay_index * np.int32(7919)) ^ (scene.wseed[wall] & 0xFFFFF).astype(np.int32)
        lit_code = zi // round(look.floor_height * _Z_STEPS)
        lit_code *= 104729
        lit_code ^= column_code[None, :]
        lit_code &= 1023
    zi += (coltype * zn)[None, :]
    cls = np.take(_facade_lut(look).ravel(), zi, mode="clip")
    np.copyto(cls, _TRIM, where=zq >= (hq - 0.7 * _Z_STEPS)[None, :])
    if lit_code is not None:
        lit = lit_code < int(look.lit_fraction * 1024)
        lit &= cls == _GLASS
        np.copyto(cls, _LIT, where=lit)
    # Colours per column: the facade palette faded into the haze by distance, as RGBA words.
    fog = (1 - np.exp(-d / look.haze_distance)).astype(np.float32)[:, None, None]
    pal = scene.wpalette[wall] * (1 - fog) + np.asarray(look.haze, dtype=np.float32) * fog   # (W, 6, 3)
    pal4 = np.full((ncols, 6, 4), 255, dtype=np.uint8)
    pal4[..., :3] = np.clip(pal, 0, 255)
    index = np.add(cls, (np.arange(ncols, dtype=np.intp) * 6)[None, :], out=zi)
    colored = np.take(pal4.view(np.uint32).ravel(), index, mode="clip")
    np.copyto(out[r0:r1], colored, where=inwall)


@lru_cache(maxsize=512)
def _sign_sprite(name: str, kind_color: tuple[int, int, int], look: StreetLook, px: int) -> np.ndarray:
    """An RGBA sign board with the name lettered on it, ``px`` pixels per line of lettering."""
    text = name.upper() if look.sign_case == "upper" else name
    words = text.split()
    lines = [text]
    if len(text) > 13 and len(words) > 1:
        best = min(range(1, len(words)), key=lambda i: abs(len(" ".join(words[:i])) - len(" ".join(words[i:]))))
        lines = [" ".join(words[:best]), " ".join(words[best:])]
    font = _font(max(px, 6))
    measure = ImageDraw.Draw(Image.new("L", (1, 1)))
    widths = [measure.textbbox((0, 0), ln, font=font)[2] for ln in lines]
    pad = max(2, px // 3)
    line_h = int(round(px * 1.15))
    bw = max(widths) + 2 * pad + 2
    bh = line_h * len(lines) + 2 * pad - (line_h - px) // 2
    shape = look.sign_shape
    extra = int(round(bh * 0.55)) if shape in ("awning", "banner") else 0
    img = Image.new("RGBA", (bw, bh + extra), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    border = max(1, px // 9)
    text_color = look.sign_text
    if shape == "neon":
        draw.rectangle([0, 0, bw - 1, bh - 1], fill=look.sign_border + (255,), outline=kind_color + (255,), width=border)
        text_color = kind_color
    elif shape == "rounded":
        draw.rounded_rectangle([0, 0, bw - 1, bh - 1], radius=max(2, bh // 3), fill=kind_color + (255,),
                               outline=look.sign_border + (255,), width=border)
    else:
        draw.rectangle([0, 0, bw - 1, bh - 1], fill=kind_color + (255,), outline=look.sign_border + (255,),
                       width=border)
    if shape == "awning":
        # A striped canopy under the board, slanting out toward the street.
        stripes = max(4, bw // max(4, px))
        top = bh + max(1, extra // 6)
        dark = _scale(kind_color, 0.75)
        for i in range(stripes):
            x0, x1 = i * bw / stripes, (i + 1) * bw / stripes
            color = dark if i % 2 == 0 else (238, 234, 226)
            draw.polygon([(x0, top), (x1, top), (x1, bh + extra - 1), (x0, bh + extra - 1)], fill=color + (255,))
        draw.line([(0, bh + extra - 1), (bw - 1, bh + extra - 1)], fill=dark + (255,), width=max(1, extra // 6))
    elif shape == "banner":
        teeth = max(3, bw // max(6, 2 * px))
        pts = [(0, bh - 1)]
        for i in range(teeth):
            pts += [((i + 0.5) * bw / teeth, bh - 1 + extra * 0.6), ((i + 1) * bw / teeth, bh - 1)]
        draw.polygon(pts, fill=kind_color + (255,))
    y = pad + 1
    for ln, width in zip(lines, widths):
        if shape == "neon":
            draw.text(((bw - width) / 2, y), ln, font=font, fill=text_color + (255,),
                      stroke_width=max(1, px // 10), stroke_fill=_scale(text_color, 0.45) + (255,))
        else:
            draw.text(((bw - width) / 2, y), ln, font=font, fill=text_color + (255,))
        y += line_h
    arr = np.asarray(img)
    arr.setflags(write=False)
    return arr


def _draw_signs(out: np.ndarray, scene: _Scene, city: City, near_signs: list[int], ox: float, oy: float,
                fwd: tuple[float, float], right: tuple[float, float], size: int, focal: float,
                depth: np.ndarray, wall: np.ndarray, view: int, placements: list[SignPlacement]) -> None:
    look = scene.look
    half = size / 2
    drawn = []
    for i in near_signs:
        lm_index, x, y, facade, kind = scene.signs[i]
        dx, dy = x - ox, y - oy
        f = dx * fwd[0] + dy * fwd[1]
        if f < 1.0:
            continue
        r = dx * right[0] + dy * right[1]
        drawn.append((f, r, lm_index, facade, kind))
    # Far to near, so nearer signs cover farther ones.
    for f, r, lm_index, facade, kind in sorted(drawn, reverse=True):
        per_m = focal / f
        px = max(MIN_SIGN_TEXT_PX, int(round(SIGN_LINE * look.sign_scale * per_m * 0.72)))
        px = min(px, max(MIN_SIGN_TEXT_PX, size // 6))
        name = city.landmarks[lm_index].name
        sprite = _sign_sprite(name, sign_color(look, kind), look, px)
        sh, sw = sprite.shape[:2]
        cx = half + focal * r / f
        bottom = half - focal * (SIGN_BOTTOM - EYE_HEIGHT) / f
        x0, y1 = int(round(cx - sw / 2)), int(round(bottom))
        y0, x1 = y1 - sh, x0 + sw
        cx0, cx1, cy0, cy1 = max(x0, 0), min(x1, size), max(y0, 0), min(y1, size)
        if cx0 >= cx1 or cy0 >= cy1:
            continue
        # A column of the sign is hidden where a nearer facade of another street side stands.
        cols = np.arange(cx0, cx1)
        visible = ~((depth[cols] < f - 1.0) & (scene.wfacade[wall[cols]] != facade))
        if not visible.any():
            continue
        part = sprite[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
        mask = (part[..., 3] >= 128) & visible[None, :]
        region = out[cy0:cy1, cx0:cx1]
        np.copyto(region, part[..., :3], where=mask[..., None])
        placements.append(SignPlacement(name=name, view=view, box=(cx0, cy0, cx1, cy1)))


def _near_sets(scene: _Scene, ox: float, oy: float) -> tuple[np.ndarray, list[int]]:
    # Facades: distance from the camera to the segment.
    ax, ay = scene.wx0 - ox, scene.wy0 - oy
    bx, by = scene.wx1 - scene.wx0, scene.wy1 - scene.wy0
    t = np.clip(-(ax * bx + ay * by) / np.maximum(bx * bx + by * by, 1e-9), 0, 1)
    near_walls = (ax + t * bx) ** 2 + (ay + t * by) ** 2 <= SCENE_RADIUS ** 2
    signs: list[int] = []
    if len(scene.signs):
        # Exactly the landmarks the text observation can name: within VIEW_RADIUS of the point.
        lx, ly = scene.landmark_xy[:, 0] - ox, scene.landmark_xy[:, 1] - oy
        signs = np.flatnonzero(lx * lx + ly * ly <= VIEW_RADIUS ** 2 + 1e-6).tolist()
    return near_walls, signs


def _render(city: City, look: StreetLook, position: tuple[float, float], heading: float, size: int,
            offsets: Sequence[float]) -> tuple[np.ndarray, list[SignPlacement]]:
    """The views side by side: an ``(size, len(offsets) * size, 4)`` uint8 RGBA strip (alpha is
    meaningless; :func:`_copy_rgb` takes the colours out) and where the signs were drawn."""
    scene = _scene(city, look)
    ox, oy = float(position[0]), float(position[1])
    focal = (size / 2) / math.tan(math.radians(FOV / 2))
    near_walls, near_signs = _near_sets(scene, ox, oy)
    ground = _ground_subset(scene, ox, oy)
    first = size // 2
    ground_palette = _ground_palette(scene, size)
    n = len(offsets)
    width = n * size
    # The views side by side in one RGBA strip, so that every per-pixel pass runs once per point.
    strip32 = np.empty((size, width), dtype=np.uint32)
    strip32[:first] = _background_words(look, size)[:first]
    frames = []
    for offset in offsets:
        h = math.radians(heading + offset)
        frames.append(((math.sin(h), math.cos(h)), (math.cos(h), -math.sin(h))))   # forward, right
    index = np.empty((size - first, width), dtype=np.uint8)
    _draw_ground(index, ground, ox, oy, frames, size, focal, first)
    # The lower half: the row's colour of each palette index (0 is the bare pavement). A masked
    # copy per colour is cheaper than a gather with a per-row index (a handful of colours).
    lower = strip32[first:]
    lower[...] = ground_palette[0]
    for k in range(1, len(ground_palette)):
        np.copyto(lower, ground_palette[k], where=index == k)
    depth = np.empty(width)
    wall = np.empty(width, dtype=np.int64)
    along = np.empty(width)
    for view, (fwd, right) in enumerate(frames):
        cols = slice(view * size, (view + 1) * size)
        depth[cols], wall[cols], along[cols] = _cast_walls(scene, near_walls, ox, oy, fwd, right, size, focal)
    _paint_walls(strip32, scene, depth, wall, along, size, focal)
    strip = strip32.view(np.uint8).reshape(size, width, 4)
    placements: list[SignPlacement] = []
    for view, (fwd, right) in enumerate(frames):
        cols = slice(view * size, (view + 1) * size)
        _draw_signs(strip[:, cols, :3], scene, city, near_signs, ox, oy, fwd, right, size, focal, depth[cols],
                    wall[cols], view, placements)
    return strip, placements


def _copy_rgb(dst: np.ndarray, src: np.ndarray) -> None:
    """Copy the colour channels of an RGBA ``src`` into the RGB ``dst`` of the same height and
    width. One strided copy per channel: several times faster than a single ``[..., :3]`` copy
    (numpy loops over the short last axis) or a Pillow conversion (fresh image buffers each time)."""
    for c in range(3):
        dst[..., c] = src[..., c]


def render_view(city: City, position: tuple[float, float], heading: float, size: int = 256,
                look: StreetLook | None = None) -> np.ndarray:
    """One perspective street view at ``position`` facing ``heading`` (degrees clockwise from north).

    Args:
        city: The city.
        position: ``(x, y)`` in metres (normally a point on a street centre line).
        heading: Viewing direction.
        size: Side of the square view in pixels (>= 32).
        look: The look to draw in (default: the city style's look).

    Returns:
        ``(size, size, 3)`` ``uint8`` array.
    """
    _check_size(size)
    strip, _ = _render(city, look or city.style.look, position, float(heading), int(size), (0.0,))
    view = np.empty((size, size, 3), dtype=np.uint8)
    _copy_rgb(view, strip)
    return view


def compose_grid(views: Sequence[np.ndarray]) -> np.ndarray:
    """Assemble four equal square views (RGB or RGBA ``uint8``) into the 2x2 grid (front, right /
    back, left) with black separators of :func:`separator_width` pixels; returns RGB."""
    if len(views) != 4:
        raise ValueError(f"a grid needs exactly four views, got {len(views)}")
    size = views[0].shape[0]
    channels = views[0].shape[2] if views[0].ndim == 3 else 0
    if channels not in (3, 4):
        raise ValueError(f"views must be (size, size, 3 or 4) arrays, got shape {views[0].shape}")
    sep = separator_width(size)
    side = 2 * size + sep
    grid = np.zeros((side, side, 3), dtype=np.uint8)
    for i, v in enumerate(views):
        if v.shape != (size, size, channels) or v.dtype != np.uint8:
            raise ValueError(f"view {i} has shape {v.shape} and dtype {v.dtype}, expected "
                             f"{(size, size, channels)} uint8")
        if channels == 4:  # Pillow drops the alpha channel far faster than a strided numpy copy
            v = np.asarray(Image.fromarray(v, "RGBA").convert("RGB"))
        r, c = divmod(i, 2)
        grid[r * (size + sep):r * (size + sep) + size, c * (size + sep):c * (size + sep) + size] = v
    return grid


class _ByteLRU:
    """A least-recently-used cache bounded by the total bytes of its (array) values."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self.items: OrderedDict[Hashable, tuple[np.ndarray, tuple[SignPlacement, ...]]] = OrderedDict()

    def get(self, key: Hashable) -> tuple[np.ndarray, tuple[SignPlacement, ...]] | None:
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
        return value

    def put(self, key: Hashable, value: tuple[np.ndarray, tuple[SignPlacement, ...]]) -> None:
        if key in self.items:
            return
        self.items[key] = value
        self.used += value[0].nbytes
        while self.used > self.budget and len(self.items) > 1:
            _, old = self.items.popitem(last=False)
            self.used -= old[0].nbytes

    def clear(self) -> None:
        self.items.clear()
        self.used = 0


_GRIDS = _ByteLRU(_GRID_CACHE_BYTES)


def clear_view_cache() -> None:
    """Forget every cached grid (scenes of cities stay cached)."""
    _GRIDS.clear()


def render_grid(city: City, position: tuple[float, float], heading: float, size: int = 256,
                look: StreetLook | None = None) -> tuple[np.ndarray, tuple[SignPlacement, ...]]:
    """The 2x2 grid of the four views at a point (cached per point; 96 MB per process at most).

    Returns:
        The grid (a read-only ``uint8`` array of side :func:`grid_size`) and where each landmark
        sign was drawn.
    """
    _check_size(size)
    look = look or city.style.look
    key = (id(_scene(city, look)), round(float(position[0]), 4), round(float(position[1]), 4),
           round(float(heading) % 360.0, 4), int(size))
    hit = _GRIDS.get(key)
    if hit is not None:
        return hit
    strip, placements = _render(city, look, position, float(heading), int(size), VIEW_OFFSETS)
    # compose_grid's layout, copying the colours straight from the RGBA strip into the grid.
    size = int(size)
    sep = separator_width(size)
    grid = np.zeros((grid_size(size),) * 2 + (3,), dtype=np.uint8)
    for i in range(len(VIEW_OFFSETS)):
        r, c = divmod(i, 2)
        _copy_rgb(grid[r * (size + sep):r * (size + sep) + size, c * (size + sep):c * (size + sep) + size],
                  strip[:, i * size:(i + 1) * size])
    grid.setflags(write=False)
    value = (grid, tuple(placements))
    _GRIDS.put(key, value)
    return value


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"view size must be an int, got {type(size).__name__}")
    if not 32 <= size <= 4096:
        raise ValueError(f"view size must be in [32, 4096] pixels, got {size}")


# ---- real panoramas -------------------------------------------------------------------------------
@lru_cache(maxsize=16)
def _ray_grid(size: int, fov: float) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth offset (fraction of a turn) and polar angle (fraction of a half turn from the top)
    of each pixel's ray for a level pinhole camera."""
    focal = (size / 2) / math.tan(math.radians(fov / 2))
    c = np.arange(size, dtype=np.float64) + 0.5 - size / 2
    x = c[None, :] / focal
    y = c[:, None] / focal
    az = np.arctan2(x, np.ones_like(y)) / (2 * np.pi)          # (1, S) -> broadcast
    az = np.broadcast_to(az, (size, size))
    polar = (np.arctan2(y, np.hypot(x, 1.0)) / np.pi + 0.5)     # (S, S), 0 = straight up
    return np.ascontiguousarray(az), polar


def project_panorama(panorama: np.ndarray, heading: float, rotation: float, size: int,
                     fov: float = FOV) -> np.ndarray:
    """Cut a level perspective view out of an equirectangular panorama (bilinear sampling).

    Column convention (the authors' offline pipeline): compass heading ``h`` is at the fraction
    ``((h + rotation) mod 360) / 360`` of the panorama's width, the top row looks straight up.

    Args:
        panorama: ``(H, W, 3)`` ``uint8`` equirectangular image spanning 360 x 180 degrees.
        heading: Compass heading of the view's centre.
        rotation: The panorama's ``rotation`` metadata in degrees.
        size: Side of the square view.
        fov: Horizontal field of view in degrees.
    """
    _check_size(size)
    ph, pw = panorama.shape[:2]
    az, polar = _ray_grid(int(size), float(fov))
    u = ((((heading + rotation) % 360.0) / 360.0 + az) % 1.0) * pw - 0.5
    v = np.clip(polar * ph - 0.5, 0, ph - 1)
    u0 = np.floor(u).astype(np.int64)
    v0 = np.floor(v).astype(np.int64)
    fu = (u - u0)[..., None].astype(np.float32)
    fv = (v - v0)[..., None].astype(np.float32)
    u0 %= pw
    u1 = (u0 + 1) % pw
    v1 = np.minimum(v0 + 1, ph - 1)
    p = panorama
    top = p[v0, u0] * (1 - fu) + p[v0, u1] * fu
    bottom = p[v1, u0] * (1 - fu) + p[v1, u1] * fu
    return np.clip(top * (1 - fv) + bottom * fv + 0.5, 0, 255).astype(np.uint8)
