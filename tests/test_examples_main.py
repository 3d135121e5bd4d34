"""The README's example scripts run as documented (small sizes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(script: str, *args: str, cwd: Path) -> str:
    out = subprocess.run([sys.executable, str(ROOT / "examples" / script), *args], capture_output=True, text=True,
                         cwd=cwd, check=True, timeout=600)
    return out.stdout


def test_main_job_benchmarks_every_setting(tmp_path):
    out = run("run_benchmark.py", "--gp-episodes", "2", "--virl-episodes", "1", "--out", "runs", "--no-progress",
              cwd=tmp_path)
    oracle_row = next(line for line in out.splitlines() if line.startswith("| oracle | 100.0 |"))
    assert oracle_row.count("100.0") == 15  # ten settings, V-IRL ones with per-step accuracy too
    assert (tmp_path / "runs" / "report.md").exists() and (tmp_path / "runs" / "report.png").exists()
    assert len(list((tmp_path / "runs" / "random").glob("*.jsonl"))) == 10


def test_play_gpoints_prints_every_step(tmp_path):
    out = run("play_gpoints.py", "--episodes", "2", cwd=tmp_path)
    assert "| GeneralPoints-v0 | oracle | 100% |" in out and "| GeneralPoints-RuleOOD-v0 | oracle | 100% |" in out
    assert "correct" in out and "wrong_value" in out and "evaluates to" in out
