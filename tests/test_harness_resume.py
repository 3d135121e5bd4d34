"""Resuming a results file: exactly the missing episodes are played, wherever the gaps are, and files written
before the games and protocols moved into ``sftrl_core.registry`` still resume and report."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import gymnasium as gym
import pytest

from sftrl_eval import SETTINGS, evaluate, load_records, report

ROOT = Path(__file__).resolve().parents[1]
SETTING = SETTINGS["GP-L"]


class HandNoter:
    """Answers every hand wrongly and notes the cards it was dealt (read from the env itself, not from the
    harness's bookkeeping), so a test can tell which episodes were really played. ``acall`` lets the harness
    play several episodes at once (``concurrency``)."""

    name = "hand-noter"

    def __init__(self) -> None:
        self.hands: list[tuple[str, ...]] = []

    def begin_episode(self, env: gym.Env) -> None:
        self.hands.append(tuple(str(card) for card in env.unwrapped.hand))

    def __call__(self, observation, info) -> str:
        return "1+1"

    async def acall(self, observation, info) -> str:
        await asyncio.sleep(0)  # let the other episodes interleave
        return "1+1"


def reference_hands(n: int) -> list[tuple[str, ...]]:
    """Episode ``i``'s hand, dealt here from the setting's seed list (pinned by test_seed_lists_are_stable)."""
    env = gym.make(SETTING.env_id)
    hands = []
    for i in range(n):
        env.reset(seed=SETTING.seed(i))
        hands.append(tuple(str(card) for card in env.unwrapped.hand))
    assert len(set(hands)) == n  # each episode is recognisable by its hand
    return hands


def gapped_results(tmp_path: Path, agent: HandNoter, keep: set[int], played: int) -> list[bytes]:
    """A results folder whose file holds the episodes ``keep`` of ``played`` (as the Ray backend or
    ``concurrency`` leave it when a run stops with episodes finished out of order); returns the kept lines."""
    evaluate(agent, SETTING, episodes=played, out_dir=tmp_path, progress=False)
    path = tmp_path / f"{SETTING.name}.jsonl"
    lines = [line for line in path.read_bytes().splitlines(keepends=True) if json.loads(line)["index"] in keep]
    path.write_bytes(b"".join(lines))
    return lines


@pytest.mark.parametrize("concurrency", [1, 3])
def test_a_resume_plays_exactly_the_missing_episodes_of_a_gapped_file(tmp_path, concurrency):
    hands = reference_hands(6)
    kept = gapped_results(tmp_path, HandNoter(), keep={0, 2}, played=4)
    agent = HandNoter()
    summary = evaluate(agent, SETTING, episodes=6, out_dir=tmp_path, progress=False, concurrency=concurrency)
    # Played: exactly the gaps and the new episodes, each once; the finished ones were neither replayed nor
    # skipped (a resume that counts finished records and starts there would play 2, 3, 4, 5).
    assert sorted(hands.index(hand) for hand in agent.hands) == [1, 3, 4, 5]
    assert len(agent.hands) == 4
    path = tmp_path / f"{SETTING.name}.jsonl"
    after = path.read_bytes().splitlines(keepends=True)
    assert after[:2] == kept  # the finished episodes' lines are untouched
    indices = [json.loads(line)["index"] for line in after]
    assert sorted(indices) == list(range(6)) and len(indices) == 6
    assert [r["seed"] for r in sorted(load_records(path), key=lambda r: r["index"])] == [SETTING.seed(i)
                                                                                          for i in range(6)]
    assert summary["episodes"] == 6
    # Resuming a complete file plays nothing.
    again = HandNoter()
    evaluate(again, SETTING, episodes=6, out_dir=tmp_path, progress=False)
    assert again.hands == [] and path.read_bytes().splitlines(keepends=True) == after


def test_a_resume_fills_a_gap_below_the_count_of_finished_episodes(tmp_path):
    hands = reference_hands(3)
    gapped_results(tmp_path, HandNoter(), keep={0, 2}, played=3)
    agent = HandNoter()
    summary = evaluate(agent, SETTING, episodes=3, out_dir=tmp_path, progress=False)
    assert [hands.index(hand) for hand in agent.hands] == [1]
    assert sorted(r["index"] for r in load_records(tmp_path / f"{SETTING.name}.jsonl")) == [0, 1, 2]
    assert summary["episodes"] == 3


# A GeneralPoints results folder as the harness wrote it before the games and protocols moved into
# sftrl_core.registry (the format is unchanged: neither the records nor the meta file name the game).
OLD_META = {
    "agent": "oracle", "agent_config": None, "agent_factory": "agents:OracleAgent", "agent_kwargs": {},
    "env_id": "gpoints_env:GeneralPoints-v0", "env_kwargs": {}, "protocol": "suite",
    "runs": [{"episodes_already_done": 0, "provenance": None, "started": "2025-01-01T00:00:00+00:00"}],
    "seed_list_version": 1, "setting": "GP-L",
}
OLD_LINES = [
    '{"setting": "GP-L", "agent": "oracle", "index": 0, "seed": 1000000, "seed_list_version": 1, "protocol": "suite", '
    '"success": true, "return": 5.0, "replies": 1, "seconds": 0.01, "steps": [{"reply": "x", "verdict": "correct", '
    '"reward": 5.0, "recognized": null, "agent_seconds": 0.001}]}',
    '{"setting": "GP-L", "agent": "oracle", "index": 1, "seed": 1000001, "seed_list_version": 1, "protocol": "suite", '
    '"success": true, "return": 5.0, "replies": 1, "seconds": 0.01, "steps": [{"reply": "y", "verdict": "correct", '
    '"reward": 5.0, "recognized": null, "agent_seconds": 0.001}]}',
]


def test_results_written_before_the_registry_still_resume_and_report(tmp_path):
    sys.path.insert(0, str(ROOT / "examples"))
    from agents import OracleAgent

    (tmp_path / "GP-L.meta.json").write_text(json.dumps(OLD_META, indent=1, sort_keys=True) + "\n")
    (tmp_path / "GP-L.jsonl").write_text("".join(line + "\n" for line in OLD_LINES))
    summary = evaluate(OracleAgent(), "GP-L", episodes=4, out_dir=tmp_path, progress=False)
    assert summary["episodes"] == 4 and summary["success_rate"] == 1.0
    lines = (tmp_path / "GP-L.jsonl").read_text().splitlines()
    assert lines[:2] == OLD_LINES and [json.loads(line)["index"] for line in lines] == [0, 1, 2, 3]
    meta = json.loads((tmp_path / "GP-L.meta.json").read_text())
    assert [run["episodes_already_done"] for run in meta["runs"]] == [0, 2]
    assert "| oracle | GP-L | suite | 4 |" in report([tmp_path])
