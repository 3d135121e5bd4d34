"""The harness on Ray (a local cluster): the same results as the local backend, resumable after an interrupted or
killed run, with the same results files, locks and identities."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray

from gpoints_env.protocols import paper_eval_hands
from sftrl_eval import AgentError, ResultsInUseError, evaluate, load_records
from sftrl_eval.cli import main

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
from agents import OracleAgent  # noqa: E402

# What an episode's record holds apart from timings (which differ from run to run).
_TIMINGS = ("seconds",)
_STEP_TIMINGS = ("agent_seconds",)


def _without_timings(record: dict) -> dict:
    out = {k: v for k, v in record.items() if k not in _TIMINGS}
    out["steps"] = [{k: v for k, v in step.items() if k not in _STEP_TIMINGS} for step in record["steps"]]
    return out


@pytest.fixture(scope="module")
def cluster():
    """One local Ray cluster for the module (the harness uses an initialised one as it is)."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


class FailingOracle(OracleAgent):
    """The oracle, except that it raises on one hand (in whichever Ray worker plays it). ``fail_on`` is not a
    constructor argument, so a run with and without it has the same identity and can resume."""

    name = "oracle"
    fail_on: list[str] | None = None

    def __call__(self, observation, info):
        if self.fail_on is not None and info["cards"] == self.fail_on:
            raise ConnectionError("the model server went away")
        return super().__call__(observation, info)


def test_ray_backend_gives_the_local_backends_results(cluster, tmp_path):
    for protocol in ("suite", "paper"):
        local = evaluate(OracleAgent(), "GP-L-RuleOOD", episodes=10, out_dir=tmp_path / f"local-{protocol}",
                         progress=False, protocol=protocol)
        remote = evaluate(OracleAgent(), "GP-L-RuleOOD", episodes=10, out_dir=tmp_path / f"ray-{protocol}",
                          progress=False, protocol=protocol, backend="ray", workers=2)
        assert remote["success_rate"] == 1.0 and remote["protocol"] == protocol
        assert {k: v for k, v in remote.items() if "seconds" not in k} == \
            {k: v for k, v in local.items() if "seconds" not in k}
        by_index = {r["index"]: _without_timings(r)
                    for r in load_records(tmp_path / f"ray-{protocol}" / "GP-L-RuleOOD.jsonl")}
        assert sorted(by_index) == list(range(10))
        assert [by_index[i] for i in range(10)] == \
            [_without_timings(r) for r in load_records(tmp_path / f"local-{protocol}" / "GP-L-RuleOOD.jsonl")]
        meta = {k: v for k, v in json.loads((tmp_path / f"ray-{protocol}" / "GP-L-RuleOOD.meta.json").read_text())
                .items() if k != "runs"}
        assert meta == {k: v for k, v in json.loads(
            (tmp_path / f"local-{protocol}" / "GP-L-RuleOOD.meta.json").read_text()).items() if k != "runs"}
    # V-IRL, where per-step accuracy pools the points of every episode.
    virl = evaluate(OracleAgent(), "VIRL-L", episodes=6, progress=False, protocol="paper", backend="ray")
    assert virl["success_rate"] == 1.0 and virl["per_step_accuracy"] == 1.0


def test_an_interrupted_ray_run_resumes_without_duplicates(cluster, tmp_path):
    hands = [h["cards"] for h in paper_eval_hands("GP-L")[:16]]
    k = next(i for i in range(8, 16) if hands.count(hands[i]) == 1)  # a hand dealt once
    failing = FailingOracle()
    failing.fail_on = hands[k]
    with pytest.raises(AgentError, match=rf"GP-L episode {k}, reply 1: the agent failed: ConnectionError"):
        evaluate(failing, "GP-L", episodes=16, out_dir=tmp_path, progress=False, protocol="paper", backend="ray",
                 workers=2)
    path = tmp_path / "GP-L.jsonl"
    before = [r["index"] for r in load_records(path)]
    assert k not in before and len(before) == len(set(before)) and len(before) >= 1
    assert not (tmp_path / ".GP-L.lock").exists()  # the lock went with the run
    summary = evaluate(FailingOracle(), "GP-L", episodes=16, out_dir=tmp_path, progress=False, protocol="paper",
                       backend="ray", workers=2)
    after = [r["index"] for r in load_records(path)]
    assert sorted(after) == list(range(16)) and after[:len(before)] == before  # nothing replayed, nothing lost
    assert summary["episodes"] == 16 and summary["success_rate"] == 1.0
    runs = json.loads((tmp_path / "GP-L.meta.json").read_text())["runs"]
    assert [run["episodes_already_done"] for run in runs] == [0, len(before)]
    # The local backend continues the same file (the same agent): one format for both.
    evaluate(FailingOracle(), "GP-L", episodes=18, out_dir=tmp_path, progress=False, protocol="paper")
    assert sorted(r["index"] for r in load_records(path)) == list(range(18))


def test_a_ray_run_resumes_a_gapped_file_by_playing_exactly_the_missing_episodes(cluster, tmp_path):
    """Ray's workers finish episodes out of order, so a stopped run can leave e.g. episodes {0, 2} on disk."""
    evaluate(OracleAgent(), "GP-L", episodes=5, out_dir=tmp_path / "reference", progress=False)
    reference = {r["index"]: _without_timings(r) for r in load_records(tmp_path / "reference" / "GP-L.jsonl")}
    evaluate(OracleAgent(), "GP-L", episodes=3, out_dir=tmp_path / "run", progress=False)
    path = tmp_path / "run" / "GP-L.jsonl"
    kept = [line for line in path.read_bytes().splitlines(keepends=True) if json.loads(line)["index"] in (0, 2)]
    path.write_bytes(b"".join(kept))
    summary = evaluate(OracleAgent(), "GP-L", episodes=5, out_dir=tmp_path / "run", progress=False, backend="ray",
                       workers=2)
    lines = path.read_bytes().splitlines(keepends=True)
    assert lines[:2] == kept and len(lines) == 5  # the finished episodes untouched, three played
    records = [json.loads(line) for line in lines]
    assert sorted(r["index"] for r in records) == [0, 1, 2, 3, 4]  # 1, 3 and 4, each once: none replayed
    assert {r["index"]: _without_timings(r) for r in records} == reference  # each is the episode of its index
    assert summary["episodes"] == 5 and summary["success_rate"] == 1.0


def test_a_ray_run_respects_the_lock_of_another_run(cluster, tmp_path):
    (tmp_path / ".GP-L.lock").write_text("1\n")
    import fcntl

    with open(tmp_path / ".GP-L.lock") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(ResultsInUseError, match="being written by another run"):
            evaluate(OracleAgent(), "GP-L", episodes=2, out_dir=tmp_path, progress=False, backend="ray")
    assert not (tmp_path / "GP-L.jsonl").exists()


def test_bad_backend_arguments(cluster):
    with pytest.raises(ValueError, match="backend must be one of 'local', 'ray'"):
        evaluate(OracleAgent(), "GP-L", episodes=1, progress=False, backend="dask")
    with pytest.raises(ValueError, match="workers is the number of Ray actors"):
        evaluate(OracleAgent(), "GP-L", episodes=1, progress=False, workers=2)
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        evaluate(OracleAgent(), "GP-L", episodes=1, progress=False, backend="ray", workers=0)
    with pytest.raises(ValueError, match="concurrency is for the local backend"):
        evaluate(OracleAgent(), "GP-L", episodes=1, progress=False, backend="ray", concurrency=4)
    with pytest.raises(TypeError):  # a bad gym.make argument fails in the driver, as with the local backend
        evaluate(OracleAgent(), "GP-L", episodes=1, progress=False, backend="ray", env_kwargs={"colour": "red"})


class SlowOracle(OracleAgent):
    """The oracle at a model's pace, so that a run can be killed in the middle."""

    name = "oracle"

    def __call__(self, observation, info):
        time.sleep(0.3)
        return super().__call__(observation, info)


def test_a_killed_ray_run_resumes_from_the_command_line(tmp_path):
    """The whole process group (driver and the local cluster it started) is killed with SIGKILL mid-run."""
    out = tmp_path / "runs"
    argv = [sys.executable, "-m", "sftrl_eval", "run", "--agent", f"{Path(__file__)}:SlowOracle", "--settings",
            "GP-L", "--episodes", "40", "--protocol", "paper", "--backend", "ray", "--workers", "2", "--out",
            str(out), "--no-progress"]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # a fresh local cluster of its own
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    path = out / "GP-L.jsonl"
    try:
        deadline = time.monotonic() + 300
        while len(load_records(path)) < 5 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()[1]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    before = [r["index"] for r in load_records(path)]
    assert 5 <= len(before) < 40 and len(set(before)) == len(before)
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    after = [r["index"] for r in load_records(path)]
    assert sorted(after) == list(range(40)) and after[:len(before)] == before
    assert "| oracle | GP-L | paper | 40 | 100.0 ± 0.0 |" in done.stdout


def test_the_command_line_runs_on_ray(cluster, tmp_path, capsys):
    out = tmp_path / "runs"
    argv = ["run", "--agent", str(ROOT / "examples" / "agents.py") + ":OracleAgent", "--settings", "GP-VL,VIRL-L",
            "--episodes", "3", "--backend", "ray", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    assert "| oracle | GP-VL | suite | 3 | 100.0 ± 0.0 |" in capsys.readouterr().out
    assert main(argv[:-3] + ["--concurrency", "2", "--out", str(out)]) == 2
    assert "with --backend ray use --workers" in capsys.readouterr().err
    assert main(argv[:7] + ["--workers", "2", "--out", str(out)]) == 2
    assert "add --backend ray" in capsys.readouterr().err
