"""verl: rows in verl's layout and its reward call shape (always), and the multi-turn agent loop run as verl 0.9's
own AgentLoopBase subclass with a scripted LLM server (where verl imports: its CI venv)."""

from __future__ import annotations

import asyncio
import json

import pytest

from gpoints_env.specs import advance, expert_reply
from sftrl_train import verl as verl_glue
from sftrl_train.datasets import rl_rows
from sftrl_train.rewards import verl_compute_score


@pytest.fixture(scope="module")
def rows():
    return rl_rows("GeneralPoints-v0", 3, seed=11)


def test_verl_rows_layout(rows):
    converted = verl_glue.verl_rows(rows)
    for row, item in zip(rows, converted):
        assert item["data_source"] == "GeneralPoints-v0" and item["agent_name"] == "sftrl_env"
        assert item["reward_model"] == {"style": "rule", "ground_truth": row["spec"]}
        assert isinstance(item["reward_model"]["ground_truth"], str)  # one column type in every row
        assert item["extra_info"]["interaction_kwargs"] == {"name": "sftrl_env", "spec": row["spec"]}
        assert item["prompt"] == row["prompt"]
    image = verl_glue.verl_rows(rl_rows("GeneralPoints-VL-v0", 1, resolution=64), agent_name="tool_agent")[0]
    assert image["prompt"][0]["content"].startswith("<image>You are an expert")
    assert len(image["images"]) == 1 and image["agent_name"] == "tool_agent"


def test_verl_compute_score_call_shape(rows):
    spec = rows[0]["spec"]
    assert verl_compute_score("GeneralPoints-v0", expert_reply(spec), spec, extra_info={}) == {"score": 5.0,
                                                                                               "acc": 1.0}
    assert verl_compute_score("GeneralPoints-v0", "1+1", spec) == {"score": -2.0, "acc": 0.0}


def test_config_files_name_the_classes():
    yaml = pytest.importorskip("yaml")  # verl's config format; PyYAML comes with the trl and verl extras
    loops = yaml.safe_load(verl_glue.agent_loop_config_path().read_text())
    assert loops == [{"name": "sftrl_env", "_target_": "sftrl_train.verl.EnvAgentLoop"}]
    interactions = yaml.safe_load(verl_glue.interaction_config_path().read_text())
    assert interactions["interaction"][0]["class_name"] == "sftrl_train.verl.SpecInteraction"


class ScriptedServer:
    """verl's LLMServerClient.generate call shape, replies from a script."""

    def __init__(self, tokenizer, script):
        self.tokenizer, self.script, self.prompts = tokenizer, list(script), []

    async def generate(self, *, request_id, prompt_ids, sampling_params, **kwargs):
        from verl.workers.rollout.replica import TokenOutput

        self.prompts.append(list(prompt_ids))
        ids = self.tokenizer.encode(self.script.pop(0), add_special_tokens=False)
        return TokenOutput(token_ids=ids, log_probs=[-0.5] * len(ids))


def test_agent_loop_runs_in_verl(rows):
    pytest.importorskip("verl.experimental.agent_loop.agent_loop")  # verl's CI venv
    from omegaconf import OmegaConf
    from test_train_tiny_lm import tiny_tokenizer
    from verl.experimental.agent_loop.agent_loop import DictConfigWrap, _agent_loop_registry
    from verl.utils.dataset.rl_dataset import RLHFDataset

    tokenizer = tiny_tokenizer([r["prompt"][0]["content"] for r in rows] + ["1+1 [Feedback]"])
    loop_class = verl_glue.EnvAgentLoop
    assert _agent_loop_registry["sftrl_env"] == {"_target_": "sftrl_train.verl.EnvAgentLoop"}
    config = OmegaConf.create({"actor_rollout_ref": {"rollout": {"prompt_length": 2048, "response_length": 1024}},
                               "data": {}})
    row = verl_glue.verl_rows(rows)[0]
    right = expert_reply(row["reward_model"]["ground_truth"])
    server = ScriptedServer(tokenizer, ["1+1<|im_end|>", right + "<|im_end|>"])

    async def run():
        loop = loop_class(trainer_config=DictConfigWrap(config), server_manager=server, tokenizer=tokenizer,
                          processor=None, dataset_cls=RLHFDataset, data_config=DictConfigWrap(config.data),
                          hf_model_type="qwen2")  # a Qwen2-shaped model with the ChatML template
        return await loop.run({"temperature": 1.0}, raw_prompt=row["prompt"], extra_info=row["extra_info"],
                              reward_model=row["reward_model"])

    output = asyncio.run(run())
    first = advance("1+1", row["extra_info"]["spec"])
    assert output.reward_score == first.grade.reward + 5.0
    assert output.extra_fields["reward_extra_info"] == {"acc": 1.0}
    conversation = row["prompt"] + [{"role": "assistant", "content": "1+1"},
                                    {"role": "user", "content": first.message},
                                    {"role": "assistant", "content": right}]
    full = tokenizer.decode(output.prompt_ids + output.response_ids)
    assert full == tokenizer.apply_chat_template(conversation, tokenize=False).rstrip("\n")
    model_tokens = [t for t, m in zip(output.response_ids, output.response_mask) if m]
    assert tokenizer.decode(model_tokens) == "1+1<|im_end|>" + right + "<|im_end|>"
    assert len(output.response_logprobs) == len(output.response_mask)
    assert {lp for lp, m in zip(output.response_logprobs, output.response_mask) if m} == {-0.5}
    assert json.loads(right)["formula"] in full


@pytest.fixture
def interaction_base(monkeypatch):
    """verl's BaseInteraction (verl before agent loops); where the installed verl no longer has it, a stand-in
    with its documented constructor (``config`` dict, ``name`` from it) in its place."""
    try:
        import verl.interactions.base  # noqa: F401
    except ImportError:
        import sys
        import types

        class BaseInteraction:
            def __init__(self, config):
                self.config = config
                self.name = config.get("name", "interaction_agent")

        module = types.ModuleType("verl.interactions.base")
        module.BaseInteraction = BaseInteraction
        monkeypatch.setitem(sys.modules, "verl.interactions.base", module)
    monkeypatch.setattr(verl_glue, "_BUILT", {})


def test_interaction_plays_the_episode(rows, interaction_base):
    interaction = verl_glue.SpecInteraction({"name": "sftrl_env"})
    assert interaction.name == "sftrl_env"
    spec = rows[1]["spec"]

    async def run():
        instance = await interaction.start_interaction(None, name="sftrl_env", spec=spec)
        first = await interaction.generate_response(instance, [{"role": "assistant", "content": "1+1"}])
        second = await interaction.generate_response(instance, [{"role": "assistant", "content": expert_reply(spec)}])
        score = await interaction.calculate_score(instance)
        await interaction.finalize_interaction(instance)
        return first, second, score

    first, second, score = asyncio.run(run())
    assert first[0] is False and first[1] == advance("1+1", spec).message
    assert second[0] is True and second[2] == 5.0 and score == first[2] + 5.0


def test_lazy_classes_name_the_extra(monkeypatch):
    import importlib

    real = importlib.import_module

    def missing(name, *args):
        if name.startswith("verl"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", missing)
    monkeypatch.setattr(verl_glue, "_BUILT", {})
    with pytest.raises(ImportError, match=r"sft-rl-generalization-envs\[verl\]"):
        verl_glue.EnvAgentLoop


def test_reward_file_loads_by_path_as_verl_loads_it(rows):
    # verl's custom_reward_function.path takes "pkg://sftrl_train.rewards" or a file path, loaded as a top-level
    # module (spec_from_file_location), where relative imports would fail.
    import importlib.util

    from sftrl_train import rewards

    spec = importlib.util.spec_from_file_location("custom_module_0", rewards.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    label = rows[2]["spec"]
    assert module.verl_compute_score("GeneralPoints-v0", expert_reply(label), label)["score"] == 5.0
