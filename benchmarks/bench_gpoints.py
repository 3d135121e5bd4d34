"""Speed of the GeneralPoints environments: resets/s, graded steps/s, image resets/s, checker calls/s.

Usage::

    python benchmarks/bench_gpoints.py [--repeats 7] [--episodes 2000]

Each figure is the median of ``--repeats`` timed runs (after one warm-up run, which also builds the cached
solvability tables). Step rates time the ``step`` calls only, over whole episodes (5 attempts for wrong answers). Environments come from ``gym.make`` (with its default wrappers), as users get them.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from typing import Callable

import gymnasium as gym

import gpoints_env  # noqa: F401  (registers the environments)
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
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per figure; prints the median (default 7)")
    parser.add_argument("--episodes", type=int, default=2000, help="episodes per timed run (default 2000)")
    args = parser.parse_args()
    print(f"Python {platform.python_version()} on {platform.machine()}, gymnasium {gym.__version__}, "
          f"median of {args.repeats} repeats")
    rows = []
    for env_id in ("GeneralPoints-v0", "GeneralPoints-RuleOOD-v0"):
        rows += [(env_id, k, v) for k, v in bench_env(env_id, args.episodes, args.repeats).items()]
    for resolution, resets in ((512, 500), (1200, 100)):
        rate = bench_image_resets("GeneralPoints-VL-v0", resolution, resets, args.repeats)
        rows.append(("GeneralPoints-VL-v0", f"reset+render/s at {resolution} px", rate))
    rows += [("checker", k, v) for k, v in bench_checker(args.repeats).items()]
    width = max(len(f"{a}  {b}") for a, b, _ in rows)
    for env_id, what, rate in rows:
        print(f"{env_id + '  ' + what:<{width}}  {rate:>10,.0f}")


if __name__ == "__main__":
    main()
