"""Speed of the GeneralPoints card renderer: ``render_hand`` calls per second.

Usage::

    python benchmarks/bench_gpoints_render.py [--repeats 5] [--hands 300]

For 512 px and 1200 px frames, with and without jitter, prints the median rate over ``--repeats`` timed runs of
``--hands`` four-card hands (random cards from a fixed seed). One warm-up run first draws and caches every card
sprite; its duration is printed too, as the one-off cost a fresh process pays (spread over the first hands).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import PIL

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
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per figure; prints the median (default 5)")
    parser.add_argument("--hands", type=int, default=300, help="hands drawn per timed run (default 300)")
    args = parser.parse_args()
    deals = hands(args.hands)
    # Warm-up must draw every sprite: all 52 cards, whatever the random hands hold.
    warm_deals = [list(DECK[i : i + 4]) for i in range(0, 52, 4)] + deals

    print(f"Python {platform.python_version()}, numpy {np.__version__}, Pillow {PIL.__version__}, "
          f"{platform.machine()}; median of {args.repeats} runs of {args.hands} four-card hands")
    print(f"{'resolution':>10}  {'jitter':>6}  {'renders/s':>10}  {'ms/render':>9}  {'first-run s':>11}")
    for resolution in (512, 1200):
        for name, base in (("no", DEFAULT_STYLE), ("yes", JITTER_STYLE)):
            style = base.replace(resolution=resolution)
            clear_caches()
            warm = run(style, warm_deals, seed=0)
            seconds = statistics.median(run(style, deals, seed=k) for k in range(args.repeats))
            rate = args.hands / seconds
            print(f"{resolution:>10}  {name:>6}  {rate:>10,.0f}  {1000 / rate:>9.2f}  {warm:>11.2f}")


if __name__ == "__main__":
    main()
