"""Trainer datasets and reward functions: rows for every id, SFT targets the grader accepts, files, call shapes."""

from __future__ import annotations

import base64
import io
import json
import sys

import gymnasium as gym
import numpy as np
import pytest

import gpoints_env
import virl_env
from sftrl_train import rewards
from sftrl_train.datasets import rl_rows, sft_rows, to_hf_dataset, write_jsonl, write_parquet
from sftrl_train.episodes import SpecEpisode

SMALL = {"GeneralPoints-VL-v0": {"resolution": 64}, "GeneralPoints-VL-RuleOOD-v0": {"resolution": 64},
         "GeneralPoints-VL-VisualOOD-v0": {"resolution": 64}}
ALL_IDS = sorted(gpoints_env.ENV_IDS) + sorted(virl_env.ENV_IDS)


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_sft_rows_hold_expert_replies_the_grader_accepts(env_id):
    rows = sft_rows(env_id, 2, seed=3, **SMALL.get(env_id, {}))
    image = "-VL-" in env_id
    episodes = {row["seed"] for row in rows}
    assert episodes == {3, 4}
    for row in rows:
        reply = rewards.reply_text(row["completion"])
        assert rewards.grade(reply, row["spec"]).success
        assert row["ground_truth"] == row["label"] == row["spec"] and row["env_id"] == env_id
        assert row["messages"] == row["prompt"] + row["completion"]
        assert ("images" in row) == image
        first = row["prompt"][0]["content"]
        assert (first[0] == {"type": "image"}) if image else isinstance(first, str)
    if env_id.startswith("VIRL"):  # one row per rail point, the points of each route in order
        for seed in episodes:
            points = [row["point"] for row in rows if row["seed"] == seed]
            assert points == list(range(json.loads(next(r["spec"] for r in rows if r["seed"] == seed))["num_points"]))
    else:
        assert [row["point"] for row in rows] == [0, 0]


@pytest.mark.parametrize("env_id", ["GeneralPoints-RuleOOD-v0", "VIRL-RuleOOD-v0", "VIRL-VL-v0"])
def test_rl_rows_are_the_env_prompts_along_the_expert_path(env_id):
    rows = rl_rows(env_id, 1, seed=9)
    env = gym.make(env_id)
    obs, info = env.reset(seed=9)
    for row in rows:
        assert "completion" not in row
        text = obs["text"] if isinstance(obs, dict) else obs
        content = row["prompt"][0]["content"]
        assert (content[-1]["text"] if isinstance(content, list) else content) == text
        spec = virl_env.specs.point_spec(env) if env_id.startswith("VIRL") else env.unwrapped.episode_spec()
        assert row["spec"] == json.dumps(spec, sort_keys=True, separators=(",", ":"))
        obs, *_, info = env.step(env.unwrapped.expert_reply() if env_id.startswith("VIRL") else
                                 json.dumps({"formula": env.unwrapped.solution()}))


@pytest.mark.parametrize("env_id", ["VIRL-v0", "VIRL-VL-RuleOOD-v0"])
def test_whole_route_rows_start_each_route_with_its_route_spec(env_id):
    kwargs = {"view_size": 32} if "-VL-" in env_id else {}
    rows = rl_rows(env_id, 3, seed=20, whole_routes=True, **kwargs)
    assert [row["seed"] for row in rows] == [20, 21, 22] and {row["point"] for row in rows} == {0}
    env = gym.make(env_id, **kwargs)
    for row in rows:
        obs, info = env.reset(seed=row["seed"])
        assert row["spec"] == json.dumps(env.unwrapped.episode_spec(), sort_keys=True, separators=(",", ":"))
        assert "rail" in json.loads(row["spec"])
        content = row["prompt"][0]["content"]
        assert (content[-1]["text"] if isinstance(content, list) else content) == info["messages"][0]["content"]
        if "-VL-" not in env_id:
            assert "images" not in row and "point_images" not in row
            continue
        pictures = row["point_images"]
        assert len(pictures) == info["num_points"] and row["images"] == pictures[:1]
        done = False
        while not done:  # the picture of each point is the env's there
            assert np.asarray(pictures[env.unwrapped.point_index]).tobytes() == obs["image"].tobytes()
            obs, _, terminated, truncated, _ = env.step(env.unwrapped.expert_reply())
            done = terminated or truncated


def test_whole_route_sft_rows_hold_the_expert_walk():
    rows = sft_rows("VIRL-v0", 2, seed=4, whole_routes=True)
    for row in rows:
        assert row["messages"] == row["prompt"] + row["completion"]
        replies = [m["content"] for m in row["completion"] if m["role"] == "assistant"]
        episode = SpecEpisode(row["spec"])
        following = row["completion"][1::2] + [None]
        for reply, message in zip(replies, following):
            turn = episode.reply(reply)
            assert turn.next_messages == (() if message is None else (message,))  # the next prompt, as in a session
        assert episode.done and episode.success and len(replies) == json.loads(row["spec"])["num_points"]
    image = sft_rows("VIRL-VL-v0", 1, seed=4, whole_routes=True, view_size=32)[0]
    placeholders = sum(part["type"] == "image" for m in image["messages"] for part in m["content"])
    assert placeholders == len(image["images"]) == len(image["point_images"])  # one picture per point, in order
    assert sft_rows("GeneralPoints-v0", 2, whole_routes=True) == sft_rows("GeneralPoints-v0", 2)


def test_rows_follow_env_kwargs_and_seeds():
    binary = rl_rows("GeneralPoints-v0", 3, seed=100, rewards="binary", max_attempts=1)
    assert [row["seed"] for row in binary] == [100, 101, 102]
    spec = json.loads(binary[0]["spec"])
    assert spec["rewards"]["correct"] == 1.0 and spec["max_attempts"] == 1
    assert rl_rows("gpoints_env:GeneralPoints-v0", 3, seed=100, rewards="binary", max_attempts=1) == binary
    with pytest.raises(ValueError, match="not an id"):
        rl_rows("CartPole-v1", 1)
    with pytest.raises(ValueError, match="num"):
        rl_rows("GeneralPoints-v0", -1)


def test_files_and_hf_dataset_round_trip(tmp_path):
    pytest.importorskip("datasets")  # the trl extra
    import datasets

    rows = sft_rows("GeneralPoints-VL-v0", 2, seed=0, resolution=64)
    write_jsonl(rows, tmp_path / "rows.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert [line["spec"] for line in lines] == [row["spec"] for row in rows]
    from PIL import Image

    png = base64.b64decode(lines[0]["images"][0].split(",", 1)[1])
    assert Image.open(io.BytesIO(png)).tobytes() == rows[0]["images"][0].tobytes()

    write_parquet(rows, tmp_path / "rows.parquet")
    loaded = datasets.load_dataset("parquet", data_files=str(tmp_path / "rows.parquet"))["train"]
    assert loaded[0]["spec"] == rows[0]["spec"] and loaded[1]["completion"] == rows[1]["completion"]
    assert loaded[0]["images"][0].tobytes() == rows[0]["images"][0].tobytes()  # back as a PIL image
    hf = to_hf_dataset(rows)
    assert hf.column_names == list(rows[0]) and hf[1]["spec"] == rows[1]["spec"]


def test_parquet_without_datasets_keeps_verls_image_layout(tmp_path, monkeypatch):
    pq = pytest.importorskip("pyarrow.parquet")
    monkeypatch.setitem(sys.modules, "datasets", None)  # "import datasets" now raises ImportError
    rows = rl_rows("GeneralPoints-VL-v0", 1, resolution=64)
    write_parquet(rows, tmp_path / "rows.parquet")
    table = pq.read_table(tmp_path / "rows.parquet").to_pylist()
    assert table[0]["spec"] == rows[0]["spec"]
    assert table[0]["images"][0]["bytes"].startswith(b"\x89PNG")
    with pytest.raises(ImportError, match=r"sft-rl-generalization-envs\[trl\]"):
        to_hf_dataset(rows)


@pytest.fixture(scope="module")
def spec():
    env = gym.make("GeneralPoints-v0")
    env.reset(options={"cards": ["8", "3", "8", "3"]})
    return json.dumps(env.unwrapped.episode_spec())


def test_trl_reward_reads_strings_and_messages(spec):
    completions = ['{"formula": "8/(3-8/3)"}', [{"role": "assistant", "content": "<think>hm</think> 8+8+3+3"}],
                   [{"role": "assistant", "content": [{"type": "text", "text": "8*3"}]}], [], None]
    assert rewards.trl_reward(None, completions, [spec] * 5) == [5.0, -1.0, -2.0, -3.0, -3.0]
    assert rewards.trl_success(None, completions, [spec] * 5) == [1.0, 0.0, 0.0, 0.0, 0.0]
    logged = []
    rewards.trl_reward(None, completions[:2], [spec] * 2, log_metric=lambda k, v: logged.append((k, v)))
    assert logged == [("sftrl/success", 0.5), ("sftrl/step_accuracy", 0.5), ("sftrl/return", 2.0),
                      ("sftrl/turns", 1.0), ("sftrl/turn_reward", 2.0)]
    with pytest.raises(ValueError, match="spec"):
        rewards.trl_reward(None, ["1"], None)
    with pytest.raises(ValueError, match="2 specs"):
        rewards.trl_reward(None, ["1"], [spec, spec])


def test_multi_turn_rewards_sum_the_episode_and_report_success_apart(spec):
    # A retry success: -1 then +5 sums to 4 (not the first try's 5); success is 1 either way.
    turns = [["8+8+3+3", "8/(3-8/3)", "ignored: the episode is over"], ["8/(3-8/3)"], ["1+1"] * 7]
    assert rewards.trl_reward(None, [""] * 3, [spec] * 3, turn_replies=turns) == [4.0, 5.0, 5 * -2.0]
    assert rewards.trl_success(None, [""] * 3, [spec] * 3, turn_replies=turns) == [1.0, 1.0, 0.0]
    assert len(rewards.play_turns(turns[2], spec)) == 5  # the env's attempt budget


def test_spec_episode_refuses_replies_after_the_end(spec):
    episode = SpecEpisode(spec)
    episode.reply("8/(3-8/3)")
    with pytest.raises(RuntimeError, match="over"):
        episode.reply("8/(3-8/3)")


def test_virl_rewards_from_point_specs():
    rows = rl_rows("VIRL-v0", 1, seed=1)
    specs = [row["spec"] for row in rows]
    replies = [virl_env.specs.expert_reply(s) for s in specs]
    assert rewards.trl_reward(None, replies, specs) == [1.0] * len(rows)
    assert rewards.verl_compute_score("VIRL-v0", "stop()", specs[0])["acc"] == 0.0


def test_openrlhf_reward_func_call_shape(spec):
    pytest.importorskip("torch")
    out = rewards.openrlhf_reward_func(["PROMPT 8/(3-8/3)", "other"], ["PROMPT ", "PROMPT "], [spec, spec])
    assert out["rewards"].tolist() == [5.0, -3.0] and out["scores"].tolist() == [1.0, 0.0]
    assert rewards.response_of_query("PROMPT 8*3", "PROMPT ") == "8*3"
