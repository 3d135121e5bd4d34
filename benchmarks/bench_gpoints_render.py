"""Speed of the GeneralPoints card renderer: ``render_hand`` calls per second.

Usage::

    python benchmarks/bench_gpoints_render.py [--repeats 5] [--hands 300] [--quick] [--write-results]

For 512 px and 1200 px frames, with and without jitter, prints the median rate over ``--repeats`` timed runs of
``--hands`` four-card hands (random cards from a fixed seed). One warm-up run first draws and caches every card
sprite; its duration is printed too, as the one-off cost a fresh process pays (spread over the first hands).
``--quick`` measures fewer and shorter runs; ``--write-results`` also writes the figures, dated, into
``docs/results.md``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import PIL

from _results import add_write_option, markdown_table, rate, write_section
from gpoints_env.cards import DECK, Card
from gpoints_env.render import clear_caches, render_hand
from gpoints_env.style import DEFAULT_STYLE, JITTER_STYLE, CardStyle


def hands(count: int, seed: int = 0) -> list[list[Card]]:
    rng = np.random.default_rng(seed)
    return [[DECK[i] for i in rng.choice(len(DECK), 4, replace=False)] for _ in range(count)]


def run(style: CardStyle, deals: list[list[Card]], seed: int) -> float:
    """Seconds to render every hand once (the generator only matters when the style has jitter)."""
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for cards in deals:
        render_hand(cards, style, rng)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0].replace("``", ""))  # plain text
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per figure; prints the median (default 5)")
    parser.add_argument("--hands", type=int, default=None, help="hands drawn per timed run (default 300)")
    parser.add_argument("--quick", action="store_true", help="3 repeats of 100 hands unless given (a rough check)")
    add_write_option(parser)
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 5)
    count = args.hands or (100 if args.quick else 300)
    deals = hands(count)
    # Warm-up must draw every sprite: all 52 cards, whatever the random hands hold.
    warm_deals = [list(DECK[i : i + 4]) for i in range(0, 52, 4)] + deals

    print(f"Python {platform.python_version()}, numpy {np.__version__}, Pillow {PIL.__version__}, "
          f"{platform.machine()}; median of {repeats} runs of {count} four-card hands")
    print(f"{'resolution':>10}  {'jitter':>6}  {'renders/s':>10}  {'ms/render':>9}  {'first-run s':>11}")
    rows = []
    for resolution in (512, 1200):
        for name, base in (("no", DEFAULT_STYLE), ("yes", JITTER_STYLE)):
            style = base.replace(resolution=resolution)
            clear_caches()
            warm = run(style, warm_deals, seed=0)
            seconds = statistics.median(run(style, deals, seed=k) for k in range(repeats))
            per_second = count / seconds
            print(f"{resolution:>10}  {name:>6}  {per_second:>10,.0f}  {1000 / per_second:>9.2f}  {warm:>11.2f}")
            rows.append((f"{resolution} px", name, rate(per_second), f"{1000 / per_second:.2f}", f"{warm:.2f}"))
    if args.write_results:
        table = markdown_table(["resolution", "jitter", "renders/s", "ms/render", "first run, s"], rows, align="llrrr")
        write_section("bench_gpoints_render", f"Median of {repeats} runs of {count} four-card hands; the first run "
                      f"({len(warm_deals)} hands) also draws every card's sprite.\n\n" + table,
                      versions={"Pillow": PIL.__version__})


if __name__ == "__main__":
    main()
