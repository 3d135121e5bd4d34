"""benchmarks/bench_specs.py: it ends whatever it is asked, and prints every figure it names (speed itself is not
asserted here: the script measures it)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import gymnasium as gym

import gpoints_env
from sftrl_core.specs import dump_spec

ROOT = Path(__file__).resolve().parents[1]


def _bench_specs():
    sys.path.insert(0, str(ROOT / "benchmarks"))  # (it imports its sibling _results)
    try:
        spec = importlib.util.spec_from_file_location("bench_specs", ROOT / "benchmarks" / "bench_specs.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_specs"] = module  # (its dataclasses look their module up)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return module


def test_pairs_stop_when_the_distinct_specs_run_out():
    # A V-IRL city has about a thousand routes: asking for more distinct specs than exist once never ended.
    bench = _bench_specs()
    setting = bench.Setting("GeneralPoints", "GeneralPoints-v0", "suite", "expert", "episode",
                            lambda: gym.make("GeneralPoints-v0"), lambda env: {"the same": "spec"},
                            gpoints_env.grade, None, bench._gpoints_random)
    pairs = bench.build_pairs(setting, 4)
    assert len(pairs) == 1 and pairs[0].text == '{"the same":"spec"}'


def test_the_script_prints_every_figure_for_point_and_route_specs():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_specs.py"), "--games", "V-IRL",
                           "--ids", "VIRL-v0", "--pairs", "3", "--rounds", "1"],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    header = next(line for line in lines if line.startswith("game"))
    assert header.split()[-8:] == ["new", "spec", "ratio", "ratio/unwr", "batch", "b.ratio", "dict", "cold"]
    rows = [line.split() for line in lines if line.startswith("V-IRL ")]
    assert sorted((row[2], row[3], row[4]) for row in rows) == sorted(
        (protocol, replies, spec) for protocol in ("suite", "paper") for replies in ("expert", "random")
        for spec in ("point", "route"))
    for row in rows:
        assert row[5] == "3" and all(float(value) > 0 for value in row[6:-1]), row  # pairs, then every rate
    walks = [line.split() for line in lines if line.startswith("VIRL-v0 ")]
    assert len(walks) == 4 and all(float(value) > 0 for walk in walks for value in walk[3:])


def test_virl_point_specs_stand_anywhere_along_a_route_and_the_env_is_walked_there():
    # Per-step rows hold every point of a route, with its history; the env's figures must step at that same point.
    bench = _bench_specs()
    setting = next(setting for setting in bench.virl_settings(["VIRL-v0"], ["suite"])
                   if setting.spec == "point" and setting.replies == "random")
    pairs = bench.build_pairs(setting, 30)
    assert len(pairs) == 30 and len({pair.spec["point_index"] for pair in pairs}) > 3
    assert all(len(pair.way) == pair.spec["point_index"] for pair in pairs)
    env = setting.make()
    for pair in pairs:
        bench.reach(env, pair)
        assert dump_spec(setting.spec_of(env)) == pair.text
