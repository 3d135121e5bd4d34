"""Speed of the GeneralPoints environments: resets/s, graded steps/s, image resets/s, checker calls/s.

Usage::

    python benchmarks/bench_gpoints.py [--repeats 7] [--episodes 2000] [--quick] [--write-results]

Each figure is the median of ``--repeats`` timed runs (after one warm-up run, which also builds the cached
solvability tables). Step rates time the ``step`` calls only, over whole episodes (5 attempts for wrong answers).
Environments come from ``gym.make`` (with its default wrappers), as users get them. ``--quick`` measures fewer and
shorter runs; ``--write-results`` also writes the figures, dated, into ``docs/results.md``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from typing import Callable

import gymnasium as gym
import PIL

import gpoints_env  # noqa: F401  (registers the environments)
from _results import add_write_option, markdown_table, rate, write_section
from gpoints_env.checker import check_answer


def median_rate(run: Callable[[], tuple[int, float]], repeats: int) -> float:
    """Median of ``repeats`` rates; ``run`` returns (operations done, seconds they took)."""
    run()  # warm-up: caches, solvability tables
    return statistics.median(ops / seconds for ops, seconds in (run() for _ in range(repeats)))


def timed(run: Callable[[], int]) -> Callable[[], tuple[int, float]]:
    def wrapper() -> tuple[int, float]:
        start = time.perf_counter()
        ops = run()
        return ops, time.perf_counter() - start

    return wrapper


def bench_env(env_id: str, episodes: int, repeats: int) -> dict[str, float]:
    env = gym.make(env_id)
    env.reset(seed=0)
    base = env.unwrapped

    @timed
    def resets() -> int:
        for _ in range(episodes):
            env.reset()
        return episodes

    def graded_steps(answer: Callable[[], str]) -> Callable[[], tuple[int, float]]:
        # Whole episodes are played, but only the step() calls are timed.
        def run() -> tuple[int, float]:
            steps, seconds = 0, 0.0
            clock = time.perf_counter
            for _ in range(episodes):
                env.reset()
                terminated = False
                while not terminated:
                    reply = answer()
                    start = clock()
                    _, _, terminated, _, _ = env.step(reply)
                    seconds += clock() - start
                    steps += 1
            return steps, seconds

        return run

    wrong = '{"formula": "(1+2)*3-4"}'  # never uses the dealt cards: wrong numbers, 5 attempts each
    out = {"reset/s": median_rate(resets, repeats)}
    out["step/s (wrong answer)"] = median_rate(graded_steps(lambda: wrong), repeats)
    out["step/s (correct answer)"] = median_rate(graded_steps(lambda: '{"formula": "%s"}' % base.solution()), repeats)
    env.close()
    return out


def bench_image_resets(env_id: str, resolution: int, resets: int, repeats: int) -> float:
    """Resets per second of an image-mode env: deal, draw the four cards, build the observation."""
    env = gym.make(env_id, resolution=resolution)
    env.reset(seed=0)

    @timed
    def run() -> int:
        for _ in range(resets):
            env.reset()
        return resets

    rate = median_rate(run, repeats)
    env.close()
    return rate


def bench_checker(repeats: int, calls: int = 20000) -> dict[str, float]:
    cases = {
        "correct JSON": '{"formula": "8/(3-8/3)"}',
        "wrong value, thinking + code fence": "<think>try 8*3...</think>\n```json\n{'formula': '(8-3)*3+8 = 24',}\n```",
        "hostile (100k characters)": "9" * 100_000,
    }
    out = {}
    for name, reply in cases.items():
        n = calls if len(reply) < 1000 else calls // 100

        @timed
        def run(reply: str = reply, n: int = n) -> int:
            for _ in range(n):
                check_answer(reply, [8, 3, 8, 3])
            return n

        out[f"check_answer/s ({name})"] = median_rate(run, repeats)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per figure; prints the median (default 7)")
    parser.add_argument("--episodes", type=int, default=None, help="episodes per timed run (default 2000)")
    parser.add_argument("--quick", action="store_true", help="3 repeats of 300 episodes unless given (a rough check)")
    add_write_option(parser)
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 7)
    episodes = args.episodes or (300 if args.quick else 2000)
    print(f"Python {platform.python_version()} on {platform.machine()}, gymnasium {gym.__version__}, "
          f"median of {repeats} repeats")
    rows = []
    for env_id in ("GeneralPoints-v0", "GeneralPoints-RuleOOD-v0"):
        rows += [(env_id, k, v) for k, v in bench_env(env_id, episodes, repeats).items()]
    for resolution, resets in ((512, 500), (1200, 100)):
        if args.quick:
            resets //= 5
        value = bench_image_resets("GeneralPoints-VL-v0", resolution, resets, repeats)
        rows.append(("GeneralPoints-VL-v0", f"reset+render/s at {resolution} px", value))
    rows += [("checker", k, v) for k, v in bench_checker(repeats, calls=4000 if args.quick else 20000).items()]
    width = max(len(f"{a}  {b}") for a, b, _ in rows)
    for env_id, what, value in rows:
        print(f"{env_id + '  ' + what:<{width}}  {value:>10,.0f}")
    if args.write_results:
        def label(what: str) -> str:  # "check_answer/s (correct JSON)" -> "correct JSON"
            what = what.replace("/s", "").removeprefix("check_answer ")
            return what[1:-1] if what.startswith("(") and what.endswith(")") else what

        table = markdown_table(["what", "figure", "per second"],
                               [("`check_answer`" if env_id == "checker" else f"`{env_id}`", label(what), rate(value))
                                for env_id, what, value in rows], align="llr")
        write_section("bench_gpoints", f"Median of {repeats} timed runs of {episodes} episodes each (image resets "
                      "and checker calls: their own counts); step rates time `step()` only.\n\n" + table,
                      versions={"gymnasium": gym.__version__, "Pillow": PIL.__version__})


if __name__ == "__main__":
    main()
