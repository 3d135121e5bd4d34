"""Compiled passes of the street views, used when numba is installed (the ``fast`` extra).

The street views' per-pixel work and their many small array operations per point (the facade
texture lookup, the ground's palette gather, the ray cast against the walls, the ground polygons'
clipping and projection, the skyline spans, the props overlay, the RGBA -> RGB copy into the grid)
are numpy passes in :mod:`virl_env.streetview.paint` and :mod:`virl_env.streetview.views`; numba runs each as
one loop. They give the same pixels as the numpy passes (the same float arithmetic in the same
order; ``tests/test_virl_kernels.py`` compares the two paths picture by picture) at about twice the
uncached image-mode steps per second. Without numba, or with ``VIRL_ENV_NUMBA=0`` in the
environment, the numpy passes run.

The kernels compile on first use (a few seconds) and numba caches them on disk.
"""

from __future__ import annotations

import os
import sys

import numpy as np

__all__ = ["ENABLED", "cast_rays", "copy_rgb", "near_segments", "overlay", "paint_ground", "paint_spans",
           "paint_wall_columns", "project_ground"]

try:
    if os.environ.get("VIRL_ENV_NUMBA", "1").strip().lower() in ("0", "false", "no", "off"):
        raise ImportError("disabled by VIRL_ENV_NUMBA")
    if sys.byteorder != "little":   # copy_rgb reads red from the low byte of each RGBA word
        raise ImportError("the kernels assume a little-endian machine")
    import numba
except ImportError:
    numba = None

ENABLED: bool = numba is not None
"""Whether the street views use the compiled passes (numba importable and not disabled). Tests set
it to False to run the numpy passes in the same process."""


def _compile(function):  # type: ignore[no-untyped-def]
    if numba is None:
        return function
    try:
        return numba.njit(cache=True, nogil=True)(function)
    except RuntimeError:   # no writable cache directory (a read-only install): compile per process
        return numba.njit(nogil=True)(function)


@_compile
def paint_wall_columns(out, top, bottom, step, hq, trim_from, offset, code, lit_limit, storey_rows,
                       lut, colors, wall, fog, haze, half, eyeq, glass, lit, trim):  # pragma: no cover - compiled
    """The facade texture lookup of :func:`virl_env.streetview.paint.paint_walls`: in each column ``c``
    of ``out`` (uint32 words), over its rows ``top[c]:bottom[c]``, a pixel inside the wall
    (texture height ``0 <= zq <= hq``) takes the texture class at ``zq`` (the cornice class from
    ``trim_from`` up; lit windows by the storey hash when ``lit_limit > 0``) in the colours of the
    column's wall (``colors[wall[c]]``, float32 ``(6, 3)``) faded into ``haze`` by ``fog[c]``."""
    zn = lut.shape[0] // 8
    width = out.shape[1]
    first, last = out.shape[0], 0
    # Each painted column's six colours as RGBA words, as streetpaint._words rounds them.
    palette = np.zeros((width, 6), dtype=np.uint32)
    for c in range(width):
        if top[c] >= bottom[c]:
            continue
        first = min(first, top[c])
        last = max(last, bottom[c])
        f = fog[c]
        keep = np.float32(1) - f
        for k in range(6):
            word = np.uint32(255) << 24
            for ch in range(3):
                v = colors[wall[c], k, ch] * keep + haze[ch] * f + np.float32(0.5)
                v = min(max(v, np.float32(0)), np.float32(255))
                word |= np.uint32(np.uint8(v)) << (8 * ch)
            palette[c, k] = word
    # Row by row (the picture's memory order), each row over the columns whose wall spans it.
    for r in range(first, last):
        rows = half - (np.float32(r) + np.float32(0.5))
        for c in range(width):
            if r < top[c] or r >= bottom[c]:
                continue
            zq = rows * step[c] + eyeq
            if not (zq >= 0 and zq <= hq[c]):
                continue
            zi = min(np.int32(zq), zn - 1)
            cls = lut[offset[c] + zi]
            if zq >= trim_from[c]:
                cls = trim
            elif lit_limit > 0 and cls == glass:
                if (((zi // storey_rows) * 104729) ^ code[c]) & 1023 < lit_limit:
                    cls = lit
            out[r, c] = palette[c, cls]


@_compile
def paint_ground(out, index, palette):  # pragma: no cover - compiled
    """``out[r, c] = palette[r, index[r, c]]``: each ground pixel takes its row's (hazed) colour of
    its polygon class (:func:`virl_env.streetview.paint.paint_ground`)."""
    last = palette.shape[1] - 1
    for r in range(out.shape[0]):
        for c in range(out.shape[1]):
            out[r, c] = palette[r, min(index[r, c], last)]


@_compile
def copy_rgb(dst, y0, x0, src, c0, width):  # pragma: no cover - compiled
    """Copy the colours of the RGBA words ``src[:, c0:c0 + width]`` into the RGB ``dst`` from row
    ``y0``, column ``x0`` on (both arrays C-contiguous; little-endian words: red is the low byte)."""
    for r in range(src.shape[0]):
        for c in range(width):
            word = src[r, c0 + c]
            dst[y0 + r, x0 + c, 0] = word & 255
            dst[y0 + r, x0 + c, 1] = (word >> 8) & 255
            dst[y0 + r, x0 + c, 2] = (word >> 16) & 255


@_compile
def cast_rays(x0, y0, x1, y1, tops, length, wall_ids, fx, fy, rx, ry, size, focal, near_plane,
              near_depth, near_wall, near_along, back_depth, back_wall, back_along):  # pragma: no cover - compiled
    """The ray cast of :func:`virl_env.streetview.paint.cast_walls` for the candidate walls (end points
    relative to the camera, in wall order) and the views' axes, filling both :class:`Hits`
    (``near_*`` and ``back_*``, initialised to no hit). Ties go to the first wall in wall order."""
    views = fx.shape[0]
    columns = views * size
    half = size / 2
    spread = half / focal
    best_s = np.full(columns, np.inf, dtype=np.float32)
    best_t = np.zeros(columns, dtype=np.float32)
    best_j = np.full(columns, -1, dtype=np.int64)
    high_e = np.full(columns, -np.inf, dtype=np.float32)
    high_s = np.zeros(columns, dtype=np.float32)
    high_t = np.zeros(columns, dtype=np.float32)
    high_j = np.full(columns, -1, dtype=np.int64)
    ks = np.empty(size, dtype=np.float32)
    for col in range(size):
        ks[col] = np.float32((col + 0.5 - size / 2) / focal)
    for v in range(views):
        for j in range(x0.shape[0]):
            f0 = x0[j] * fx[v] + y0[j] * fy[v]
            f1 = x1[j] * fx[v] + y1[j] * fy[v]
            r0 = x0[j] * rx[v] + y0[j] * ry[v]
            r1 = x1[j] * rx[v] + y1[j] * ry[v]
            if ((r0 > spread * f0) and (r1 > spread * f1)) or ((r0 < -spread * f0) and (r1 < -spread * f1)) \
                    or ((f0 < near_plane) and (f1 < near_plane)):
                continue
            cut = (near_plane - f0) / (f1 - f0) if f1 != f0 else np.nan
            fa, ra = (near_plane, r0 + cut * (r1 - r0)) if f0 < near_plane else (f0, r0)
            fb, rb = (near_plane, r0 + cut * (r1 - r0)) if f1 < near_plane else (f1, r1)
            ka, kb = ra / fa, rb / fb
            lo = int(min(max(np.floor(half + focal * min(ka, kb) - 0.5) - 1, 0), size - 1))
            hi = int(min(max(np.ceil(half + focal * max(ka, kb) - 0.5) + 1, 0), size - 1))
            f0p, f1p, r0p, r1p = np.float32(f0), np.float32(f1), np.float32(r0), np.float32(r1)
            ef, er = f1p - f0p, r1p - r0p
            for col in range(lo, hi + 1):
                k = ks[col]
                den = er - k * ef
                t = (k * f0p - r0p) / den if den != 0 else np.float32(np.nan)
                s = f0p + t * ef
                if not (t >= 0 and t <= 1 and s > near_plane):
                    continue
                c = v * size + col
                if s < best_s[c]:
                    best_s[c], best_t[c], best_j[c] = s, t, j
                e = tops[j] / s
                if e > high_e[c]:
                    high_e[c], high_s[c], high_t[c], high_j[c] = e, s, t, j
    for c in range(columns):
        b = best_j[c]
        if b < 0:
            continue
        near_depth[c] = best_s[c]
        near_wall[c] = wall_ids[b]
        near_along[c] = np.float64(best_t[c]) * length[b]
        h = high_j[c]
        behind = h != b and high_e[c] > 0 and high_e[c] > tops[b] / best_s[c]
        back_depth[c] = high_s[c] if behind else np.inf
        back_wall[c] = wall_ids[h]
        back_along[c] = (np.float64(high_t[c]) if behind else 0.0) * length[h]


@_compile
def paint_spans(out, cols, top, bottom, face, trim, trim_rows):  # pragma: no cover - compiled
    """The silhouettes of :func:`virl_env.streetview.paint.paint_silhouettes`: in column ``cols[j]`` of
    ``out``, rows ``top[j]:bottom[j]`` take the word ``face[j]``, the first ``trim_rows`` of
    them ``trim[j]``."""
    first, last = out.shape[0], 0
    for j in range(cols.shape[0]):
        first = min(first, top[j])
        last = max(last, bottom[j])
    for r in range(first, last):
        for j in range(cols.shape[0]):
            if top[j] <= r < bottom[j]:
                out[r, cols[j]] = trim[j] if r < top[j] + trim_rows else face[j]


@_compile
def project_ground(verts, start, center, radius, reach, color, ox, oy, fx, fy, rx, ry, size, focal, eye,
                   top, near_plane):  # pragma: no cover - compiled
    """The ground polygons of :func:`virl_env.streetview.paint.draw_ground` as the views see them: the
    polygons within reach of the point, each view's in scene order, clipped at the near plane and
    projected to image coordinates (rows from ``top``). Returns ``(xy, view, begin, end,
    color)``: the interleaved x, y coordinates, and per polygon to draw its view, its slice
    ``xy[begin:end]`` and its palette index."""
    npoly = start.shape[0]
    nverts = verts.shape[0]
    views = fx.shape[0]
    half = size / 2
    spread = half / focal
    depth_scale = focal * eye
    sub = np.empty(npoly, dtype=np.int64)
    nsub = 0
    room = 0
    for p in range(npoly):
        if np.hypot(center[p, 0] - ox, center[p, 1] - oy) - radius[p] <= reach[p]:
            sub[nsub] = p
            nsub += 1
            end = start[p + 1] if p + 1 < npoly else nverts
            room += end - start[p]
    xy = np.empty(views * room * 4)
    out_view = np.empty(views * nsub, dtype=np.int64)
    out_begin = np.empty(views * nsub, dtype=np.int64)
    out_end = np.empty(views * nsub, dtype=np.int64)
    out_color = np.empty(views * nsub, dtype=np.int64)
    f = np.empty(nverts)
    r = np.empty(nverts)
    n = 0
    m = 0
    for v in range(views):
        for q in range(nsub):
            p = sub[q]
            a = start[p]
            b = start[p + 1] if p + 1 < npoly else nverts
            fmax, rmin, rmax = -np.inf, np.inf, -np.inf
            for i in range(a, b):
                dx = verts[i, 0] - ox
                dy = verts[i, 1] - oy
                f[i] = dx * fx[v] + dy * fy[v]
                r[i] = dx * rx[v] + dy * ry[v]
                fmax = max(fmax, f[i])
                rmin = min(rmin, r[i] - spread * f[i])
                rmax = max(rmax, r[i] + spread * f[i])
            if not (fmax >= near_plane and rmax >= 0 and rmin <= 0):
                continue
            # Sutherland-Hodgman against f >= near: each vertex in front, then each crossing.
            begin = n
            for i in range(a, b):
                j = i + 1 if i + 1 < b else a
                front = f[i] >= near_plane
                if front:
                    xy[n] = half + focal * r[i] / f[i]
                    xy[n + 1] = (half - top) + depth_scale / f[i]
                    n += 2
                if front != (f[j] >= near_plane):
                    rc = r[i] + (near_plane - f[i]) / (f[j] - f[i]) * (r[j] - r[i])
                    xy[n] = half + focal * rc / near_plane
                    xy[n + 1] = (half - top) + depth_scale / near_plane
                    n += 2
            if n - begin < 6:
                n = begin
                continue
            out_view[m], out_begin[m], out_end[m], out_color[m] = v, begin, n, color[p]
            m += 1
    return xy[:n], out_view[:m], out_begin[:m], out_end[:m], out_color[:m]


@_compile
def near_segments(x0, y0, x1, y1, ox, oy, radius):  # pragma: no cover - compiled
    """Which segments come within ``radius`` of the point (:func:`virl_env.streetview.paint.near_walls`)."""
    out = np.empty(x0.shape[0], dtype=np.bool_)
    limit = radius ** 2
    for i in range(x0.shape[0]):
        ax, ay = x0[i] - ox, y0[i] - oy
        bx, by = x1[i] - x0[i], y1[i] - y0[i]
        t = min(max(-(ax * bx + ay * by) / max(bx * bx + by * by, 1e-9), 0.0), 1.0)
        px, py = ax + t * bx, ay + t * by
        out[i] = px * px + py * py <= limit
    return out


@_compile
def overlay(out, layer):  # pragma: no cover - compiled
    """Lay the RGBA words of ``layer`` whose alpha byte is not 0 over ``out`` (same shape)."""
    for r in range(out.shape[0]):
        for c in range(out.shape[1]):
            word = layer[r, c]
            if word >> 24:
                out[r, c] = word
