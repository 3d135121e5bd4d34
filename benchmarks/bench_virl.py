"""Speed of the V-IRL environments: resets, graded steps, city generation per style, and the image
mode (street-view grids rendered per step).

Run from the repository root::

    python benchmarks/bench_virl.py            # full run
    python benchmarks/bench_virl.py --quick    # fewer repeats
    python benchmarks/bench_virl.py --vl-only  # only the image-mode figures
    python benchmarks/bench_virl.py --quick --write-results   # also write them into docs/results.md

Prints which street-view passes run (compiled with numba, the ``fast`` extra, or numpy), then the
median over several repeats of each figure. Nothing is asserted: these are figures for the docs'
results page, measured on whatever machine runs the script; ``--write-results`` writes them there,
dated (the image-mode section, and the text-mode one unless ``--vl-only``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import PIL

from _results import add_write_option, markdown_table, rate, write_section
from virl_env.streetview import _kernels
from virl_env.world import routes as routes_module
from virl_env.world.city import generate_city, get_city
from virl_env.world.routes import get_rail, get_route
from virl_env.streetview.views import clear_view_cache, render_grid
from virl_env.world.styles import STYLE_NAMES


def _median_rate(fn, repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        count, seconds = fn()
        rates.append(count / seconds)
    return statistics.median(rates)


def bench_resets_warm(n: int) -> tuple[int, float]:
    """Random-route resets in the cached training city; the 1,000-route set's routes and rails
    are already cached (steady state of a training run)."""
    env = gym.make("virl_env:VIRL-v0")
    env.reset(seed=0)
    for k in range(1000):
        env.reset(options={"route": k})
    start = time.perf_counter()
    for i in range(n):
        env.reset(seed=i)
    return n, time.perf_counter() - start


def bench_resets_cold(n: int, offset: list[int]) -> tuple[int, float]:
    """Resets on routes never seen before in the cached city: each plans its route and builds its rail."""
    env = gym.make("virl_env:VIRL-v0")
    env.reset(seed=0)
    first = 10_000 + offset[0]
    offset[0] += n
    start = time.perf_counter()
    for k in range(first, first + n):
        env.reset(options={"route": k})
    return n, time.perf_counter() - start


def bench_steps(n: int, env_id: str = "virl_env:VIRL-v0") -> tuple[int, float]:
    """Graded steps with full JSON expert replies (one wrong reply in five); only step() is timed."""
    env = gym.make(env_id)
    env.reset(seed=0)
    u = env.unwrapped
    spent, done, i = 0.0, 0, 0
    while done < n:
        reply = u.expert_reply() if i % 5 else '{"current observation": "none", "action": "stop()"}'
        i += 1
        t = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(reply)
        spent += time.perf_counter() - t
        done += 1
        if terminated or truncated:
            env.reset()
    return n, spent


def bench_vl_steps(n: int, env_id: str = "virl_env:VIRL-VL-v0", view_size: int = 256,
                   uncached: bool = True) -> tuple[int, float]:
    """Graded image-mode steps with expert replies: every step moves to a new point, so the four
    views are rendered (with ``uncached`` the grid cache is emptied first, so nothing is reused
    from an earlier episode). Only step() is timed; the city scene is built before timing. Sign
    lettering stays cached per landmark (as in training, which sees each landmark many times):
    the first repeat letters each landmark it meets once, later repeats reuse the letters."""
    env = gym.make(env_id, view_size=view_size)
    env.reset(seed=0)
    spent, done = 0.0, 0
    while done < n:
        reply = env.unwrapped.expert_reply()
        if uncached:
            clear_view_cache()
        t = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(reply)
        spent += time.perf_counter() - t
        done += 1
        if terminated or truncated:
            env.reset()
    return n, spent


def bench_style_grids(style: str, n: int) -> tuple[int, float]:
    """Uncached 256-pixel grids at the rail points of a style's city (its street geometry: trees,
    lamps, cars, towers...), timed on their own; the city's scene is built before timing."""
    city = get_city(style, 0)
    points = [p for k in range(40) for p in get_rail(city, get_route(city, k), 2)][:n]
    render_grid(city, points[0].position, points[0].heading, 256)
    spent = 0.0
    for p in points:
        clear_view_cache()
        t = time.perf_counter()
        render_grid(city, p.position, p.heading, 256)
        spent += time.perf_counter() - t
    return len(points), spent


def bench_vl_failed_attempts(n: int) -> tuple[int, float]:
    """Wrong replies at the same point: the grid of the point is reused, nothing is rendered."""
    env = gym.make("virl_env:VIRL-VL-v0", rules={"max_attempts": 100})
    env.reset(seed=0)
    spent = 0.0
    for i in range(n):
        if i % 90 == 0:
            env.reset(seed=i)
        t = time.perf_counter()
        env.step("gibberish")
        spent += time.perf_counter() - t
    return n, spent


def bench_city_generation(style: str, repeats: int) -> float:
    times = []
    for r in range(repeats):
        start = time.perf_counter()
        generate_city(style, 1000 + r)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--vl-only", action="store_true", help="only the image-mode figures")
    add_write_option(parser)
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    get_city("new_york", 0)  # the cached training city
    versions = {"gymnasium": gym.__version__, "Pillow": PIL.__version__}
    if _kernels.ENABLED:
        import numba
        passes = f"compiled (numba {numba.__version__})"
        versions["numba"] = numba.__version__
        print(f"street-view passes: {passes}")
    else:
        passes = "numpy (without the fast extra, or with VIRL_ENV_NUMBA=0)"
        print("street-view passes: numpy (install the fast extra for the compiled ones)")
    # Compile (or load from numba's cache) the kernels before timing.
    city = get_city("new_york", 0)
    render_grid(city, get_rail(city, get_route(city, 0), 2)[0].position, 0.0, 64)
    vl = [
        ("VIRL-VL-v0 graded step, new point, 4 views rendered uncached, 256 px", lambda: bench_vl_steps(300)),
        ("VIRL-VL-VisualOOD-v0 graded step, uncached, 256 px (9 styles)",
         lambda: bench_vl_steps(300, "virl_env:VIRL-VL-VisualOOD-v0")),
        ("VIRL-VL-v0 graded step, uncached, 512 px", lambda: bench_vl_steps(100, view_size=512)),
        ("VIRL-VL-v0 graded step, uncached, 1200 px (paper size)", lambda: bench_vl_steps(20, view_size=1200)),
        ("VIRL-VL-v0 failed attempt at the same point (cached grid)", lambda: bench_vl_failed_attempts(2000)),
    ]
    vl_rows = []
    for label, fn in vl:
        value = _median_rate(fn, repeats)
        vl_rows.append((label, value))
        print(f"{label:<72}: {value:8,.0f} /s")
    print("uncached 256-pixel grids per style (render_grid alone):")
    grids = []
    for style in STYLE_NAMES:
        value = _median_rate(lambda style=style: bench_style_grids(style, 60), repeats)
        grids.append(f"{style} {rate(value)}")
        print(f"  {style:<10} {value:7,.0f} /s")
    if args.write_results:
        rows = [(label, rate(value)) for label, value in vl_rows]
        rows.append(("uncached 256 px grid alone, per style", ", ".join(grids)))
        write_section("bench_virl_vl", f"Street-view passes: {passes}. Median of {repeats} repeats.\n\n"
                      + markdown_table(["figure", "per second"], rows), versions=versions)
    if args.vl_only:
        return

    warm = _median_rate(lambda: bench_resets_warm(5000), repeats)
    offset = [0]
    cold = _median_rate(lambda: bench_resets_cold(500, offset), repeats)
    steps = _median_rate(lambda: bench_steps(20_000), repeats)
    steps_rel = _median_rate(lambda: bench_steps(20_000, "virl_env:VIRL-RuleOOD-v0"), repeats)
    print(f"VIRL-v0 reset, random route of the cached 1,000-route set : {warm:10,.0f} /s")
    print(f"VIRL-v0 reset, never-seen route in the cached city      : {cold:10,.0f} /s")
    print(f"VIRL-v0 graded step (JSON replies)                       : {steps:10,.0f} /s")
    print(f"VIRL-RuleOOD-v0 graded step (JSON replies)               : {steps_rel:10,.0f} /s")
    print(f"(route/rail caches: {routes_module._cached_route.cache_info().currsize} routes)")
    print("city generation per style (median of repeats, new seeds):")
    generation = []
    for style in STYLE_NAMES:
        seconds = bench_city_generation(style, repeats)
        generation.append(f"{style} {seconds * 1000:.0f}")
        print(f"  {style:<10} {seconds * 1000:7.1f} ms")
    if args.write_results:
        rows = [("`VIRL-v0` reset, random route of the cached 1,000-route set", f"{rate(warm)} /s"),
                ("`VIRL-v0` reset, never-seen route in the cached city (plans the route, builds its rail)",
                 f"{rate(cold)} /s"),
                ("`VIRL-v0` graded step (JSON replies, one wrong in five)", f"{rate(steps)} /s"),
                ("`VIRL-RuleOOD-v0` graded step", f"{rate(steps_rel)} /s"),
                ("city generation, per style (ms)", ", ".join(generation))]
        write_section("bench_virl_text", f"Median of {repeats} repeats.\n\n" + markdown_table(["figure", "value"], rows),
                      versions={"gymnasium": gym.__version__})


if __name__ == "__main__":
    main()
