"""verl: rows in verl's layout and its reward call shape (always); the multi-turn agent loop run as verl 0.9's own
AgentLoopBase subclass with a scripted LLM server, on whole GeneralPoints episodes and whole V-IRL routes (text and
street views), inside verl's own AgentLoopWorker for a dataset that mixes it with verl's single-turn loop (where verl
imports: CI's second venv); the interaction of older verl against the BaseInteraction of verl 0.6.1 (copied below:
verl 0.9 no longer ships it) driven the way verl 0.6.1's tool agent loop drives it."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any, Optional
from uuid import uuid4

import numpy as np
import pytest

from gpoints_env.specs import advance, expert_reply
from sftrl_train import EpisodeSession
from sftrl_train import verl as verl_glue
from sftrl_train.datasets import rl_rows
from sftrl_train.episodes import message_text
from sftrl_train.rewards import VERL_SCORE_KEYS, verl_compute_score


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
    assert "point_images" not in image["extra_info"]
    route_rows = rl_rows("VIRL-VL-v0", 1, seed=2, whole_routes=True, view_size=32)
    route = verl_glue.verl_rows(route_rows)[0]
    assert len(route["images"]) == 1 and route["prompt"][0]["content"].startswith("<image>")
    stored = route["extra_info"]["point_images"]  # every point's views, for the agent loop
    assert len(stored) == json.loads(route["extra_info"]["spec"])["num_points"] and stored[0].startswith(b"\x89PNG")


def test_verl_compute_score_call_shape(rows):
    spec = rows[0]["spec"]
    assert verl_compute_score("GeneralPoints-v0", expert_reply(spec), spec, extra_info={}) == {
        "score": 5.0, "acc": 1.0, "step_accuracy": 1.0, "turns": 1.0}
    assert verl_compute_score("GeneralPoints-v0", "1+1", spec) == {"score": -2.0, "acc": 0.0, "step_accuracy": 0.0,
                                                                   "turns": 1.0}
    record = {"score": 3.0, "acc": 1.0, "step_accuracy": 0.5, "turns": 2.0}
    assert verl_compute_score("GeneralPoints-v0", "whatever", spec, {"sftrl_episode": record}) == record


def test_config_files_name_the_classes():
    yaml = pytest.importorskip("yaml")  # verl's config format; PyYAML comes with the trl and verl extras
    loops = yaml.safe_load(verl_glue.agent_loop_config_path().read_text())
    assert loops == [{"name": "sftrl_env", "_target_": "sftrl_train.verl.EnvAgentLoop"}]
    interactions = yaml.safe_load(verl_glue.interaction_config_path().read_text())
    assert interactions["interaction"][0]["class_name"] == "sftrl_train.verl.SpecInteraction"


# ---- verl 0.9: the agent loop --------------------------------------------------------------------------------------


class ScriptedServer:
    """verl's LLMServerClient.generate call shape, replies from a script (one per row when ``key`` tells the row)."""

    def __init__(self, tokenizer, script, key=None):
        self.tokenizer, self.script, self.key = tokenizer, script, key
        self.prompts, self.images = [], []

    async def generate(self, *, request_id, prompt_ids, sampling_params, image_data=None, **kwargs):
        from verl.workers.rollout.replica import TokenOutput

        self.prompts.append(list(prompt_ids))
        self.images.append(list(image_data or []))
        script = self.script if self.key is None else self.script[self.key(self.tokenizer.decode(prompt_ids))]
        ids = self.tokenizer.encode(script.pop(0), add_special_tokens=False)
        return TokenOutput(token_ids=ids, log_probs=[-0.5] * len(ids))


def run_loop(tokenizer, row, script, *, hf_model_type="qwen2", processor=None, dataset_cls=None,
             raw_prompt=None, response_length=4096):
    """Run EnvAgentLoop.run on ``row`` (verl_rows layout) as verl's AgentLoopWorker does; (output, server)."""
    from omegaconf import OmegaConf
    from verl.experimental.agent_loop.agent_loop import DictConfigWrap
    from verl.utils.dataset.rl_dataset import RLHFDataset

    config = OmegaConf.create({"actor_rollout_ref": {"rollout": {"prompt_length": 4096,
                                                                 "response_length": response_length}},
                               "data": {}})
    server = ScriptedServer(tokenizer, list(script))

    async def run():
        loop = verl_glue.EnvAgentLoop(trainer_config=DictConfigWrap(config), server_manager=server,
                                      tokenizer=tokenizer, processor=processor,
                                      dataset_cls=dataset_cls or RLHFDataset, data_config=DictConfigWrap(config.data),
                                      hf_model_type=hf_model_type)
        return await loop.run({"temperature": 1.0}, raw_prompt=raw_prompt or row["prompt"],
                              extra_info=row["extra_info"], reward_model=row["reward_model"])

    return asyncio.run(run()), server


def test_agent_loop_runs_in_verl(rows):
    pytest.importorskip("verl.experimental.agent_loop.agent_loop")  # verl's CI venv
    from test_train_tiny_lm import tiny_tokenizer
    from verl.experimental.agent_loop.agent_loop import _agent_loop_registry

    tokenizer = tiny_tokenizer([r["prompt"][0]["content"] for r in rows] + ["1+1 [Feedback]"])
    verl_glue.EnvAgentLoop
    # Registered by the class itself, or by verl reading the suite's agent-loop config (which adds the name) when
    # another test loaded it first.
    assert _agent_loop_registry["sftrl_env"]["_target_"] == "sftrl_train.verl.EnvAgentLoop"
    row = verl_glue.verl_rows(rows)[0]
    right = expert_reply(row["reward_model"]["ground_truth"])
    output, _ = run_loop(tokenizer, row, ["1+1<|im_end|>", right + "<|im_end|>"])
    first = advance("1+1", row["extra_info"]["spec"])
    record = output.extra_fields["sftrl_episode"]
    assert record == {"score": first.grade.reward + 5.0, "acc": 1.0, "step_accuracy": 0.5, "turns": 2.0}
    assert output.extra_fields["turn_scores"] == [first.grade.reward, 5.0]  # the per-turn rewards
    assert output.reward_score is None  # scored by the reward function from the record, as every row is
    conversation = row["prompt"] + [{"role": "assistant", "content": "1+1"},
                                    {"role": "user", "content": first.message},
                                    {"role": "assistant", "content": right}]
    full = tokenizer.decode(output.prompt_ids + output.response_ids)
    assert full == tokenizer.apply_chat_template(conversation, tokenize=False).rstrip("\n")
    model_tokens = [t for t, m in zip(output.response_ids, output.response_mask) if m]
    assert tokenizer.decode(model_tokens) == "1+1<|im_end|>" + right + "<|im_end|>"
    assert len(output.response_logprobs) == len(output.response_mask)
    assert {lp for lp, m in zip(output.response_logprobs, output.response_mask) if m} == {-0.5}
    assert verl_compute_score(row["data_source"], full, row["reward_model"]["ground_truth"],
                              {**row["extra_info"], **output.extra_fields})["score"] == first.grade.reward + 5.0


@pytest.mark.parametrize("template, model_type", [("chatml", "qwen2"), ("llama3", "llama"), ("gemma", "gemma")])
def test_agent_loop_closes_a_reply_cut_by_the_length_limit(rows, template, model_type):
    pytest.importorskip("verl.experimental.agent_loop.agent_loop")
    from test_train_tiny_lm import TEMPLATES, tiny_tokenizer

    chat, eos = TEMPLATES[template]
    tokenizer = tiny_tokenizer([r["prompt"][0]["content"] for r in rows] + ["1+1 [Feedback]"], chat, eos)
    row = verl_glue.verl_rows(rows)[1]
    right = expert_reply(row["reward_model"]["ground_truth"])
    output, _ = run_loop(tokenizer, row, ["1+1", right + eos], hf_model_type=model_type)  # turn 1: no stop token
    first = advance("1+1", row["extra_info"]["spec"])
    conversation = row["prompt"] + [{"role": "assistant", "content": "1+1"},
                                    {"role": "user", "content": first.message},
                                    {"role": "assistant", "content": right}]
    rendered = tokenizer.apply_chat_template(conversation, tokenize=False)
    full = tokenizer.decode(output.prompt_ids + output.response_ids)
    assert full == rendered[:rendered.rindex(right) + len(right) + len(eos)]  # "1+1<|im_end|>\n<|im_start|>user"
    closing = [t for t, m in zip(output.response_ids, output.response_mask) if not m]
    assert tokenizer.decode(closing).startswith(eos)  # the closing marker is the env's (masked), not the model's


def virl_tokenizer(rows):
    from test_train_tiny_lm import tiny_tokenizer

    corpus = [m["content"] for r in rows for m in r["prompt"]] + ['{"action": "forward()"} turn_direction stop']
    return tiny_tokenizer(corpus)


def scripted_walk(spec, seed, expert_share=0.7):
    """Replies for a whole route (the expert's, or a wrong one), with the session they give."""
    rng = np.random.default_rng(seed)
    session = EpisodeSession(spec)
    while not session.done:
        session.reply(session.expert_reply() if rng.random() < expert_share else "stop()")
    return session


def test_agent_loop_walks_a_whole_route(monkeypatch):
    pytest.importorskip("verl.experimental.agent_loop.agent_loop")
    route_rows = rl_rows("VIRL-v0", 1, seed=3, whole_routes=True)
    tokenizer = virl_tokenizer(route_rows)
    row = verl_glue.verl_rows(route_rows)[0]
    session = scripted_walk(row["extra_info"]["spec"], seed=3)
    assert len({t.verdict for t in session.turns}) > 1  # right and wrong replies
    output, server = run_loop(tokenizer, row, [r + "<|im_end|>" for r in session.replies],
                              response_length=200_000)
    assert output.extra_fields["turn_scores"] == session.rewards
    assert output.extra_fields["sftrl_episode"] == {"score": session.total_reward, "acc": float(session.success),
                                                    "step_accuracy": session.step_accuracy,
                                                    "turns": float(len(session.turns))}
    # Every generation saw the conversation so far: the template's rendering of the session's transcript.
    transcript = session.transcript[:-1]  # without the closing feedback (nothing is generated after it)
    full = tokenizer.decode(output.prompt_ids + output.response_ids)
    assert full == tokenizer.apply_chat_template(transcript, tokenize=False).rstrip("\n")
    for n, prompt in enumerate(server.prompts):
        upto = transcript[:transcript.index({"role": "assistant", "content": session.replies[n]}, 2 * n)]
        assert tokenizer.decode(prompt) == tokenizer.apply_chat_template(upto, tokenize=False,
                                                                         add_generation_prompt=True)


class MessageImages:
    """A verl dataset class whose ``process_multi_modal_info`` reads the pictures of the messages as they are (the
    packaged RLHFDataset calls qwen_vl_utils, which verl's CI venv does not install)."""

    @classmethod
    async def process_multi_modal_info(cls, messages, image_patch_size, config):
        images = [part["image"] for m in messages if isinstance(m["content"], list) for part in m["content"]
                  if part.get("type") == "image"]
        return images or None, None, None


def test_agent_loop_shows_each_points_street_views():
    pytest.importorskip("verl.experimental.agent_loop.agent_loop")
    import torch
    from PIL import Image
    from test_train_tiny_lm import tiny_vlm_processor
    from verl.experimental.agent_loop.agent_loop import AgentLoopWorker
    from verl.utils.dataset.rl_dataset import RLHFDataset

    route_rows = rl_rows("VIRL-VL-v0", 1, seed=0, whole_routes=True, view_size=32)
    processor = tiny_vlm_processor([p["text"] for m in route_rows[0]["prompt"] for p in m["content"]
                                    if p["type"] == "text"] + ['{"action": "forward()"} turn_direction stop'])
    tokenizer = processor.tokenizer
    row = verl_glue.verl_rows(route_rows)[0]
    dataset = RLHFDataset.__new__(RLHFDataset)  # its own placeholder expansion, as it builds raw_prompt
    dataset.image_key, dataset.video_key, dataset.audio_key, dataset.processor = "images", "videos", "audios", processor
    raw_prompt = dataset._build_messages({"prompt": [dict(m) for m in row["prompt"]], "images": row["images"]},
                                         "prompt")
    session = scripted_walk(row["extra_info"]["spec"], seed=0)
    output, server = run_loop(tokenizer, row, [r + "<|im_end|>" for r in session.replies], processor=processor,
                              hf_model_type="qwen2_vl", dataset_cls=MessageImages, raw_prompt=raw_prompt,
                              response_length=200_000)
    pictures = [np.asarray(Image.open(io.BytesIO(png)).convert("RGB")) for png in row["extra_info"]["point_images"]]
    points = [t.info["step_index"] for t in session.turns]
    visited = [0, *points[:-1]]  # the point each reply answered
    for images, point in zip(server.images, visited):  # each generation saw the views of the points so far
        assert len(images) == point + 1
        assert np.asarray(images[-1]).tobytes() == pictures[point].tobytes()
    shown = output.multi_modal_data["images"]
    assert len(shown) == max(visited) + 1
    full = output.prompt_ids + output.response_ids
    assert full.count(tokenizer.convert_tokens_to_ids("<|vision_start|>")) == len(shown)
    worker = AgentLoopWorker.__new__(AgentLoopWorker)  # the training side's inputs, from verl's own code
    worker.processor, worker.tokenizer, worker.mm_processor_kwargs = processor, tokenizer, {}
    inputs = worker._compute_multi_modal_inputs(output, torch.tensor([full]))
    assert inputs["image_grid_thw"].shape[0] == len(shown)
    assert output.extra_fields["sftrl_episode"]["score"] == session.total_reward


def test_a_dataset_mixing_the_agent_loop_and_single_turn_rows(rows):
    """verl's AgentLoopWorker gathers reward_extra_info per key over the batch: every row must give the same keys,
    with or without the reward loop that scores rows as they finish (today's bug: KeyError: 'acc')."""
    pytest.importorskip("verl.experimental.agent_loop.agent_loop")
    import torch
    from omegaconf import OmegaConf
    from test_train_tiny_lm import tiny_tokenizer
    from verl import DataProto
    from verl.experimental.agent_loop.agent_loop import AgentLoopWorker
    from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager
    from verl.utils.dataset.rl_dataset import RLHFDataset
    from verl.utils.rollout_trace import RolloutTraceConfig

    import verl.experimental.agent_loop.single_turn_agent_loop  # noqa: F401  (registers single_turn_agent)

    tokenizer = tiny_tokenizer([r["prompt"][0]["content"] for r in rows] + ["1+1 [Feedback]"])
    verl_glue.EnvAgentLoop  # registers sftrl_env
    items = verl_glue.verl_rows(rows[:2])
    items[1]["agent_name"] = "single_turn_agent"
    right = [expert_reply(r["spec"]) for r in rows[:2]]

    class RewardWorker:
        """verl's reward loop worker handle: ``compute_score.remote(data)`` runs the naive reward manager with the
        suite's reward function."""

        class compute_score:
            @staticmethod
            async def remote(data):
                manager = NaiveRewardManager(OmegaConf.create({}), tokenizer, verl_compute_score)
                return await manager.run_single(data)

    config = OmegaConf.create({"actor_rollout_ref": {"rollout": {
        "prompt_length": 1024, "response_length": 512, "temperature": 1.0, "top_p": 1.0, "top_k": -1,
        "calculate_log_probs": False, "agent": {"default_agent_loop": "single_turn_agent"}}}, "data": {}})
    RolloutTraceConfig.init("sftrl", "test", None, False, None)
    for handles in (None, [RewardWorker()]):
        for order in (items, items[::-1]):
            worker = AgentLoopWorker.__new__(AgentLoopWorker)
            worker.config, worker.rollout_config = config, config.actor_rollout_ref.rollout
            worker.tokenizer, worker.processor, worker.dataset_cls = tokenizer, None, RLHFDataset
            worker.hf_model_type, worker.mm_processor_kwargs, worker.distillation_enabled = "qwen2", {}, False
            worker.tools, worker.teacher_client, worker.reward_loop_worker_handles = [], None, handles
            worker.llm_client = ScriptedServer(
                tokenizer, {0: ["1+1<|im_end|>", right[0] + "<|im_end|>"], 1: [right[1] + "<|im_end|>"]},
                key=lambda prompt: next(i for i, r in enumerate(rows) if r["prompt"][0]["content"] in prompt))
            non_tensors = {}
            for key, column in (("raw_prompt", "prompt"), ("data_source", "data_source"),
                                ("reward_model", "reward_model"), ("extra_info", "extra_info"),
                                ("agent_name", "agent_name")):
                non_tensors[key] = np.empty(len(order), dtype=object)
                non_tensors[key][:] = [dict(item, prompt=list(item["prompt"]))[column] for item in order]
            non_tensors["index"] = np.arange(len(order))
            batch = DataProto.from_dict(tensors={"dummy_tensor": torch.zeros(len(order), 1)}, non_tensors=non_tensors,
                                        meta_info={"global_steps": 1, "validate": False})
            output = asyncio.run(worker.generate_sequences(batch))
            if handles is None:  # scored later, from the rows, by the trainer's reward function
                assert "rm_scores" not in output.batch.keys()
                continue
            assert output.meta_info["reward_extra_keys"] == list(VERL_SCORE_KEYS)
            scores = dict(zip([item["agent_name"] for item in order], output.batch["rm_scores"].sum(-1).tolist()))
            assert scores == {"sftrl_env": -2.0 + 5.0, "single_turn_agent": 5.0}
            assert output.non_tensor_batch["acc"].tolist() == [1.0, 1.0]


# ---- older verl: the interaction -----------------------------------------------------------------------------------


class BaseInteraction:
    """verl 0.6.1's ``verl.interactions.base.BaseInteraction``, verbatim but for its docstrings."""

    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.name: str = config.get("name", "interaction_agent")

    async def start_interaction(self, instance_id: Optional[str] = None, **kwargs) -> str:
        if instance_id is None:
            return str(uuid4())
        else:
            return instance_id

    async def generate_response(self, instance_id: str, messages: list[dict[str, Any]],
                                **kwargs) -> tuple[bool, str, float, dict[str, Any]]:
        should_terminate_sequence: bool = False
        response_content: str = "Your current result seems acceptable."
        current_turn_score: float = 0.8
        additional_data: dict[str, Any] = {}
        return should_terminate_sequence, response_content, current_turn_score, additional_data

    async def calculate_score(self) -> float:
        score = 0.0
        return score

    async def finalize_interaction(self) -> None:
        pass


@pytest.fixture
def interaction_base(monkeypatch):
    """verl's BaseInteraction where the installed verl has it; else verl 0.6.1's, in its module's place."""
    try:
        import verl.interactions.base  # noqa: F401
    except ImportError:
        import sys
        import types

        module = types.ModuleType("verl.interactions.base")
        module.BaseInteraction = BaseInteraction
        monkeypatch.setitem(sys.modules, "verl.interactions.base", module)
    monkeypatch.setattr(verl_glue, "_BUILT", {})


async def interact_like_verl_0_6(interaction, row, replies):
    """What verl 0.6.1's ToolAgentLoop does with an interaction: start it with the row's interaction_kwargs, then per
    assistant turn call generate_response and keep its reward in ``turn_scores``; it never calls calculate_score nor
    finalize_interaction. Returns the decoded response (replies and user turns) and the rollout's extra fields."""
    kwargs = row["extra_info"]["interaction_kwargs"]
    request_id = uuid4().hex
    await interaction.start_interaction(request_id, **kwargs)
    messages, text, turn_scores = list(row["prompt"]), [], []
    for reply in replies:
        messages.append({"role": "assistant", "content": reply})
        text.append(reply)
        terminate, content, reward, _ = await interaction.generate_response(request_id, messages, **kwargs)
        messages.append({"role": "user", "content": content})
        text.append(f"\nuser\n{content}\nassistant\n")
        if reward is not None:
            turn_scores.append(reward)
        if terminate:
            break
    return "".join(text), {"turn_scores": turn_scores, "tool_rewards": []}


def test_interaction_plays_the_episode(rows, interaction_base):
    interaction = verl_glue.SpecInteraction({"name": "sftrl_env"})
    assert interaction.name == "sftrl_env"
    spec = rows[1]["spec"]

    async def run():
        instance = await interaction.start_interaction(None, name="sftrl_env", spec=spec)
        first = await interaction.generate_response(instance, [{"role": "assistant", "content": "1+1"}])
        second = await interaction.generate_response(instance, [{"role": "assistant", "content": expert_reply(spec)}])
        return first, second

    first, second = asyncio.run(run())
    assert first[0] is False and first[1] == advance("1+1", spec).message
    assert second[0] is True and second[2] == 5.0


def test_interaction_rewards_the_episode_return_and_frees_finished_episodes(rows, interaction_base):
    """Under verl 0.6.1 the reward function sees the whole decoded transcript; graded as one reply it scores the
    correct formula in it (5.0) where the episode's return is 3.0 (a retry) or -10.0 (five failures)."""
    interaction = verl_glue.SpecInteraction({"name": "sftrl_env"})
    row = verl_glue.verl_rows(rows)[0]
    spec = row["reward_model"]["ground_truth"]
    right = expert_reply(spec)
    for replies, expected in ((["1+1", right], {"score": 3.0, "acc": 1.0, "step_accuracy": 0.5, "turns": 2.0}),
                              (["1+1"] * 5 + [right], {"score": -10.0, "acc": 0.0, "step_accuracy": 0.0,
                                                       "turns": 5.0})):
        transcript, fields = asyncio.run(interact_like_verl_0_6(interaction, row, replies))
        extra_info = {**row["extra_info"], **fields, "num_turns": 2 * len(replies) + 1, "rollout_reward_scores": {}}
        assert verl_compute_score(row["data_source"], transcript, spec, extra_info) == expected
        assert len(interaction._episodes) == 0  # the finished episode was freed
    # verl 0.6.1's SGLang rollout keeps the interaction's rewards as user_turn_rewards instead.
    sglang = {"rollout_reward_scores": {"user_turn_rewards": [-2.0, 5.0]}}
    assert verl_compute_score(row["data_source"], "1+1 " + right, spec, sglang)["score"] == 3.0


def test_interaction_walks_a_whole_route(interaction_base):
    route = verl_glue.verl_rows(rl_rows("VIRL-RuleOOD-v0", 1, seed=6, whole_routes=True))[0]
    session = scripted_walk(route["extra_info"]["spec"], seed=6)
    interaction = verl_glue.SpecInteraction({"name": "sftrl_env"})
    transcript, fields = asyncio.run(interact_like_verl_0_6(interaction, route, session.replies))
    assert fields["turn_scores"] == session.rewards
    next_turns = [message_text(m) for t in session.turns[:-1] for m in t.next_messages]
    assert all(f"\nuser\n{turn}\nassistant\n" in transcript for turn in next_turns)  # each next prompt, whole
    record = verl_compute_score(route["data_source"], transcript, route["reward_model"]["ground_truth"], fields)
    assert record == {"score": session.total_reward, "acc": float(session.success),
                      "step_accuracy": session.step_accuracy, "turns": float(len(session.turns))}


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
