"""The painting passes of the street views: sky, ground, walls, skyline and props (numpy + Pillow).

Each pass draws into an ``(size, W)`` ``uint32`` strip of RGBA words holding the views of a point
side by side (``W = views * size``), so that every per-pixel pass runs once per point:

* :func:`background_words` and :func:`ground_palette`: sky gradient and hazy pavement;
* :func:`draw_ground`: ground polygons (roads, curbs, markings) clipped at the near plane and
  rasterised by Pillow into a palette-index image;
* :func:`cast_walls` and :func:`paint_walls`: a vectorised ray cast (one ray per column against
  the wall segments near the point) and a per-pixel facade texture lookup;
  :func:`paint_silhouettes`: the walls rising behind the nearest ones (the skyline);
* :func:`draw_props`: trees, lamps and parked cars as camera-facing shapes.

:mod:`virl_env.streetview.views` puts them together (and adds the signs). Where numba is installed, the
per-pixel loops and the ray cast run compiled (:mod:`virl_env.streetview._kernels`, same pixels): each pass checks
``_kernels.ENABLED`` and hands its prepared arrays to the kernel, or runs its numpy version.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from virl_env.streetview import _kernels
from virl_env.streetview.scene import (CAR, FACADE, FASCIA, GLASS, GROUND_FLOOR, LAMP, LIT, SCENE_RADIUS, SHOP, TRIM, Facades,
                                  GroundPolygons, Scene)
from virl_env.world.styles import StreetLook

__all__ = [
    "NEAR",
    "PROP_RADIUS",
    "GroundCanvas",
    "Hits",
    "background_words",
    "cast_walls",
    "draw_ground",
    "draw_props",
    "drawing_on",
    "ground_canvas",
    "ground_palette",
    "ground_subset",
    "near_walls",
    "paint_ground",
    "paint_silhouettes",
    "paint_walls",
    "scratch",
]

NEAR = 0.5                  # metres: the camera's near plane
PROP_RADIUS = 75.0          # metres beyond which trees, lamps and cars are not drawn

_SCRATCH_LIMIT = 2**21      # elements: larger work arrays (views over 512 px) are allocated afresh
_scratch_local = threading.local()


def scratch(tag: str, shape: tuple[int, ...], dtype: type | np.dtype) -> np.ndarray:
    """A work array for one use site (``tag``, always with the same ``dtype``) of the painting
    passes, reused from call to call in this thread; its contents are undefined. A third of the
    time of an uncached view went into fresh multi-megabyte temporaries (each a new memory mapping
    whose pages the kernel faults in and zeroes); reusing them removes that cost. The array stays
    valid until the next call with the same tag in the same thread; arrays over
    :data:`_SCRATCH_LIMIT` elements are not kept."""
    n = math.prod(shape)
    if n > _SCRATCH_LIMIT:
        return np.empty(shape, dtype)
    try:
        buffers = _scratch_local.buffers
    except AttributeError:
        buffers = _scratch_local.buffers = {}
    buffer = buffers.get(tag)
    if buffer is None or buffer.size < n or buffer.dtype != dtype:
        buffer = buffers[tag] = np.empty(max(n, 1), dtype)
    return buffer[:n].reshape(shape)


def _words(rgb: np.ndarray) -> np.ndarray:
    """``(..., 3)`` colours (any real dtype) as opaque RGBA uint32 words."""
    rgba = np.full(rgb.shape[:-1] + (4,), 255, dtype=np.uint8)
    rgba[..., :3] = np.clip(np.asarray(rgb) + 0.5, 0, 255)
    return rgba.view(np.uint32)[..., 0]


@lru_cache(maxsize=32)
def background_words(look: StreetLook, size: int, eye: float, fov: float) -> np.ndarray:
    """Sky gradient above the horizon, hazy pavement below: one RGBA uint32 word per row,
    ``(size, 1)`` (every column is the same, so a strip of any width fills by broadcasting)."""
    f = (size / 2) / math.tan(math.radians(fov / 2))
    y = np.arange(size, dtype=np.float64) + 0.5
    horizon = size / 2
    t = np.clip((horizon - y) / horizon, 0, 1) ** 0.6
    sky = np.asarray(look.sky_horizon) * (1 - t[:, None]) + np.asarray(look.sky_top) * t[:, None]
    below = y > horizon
    dist = np.where(below, f * eye / np.maximum(y - horizon, 1e-6), 1e9)
    fog = 1 - np.exp(-dist / look.haze_distance)
    ground = np.asarray([min(255.0, max(0.0, round(c * look.light))) for c in look.ground])
    g = ground * (1 - fog[:, None]) + np.asarray(look.haze) * fog[:, None]
    words = _words(np.where(below[:, None], g, sky)).reshape(size, 1)
    words.setflags(write=False)
    return words


@lru_cache(maxsize=32)
def ground_palette(scene: Scene, size: int) -> np.ndarray:
    """Ground polygon colours per image row below the horizon, faded into the haze by the row's
    distance: ``(rows, K + 1)`` uint32 RGBA words, one row of colours per image row, so that the
    word of palette index ``k`` in row ``r`` sits at flat position ``r * (K + 1) + k``.
    Index 0 ("no polygon") is the row's bare background pavement."""
    look, cam = scene.look, scene.camera
    f = cam.focal(size)
    y = np.arange(size // 2, size, dtype=np.float64) + 0.5
    dist = f * cam.eye_height / np.maximum(y - size / 2, 1e-6)
    fog = (1 - np.exp(-dist / look.haze_distance))[:, None, None]
    colors = scene.ground.palette32.view(np.uint8).reshape(-1, 4)[None, :, :3].astype(np.float64)
    faded = colors * (1 - fog) + np.asarray(look.haze, dtype=np.float64) * fog
    words = _words(faded)   # (rows, K + 1)
    words[:, 0] = background_words(look, size, cam.eye_height, cam.fov)[size // 2:, 0]
    words.setflags(write=False)
    return words


def paint_ground(out: np.ndarray, index: np.ndarray, palette: np.ndarray) -> None:
    """Colour the ground rows ``out`` (uint32 words) from their palette ``index`` image: each pixel
    takes its row's colour of its index (:func:`ground_palette`), in one gather."""
    if _kernels.ENABLED:
        _kernels.paint_ground(out, index, palette)
        return
    rows, width = index.shape
    lookup = scratch("ground_lookup", (rows, width), np.intp)
    np.add(index, (np.arange(rows, dtype=np.intp) * palette.shape[1])[:, None], out=lookup)
    np.take(palette.reshape(-1), lookup, out=out, mode="clip")


def _frame_axes(frames: Sequence[tuple[tuple[float, float], tuple[float, float]]]
                ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The x and y components of the views' forward and right axes as ``(views, 1)`` columns, so
    that a row of points projects into every view at once."""
    return tuple(tuple(np.asarray([fr[axis][i] for fr in frames])[:, None] for i in (0, 1))
                 for axis in (0, 1))  # type: ignore[return-value]


def ground_subset(g: GroundPolygons, ox: float, oy: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """The ground polygons worth drawing from a point: vertices, first-vertex offsets, the index of
    each vertex's successor around its polygon, and the polygons' palette indices."""
    gd = np.hypot(g.center[:, 0] - ox, g.center[:, 1] - oy) - g.radius
    sub = np.flatnonzero(gd <= g.reach)
    if len(sub) == 0:
        return np.zeros((0, 2)), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), []
    ends = np.append(g.start[1:], len(g.verts))
    lens = ends[sub] - g.start[sub]
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    # Ragged arange: the vertex indices of the kept polygons, in order.
    total = int(lens.sum())
    idx = np.repeat(g.start[sub] - starts, lens) + np.arange(total)
    succ = np.arange(1, total + 1)
    succ[starts + lens - 1] = starts
    return g.verts[idx], starts, succ, g.color_index[sub].tolist()


def drawing_on(buffer: np.ndarray, mode: str, size: tuple[int, int], stride: int = 0) -> Any:
    """A Pillow drawing handle whose pixels are ``buffer``'s memory (a C-contiguous array; rows
    ``stride`` bytes apart, 0 for tightly packed): what it draws lands in the array, with no image
    to allocate and nothing to copy back. Pillow's ``frombuffer`` maps a buffer without copying but
    marks the image read-only, and drawing on a read-only image draws on a private copy; the
    buffer is ours to draw on, so the mark is lifted. (The handle is Pillow's core ``ImagingDraw``:
    ``draw_polygon(xy, ink, 1)``, ``draw_rectangle``, ``draw_ellipse``, ``draw_ink``.)"""
    image = Image.frombuffer(mode, size, buffer, "raw", mode, stride, 1)
    image.readonly = False
    return ImageDraw.Draw(image).draw


class GroundCanvas:
    """The palette-index image of the ground rows of some views side by side (``index``,
    ``(rows, views * size)`` uint8), with a Pillow drawing handle per view (``draws``) that writes
    straight into its columns of ``index``: no new image per call and no copy back (a third of
    the ground's time went into those). One per thread and shape: see :func:`ground_canvas`."""

    __slots__ = ("index", "draws")

    def __init__(self, rows: int, size: int, views: int) -> None:
        width = views * size
        # A spare row: view k's image maps the buffer from byte k * size on with the strip's row
        # stride, so its mapping reaches up to a row past the strip's end.
        store = np.zeros((rows + 1) * width, dtype=np.uint8)
        self.index = store[:rows * width].reshape(rows, width)
        self.draws = [drawing_on(store[k * size:], "L", (size, rows), width) for k in range(views)]


def _thread_cached(kind: str, key: tuple, make: Any) -> Any:
    """This thread's object of that kind and key, made by ``make()`` the first time and reused after
    (at most four keys per kind are kept: view sizes rarely change within a run)."""
    try:
        store = _scratch_local.cached
    except AttributeError:
        store = _scratch_local.cached = {}
    objects = store.setdefault(kind, {})
    obj = objects.get(key)
    if obj is None:
        if len(objects) >= 4:
            objects.clear()
        obj = objects[key] = make()
    return obj


def ground_canvas(rows: int, size: int, views: int) -> GroundCanvas:
    """This thread's :class:`GroundCanvas` of that shape (contents undefined), reused from call to call."""
    return _thread_cached("ground", (rows, size, views), lambda: GroundCanvas(rows, size, views))


def draw_ground(canvas: GroundCanvas, ground: GroundPolygons,
                ox: float, oy: float, frames: Sequence[tuple[tuple[float, float], tuple[float, float]]],
                size: int, focal: float, eye: float, top: int) -> None:
    """Draw the ground polygons' palette indices into ``canvas``, the image rows from ``top`` down
    (ground never rises above the horizon) of the views with the given ``(forward, right)`` frames,
    side by side. The projection and clipping of every view is computed in one batch; Pillow then
    rasterises each view's polygons into its columns of the canvas."""
    canvas.index.fill(0)
    if _kernels.ENABLED:
        g = ground
        (fx, fy), (rx, ry) = _frame_axes(frames)
        xy, view, begin, end, color = _kernels.project_ground(
            g.verts, g.start, g.center, g.radius, g.reach, g.color_index, ox, oy, fx[:, 0], fy[:, 0], rx[:, 0],
            ry[:, 0], size, focal, eye, top, NEAR)
        flat = xy.tolist()
        draws = canvas.draws
        for v, b, e, c in zip(view.tolist(), begin.tolist(), end.tolist(), color.tolist()):
            draws[v].draw_polygon(flat[b:e], c, 1)
        return
    v, starts, succ, colors = ground_subset(ground, ox, oy)
    if len(starts) == 0:
        return
    half = size / 2
    spread = half / focal    # tan of half the field of view
    (fx, fy), (rx, ry) = _frame_axes(frames)
    dx, dy = v[:, 0] - ox, v[:, 1] - oy
    f_all = dx * fx + dy * fy          # (views, vertices)
    r_all = dx * rx + dy * ry
    fmax = np.maximum.reduceat(f_all, starts, axis=1)
    # Cheap frustum test: skip polygons entirely behind, or entirely outside the view's wedge.
    rmin = np.minimum.reduceat(r_all - spread * f_all, starts, axis=1)
    rmax = np.maximum.reduceat(r_all + spread * f_all, starts, axis=1)
    keep = (fmax >= NEAR) & (rmax >= 0) & (rmin <= 0)
    # Sutherland-Hodgman clip against the near plane f >= NEAR, for all polygons at once: the edge
    # from each vertex to its successor emits the vertex if it is in front, then the crossing
    # point if the edge crosses the plane (a polygon wholly in front comes out unchanged).
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
    xy[1::2] = (half - top) + focal * eye / f_out
    flat = xy.tolist()
    ends = np.cumsum(2 * counts.ravel())
    begins = (ends - 2 * counts.ravel()).tolist()
    ends = ends.tolist()
    drawn = keep & (counts >= 3)
    npoly = len(starts)
    for view in range(len(frames)):
        # The core drawing call of ImageDraw.polygon(xy, fill=c) without its per-call ink parsing
        # (the ink of an "L" image is the pixel value itself): a hundred-odd polygons per view.
        draw = canvas.draws[view]
        base = view * npoly
        for i in np.flatnonzero(drawn[view]).tolist():
            draw.draw_polygon(flat[begins[base + i]:ends[base + i]], colors[i], 1)


# ---- walls ------------------------------------------------------------------------------------------
class Hits:
    """Per image column: the depth of a wall hit (inf if none), the wall's index and the hit's
    distance along the wall (both meaningless where there is no hit)."""

    __slots__ = ("depth", "wall", "along")

    def __init__(self, width: int) -> None:
        self.depth = np.full(width, np.inf)
        self.wall = np.zeros(width, dtype=np.int64)
        self.along = np.zeros(width)

    def roof_height(self, facades: Facades, cols: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Height in metres of each hit wall's roofline above the hit (a gable peaks mid-wall), for
        the given columns."""
        wall = self.wall[cols]
        u = np.clip(self.along[cols] / np.maximum(facades.length[wall], 1e-9), 0.0, 1.0)
        return facades.height[wall] + facades.gable[wall] * (1.0 - np.abs(2.0 * u - 1.0))


def cast_walls(scene: Scene, nearby: np.ndarray, ox: float, oy: float,
               frames: Sequence[tuple[tuple[float, float], tuple[float, float]]], size: int, focal: float,
               eye: float) -> tuple[Hits, Hits]:
    """Cast one ray per image column of the views with the given ``(forward, right)`` frames, side
    by side, against the ``nearby`` walls.

    Returns:
        ``(near, back)``: per column, the nearest wall of its ray, and the wall behind it whose top
        rises highest in the picture (when that is not the nearest).
    """
    views = len(frames)
    near, back = Hits(views * size), Hits(views * size)
    fa = scene.facades
    idx = np.flatnonzero(nearby)
    if len(idx) == 0:
        return near, back
    spread = (size / 2) / focal
    (fx, fy), (rx, ry) = _frame_axes(frames)
    x0, y0 = fa.x0[idx] - ox, fa.y0[idx] - oy
    x1, y1 = fa.x1[idx] - ox, fa.y1[idx] - oy
    if _kernels.ENABLED:
        tops = (fa.height[idx] + fa.gable[idx] - eye).astype(np.float32)
        _kernels.cast_rays(x0, y0, x1, y1, tops, fa.length[idx], idx, fx[:, 0], fy[:, 0], rx[:, 0], ry[:, 0],
                           size, focal, NEAR, near.depth, near.wall, near.along, back.depth, back.wall, back.along)
        return near, back
    # Cull walls outside each view's wedge |r| <= spread * f (both ends on the same outer side).
    f0, f1 = x0 * fx + y0 * fy, x1 * fx + y1 * fy          # (views, walls)
    r0, r1 = x0 * rx + y0 * ry, x1 * rx + y1 * ry
    ok = ~(((r0 > spread * f0) & (r1 > spread * f1)) | ((r0 < -spread * f0) & (r1 < -spread * f1))
           | ((f0 < NEAR) & (f1 < NEAR)))
    # Each kept wall covers a range of columns in its view: the projection of its part in front
    # of the near plane, widened by a column on each side for float rounding. Rays are cast only
    # against the walls whose range holds their column: a few walls per column, not every wall.
    view, local = np.nonzero(ok)
    if len(view) == 0:
        return near, back
    fa0, fb0, ra0, rb0 = (a[view, local] for a in (f0, f1, r0, r1))
    with np.errstate(divide="ignore", invalid="ignore"):
        cut = (NEAR - fa0) / (fb0 - fa0)
    fa_, ra_ = np.where(fa0 < NEAR, NEAR, fa0), np.where(fa0 < NEAR, ra0 + cut * (rb0 - ra0), ra0)
    fb_, rb_ = np.where(fb0 < NEAR, NEAR, fb0), np.where(fb0 < NEAR, ra0 + cut * (rb0 - ra0), rb0)
    ka, kb = ra_ / fa_, rb_ / fb_
    half = size / 2
    lo = np.clip(np.floor(half + focal * np.minimum(ka, kb) - 0.5) - 1, 0, size - 1).astype(np.int64)
    hi = np.clip(np.ceil(half + focal * np.maximum(ka, kb) - 0.5) + 1, 0, size - 1).astype(np.int64)
    span = hi - lo + 1
    pair = np.repeat(np.arange(len(view)), span)
    col = np.arange(len(pair)) - np.repeat(np.cumsum(span) - span, span) + lo[pair]
    # float32 for the ray-wall pairs: half the memory traffic, and centimetre precision.
    f0p, f1p, r0p, r1p = (a[pair].astype(np.float32) for a in (fa0, fb0, ra0, rb0))
    k = ((np.arange(size) + 0.5 - size / 2) / focal).astype(np.float32)[col]
    # In camera coordinates the ray of column c is (f, r) = s * (1, k_c); the wall is
    # (f0, r0) + t * (ef, er). Solve s * (1, k) = (f0, r0) + t * (ef, er).
    ef, er = f1p - f0p, r1p - r0p
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (k * f0p - r0p) / (er - k * ef)
        s = f0p + t * ef
        valid = (t >= 0.0) & (t <= 1.0) & (s > NEAR)
    if not valid.any():
        return near, back
    # The valid hits grouped by image column (stable: each column's walls stay in wall order, so
    # ties go to the first wall, as an argmin over all walls would).
    pair, t, s = pair[valid], t[valid], s[valid]
    column = view[pair] * size + col[valid]
    order = np.argsort(column, kind="stable")
    pair, t, s, column = pair[order], t[order], s[order], column[order]
    walls = idx[local[pair]]
    starts = np.flatnonzero(np.r_[True, column[1:] != column[:-1]])
    cols = column[starts]
    sizes = np.diff(np.r_[starts, len(column)])
    position = np.arange(len(column))

    def first_where(flags: np.ndarray) -> np.ndarray:
        return np.minimum.reduceat(np.where(flags, position, len(column)), starts)

    depth = np.minimum.reduceat(s, starts)
    best = first_where(s == np.repeat(depth, sizes))
    near.depth[cols] = depth
    near.wall[cols] = walls[best]
    near.along[cols] = t[best] * fa.length[walls[best]]
    # The wall whose top is highest in the picture: elevation angle (height - eye) / distance.
    tops = (fa.height[walls] + fa.gable[walls] - eye).astype(np.float32)
    elevation = tops / s
    highest = np.maximum.reduceat(elevation, starts)
    high = first_where(elevation == np.repeat(highest, sizes))
    behind = (high != best) & (highest > 0) & (highest > tops[best] / depth)
    back.depth[cols] = np.where(behind, s[high], np.inf)
    back.wall[cols] = walls[high]
    back.along[cols] = np.where(behind, t[high], 0.0) * fa.length[walls[high]]
    return near, back


_Z_STEPS = 10            # facade texture lookup resolution: steps per metre
_Z_MAX = 260.0           # metres (tallest building: 60 storeys)


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
            row[upper & (zf >= w0) & (zf <= w1)] = GLASS
        if shop:
            row[ground & (z >= GROUND_FLOOR - 1.35)] = FASCIA
            if shop_col:
                row[ground & (z >= 0.35) & (z < GROUND_FLOOR - 1.6)] = SHOP
        elif window_col:
            row[ground & (z >= 0.9) & (z < 2.7)] = GLASS
        row[trim] = TRIM
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


_CHUNK = 128                # columns per band of the per-pixel wall passes


def _paint_wall_band(out: np.ndarray, look: StreetLook, r0: int, size: int, eye: float, step: np.ndarray,
                     hq: np.ndarray, offset: np.ndarray, column_code: np.ndarray | None,
                     palette: np.ndarray) -> None:
    """The per-pixel part of :func:`paint_walls` for the image rows ``r0`` on of some columns
    (``out``: their uint32 words; the other arguments: per column). Every work array lives in a
    reused scratch buffer (see :func:`scratch`) and each pass writes into one: no temporaries."""
    band = out.shape
    half = size / 2
    # Height above the street of each pixel of the band, in texture steps (float32).
    rows = (half - (np.arange(r0, r0 + band[0], dtype=np.float32) + 0.5))[:, None]
    zq = np.multiply(rows, step[None, :], out=scratch("zq", band, np.float32))
    zq += np.float32(eye * _Z_STEPS)
    inwall = np.greater_equal(zq, 0, out=scratch("inwall", band, np.bool_))
    mask = np.less_equal(zq, hq, out=scratch("mask", band, np.bool_))
    inwall &= mask
    # Texture row per pixel. Only pixels inside a wall (0 <= zq <= hq) are ever shown, and there
    # truncation is the floor; elsewhere any value will do, as long as the lookups stay in bounds
    # (mode="clip", which is also cheaper than the default bounds check). float32 -> int32 is
    # several times faster than float32 -> int64 (the heights fit easily).
    zn = int(_Z_MAX * _Z_STEPS)
    zi = scratch("zi", band, np.int32)
    np.copyto(zi, zq, casting="unsafe")
    if float(hq.max()) >= zn:  # a building taller than the texture table: clamp to its top row
        np.minimum(zi, zn - 1, out=zi)
    lit = None
    if column_code is not None:
        lit_code = np.floor_divide(zi, round(look.floor_height * _Z_STEPS), out=scratch("lit", band, np.int32))
        lit_code *= 104729
        lit_code ^= column_code[None, :]
        lit_code &= 1023
        lit = np.less(lit_code, int(look.lit_fraction * 1024), out=scratch("lit_mask", band, np.bool_))
    # The lookup index (int64, as np.take wants): texture row plus the column type's table offset.
    index = np.add(zi, offset[None, :], out=scratch("index", band, np.intp))
    cls = np.take(_facade_lut(look).ravel(), index, mode="clip", out=scratch("cls", band, np.uint8))
    np.greater_equal(zq, (hq - 0.7 * _Z_STEPS)[None, :], out=mask)
    np.copyto(cls, TRIM, where=mask)
    if lit is not None:
        lit &= np.equal(cls, GLASS, out=mask)
        np.copyto(cls, LIT, where=lit)
    np.add(cls, (np.arange(band[1], dtype=np.intp) * 6)[None, :], out=index)
    colored = np.take(palette.ravel(), index, mode="clip", out=scratch("colored", band, np.uint32))
    np.copyto(out, colored, where=inwall)


def paint_walls(out: np.ndarray, scene: Scene, hits: Hits, size: int, focal: float, eye: float) -> np.ndarray:
    """Paint the walls ``hits`` names into ``out``, an ``(size, W)`` ``uint32`` view of the RGBA
    image (the views side by side). Returns the first row each column's wall covers (``size``
    where there is none)."""
    look, fa = scene.look, scene.facades
    depth, wall, along = hits.depth, hits.wall, hits.along
    hit = np.isfinite(depth)
    half = size / 2
    if not hit.any():
        return np.full(len(depth), size)
    d = np.where(hit, depth, 1.0)
    height = np.where(hit, hits.roof_height(fa), -1.0)
    top = np.clip(np.floor(half - focal * (height - eye) / d), 0, size).astype(np.int64)
    bottom = np.clip(np.ceil(half + focal * eye / d), 0, size).astype(np.int64)
    top = np.where(hit & (bottom > top), top, size)
    painted = top < size
    if not painted.any():
        return top
    ncols = len(d)
    zn = int(_Z_MAX * _Z_STEPS)
    # Per column: texture steps per image row, wall top in steps, the column's texture table
    # offset, and its palette (the facade colours faded into the haze by distance) as RGBA words.
    step = (d * _Z_STEPS / focal).astype(np.float32)
    hq = (height * _Z_STEPS).astype(np.float32)
    bay = fa.bay[wall]
    uf = (along / bay) % 1.0
    shop = fa.shop[wall]
    coltype = (_window_columns(look.window_style, uf).astype(np.intp) + 2 * shop
               + 4 * (shop & ((uf % 0.5) >= 0.04)))
    offset = coltype * zn
    column_code = None
    if look.lit_fraction > 0:
        # Which windows are lit: a fixed integer hash of (building, bay, storey) (its low 10 bits
        # do not depend on the integer width).
        bay_index = np.floor(along / bay).astype(np.int32)
        column_code = (bay_index * np.int32(7919)) ^ (fa.seed[wall] & 0xFFFFF).astype(np.int32)
    fog = (1 - np.exp(-d / look.haze_distance)).astype(np.float32)
    haze = np.asarray(look.haze, dtype=np.float32)
    if _kernels.ENABLED:
        _kernels.paint_wall_columns(out, top, bottom, step, hq, hq - 0.7 * _Z_STEPS, offset,
                                    column_code if column_code is not None else np.zeros(ncols, np.int32),
                                    int(look.lit_fraction * 1024) if column_code is not None else 0,
                                    round(look.floor_height * _Z_STEPS), _facade_lut(look).ravel(),
                                    fa.palette, wall, fog, haze, np.float32(half), np.float32(eye * _Z_STEPS),
                                    GLASS, LIT, TRIM)
        return top
    fog = fog[:, None, None]
    pal = fa.palette[wall] * (1 - fog) + haze * fog   # (W, 6, 3)
    palette = _words(pal)   # (W, 6)
    # The per-pixel passes run a chunk of columns at a time, so that their work arrays stay in
    # the processor's cache, each over the rows its own walls cover.
    for c0 in range(0, ncols, _CHUNK):
        c1 = min(ncols, c0 + _CHUNK)
        shown = painted[c0:c1]
        if not shown.any():
            continue
        r0, r1 = int(top[c0:c1][shown].min()), int(bottom[c0:c1][shown].max())
        _paint_wall_band(out[r0:r1, c0:c1], look, r0, size, eye, step[c0:c1], hq[c0:c1], offset[c0:c1],
                         None if column_code is None else column_code[c0:c1], palette[c0:c1])
    return top


def paint_silhouettes(out: np.ndarray, scene: Scene, hits: Hits, size: int, focal: float, eye: float,
                       limit: np.ndarray) -> None:
    """Paint the walls rising behind the nearest ones (``hits``) above row ``limit`` of each
    column, in their hazed facade colour: the skyline beyond the street's roofline."""
    fa, look = scene.facades, scene.look
    cols = np.flatnonzero(np.isfinite(hits.depth))
    if len(cols) == 0:
        return
    d, wall = hits.depth[cols], hits.wall[cols]
    height = hits.roof_height(fa, cols)
    top = np.clip(np.floor(size / 2 - focal * (height - eye) / d), 0, size).astype(np.int64)
    bottom = limit[cols]
    keep = top < bottom
    if not keep.any():
        return
    cols, d, wall, top, bottom = cols[keep], d[keep], wall[keep], top[keep], bottom[keep]
    fog = (1 - np.exp(-d / look.haze_distance))[:, None]
    words = _words(fa.palette[wall, FACADE] * (1 - fog) + np.asarray(look.haze) * fog)
    trim = _words(fa.palette[wall, TRIM] * (1 - fog) + np.asarray(look.haze) * fog)
    if _kernels.ENABLED:
        _kernels.paint_spans(out, cols, top, bottom, words, trim, max(1, size // 256) + 1)
        return
    r0, r1 = int(top.min()), int(bottom.max())
    rows = np.arange(r0, r1)[:, None]
    block = out[r0:r1, cols]
    np.copyto(block, words[None, :], where=(rows >= top[None, :]) & (rows < bottom[None, :]))
    # A cornice line along the top, a storey or so below the roof as seen from afar.
    np.copyto(block, trim[None, :], where=(rows >= top[None, :]) & (rows <= top[None, :] + max(1, size // 256))
              & (rows < bottom[None, :]))
    out[r0:r1, cols] = block


# ---- props: trees, lamps, parked cars ---------------------------------------------------------------
def draw_props(out: np.ndarray, scene: Scene, near_props: np.ndarray, ox: float, oy: float,
                fwd: tuple[float, float], right: tuple[float, float], size: int, focal: float, eye: float,
                depth: np.ndarray) -> None:
    """Draw the props in front of the camera into one view (``out``: its ``(size, size)`` uint32
    words): simple shapes, far to near, rasterised by Pillow on a layer of their own that is then
    laid over the view. A prop whose middle is hidden by a nearer wall (round a corner) is left out."""
    pr, look = scene.props, scene.look
    if len(near_props) == 0:
        return
    dx, dy = pr.x[near_props] - ox, pr.y[near_props] - oy
    f = dx * fwd[0] + dy * fwd[1]
    r = dx * right[0] + dy * right[1]
    half = size / 2
    w = pr.width[near_props]
    front = (f > 1.5) & (np.abs(r) - w < (half / focal) * f) & (focal * pr.height[near_props] >= 3 * f)
    if not front.any():
        return
    sel = np.flatnonzero(front)
    scale = focal / f[sel]
    cx = half + r[sel] * scale
    middle = np.minimum(np.maximum(cx.astype(np.intp), 0), size - 1)
    sel, scale, cx = (a[depth[middle] > f[sel]] for a in (sel, scale, cx))
    if len(sel) == 0:
        return
    order = np.argsort(-f[sel])
    sel, scale, cx = sel[order], scale[order], cx[order]
    hw = np.maximum(0.5, 0.5 * w[sel] * scale)
    foot = half + eye * scale
    heights = pr.height[near_props[sel]] * scale
    height = heights.tolist()
    fog = (1.0 - np.exp(-f[sel] / look.haze_distance))[:, None]
    haze = np.asarray(look.haze, dtype=np.float64)
    # The props are drawn on this thread's layer the size of the view, and only their bounding
    # box (lamp arms reach 1.6 half-widths out) is laid over the view.
    left = max(0, int(np.floor((cx - 1.6 * hw).min())) - 1)
    right_edge = min(size, int(np.ceil((cx + 1.6 * hw).max())) + 2)
    top = max(0, int(np.floor((foot - heights).min())) - 1)
    bottom = min(size, int(np.ceil(foot.max())) + 2)
    if left >= right_edge or top >= bottom:
        return
    words, draw = _props_layer(size)
    words.fill(0)
    # Every colour of every prop (body, window, tyres, trunk) faded into the haze at once, rounded
    # to the nearest integer, as Pillow's inks for an RGBA image (the four bytes read as a native
    # int32): one row of four inks per prop.
    color = pr.color[near_props[sel]].astype(np.float64)
    window = np.asarray(look.window, dtype=np.float64) * 0.6
    bark = np.asarray((82, 64, 50), dtype=np.float64) * look.light
    colors = np.empty((len(color), 4, 3))
    colors[:, 0], colors[:, 1], colors[:, 2], colors[:, 3] = color, window, color * 0.3, bark
    rgba = np.full(colors.shape[:2] + (4,), 255, dtype=np.uint8)
    rgba[..., :3] = (colors * (1 - fog[:, :, None]) + haze * fog[:, :, None] + 0.5).astype(np.int64)
    inks = rgba.view(np.int32)[..., 0].tolist()
    for (x, half_w, y1, h), (main, glass, tyre, trunk), kind in zip(
            zip(cx.tolist(), hw.tolist(), foot.tolist(), height), inks, pr.kind[near_props[sel]].tolist()):
        if kind == CAR:
            draw.draw_rectangle((x - half_w, y1 - 0.62 * h, x + half_w, y1 - 0.08 * h), main, 1)
            draw.draw_rectangle((x - 0.8 * half_w, y1 - h, x + 0.8 * half_w, y1 - 0.6 * h), main, 1)
            draw.draw_rectangle((x - 0.7 * half_w, y1 - 0.92 * h, x + 0.7 * half_w, y1 - 0.66 * h), glass, 1)
            for side in (-1, 1):
                draw.draw_rectangle((x + side * 0.78 * half_w - 0.2 * half_w, y1 - 0.12 * h,
                                     x + side * 0.78 * half_w + 0.2 * half_w, y1), tyre, 1)
        elif kind == LAMP:
            draw.draw_rectangle((x - 0.45 * half_w, y1 - h, x + 0.45 * half_w, y1), main, 1)
            draw.draw_rectangle((x - 1.6 * half_w, y1 - h, x + 1.6 * half_w, y1 - 0.95 * h), main, 1)
        else:   # a trunk and an oval crown
            draw.draw_rectangle((x - 0.09 * half_w, y1 - 0.5 * h, x + 0.09 * half_w, y1), trunk, 1)
            draw.draw_ellipse((x - half_w, y1 - h, x + half_w, y1 - 0.36 * h), main, 1)
    region, layer = out[top:bottom, left:right_edge], words[top:bottom, left:right_edge]
    if _kernels.ENABLED:
        _kernels.overlay(region, layer)
    else:
        np.copyto(region, layer, where=layer.view(np.uint8).reshape(layer.shape + (4,))[..., 3] > 0)


def _props_layer(size: int) -> tuple[np.ndarray, Any]:
    """This thread's ``(size, size)`` RGBA layer for the props (uint32 words; contents undefined)
    and the Pillow drawing handle that draws into it (:func:`drawing_on`), reused from call to call."""

    def make() -> tuple[np.ndarray, Any]:
        words = np.zeros((size, size), dtype=np.uint32)
        return words, drawing_on(words, "RGBA", (size, size))

    return _thread_cached("props", (size,), make)


def near_walls(scene: Scene, ox: float, oy: float) -> np.ndarray:
    """Which walls come within :data:`SCENE_RADIUS` of the point."""
    fa = scene.facades
    if _kernels.ENABLED:
        return _kernels.near_segments(fa.x0, fa.y0, fa.x1, fa.y1, ox, oy, SCENE_RADIUS)
    ax, ay = fa.x0 - ox, fa.y0 - oy
    bx, by = fa.x1 - fa.x0, fa.y1 - fa.y0
    t = np.clip(-(ax * bx + ay * by) / np.maximum(bx * bx + by * by, 1e-9), 0, 1)
    return (ax + t * bx) ** 2 + (ay + t * by) ** 2 <= SCENE_RADIUS ** 2
