"""Street views: perspective pictures of a generated city (Pillow + numpy), and of real panoramas.

Synthetic views (:func:`render_view`, :func:`render_grid`) are drawn from the city's scene
(:mod:`virl_env.streetview.scene`: facades, ground polygons, trees, lamps, parked cars and the camera,
shaped by the city style's :class:`~virl_env.world.styles.StreetLook`) by the painting passes of
:mod:`virl_env.streetview.paint`: sky and haze; the ground with
roads, curbs, centre lines and zebra crossings (Pillow polygons clipped at the camera's near
plane); building facades with windows, cornices, gables and storefronts (a vectorised numpy ray
cast, one ray per image column against the wall segments, with a second layer for the taller
walls behind the nearest one, so towers and side walls rise above the street's roofline);
camera-facing billboards for trees, lamps and parked cars; and the landmark signs, placed by the
rule of :mod:`virl_env.streetview.signs`: a legible sign for exactly the landmarks the text observation
names, each whole inside the view of its named side.

The camera stands on the street centre line at the scene's eye height, looks level, with the
scene's horizontal field of view (the training city: :data:`EYE_HEIGHT`, :data:`FOV`).
:func:`render_grid` assembles the four views of a point in a 2x2 grid, in the order the prompt
states: front, right (top row) / back, left (bottom row), separated by thin black lines.

Everything is deterministic (scenes are seeded by the city seed). Scenes and finished grids are
cached per process.

Real data (:func:`project_panorama`) cuts a perspective view out of an equirectangular panorama
with a precomputed ray grid and bilinear sampling.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from functools import lru_cache

import numpy as np
from PIL import Image

from virl_env.streetview import _kernels
from virl_env.world.city import VIEW_RADIUS, City
from virl_env.world.instructions import bearing, wrap_angle
from virl_env.world.routes import VIEW_LIMIT
from virl_env.streetview.paint import (
    PROP_RADIUS,
    background_words,
    cast_walls,
    draw_ground,
    draw_props,
    ground_canvas,
    ground_palette,
    near_walls,
    paint_ground,
    paint_silhouettes,
    paint_walls,
    scratch,
)
from virl_env.streetview.scene import SCENE_RADIUS, Scene, get_scene
from virl_env.streetview.signs import SIDE_VIEW, SignPlacement, SignRequest, layout_signs, letter_height, sign_color
from virl_env.world.styles import StreetLook

__all__ = [
    "EYE_HEIGHT",
    "FOV",
    "SCENE_RADIUS",
    "VIEW_NAMES",
    "VIEW_OFFSETS",
    "SignPlacement",
    "clear_view_cache",
    "compose_grid",
    "grid_size",
    "named_signs",
    "project_panorama",
    "render_depth",
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
"""Field of view in degrees of the paper's views (and the training city's camera); views are square."""

EYE_HEIGHT = 2.2
"""Camera height in metres of the training city (a Street View car camera is about 2.5 m up)."""

SIGN_BOTTOM = 3.1           # metres above the street
_GRID_CACHE_BYTES = 96 * 2**20


def separator_width(view_size: int) -> int:
    """Width in pixels of the black lines between the four views of a grid."""
    return max(2, int(round(view_size / 128)))


def grid_size(view_size: int) -> int:
    """Side in pixels of the 2x2 grid of ``view_size`` views."""
    return 2 * view_size + separator_width(view_size)


# ---- signs ------------------------------------------------------------------------------------------
def named_signs(city: City, position: tuple[float, float], heading: float) -> list[tuple[int, str, int]]:
    """The landmarks whose signs the views at a point show: ``(landmark index, side, view)`` for
    exactly the landmarks the text observation names there (the nearest
    :data:`~virl_env.world.routes.VIEW_LIMIT` within :data:`~virl_env.world.city.VIEW_RADIUS`), nearest first,
    with the view (:data:`~virl_env.streetview.signs.SIDE_VIEW`) their side belongs to."""
    return [(lm.index, side, SIDE_VIEW[side])
            for lm, side in city.visible_landmarks(position, heading, VIEW_RADIUS, VIEW_LIMIT)]


def _draw_signs(strip: np.ndarray, scene: Scene, city: City, ox: float, oy: float, heading: float,
                views: Sequence[int], size: int, focal: float, eye: float) -> list[SignPlacement]:
    """Draw the named landmarks' signs into ``strip`` (``(size, len(views) * size)`` uint32 words,
    the views side by side), each whole inside the view of its side, and say where."""
    look = scene.look
    half = size / 2
    half_fov = math.degrees(math.atan(half / focal))
    base_cap = letter_height(size)
    wanted: dict[int, list[tuple[int, str, SignRequest]]] = {}
    named = named_signs(city, (ox, oy), heading)
    for lm_index, side, view in named:
        if view not in views:
            continue
        anchor = scene.signs[lm_index]
        dx, dy = anchor.x - ox, anchor.y - oy
        dist = max(math.hypot(dx, dy), 1.0)
        # The landmark's direction in its view, turned just inside the view if it lies beyond.
        angle = wrap_angle(bearing(dx, dy) - (heading + VIEW_OFFSETS[view]))
        angle = max(-half_fov + 2.0, min(half_fov - 2.0, angle))
        f = dist * math.cos(math.radians(angle))
        # Nearer signs are a little larger; none is smaller than the legibility floor.
        cap = int(round(base_cap * max(1.0, look.sign_scale) * min(1.25, max(1.0, 12.0 / dist))))
        lm = city.landmarks[lm_index]
        request = SignRequest(lm.name, lm.kind, cap, half + focal * math.tan(math.radians(angle)),
                              half - focal * (SIGN_BOTTOM - eye) / f)
        wanted.setdefault(view, []).append((lm_index, side, request))
    placed: dict[int, SignPlacement] = {}
    for view, entries in wanted.items():
        slot = views.index(view)
        laid = layout_signs([r for _, _, r in entries], look, size)
        for (lm_index, side, request), (sprite, letters, box) in zip(entries, laid):
            x0, y0, x1, y1 = box
            words = sprite.view(np.uint32)[:y1 - y0, :x1 - x0, 0]
            region = strip[y0:y1, slot * size + x0:slot * size + x1]
            np.copyto(region, words, where=sprite[:y1 - y0, :x1 - x0, 3] >= 128)
            placed[lm_index] = SignPlacement(name=request.name, view=view, box=box, side=side,
                                             letter_height=letters)
    # Nearest first, as the text names them.
    return [placed[i] for i, _side, _view in named if i in placed]


# ---- views --------------------------------------------------------------------------------------------
def _render(city: City, look: StreetLook, position: tuple[float, float], heading: float, size: int,
            views: Sequence[int]) -> tuple[np.ndarray, list[SignPlacement]]:
    """The given views side by side: an ``(size, len(views) * size, 4)`` uint8 RGBA strip (alpha is
    meaningless; :func:`_copy_rgb` takes the colours out) and where the signs were drawn. The strip is a
    scratch buffer (:func:`~virl_env.streetview.paint.scratch`): copy it out before the next call."""
    scene = get_scene(city, look)
    cam = scene.camera
    eye = cam.eye_height
    ox, oy = float(position[0]), float(position[1])
    focal = cam.focal(size)
    nearby = near_walls(scene, ox, oy)
    first = size // 2
    row_colors = ground_palette(scene, size)
    width = len(views) * size
    # The views side by side in one RGBA strip, so that every per-pixel pass runs once per point.
    strip32 = scratch("strip", (size, width), np.uint32)
    strip32[:first] = background_words(look, size, eye, cam.fov)[:first]
    frames = []
    for view in views:
        h = math.radians(heading + VIEW_OFFSETS[view])
        frames.append(((math.sin(h), math.cos(h)), (math.cos(h), -math.sin(h))))   # forward, right
    canvas = ground_canvas(size - first, size, len(views))
    draw_ground(canvas, scene.ground, ox, oy, frames, size, focal, eye, first)
    paint_ground(strip32[first:], canvas.index, row_colors)
    near, back = cast_walls(scene, nearby, ox, oy, frames, size, focal, eye)
    top = paint_walls(strip32, scene, near, size, focal, eye)
    paint_silhouettes(strip32, scene, back, size, focal, eye, top)
    pr = scene.props
    if len(pr):
        near_props = np.flatnonzero((pr.x - ox) ** 2 + (pr.y - oy) ** 2 <= PROP_RADIUS ** 2)
        for slot, (fwd, right) in enumerate(frames):
            cols = slice(slot * size, (slot + 1) * size)
            draw_props(strip32[:, cols], scene, near_props, ox, oy, fwd, right, size, focal, eye,
                       near.depth[cols])
    placements = _draw_signs(strip32, scene, city, ox, oy, heading, views, size, focal, eye)
    return strip32.view(np.uint8).reshape(size, width, 4), placements


def _copy_rgb(dst: np.ndarray, y0: int, x0: int, strip: np.ndarray, view: int) -> None:
    """Copy the colour channels of view ``view`` of the RGBA ``strip`` (``(size, views * size, 4)``
    uint8) into the RGB ``dst`` from row ``y0``, column ``x0`` on. Without the compiled kernel: one
    strided copy per channel, several times faster than a single ``[..., :3]`` copy (numpy loops
    over the short last axis) or a Pillow conversion (fresh image buffers each time)."""
    size = strip.shape[0]
    if _kernels.ENABLED:
        _kernels.copy_rgb(dst, y0, x0, strip.view(np.uint32).reshape(strip.shape[:2]), view * size, size)
        return
    for c in range(3):
        dst[y0:y0 + size, x0:x0 + size, c] = strip[:, view * size:(view + 1) * size, c]


def render_view(city: City, position: tuple[float, float], heading: float, size: int = 256,
                look: StreetLook | None = None) -> np.ndarray:
    """One perspective street view at ``position`` facing ``heading`` (degrees clockwise from north):
    the front view of :func:`render_grid` at that heading, with the signs of the landmarks on the
    front sides.

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
    strip, _ = _render(city, look or city.style.look, position, float(heading), int(size), (0,))
    view = np.empty((size, size, 3), dtype=np.uint8)
    _copy_rgb(view, 0, 0, strip, 0)
    return view


def render_depth(city: City, position: tuple[float, float], heading: float, size: int = 256,
                 look: StreetLook | None = None) -> np.ndarray:
    """Distance in metres along the view axis of what each pixel of :func:`render_view` shows: the
    walls, the ground, and the boxes of trees, lamps and cars (``inf`` for the sky). Signs are not
    part of it. For analysis: e.g. comparing the street geometry of styles apart from their colours.

    Returns:
        ``(size, size)`` ``float32`` array.
    """
    _check_size(size)
    scene = get_scene(city, look or city.style.look)
    cam = scene.camera
    ox, oy = float(position[0]), float(position[1])
    focal = cam.focal(size)
    half = size / 2
    h = math.radians(float(heading))
    fwd, right = (math.sin(h), math.cos(h)), (math.cos(h), -math.sin(h))
    near, back = cast_walls(scene, near_walls(scene, ox, oy), ox, oy, [(fwd, right)], size, focal, cam.eye_height)
    rows = np.arange(size, dtype=np.float64) + 0.5
    ground = np.where(rows > half, focal * cam.eye_height / np.maximum(rows - half, 1e-9), np.inf)
    depth = np.repeat(ground[:, None], size, axis=1)
    for hits in (back, near):   # the wall behind shows only above the nearest one
        hit = np.isfinite(hits.depth)
        d = np.where(hit, hits.depth, 1.0)
        height = hits.roof_height(scene.facades)
        top = half - focal * (height - cam.eye_height) / d
        bottom = half + focal * cam.eye_height / d
        inside = hit[None, :] & (rows[:, None] >= top[None, :]) & (rows[:, None] <= bottom[None, :])
        depth = np.where(inside, d[None, :], depth)
    pr = scene.props
    for i in np.flatnonzero((pr.x - ox) ** 2 + (pr.y - oy) ** 2 <= PROP_RADIUS ** 2).tolist():
        dx, dy = pr.x[i] - ox, pr.y[i] - oy
        f = dx * fwd[0] + dy * fwd[1]
        if f <= 1.5:
            continue
        cx = half + focal * (dx * right[0] + dy * right[1]) / f
        hw = 0.5 * pr.width[i] * focal / f
        x0, x1 = max(0, int(cx - hw)), min(size, int(math.ceil(cx + hw)))
        y0 = max(0, int(half - focal * (pr.height[i] - cam.eye_height) / f))
        y1 = min(size, int(math.ceil(half + focal * cam.eye_height / f)))
        if x0 < x1 and y0 < y1:
            np.minimum(depth[y0:y1, x0:x1], f, out=depth[y0:y1, x0:x1])
    return depth.astype(np.float32)


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
        The grid (a read-only ``uint8`` array of side :func:`grid_size`) and where each named
        landmark's sign was drawn (one :class:`SignPlacement` per landmark the text observation
        names, nearest first).
    """
    _check_size(size)
    look = look or city.style.look
    key = (id(get_scene(city, look)), round(float(position[0]), 4), round(float(position[1]), 4),
           round(float(heading) % 360.0, 4), int(size))
    hit = _GRIDS.get(key)
    if hit is not None:
        return hit
    strip, placements = _render(city, look, position, float(heading), int(size), range(len(VIEW_OFFSETS)))
    # compose_grid's layout, copying the colours straight from the RGBA strip into the grid.
    size = int(size)
    sep = separator_width(size)
    # np.empty, not np.zeros: calloc hands out fresh zero pages that fault in on the first write
    # (a fifth of the copy's time); only the separators need zeroing.
    grid = np.empty((grid_size(size),) * 2 + (3,), dtype=np.uint8)
    grid[size:size + sep] = 0
    grid[:, size:size + sep] = 0
    for i in range(len(VIEW_OFFSETS)):
        r, c = divmod(i, 2)
        _copy_rgb(grid, r * (size + sep), c * (size + sep), strip, i)
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
