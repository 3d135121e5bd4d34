"""Each episode counts once: a record line repeated in a results file (copied, joined, synced twice) is read
once by reports and resumes, and two lines that record one episode with different results are refused with
a message naming the file, the episode and both lines."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sftrl_eval import ResultsError, collect_summaries, evaluate, load_records, report
from sftrl_eval.cli import main

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
from agents import OracleAgent  # noqa: E402


class EveryOtherHand(OracleAgent):
    """Solves every other hand (the first, the third...) and answers the rest wrongly: success 50%."""

    name = "every-other"

    def __init__(self) -> None:
        super().__init__()
        self.played = 0

    def begin_episode(self, env) -> None:
        super().begin_episode(env)
        self.played += 1

    def __call__(self, observation, info) -> str:
        return super().__call__(observation, info) if self.played % 2 else "1+1"


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """A folder with 4 GP-L episodes, 2 of them won."""
    summary = evaluate(EveryOtherHand(), "GP-L", episodes=4, out_dir=tmp_path / "run", progress=False)
    assert summary["success_rate"] == 0.5
    return tmp_path / "run" / "GP-L.jsonl"


def append_line(path: Path, line: bytes) -> None:
    with open(path, "ab") as f:
        f.write(line)


def won_line(path: Path) -> bytes:
    return next(line for line in path.read_bytes().splitlines(keepends=True) if json.loads(line)["success"])


def test_a_repeated_line_counts_once_in_the_report(results, capsys):
    append_line(results, won_line(results))  # e.g. a file joined with a copy of itself, or synced twice
    assert len(load_records(results)) == 5  # the raw lines are all there...
    (summary,) = collect_summaries([results.parent])
    assert summary["episodes"] == 4 and summary["success_rate"] == 0.5  # ...but the episode counts once
    assert "| every-other | GP-L | suite | 4 | 50.0 ± 25.0 |" in report([results.parent])
    assert main(["report", str(results.parent), "--markdown", str(results.parent / "r.md")]) == 0
    assert "| every-other | GP-L | suite | 4 | 50.0 ± 25.0 |" in capsys.readouterr().out


def test_lines_that_differ_only_in_timing_are_one_episode(results):
    record = json.loads(won_line(results))
    record["seconds"] += 1.5
    record["steps"][0]["agent_seconds"] += 1.5
    append_line(results, (json.dumps(record) + "\n").encode())
    (summary,) = collect_summaries([results.parent])
    assert summary["episodes"] == 4 and summary["success_rate"] == 0.5


def test_two_different_results_for_one_episode_are_refused_with_the_file_and_the_episode(results, capsys):
    record = json.loads(won_line(results))
    line_number = 1 + [json.loads(line)["index"] for line in results.read_bytes().splitlines()].index(record["index"])
    record["success"], record["return"] = False, -1.0  # the same episode, another outcome
    append_line(results, (json.dumps(record) + "\n").encode())
    expected = (f"lines {line_number} and 5 both record episode {record['index']} of GP-L (agent 'every-other', "
                "protocol 'suite') with different results")
    with pytest.raises(ResultsError, match=str(results).replace("\\", "\\\\")) as err:
        report([results.parent])
    assert expected in str(err.value)
    # The command line says so in one line, with the status of a usage mistake, and writes no report.
    assert main(["report", str(results.parent), "--markdown", str(results.parent / "r.md")]) == 2
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert len(err_lines) == 1 and expected in err_lines[0] and str(results) in err_lines[0]
    assert not (results.parent / "r.md").exists()
    # A resume refuses the file too, rather than picking one of the two lines.
    with pytest.raises(ResultsError, match="different results"):
        evaluate(EveryOtherHand(), "GP-L", episodes=6, out_dir=results.parent, progress=False)


def test_a_resume_reads_a_repeated_line_once(results):
    append_line(results, won_line(results))
    agent = EveryOtherHand()
    summary = evaluate(agent, "GP-L", episodes=6, out_dir=results.parent, progress=False)
    assert agent.played == 2 and summary["episodes"] == 6
    assert sorted({r["index"] for r in load_records(results)}) == list(range(6))
