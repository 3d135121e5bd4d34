"""The example scripts run end to end with tiny budgets (the real budgets run only in the scripts)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")  # the examples extra; the wrappers themselves need neither
pytest.importorskip("stable_baselines3")
torch.set_num_threads(1)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import ppo  # noqa: E402
import sft  # noqa: E402
import sft_vs_rl  # noqa: E402


def test_sft_script_trains_saves_and_reloads(tmp_path, capsys):
    sft.main(["--game", "both", "--gp-episodes", "10", "--virl-routes", "3", "--epochs", "2", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "held-out action accuracy" in out
    assert (tmp_path / "sft_gp.pt").exists() and (tmp_path / "sft_virl.json").exists()


def test_ppo_script_trains_saves_and_reloads(tmp_path, capsys):
    ppo.main(["--game", "both", "--gp-timesteps", "64", "--virl-timesteps", "64", "--n-steps", "64",
              "--eval-episodes", "2", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert out.count("reloaded: success") == 2
    assert (tmp_path / "ppo_gp.pt").exists() and (tmp_path / "ppo_virl.pt").exists()


def test_sft_vs_rl_script_prints_the_table_and_writes_the_report(tmp_path, capsys):
    sft_vs_rl.main(["--gp-demos", "10", "--virl-demos", "3", "--epochs", "1", "--gp-timesteps", "64",
                    "--virl-timesteps", "64", "--n-steps", "64", "--gp-episodes", "2", "--virl-routes", "1",
                    "--out", str(tmp_path)])
    out = capsys.readouterr().out
    header = "| agent | GP-L | GP-L-RuleOOD | VIRL-L | VIRL-L-RuleOOD |"
    assert header in out
    for method in ("init", "SFT", "RL (PPO)"):
        assert f"| {method} |" in out
    assert (tmp_path / "report.png").stat().st_size > 0 and header in (tmp_path / "report.md").read_text()
