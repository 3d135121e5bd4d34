"""OpenRLHF: the reward function (through OpenRLHF's own SingleTurnAgentExecutor), and the multi-turn agent executor run
by OpenRLHF's own MultiTurnAgentExecutor (loaded from this package's file as OpenRLHF loads ``--train.agent_func_path``)
with a scripted engine, on whole GeneralPoints episodes and whole V-IRL routes, text and street views."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("openrlhf.utils.agent")  # OpenRLHF installed without its GPU dependencies (see .ci/run)
torch = pytest.importorskip("torch")

import sftrl_train.openrlhf as openrlhf_glue  # noqa: E402
from gpoints_env.specs import advance, expert_reply  # noqa: E402
from sftrl_train.datasets import rl_rows, write_jsonl  # noqa: E402
from sftrl_train.episodes import EpisodeSession  # noqa: E402
from sftrl_train.rewards import grade  # noqa: E402
from test_train_tiny_lm import TEMPLATES, tiny_tokenizer, tiny_vlm_processor  # noqa: E402


def load_as_openrlhf_does():
    """OpenRLHF's loader: ``spec_from_file_location("agent_module", path)`` then ``module.AgentExecutor()``."""
    spec = importlib.util.spec_from_file_location("agent_module", openrlhf_glue.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ScriptedEngine:
    """vLLM's ``generate`` call shape: token ids in, ``RequestOutput``-like out; replies from a script."""

    def __init__(self, tokenizer, script):
        self.tokenizer, self.script, self.seen = tokenizer, list(script), []

    async def generate(self, prompt_token_ids, sampling_params, multi_modal_data=None):
        self.seen.append(list(prompt_token_ids))
        text, finish = self.script.pop(0)
        ids = self.tokenizer.encode(text, add_special_tokens=False)[: sampling_params.max_tokens]
        reply = self.tokenizer.decode(ids, skip_special_tokens=True)
        output = SimpleNamespace(token_ids=ids, text=reply, finish_reason=finish, logprobs=None)
        return SimpleNamespace(outputs=[output])


@pytest.fixture(scope="module")
def rows():
    return rl_rows("GeneralPoints-v0", 2, seed=7)


@pytest.fixture(scope="module")
def tokenizer(rows):
    return tiny_tokenizer([r["prompt"][0]["content"] for r in rows] + ["1+1 8*3 [Feedback]"])


def run(executor, row, tokenizer, engine, max_length=2000):
    prompt = tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
    params = SimpleNamespace(max_tokens=None, logprobs=None)
    return prompt, asyncio.run(executor.execute(prompt, row["label"], params, max_length, tokenizer, engine))


def test_agent_executor_plays_the_episode_with_the_template_turns(rows, tokenizer):
    module = load_as_openrlhf_does()
    from openrlhf.utils.agent import AgentExecutorBase

    assert issubclass(module.AgentExecutor, AgentExecutorBase)
    row = rows[0]
    right = expert_reply(row["label"])
    engine = ScriptedEngine(tokenizer, [("1+1<|im_end|>", "stop"), ("(((", "length"), (right + "<|im_end|>", "stop")])
    prompt, result = run(module.AgentExecutor(), row, tokenizer, engine)
    first = advance("1+1", row["label"])
    second = advance("(((", first.next_spec)
    assert result["reward"] == first.grade.reward + second.grade.reward + 5.0
    assert float(result["scores"]) == 1.0 and len(result["action_ranges"]) == 3
    assert {k: float(v) for k, v in result["extra_logs"].items()} == pytest.approx({
        "return": result["reward"], "success": 1.0, "step_accuracy": 1 / 3, "turns": 3.0})
    # The token sequence is the chat template's rendering of the conversation: no doubled or missing markers,
    # whether the reply stopped on its end-of-turn token (turn 1) or was cut by the length limit (turn 2).
    conversation = row["prompt"] + [{"role": "assistant", "content": "1+1"},
                                    {"role": "user", "content": first.message},
                                    {"role": "assistant", "content": "((("},
                                    {"role": "user", "content": second.message},
                                    {"role": "assistant", "content": right}]
    rendered = tokenizer.apply_chat_template(conversation, tokenize=False)
    assert tokenizer.decode(result["observation_tokens"]) == rendered.rstrip("\n")
    for (start, end), text in zip(result["action_ranges"], ["1+1<|im_end|>", "(((", right + "<|im_end|>"]):
        assert tokenizer.decode(result["observation_tokens"][start:end]) == text  # the model's own tokens


def test_agent_executor_stops_after_the_last_attempt(rows, tokenizer):
    executor = openrlhf_glue.AgentExecutor()
    engine = ScriptedEngine(tokenizer, [("1+1<|im_end|>", "stop")] * 6)
    _, result = run(executor, rows[1], tokenizer, engine)
    assert len(result["action_ranges"]) == 5  # the env's 5 attempts, then done
    assert result["reward"] == 5 * grade("1+1", rows[1]["label"]).reward
    assert float(result["scores"]) == 0.0 and len(engine.script) == 1


def test_concurrent_episodes_keep_their_own_engine_output(rows, tokenizer):
    executor = openrlhf_glue.AgentExecutor()

    async def both():
        engines = [ScriptedEngine(tokenizer, [(expert_reply(r["label"]) + "<|im_end|>", "stop")]) for r in rows]
        params = [SimpleNamespace(max_tokens=None, logprobs=None) for _ in rows]
        prompts = [tokenizer.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True)
                   for r in rows]
        return await asyncio.gather(*(executor.execute(p, r["label"], s, 2000, tokenizer, e)
                                      for p, r, s, e in zip(prompts, rows, params, engines)))

    results = asyncio.run(both())
    assert [r["reward"] for r in results] == [5.0, 5.0]


def test_reward_func_reads_the_response_from_the_query(rows, tokenizer):
    module = load_as_openrlhf_does()
    prompts = [tokenizer.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True) for r in rows]
    queries = [prompts[0] + expert_reply(rows[0]["label"]), prompts[1] + "no idea"]
    out = module.reward_func(queries, prompts, [r["label"] for r in rows])
    assert out["rewards"].tolist() == [5.0, -3.0]
    assert out["scores"].tolist() == [1.0, 0.0]


def test_single_turn_virl_reply_is_graded_without_its_stop_token():
    """OpenRLHF's SingleTurnAgentExecutor decodes the query with its special tokens: the reply reaches the reward
    function as ``turn_direction(northwest)<|im_end|>``, which must grade as the action it is (+1.0, not -1.0)."""
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    row = rl_rows("VIRL-v0", 1, seed=0)[0]  # the route's first point: turn to face northwest
    assert virl_expert_action(row) == "turn_direction(northwest)"
    tokenizer = tiny_tokenizer([row["prompt"][0]["content"], "turn_direction(northwest)"])
    executor = SingleTurnAgentExecutor(remote_rm_url=openrlhf_glue.__file__)  # loads reward_func from the file
    for reply, reward in (("turn_direction(northwest)", 1.0), ("forward()", -1.0)):
        engine = ScriptedEngine(tokenizer, [(reply + "<|im_end|>", "stop")])
        _, result = run(executor, row, tokenizer, engine)
        assert tokenizer.decode(result["observation_tokens"]).endswith(reply + "<|im_end|>")
        assert result["reward"].tolist() == [reward]


def virl_expert_action(row):
    from virl_env.specs import expert_reply

    return json.loads(expert_reply(row["label"]))["action"]


def walk(label, seed, expert_share=0.7):
    rng = np.random.default_rng(seed)
    session = EpisodeSession(label)
    while not session.done:
        session.reply(session.expert_reply() if rng.random() < expert_share else "stop()")
    return session


def test_agent_executor_walks_a_whole_route():
    row = rl_rows("VIRL-v0", 1, seed=4, whole_routes=True)[0]
    session = walk(row["label"], seed=4)
    tokenizer = tiny_tokenizer([row["prompt"][0]["content"], '{"action": "forward()"} turn_direction stop'])
    engine = ScriptedEngine(tokenizer, [(r + "<|im_end|>", "stop") for r in session.replies])
    _, result = run(openrlhf_glue.AgentExecutor(), row, tokenizer, engine, max_length=200_000)
    assert result["reward"] == pytest.approx(session.total_reward)  # the per-turn rewards, summed by OpenRLHF
    assert float(result["scores"]) == float(session.success) and len(result["action_ranges"]) == len(session.turns)
    assert float(result["extra_logs"]["step_accuracy"]) == pytest.approx(session.step_accuracy)
    transcript = session.transcript[:-1]  # every next prompt whole, the model's own replies between them
    assert tokenizer.decode(result["observation_tokens"]) == tokenizer.apply_chat_template(
        transcript, tokenize=False).rstrip("\n")
    for (start, end), reply in zip(result["action_ranges"], session.replies):
        assert tokenizer.decode(result["observation_tokens"][start:end]) == reply + "<|im_end|>"


def test_agent_executor_shows_each_points_street_views(tmp_path):
    """A whole image route (``--data.image_key point_images``): the prompt shows the first point's views; each later
    point's views come with its turn, as OpenRLHF's environment_images."""
    rows = rl_rows("VIRL-VL-v0", 1, seed=0, whole_routes=True, view_size=32)
    write_jsonl(rows, tmp_path / "rows.jsonl")
    line = json.loads((tmp_path / "rows.jsonl").read_text().splitlines()[0])
    assert len(line["point_images"]) == json.loads(line["label"])["num_points"]  # data URLs, one per point
    processor = tiny_vlm_processor([p["text"] for m in rows[0]["prompt"] for p in m["content"] if p["type"] == "text"]
                                   + ['{"action": "forward()"} turn_direction stop'])
    tokenizer = processor.tokenizer
    session = walk(line["label"], seed=0)
    engine = ScriptedEngine(tokenizer, [(r + "<|im_end|>", "stop") for r in session.replies])
    prompt = processor.apply_chat_template(rows[0]["prompt"], tokenize=False, add_generation_prompt=True)
    params = SimpleNamespace(max_tokens=None, logprobs=None)
    result = asyncio.run(openrlhf_glue.AgentExecutor().execute(prompt, line["label"], params, 200_000, processor,
                                                              engine, images=line["point_images"]))
    visited = max(t.info["step_index"] for t in session.turns[:-1]) + 1 if len(session.turns) > 1 else 1
    tokens = result["observation_tokens"]
    assert tokens.count(tokenizer.convert_tokens_to_ids("<|vision_start|>")) == visited
    assert result["mm_train_inputs"]["image_grid_thw"].shape[0] == visited  # pixels for every picture shown
    assert result["reward"] == pytest.approx(session.total_reward)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_agent_executor_closes_a_reply_cut_by_the_length_limit(rows, name):
    template, eos = TEMPLATES[name]
    row = rows[1]
    tokenizer = tiny_tokenizer([row["prompt"][0]["content"], "1+1 8*3 [Feedback]"], template, eos)
    right = expert_reply(row["label"])
    engine = ScriptedEngine(tokenizer, [("1+1", "length"), (right + eos, "stop")])
    _, result = run(openrlhf_glue.AgentExecutor(), row, tokenizer, engine)
    conversation = row["prompt"] + [{"role": "assistant", "content": "1+1"},
                                    {"role": "user", "content": advance("1+1", row["label"]).message},
                                    {"role": "assistant", "content": right}]
    rendered = tokenizer.apply_chat_template(conversation, tokenize=False)
    assert tokenizer.decode(result["observation_tokens"]) == rendered[:rendered.rindex(right) + len(right) + len(eos)]


def test_agent_executor_plays_a_hand_shown_as_a_picture():
    rows = rl_rows("GeneralPoints-VL-v0", 1, seed=3, resolution=64)
    processor = tiny_vlm_processor([p["text"] for m in rows[0]["prompt"] for p in m["content"] if p["type"] == "text"]
                                   + ['{"cards": ["A"], "formula": "1+1"} 0123456789'])
    row = rows[0]
    right = expert_reply(row["label"])
    engine = ScriptedEngine(processor.tokenizer, [("1+1<|im_end|>", "stop"), (right + "<|im_end|>", "stop")])
    prompt = processor.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
    params = SimpleNamespace(max_tokens=None, logprobs=None)
    result = asyncio.run(openrlhf_glue.AgentExecutor().execute(prompt, row["label"], params, 4000, processor, engine,
                                                              images=row["images"]))
    first = advance("1+1", row["label"])
    assert result["reward"] == first.grade.reward + 5.0 and float(result["scores"]) == 1.0
    assert result["mm_train_inputs"]["image_grid_thw"].shape[0] == 1  # the hand's picture, once
    assert first.message in processor.tokenizer.decode(result["observation_tokens"])
