"""OpenRLHF: the reward function, and the multi-turn agent executor run by OpenRLHF's own MultiTurnAgentExecutor
(loaded from this package's file as OpenRLHF loads ``--train.agent_func_path``) with a scripted engine."""

from __future__ import annotations

import asyncio
import importlib.util
from types import SimpleNamespace

import pytest

pytest.importorskip("openrlhf.utils.agent")  # OpenRLHF installed without its GPU dependencies (see .ci/run)
torch = pytest.importorskip("torch")

import sftrl_train.openrlhf as openrlhf_glue  # noqa: E402
from gpoints_env.specs import advance, expert_reply  # noqa: E402
from sftrl_train.datasets import rl_rows  # noqa: E402
from sftrl_train.rewards import grade  # noqa: E402
from test_train_tiny_lm import tiny_tokenizer  # noqa: E402


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
