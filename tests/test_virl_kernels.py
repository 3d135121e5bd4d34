"""Compiled street-view passes (virl_env.streetview._kernels): the same pixels, signs and depths as numpy.

The numba kernels replace the per-pixel passes of :mod:`virl_env.streetview.paint` and
:mod:`virl_env.streetview.views` when ``virl_env.streetview._kernels.ENABLED`` is True. The call sites read the flag
at call time, so each comparison flips it with ``monkeypatch`` and renders the same point twice in
one process (clearing the grid cache in between). The comparisons need numba and skip without it
(or with ``VIRL_ENV_NUMBA=0``); the switch test runs everywhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from virl_env.streetview import _kernels
from virl_env.world.city import get_city
from virl_env.world.routes import get_rail, get_route
from virl_env.streetview.scene import get_scene
from virl_env.streetview.views import (
    clear_view_cache,
    grid_size,
    render_depth,
    render_grid,
    render_view,
    separator_width,
)
from virl_env.world.styles import STYLE_NAMES

REPO = Path(__file__).resolve().parent.parent
KERNELS = ("paint_wall_columns", "paint_ground", "copy_rgb", "cast_rays", "paint_spans", "project_ground",
           "near_segments", "overlay")
POINTS_PER_STYLE = 20


def _points(style: str, count: int = POINTS_PER_STYLE) -> list:
    """``count`` rail points of the style's city spread evenly over its first six routes (the
    rail's starts, crossings, turns and plain street points; some with landmark signs)."""
    city = get_city(style, 0)
    rail = [p for k in range(6) for p in get_rail(city, get_route(city, k), 2)]
    picks = np.linspace(0, len(rail) - 1, count).round().astype(int)
    return [rail[i] for i in dict.fromkeys(picks.tolist())]


def _headings(points: list) -> list[float]:
    """The rail headings, every other one turned 23 degrees so that walls are also seen obliquely."""
    return [p.heading + (23.0 if i % 2 else 0.0) for i, p in enumerate(points)]


def _difference(a: np.ndarray, b: np.ndarray, size: int | None = None) -> str:
    """What differs between two pictures (or depth maps): count, bounding box, first locations and,
    for a grid, which views."""
    if a.shape != b.shape:
        return f"shapes {a.shape} != {b.shape}"
    diff = a != b
    if diff.ndim == 3:
        diff = diff.any(axis=-1)
    where = np.argwhere(diff)
    if not len(where):
        return "no pixel differs (dtype or byte-level difference only)"
    (r0, c0), (r1, c1) = where.min(axis=0), where.max(axis=0)
    text = (f"{len(where)} pixels differ, rows {r0}..{r1}, columns {c0}..{c1}, first "
            f"{[tuple(x) for x in where[:5].tolist()]}: {[a[tuple(x)].tolist() for x in where[:3]]} "
            f"vs {[b[tuple(x)].tolist() for x in where[:3]]}")
    if size is not None:
        step = size + separator_width(size)
        views = Counter(int(r // step * 2 + c // step) for r, c in where.tolist())
        text += f"; per view (0 front, 1 right, 2 back, 3 left): {dict(sorted(views.items()))}"
    return text


@pytest.fixture
def use_kernels(monkeypatch: pytest.MonkeyPatch):
    """``use_kernels(flag)`` switches the street views between the compiled and the numpy passes;
    skips without numba or with the passes disabled. Every kernel call is counted in
    ``use_kernels.calls`` (so a comparison knows the compiled path really ran)."""
    pytest.importorskip("numba")
    if not _kernels.ENABLED:
        pytest.skip("compiled passes disabled (VIRL_ENV_NUMBA)")
    calls: Counter[str] = Counter()

    def counted(name: str):  # type: ignore[no-untyped-def]
        kernel = getattr(_kernels, name)

        def call(*args):  # type: ignore[no-untyped-def]
            calls[name] += 1
            return kernel(*args)
        return call

    for name in KERNELS:
        monkeypatch.setattr(_kernels, name, counted(name))

    def switch(flag: bool) -> None:
        monkeypatch.setattr(_kernels, "ENABLED", flag)
        clear_view_cache()   # a grid is cached per point: the other path must really draw it

    switch.calls = calls   # type: ignore[attr-defined]
    yield switch
    clear_view_cache()


@pytest.mark.parametrize("style", STYLE_NAMES)
def test_compiled_grids_match_numpy(use_kernels, style):
    city = get_city(style, 0)
    points = _points(style)
    assert len(points) >= POINTS_PER_STYLE - 2
    signs = 0
    for size in (256, 97):
        for i, (point, heading) in enumerate(zip(points, _headings(points))):
            grids, placements = [], []
            for flag in (True, False):   # alternate per point: leftovers in the scratch buffers show up
                before = sum(use_kernels.calls.values())
                use_kernels(flag)
                grid, placed = render_grid(city, point.position, heading, size)
                # The compiled path ran every pass it has; the numpy path none of them.
                assert (sum(use_kernels.calls.values()) > before) is flag
                grids.append(grid)
                placements.append(placed)
            assert grids[0].shape == (grid_size(size),) * 2 + (3,) and grids[0].dtype == np.uint8
            assert grids[0].tobytes() == grids[1].tobytes(), (
                f"{style} point {i} {point.position} heading {heading} size {size}: "
                + _difference(grids[0], grids[1], size))
            assert placements[0] == placements[1], f"{style} point {i} size {size}"
            signs += len(placements[0])
    assert signs > 0   # the points include landmark signs (drawn over the compiled walls)
    # Each kernel ran (walls, ground, silhouettes behind, the ray cast, the colour copy; the props
    # overlay where the style has trees, lamps or cars).
    has_props = len(get_scene(city, city.style.look).props) > 0
    assert set(use_kernels.calls) == set(KERNELS) - ({"overlay"} if not has_props else set()), use_kernels.calls


@pytest.mark.parametrize("style", STYLE_NAMES)
def test_compiled_large_views_and_depth_match_numpy(use_kernels, style):
    city = get_city(style, 0)
    points = _points(style, 8)
    sky = 0
    for i, (point, heading) in enumerate(zip(points, _headings(points))):
        if i < 3:
            views = []
            for flag in (True, False):
                use_kernels(flag)
                views.append(render_view(city, point.position, heading, 512))
            assert views[0].tobytes() == views[1].tobytes(), (
                f"{style} point {i} {point.position} heading {heading} view 512: "
                + _difference(views[0], views[1]))
        for size in (256, 100):
            depths = []
            for flag in (True, False):
                use_kernels(flag)
                depths.append(render_depth(city, point.position, heading, size))
            a, b = depths
            assert a.dtype == np.float32 and a.shape == (size, size) and not np.isnan(a).any()
            assert np.array_equal(a, b) and a.tobytes() == b.tobytes(), (
                f"{style} point {i} {point.position} heading {heading} depth {size}: " + _difference(a, b))
            sky += int(np.isinf(a).sum())
            assert np.isfinite(a).any()
    assert sky > 0   # the sky's inf is among the compared values
    assert use_kernels.calls["cast_rays"] > 0 and use_kernels.calls["copy_rgb"] > 0


def test_compiled_grids_from_threads_match_serial(use_kernels):
    """The kernels release the GIL and their scratch arrays are per thread: four threads drawing
    different points and sizes at once get byte for byte what one thread gets."""
    points = {style: _points(style, 8) for style in ("new_york", "tokyo", "cairo")}
    jobs = [(style, point, heading, size)
            for style, chosen in points.items()
            for point, heading in zip(chosen, _headings(chosen))
            for size in (128, 97)]

    def draw(job):  # type: ignore[no-untyped-def]
        style, point, heading, size = job
        city = get_city(style, 0)
        grid, placed = render_grid(city, point.position, heading, size)
        return grid.tobytes(), placed, render_view(city, point.position, heading + 45.0, size).tobytes()

    use_kernels(True)
    serial = [draw(job) for job in jobs]
    clear_view_cache()
    calls = sum(use_kernels.calls.values())
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(draw, jobs))
    assert sum(use_kernels.calls.values()) > calls   # drawn again (no cached grid), compiled
    for job, a, b in zip(jobs, serial, threaded):
        assert a[0] == b[0], f"grid of {job[0]} at {job[1].position} size {job[3]}"
        assert a[1] == b[1], f"signs of {job[0]} at {job[1].position} size {job[3]}"
        assert a[2] == b[2], f"view of {job[0]} at {job[1].position} size {job[3]}"
    # The threaded grids are also the numpy passes' (a race or a shared buffer would show up here).
    use_kernels(False)
    for job, a in zip(jobs[::5], serial[::5]):
        assert draw(job) == a, f"{job[0]} at {job[1].position} size {job[3]}"


def _enabled_in_fresh_process(value: str | None) -> str:
    env = dict(os.environ)
    env.pop("VIRL_ENV_NUMBA", None)
    if value is not None:
        env["VIRL_ENV_NUMBA"] = value
    done = subprocess.run(
        [sys.executable, "-c", "import sys, virl_env.streetview._kernels as k; print(k.ENABLED, sys.modules.get('numba') is not None)"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("value", ["0", "false", " OFF ", "no"])
def test_environment_variable_turns_the_kernels_off(value):
    # Runs with or without numba: the numpy passes are chosen and numba is not even imported.
    assert _enabled_in_fresh_process(value) == "False False"


def test_kernels_are_on_exactly_when_numba_is_importable():
    import importlib.util

    have = importlib.util.find_spec("numba") is not None
    assert _enabled_in_fresh_process(None) == f"{have} {have}"
    assert _enabled_in_fresh_process("1") == f"{have} {have}"
