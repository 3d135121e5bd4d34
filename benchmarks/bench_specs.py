"""Speed of grading a reply against an episode spec seen for the first time, next to ``env.step`` on the same pair.

A trainer scores each batch of completions against specs it has not graded before (dataset rows hold them as JSON
text). This script plays ``--pairs`` seeded episodes of distinct specs per setting (fewer where a game has fewer:
column ``pairs``), takes each episode's spec at reset (a V-IRL point spec after a seeded number of the expert's
replies: per-step rows stand anywhere along a route) as the text a dataset column holds
(``sftrl_core.specs.dump_spec``) and a reply (the expert's, or a random one in the right format), and times the
figures below pair by pair, in an order that rotates from pair to pair, each call right after an untimed
``reset(seed=...)`` of the env and the replies that reach the spec's point (so every figure meets the same load on a
shared machine, and caches the reset disturbed; the replies that reach a V-IRL point step the env, so its code is warm
for its own figure and the grader's is not), with the garbage collector off (as ``timeit`` does):

* ``step``: ``env.step(reply)``, on the env as ``gym.make`` returns it, and on ``env.unwrapped``;
* ``new spec``: ``grade(reply, text)`` (``gpoints_env.grade`` / ``virl_env.grade``) with a text never graded
  before, in a process that has graded 50 other specs of the setting (as a trainer's has; GeneralPoints reads a
  spec text through a template per env frame, built from those; V-IRL keeps the checked rules and reward tables of
  the texts it read, and forgets the checked texts themselves, untimed, before each timed call);
* ``batch``: ``grade(reply, text)`` as a reward function calls it, over every new text of the setting one after
  another with nothing in between (no reset: the grading code and its data stay warm, as in a trainer's loop, where
  the env's figures meet an env reset before each step); the texts are forgotten once before the batch. This is the
  trainer's case (a reward function grading a batch of new rows), its code warm as the env's is when it steps;
* ``dict``: the same as ``new spec`` with the spec as a dict (as ``episode_spec`` returns it) rather than text;
* ``cold`` (GeneralPoints): the text again, but every spec cache is cleared before each spec (no state kept between
  specs at all; the clearing is not timed).

V-IRL has two kinds of spec (column ``spec``): the **point** spec of per-step datasets (``virl_env.specs.point_spec``,
one rail point: what a reward function grades), and the **route** spec of whole-route rows
(``env.unwrapped.episode_spec()``, every point of the route). A route spec is read whole before its first reply is
graded, so one reply against it costs the reading of the route; a trainer plays it as a session, one reply per turn.
So for route specs a second table times **whole routes**: ``virl_env.session.RouteSession`` started from the new
spec text and given every reply of the episode (the expert's whole route, or random replies until the route ends),
next to ``env.step`` over the same replies after the same reset, in replies per second.

Usage::

    python benchmarks/bench_specs.py [--pairs 2000] [--rounds 3] [--quick] [--games GeneralPoints,V-IRL] [--ids ...]
        [--write-results]

Each figure is in graded pairs (or replies) per second, from each call's best time over ``--rounds`` rounds (as
``timeit`` advises: load only ever slows a call down, and on a busy machine a few preempted calls would swamp a plain
sum). ``ratio`` is the new-spec rate over the step rate (``ratio/unwr``: over the unwrapped env's) and ``b.ratio``
the batch rate over the step rate: 1.0 or more means grading a new spec is at least as fast as stepping the env.
``--write-results`` also writes the tables, dated, into ``docs/results.md``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from sftrl_core.specs import dump_spec

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _results import add_write_option, markdown_table, rate, write_section  # noqa: E402

_CLOCK = time.perf_counter
#: Seeds tried per pair asked for, before settling for the distinct specs found.
SEEDS_PER_PAIR = 10


@dataclass
class Pair:
    seed: int
    spec: dict[str, Any]
    text: str
    reply: str
    walk: list[str] = field(default_factory=list)  # route specs: every reply of the episode, in order
    way: list[str] = field(default_factory=list)  # the expert's replies from reset to the spec's point


@dataclass
class Setting:
    game: str
    env_id: str
    protocol: str
    replies: str  # "expert" or "random"
    spec: str  # "episode" (GeneralPoints), "point" or "route" (V-IRL)
    make: Callable[[], gym.Env]
    spec_of: Callable[[gym.Env], dict[str, Any]]
    grade: Callable[[str, str], Any]
    clear: Callable[[], None] | None  # forgets every spec cache (None: the game keeps none to clear)
    random_reply: Callable[[np.random.Generator, dict[str, Any]], str]
    # Forgets the game's checked spec texts (not its warm state), untimed, before each timed text: a text is new once.
    forget_texts: Callable[[], None] | None = None
    # Specs taken anywhere along the episode, after a seeded number of the expert's replies (V-IRL point specs:
    # per-step rows stand at every point of a route, with the history so far), not only at reset.
    anywhere: bool = False


def _gpoints_random(rng: np.random.Generator, info: dict[str, Any]) -> str:
    """A random formula over the card values (the examples' random agent)."""
    terms = [str(n) for n in rng.permutation(info["numbers"])]
    while len(terms) > 1:
        i = int(rng.integers(len(terms) - 1))
        terms[i:i + 2] = [f"({terms[i]}{'+-*/'[int(rng.integers(4))]}{terms[i + 1]})"]
    return json.dumps({"formula": terms[0]})


_VIRL_ACTIONS = ["forward()", "stop()", "turn_direction(north)", "turn_direction(south east)", "turn_direction(left)",
                 "turn_direction(slightly right)"]


def _virl_random(rng: np.random.Generator, info: dict[str, Any]) -> str:
    return json.dumps({"action": _VIRL_ACTIONS[int(rng.integers(len(_VIRL_ACTIONS)))]})


def gpoints_settings(ids: list[str], protocols: list[str]) -> list[Setting]:
    import gpoints_env
    from gpoints_env import specs

    settings = []
    for env_id in ids:
        kwargs = {"resolution": 64} if gpoints_env.ENV_IDS[env_id].get("observation_mode") == "image" else {}
        for protocol in protocols:
            for replies in ("expert", "random"):
                settings.append(Setting("GeneralPoints", env_id, protocol, replies, "episode",
                                        lambda env_id=env_id, protocol=protocol, kwargs=kwargs:
                                        gym.make(env_id, protocol=protocol, **kwargs),
                                        lambda env: env.unwrapped.episode_spec(),
                                        gpoints_env.grade, specs.clear_spec_caches, _gpoints_random))
    return settings


def virl_settings(ids: list[str], protocols: list[str]) -> list[Setting]:
    import virl_env
    from virl_env import specs

    settings = []
    for env_id in ids:
        for protocol in protocols:
            for kind, spec_of in (("point", specs.point_spec), ("route", specs.route_spec)):
                for replies in ("expert", "random"):
                    settings.append(Setting("V-IRL", env_id, protocol, replies, kind,
                                            lambda env_id=env_id, protocol=protocol: gym.make(env_id,
                                                                                              protocol=protocol),
                                            spec_of, virl_env.grade, specs.clear_spec_caches, _virl_random,
                                            forget_texts=specs.forget_spec_texts, anywhere=kind == "point"))
    return settings


def build_pairs(setting: Setting, count: int, first_seed: int = 0) -> list[Pair]:
    """``count`` pairs of distinct specs (as dataset text) and replies, from seeded resets (fewer when
    ``SEEDS_PER_PAIR * count`` seeds give fewer distinct specs: a V-IRL city has about a thousand routes); for route
    specs, with the replies of the whole episode (the first one is the pair's reply)."""
    env = setting.make()
    rng = np.random.default_rng(first_seed)
    pairs, seen = [], set()
    seed = first_seed
    while len(pairs) < count and seed < first_seed + SEEDS_PER_PAIR * count:
        _, info = env.reset(seed=seed)
        way = []
        if setting.anywhere:  # (fewer expert replies than points: the route goes on)
            for _ in range(int(rng.integers(len(env.unwrapped.rail)))):
                way.append(env.unwrapped.expert_reply())
                _, _, _, _, info = env.step(way[-1])
        spec = setting.spec_of(env)
        text = dump_spec(spec)
        if text not in seen:
            seen.add(text)
            reply = env.unwrapped.expert_reply() if setting.replies == "expert" else setting.random_reply(rng, info)
            walk = []
            if setting.spec == "route":
                done, step_reply = False, reply
                while not done:
                    walk.append(step_reply)
                    _, _, terminated, truncated, info = env.step(step_reply)
                    done = terminated or truncated
                    if not done:
                        step_reply = (env.unwrapped.expert_reply() if setting.replies == "expert"
                                      else setting.random_reply(rng, info))
            pairs.append(Pair(seed, spec, text, reply, walk, way))
        seed += 1
    env.close()
    return pairs


def reach(target: gym.Env, pair: Pair) -> None:
    """Reset ``target`` (the env or its unwrapped base) to the pair's seed and walk it to the pair's point."""
    target.reset(seed=pair.seed)
    for reply in pair.way:
        target.step(reply)


def measure(setting: Setting, pairs: list[Pair], warm: list[Pair]) -> dict[str, list[float]]:
    """The seconds of each call of one round, per figure and pair. Pair by pair, every figure is timed once, in an
    order that rotates from pair to pair, each call right after an untimed ``reset(seed)`` of the env and the
    replies that reach the pair's point (so each meets the same disturbed processor caches and the same load);
    ``batch`` has its own pass, as it grades without the env, and so has ``cold``, as it empties the caches."""
    env = setting.make()
    base = env.unwrapped
    grade, clear = setting.grade, setting.clear
    if clear is not None:
        clear()
    for pair in warm:  # a trainer's process has graded other specs before (none of these)
        grade(pair.reply, pair.text)
    # (name, the env reset before it, the call, whether it reads a spec text that must be new)
    ops: list[tuple[str, gym.Env, Callable[[Pair], Any], bool]] = [
        ("step", env, lambda pair: env.step(pair.reply), False),
        ("unwrapped step", base, lambda pair: base.step(pair.reply), False),
        ("new spec", base, lambda pair: grade(pair.reply, pair.text), True),
        ("dict", base, lambda pair: grade(pair.reply, pair.spec), False),
    ]
    if setting.spec == "route":
        from virl_env.session import RouteSession

        def walk_env(pair: Pair) -> None:
            for reply in pair.walk:
                env.step(reply)

        def walk_session(pair: Pair) -> None:
            session = RouteSession(pair.text)
            for reply in pair.walk:
                session.step(reply)

        ops += [("walk step", env, walk_env, False), ("walk session", base, walk_session, True)]
    fresh = setting.forget_texts
    times: dict[str, list[float]] = {name: [] for name, _, _, _ in ops}
    gc.disable()  # as timeit does: a collection would land in whichever call happened to trigger it
    try:
        for index, pair in enumerate(pairs):
            shift = index % len(ops)
            for name, target, op, new_text in ops[shift:] + ops[:shift]:
                reach(target, pair)
                if new_text and fresh is not None:
                    fresh()
                start = _CLOCK()
                op(pair)
                times[name].append(_CLOCK() - start)
        # A reward function's loop: every new spec of the batch graded one after another, nothing else in between
        # (the texts forgotten once before, untimed; each is new to the batch).
        if fresh is not None:
            fresh()
        times["batch"] = []
        for pair in pairs:
            start = _CLOCK()
            grade(pair.reply, pair.text)
            times["batch"].append(_CLOCK() - start)
        if clear is not None and setting.game == "GeneralPoints":
            times["cold"] = []
            for pair in pairs:
                reach(base, pair)
                clear()
                start = _CLOCK()
                grade(pair.reply, pair.text)
                times["cold"].append(_CLOCK() - start)
    finally:
        gc.enable()
    env.close()
    return times


def check_same_grades(setting: Setting, pairs: list[Pair]) -> None:
    """The figures compare like with like: grading each spec gives what env.step gives."""
    env = setting.make()
    for pair in pairs[:200]:
        reach(env, pair)
        _, reward, _, _, info = env.step(pair.reply)
        result = setting.grade(pair.reply, pair.text)
        if (result.reward, result.verdict) != (reward, info["verdict"]):
            raise AssertionError(f"{setting.env_id} seed {pair.seed}: spec grade {result} differs from env.step")
    env.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=2000, help="graded pairs per setting and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per setting (each call's best time counts)")
    parser.add_argument("--quick", action="store_true", help="fewer ids, pairs and rounds")
    parser.add_argument("--games", default="GeneralPoints,V-IRL", help="comma-separated: GeneralPoints, V-IRL")
    parser.add_argument("--ids", default="", help="comma-separated env ids to measure (default: every id of the games)")
    add_write_option(parser)
    args = parser.parse_args()
    pairs_per_setting = 300 if args.quick else args.pairs
    rounds = 1 if args.quick else args.rounds
    games = args.games.split(",")
    settings: list[Setting] = []
    if "GeneralPoints" in games:
        import gpoints_env

        ids = ["GeneralPoints-v0", "GeneralPoints-VL-v0"] if args.quick else list(gpoints_env.ENV_IDS)
        settings += gpoints_settings(ids, ["suite", "paper"])
    if "V-IRL" in games:
        settings += virl_settings(["VIRL-v0"] if args.quick else ["VIRL-v0", "VIRL-RuleOOD-v0"], ["suite", "paper"])
    if args.ids:
        settings = [setting for setting in settings if setting.env_id in args.ids.split(",")]

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# bench_specs: {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load {load:.1f} at start; {pairs_per_setting} pairs x {rounds} rounds per row; graded pairs per second")
    header = (f"{'game':13} {'env id':30} {'protocol':8} {'replies':7} {'spec':7} {'pairs':>5} {'step':>8} "
              f"{'unwrapped':>9} {'new spec':>9} {'ratio':>6} {'ratio/unwr':>10} {'batch':>8} {'b.ratio':>7} "
              f"{'dict':>8} {'cold':>8}")
    print(header)
    print("-" * len(header))
    rows, walks = [], []
    for setting in settings:
        pairs = build_pairs(setting, pairs_per_setting)
        warm = build_pairs(setting, 50, first_seed=10**6)
        check_same_grades(setting, pairs)
        runs = [measure(setting, pairs, warm) for _ in range(rounds)]
        # Per call, the best of the rounds (a call the scheduler preempted in one round is timed again in the next).
        seconds = {name: sum(map(min, *(run[name] for run in runs))) if rounds > 1 else sum(runs[0][name])
                   for name in runs[0]}
        per_second = {name: len(pairs) / value for name, value in seconds.items()}
        cold = f"{per_second['cold']:8.0f}" if "cold" in per_second else f"{'-':>8}"
        ratio = per_second["new spec"] / per_second["step"]
        ratio_unwrapped = per_second["new spec"] / per_second["unwrapped step"]
        batch_ratio = per_second["batch"] / per_second["step"]
        print(f"{setting.game:13} {setting.env_id:30} {setting.protocol:8} {setting.replies:7} {setting.spec:7} "
              f"{len(pairs):5} {per_second['step']:8.0f} {per_second['unwrapped step']:9.0f} "
              f"{per_second['new spec']:9.0f} {ratio:6.2f} {ratio_unwrapped:10.2f} {per_second['batch']:8.0f} "
              f"{batch_ratio:7.2f} {per_second['dict']:8.0f} {cold}", flush=True)
        rows.append((setting.game, f"`{setting.env_id}`", setting.protocol, setting.replies, setting.spec,
                     f"{len(pairs):,}", rate(per_second["step"]), rate(per_second["new spec"]), f"{ratio:.2f}",
                     rate(per_second["batch"]), f"{batch_ratio:.2f}",
                     "-" if "cold" not in per_second else rate(per_second["cold"])))
        if setting.spec == "route":
            replies = sum(len(pair.walk) for pair in pairs)
            walk = (setting.env_id, setting.protocol, setting.replies, replies / len(pairs),
                    replies / seconds["walk step"], replies / seconds["walk session"])
            walks.append(walk)
    if walks:
        print("\n# whole routes: RouteSession from the new route spec text and every reply of the episode, next to "
              "env.step over the same replies; replies per second")
        header = (f"{'env id':30} {'protocol':8} {'replies':7} {'per route':>9} {'step':>8} {'session':>8} "
                  f"{'ratio':>6}")
        print(header)
        print("-" * len(header))
        for env_id, protocol, replies, length, step_rate, session_rate in walks:
            print(f"{env_id:30} {protocol:8} {replies:7} {length:9.1f} {step_rate:8.0f} {session_rate:8.0f} "
                  f"{session_rate / step_rate:6.2f}")
    if args.write_results:
        text = ("Graded pairs per second; `ratio` is the new-spec rate over `env.step`'s on the same pairs (1.0 or "
                "more: grading a spec seen for the first time is at least as fast as stepping the env), each call "
                "right after an env reset (and, for V-IRL point specs, the env's walk to the point, which leaves its "
                "code warm and the grader's cold); `batch` grades the same new specs one after another, as a reward "
                "function does in a trainer, and `batch ratio` is its rate over `env.step`'s. "
                f"Up to {pairs_per_setting:,} pairs per row (`pairs`: the distinct specs found in "
                f"{SEEDS_PER_PAIR} seeds per pair asked for), best of {rounds} rounds per call.\n\n")
        text += markdown_table(["game", "env id", "protocol", "replies", "spec", "pairs", "env.step", "new spec",
                                "ratio", "batch", "batch ratio", "cold"], rows, align="llllllrrrrrr")
        if walks:
            text += ("\n\nWhole V-IRL routes: a `RouteSession` started from the new route spec text and given every "
                     "reply of the episode, next to `env.step` over the same replies (replies per second).\n\n")
            text += markdown_table(["env id", "protocol", "replies", "replies per route", "env.step", "session",
                                    "ratio"],
                                   [(f"`{env_id}`", protocol, replies, f"{length:.1f}", rate(step_rate),
                                     rate(session_rate), f"{session_rate / step_rate:.2f}")
                                    for env_id, protocol, replies, length, step_rate, session_rate in walks],
                                   align="lllrrrr")
        write_section("bench_specs", text, versions={"gymnasium": gym.__version__})


if __name__ == "__main__":
    main()
