"""TRL's own multi-turn loop, ``GRPOTrainer(environment_factory=...)``, on whole episodes: the environment plays
every game and mode (GeneralPoints text and image, whole V-IRL routes text and image, both protocols) exactly as the
live env does, turn by turn (texts, pictures, rewards, end, return); its tool's schema is what transformers and the
chat template read; and real GRPO steps of the installed trl run its tool loop on tiny models built here (no
downloads), a scripted policy standing in for the model's sampling."""

from __future__ import annotations

import doctest
import inspect
import json

import gymnasium as gym
import numpy as np
import pytest

trl = pytest.importorskip("trl")  # the trl extra
torch = pytest.importorskip("torch")

import gpoints_env  # noqa: E402,F401  (registers the ids)
import virl_env  # noqa: E402,F401
from sftrl_train import trl as trl_glue  # noqa: E402
from sftrl_train.datasets import rl_rows, to_hf_dataset  # noqa: E402
from sftrl_train.trl import (EPISODE_OVER, TOOL_INSTRUCTION, EpisodeEnvironment, episode_environment,  # noqa: E402
                             episode_step_accuracy, episode_success)
from test_train_tiny_lm import TINY_VL_PIXELS, tiny_model, tiny_tokenizer, tiny_vlm, tiny_vlm_processor  # noqa: E402

#: Every game and mode, with small pictures.
SETTINGS = {"GeneralPoints-v0": {}, "GeneralPoints-VL-v0": {"resolution": 64}, "VIRL-v0": {},
            "VIRL-VL-v0": {"view_size": 32}}
WRONG = {"GeneralPoints": '{"formula": "1+2"}', "VIRL": '{"action": "stop()"}'}
PATCHES, IMAGE_TOKENS = 16, 4  # a picture in the tiny Qwen2-VL: 4 x 4 patches of 14 px, merged 2 x 2


def rows_of(env_id, num, seed=0, protocol="suite"):
    return rl_rows(env_id, num, seed=seed, whole_routes=True, protocol=protocol, **SETTINGS[env_id])


def live_env(env_id, protocol="suite"):
    return gym.make(env_id, protocol=protocol, **SETTINGS[env_id])


def env_says(obs, info, terminated, truncated):
    """What the live env shows after a reply, read off its own outputs: the text of the next user turn and its
    picture (``None`` on a retry, whose feedback is text)."""
    if terminated or truncated:
        return (f"{info['feedback']}\n\n{EPISODE_OVER}" if info["feedback"] else EPISODE_OVER), None
    messages = info["messages"]
    if len(messages) >= 3 and messages[-2]["role"] == "assistant":  # a retry: the env's feedback turn
        return messages[-1]["content"], None
    if isinstance(obs, dict):  # a route moved on: the next point's whole prompt, with its street views
        return obs["text"], obs["image"]
    return obs, None


def result_parts(result):
    """A tool result's text and picture: a string, or content blocks with at most one picture, first."""
    if isinstance(result, str):
        return result, None
    assert [block["type"] for block in result] == ["image", "text"]
    return result[1]["text"], np.asarray(result[0]["image"])


def assert_same_view(result, expected):
    text, picture = result_parts(result)
    assert text == expected[0]
    if expected[1] is None:
        assert picture is None
    else:
        assert picture is not None and np.array_equal(picture, expected[1])


def scripted_replies(env_id, live, rng):
    """A reply mix: the expert's, a wrong one, garbage, an empty one, or the expert's as a JSON object (as a tool-call
    parser reads a JSON answer); the live env gets its JSON text."""
    expert = live.unwrapped.expert_reply()
    kind = rng.choice(["expert", "expert", "wrong", "garbage", "empty", "object"])
    if kind == "object":
        try:
            value = json.loads(expert)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value, json.dumps(value, ensure_ascii=False)
        kind = "expert"
    text = {"expert": expert, "wrong": WRONG[env_id.split("-")[0]], "garbage": "hello", "empty": ""}[kind]
    return text, text


# ---- the environment against the live env ---------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["suite", "paper"])
@pytest.mark.parametrize("env_id", sorted(SETTINGS))
def test_the_environment_plays_as_the_live_env_turn_by_turn(env_id, protocol):
    rows = rows_of(env_id, 6, seed=5, protocol=protocol)
    live = live_env(env_id, protocol)
    rng = np.random.default_rng(len(env_id))
    seen = set()  # which kinds of tool results the episodes showed
    environment = episode_environment()()  # one instance, reused across episodes as TRL reuses its pool
    for row in rows:
        obs, info = live.reset(seed=row["seed"])
        assert environment.reset(**row) == TOOL_INSTRUCTION
        assert environment.session.text == (obs["text"] if isinstance(obs, dict) else obs)
        if isinstance(obs, dict):  # the first picture: the row's, which TRL puts in the prompt
            assert np.array_equal(np.asarray(row["images"][0]), obs["image"])
            assert np.array_equal(environment.session.image, obs["image"])
        rewards, done = [], False
        while not done:
            reply, text = scripted_replies(env_id, live, rng)
            result = environment.reply(reply)
            obs, reward, terminated, truncated, info = live.step(text)
            done = terminated or truncated
            rewards.append(reward)
            assert environment.session.rewards == rewards
            assert_same_view(result, env_says(obs, info, terminated, truncated))
            seen.add("end" if done else "retry" if info["messages"][-2:-1] and info["messages"][-2]["role"] ==
                     "assistant" else "next point")
        assert environment.session.done and environment.tool_calls == len(rewards)
        assert environment.reply("one more") == EPISODE_OVER  # calls after the end are answered, not graded
        assert environment.get_reward() == sum(rewards) and environment.missing == 0
        assert not environment.unfinished
        assert environment.success == bool(info["is_success"])
        assert environment.step_accuracy == environment.session.step_accuracy
        assert environment.tool_calls == len(rewards) + 1
    assert seen == ({"retry", "next point", "end"} if env_id.startswith("VIRL") else {"retry", "end"})


@pytest.mark.parametrize("env_id", sorted(SETTINGS))
def test_a_whole_route_shows_each_new_points_prompt_and_picture(env_id):
    """The expert's walk: on a V-IRL route every point after the first comes back as a tool result, with its street
    views in image mode; a GeneralPoints hand ends at once."""
    row = rows_of(env_id, 1, seed=3)[0]
    live = live_env(env_id)
    live.reset(seed=row["seed"])
    environment = EpisodeEnvironment()
    environment.reset(**row)
    pictures = 0
    while not environment.session.done:
        result = environment.reply(live.unwrapped.expert_reply())
        obs, _, terminated, truncated, info = live.step(environment.session.replies[-1])
        assert_same_view(result, env_says(obs, info, terminated, truncated))
        pictures += not isinstance(result, str)
    routes = env_id.startswith("VIRL")
    assert len(environment.session.turns) == (len(json.loads(row["spec"])["rail"]) if routes else 1)
    assert pictures == (len(row["point_images"]) - 1 if env_id == "VIRL-VL-v0" else 0)
    assert environment.success and environment.step_accuracy == 1.0


@pytest.mark.parametrize("env_id", ["GeneralPoints-v0", "VIRL-VL-v0"])
def test_an_unfinished_episode_is_scored_as_missing_replies_say(env_id):
    """No tool call at all, or a model that stops: by default each missing reply is graded as an empty reply until
    the env ends the episode (the live env's return for those replies); ``"unplayed"`` scores the replies given."""
    row = rows_of(env_id, 1, seed=2)[0]
    wrong = WRONG[env_id.split("-")[0]]
    for given in ([], [wrong]):
        live = live_env(env_id)
        live.reset(seed=row["seed"])
        rewards, replies, done = [], list(given), False
        while not done:
            _, reward, terminated, truncated, _ = live.step(replies.pop(0) if replies else "")
            rewards, done = rewards + [reward], terminated or truncated
        expected = sum(rewards)
        environment = EpisodeEnvironment()
        environment.reset(**row)
        for reply in given:
            environment.reply(reply)
        assert environment.get_reward() == expected < 0
        assert environment.unfinished and environment.missing == len(environment.session.turns) - len(given) > 0
        assert environment.reply("too late") == EPISODE_OVER  # once scored, the episode is over
        assert environment.get_reward() == expected  # scored once
        unplayed = EpisodeEnvironment(missing_replies="unplayed")
        unplayed.reset(**row)
        for reply in given:
            unplayed.reply(reply)
        assert unplayed.get_reward() == sum(rewards[:len(given)])  # 0.0 without a tool call
        assert unplayed.unfinished and unplayed.missing == 0
        assert unplayed.step_accuracy == (0.0 if given else None)


def test_the_reward_functions_give_success_and_step_accuracy_and_log_how_episodes_ended():
    rows = rows_of("GeneralPoints-v0", 3, seed=0)
    environments = [EpisodeEnvironment() for _ in rows]
    for environment, row in zip(environments, rows):
        environment.reset(**row)
    environments[0].reply(environments[0].session.expert_reply())  # solved at once
    environments[1].reply('{"formula": "1+2"}')  # one wrong answer, then the model stopped
    logged = []
    other = object()  # a rollout of another environment class
    success = episode_success(completions=[""] * 4, environments=environments + [other],
                              log_metric=lambda name, value: logged.append((name, value)))
    assert success == [1.0, 0.0, 0.0, None]
    accuracy = episode_step_accuracy(completions=[""] * 4, environments=environments + [other])
    assert accuracy == [1.0, 0.0, 0.0, None]  # the missing replies are graded, so they count as wrong steps
    assert dict(logged) == {"sftrl/ended_early": 2 / 3, "sftrl/no_tool_call": 1 / 3}
    assert [e.get_reward() for e in environments] == [5.0, -2.0 - 4 * 3.0, -5 * 3.0]
    with pytest.raises(ValueError, match="environment_factory"):
        episode_success(completions=[""])


def test_the_environment_checks_its_options_and_rows():
    with pytest.raises(ValueError, match="missing_replies"):
        episode_environment(missing_replies="zero")
    with pytest.raises(TypeError, match="instruction"):
        EpisodeEnvironment(instruction=3)
    environment = episode_environment(instruction=None)()
    with pytest.raises(RuntimeError, match="reset"):
        environment.reply("1+2")
    with pytest.raises(RuntimeError, match="reset"):
        environment.get_reward()
    row = rows_of("GeneralPoints-v0", 1)[0]
    assert environment.reset(**row) is None  # the prompt stays exactly the env's
    with pytest.raises(ValueError, match="'spec'"):
        environment.reset(prompt=row["prompt"])
    for env_id in ("GeneralPoints-VL-v0", "VIRL-VL-v0"):
        image_row = rows_of(env_id, 1)[0]
        bare = {key: value for key, value in image_row.items() if key not in ("images", "point_images")}
        with pytest.raises(ValueError, match="pictures"):
            environment.reset(**bare)
    # A reused instance starts each episode afresh.
    environment.reset(**row)
    environment.reply("1+2")
    environment.get_reward()
    environment.reset(**row)
    assert (environment.tool_calls, environment.missing, environment.unfinished) == (0, 0, False)
    assert environment.session.turns == []


def test_the_docstring_example_runs():
    result = doctest.testmod(trl_glue, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


# ---- what TRL and transformers read ---------------------------------------------------------------------------


def test_the_one_tool_has_a_schema_transformers_and_the_chat_template_read():
    get_json_schema = pytest.importorskip("transformers.utils").get_json_schema
    # What TRL offers the model as tools: the public functions of the class other than reset and get_reward.
    tools = [name for name, _ in inspect.getmembers(EpisodeEnvironment, predicate=inspect.isfunction)
             if not name.startswith("_") and name not in ("reset", "get_reward")]
    assert tools == ["reply"]
    schema = get_json_schema(EpisodeEnvironment().reply)
    function = schema["function"]
    assert function["name"] == "reply" and "answer" in function["description"]
    assert function["parameters"]["properties"]["text"]["type"] == "string"
    assert function["parameters"]["required"] == ["text"]
    assert "\n" not in function["return"]["description"]
    tokenizer = tiny_tokenizer(["hello"], trl.chat_template_utils.qwen2_5_chat_template)
    assert trl.chat_template_utils.supports_tool_calling(tokenizer)
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": "Make 24." + TOOL_INSTRUCTION}],
                                             tools=[EpisodeEnvironment().reply], tokenize=False)
    assert json.dumps(schema, ensure_ascii=False) in rendered and "`reply` tool" in rendered


# ---- real GRPO steps through TRL's tool loop --------------------------------------------------------------------


def tool_call(text):
    return "<tool_call>\n" + json.dumps({"name": "reply", "arguments": {"text": text}}) + "\n</tool_call><|im_end|>"


def policy(kind, environment, turn):
    """One rollout's next assistant turn (``kind`` by its index in the batch): 0 the expert, then one call after the
    end; 1 a wrong answer, then the expert; 2 the expert's answer as plain text, no tool call; 3 a wrong answer, then
    it stops."""
    session = environment.session
    game = "GeneralPoints" if session.game == "GeneralPoints" else "VIRL"
    if kind == 2:
        return session.expert_reply() + "<|im_end|>"
    if kind == 3:
        return tool_call(WRONG[game]) if turn == 0 else "I give up.<|im_end|>"
    if session.done:
        return tool_call("again") if kind == 0 and environment.tool_calls == len(session.turns) else "Thanks.<|im_end|>"
    return tool_call(WRONG[game] if kind == 1 and turn == 0 else session.expert_reply())


class ScriptedToolModel:
    """Stands in for the model's ``generate`` inside TRL's own loop: each rollout's next turn comes from
    :func:`policy`, which reads that rollout's environment. Which rollouts a call holds follows TRL's tool loop (all
    of them first, then those whose last turn called the tool) and is checked: each sequence holds as many tool
    responses as its environment took calls, and, with pictures, as many image tokens as its pictures make (checked
    by running the real model on the very inputs ``generate`` got)."""

    def __init__(self, trainer, tokenizer):
        self.trainer, self.tokenizer = trainer, tokenizer
        self.model = trainer.model
        self.active, self.turns, self.calls = [], [], []

    def __call__(self, input_ids, attention_mask=None, generation_config=None, **inputs):
        environments = self.trainer.environments
        if all(e.tool_calls == 0 for e in environments):  # a new batch: every rollout
            self.active, self.turns = list(range(len(environments))), [0] * len(environments)
            self.last = {}
        else:
            self.active = [i for i in self.active if self.last[i].startswith("<tool_call>")]
        assert len(self.active) == input_ids.shape[0]
        if "pixel_values" in inputs:  # the real model takes these inputs: image tokens and pictures agree
            with torch.no_grad():
                self.model.forward(input_ids=input_ids, attention_mask=attention_mask, **inputs)
        self.calls.append([self.tokenizer.decode(row[mask.bool()]) for row, mask in zip(input_ids, attention_mask)])
        outputs = []
        for i, text in zip(self.active, self.calls[-1]):
            environment = environments[i]
            assert text.count("<tool_response>") == environment.tool_calls
            if environment.session.image_mode:
                shown = 1 + sum(isinstance(m["content"], list) and any(p["type"] == "image" for p in m["content"])
                                for turn in environment.session.turns for m in turn.next_messages)
                assert text.count("<|image_pad|>") == IMAGE_TOKENS * shown
            self.last[i] = policy(i % 4, environment, self.turns[i])
            self.turns[i] += 1
            outputs.append(self.tokenizer.encode(self.last[i], add_special_tokens=False))
        width = max(map(len, outputs))
        pad = self.tokenizer.pad_token_id
        return torch.cat([input_ids, torch.tensor([o + [pad] * (width - len(o)) for o in outputs])], dim=1)


def recorder(log):
    """A zero-weight reward function that keeps what TRL passes: the rollouts' messages, their rows' seeds, and the
    replies each environment got through the tool (before the missing ones are graded)."""

    def record_rollouts(completions, environments, seed, **kwargs):
        log.extend((s, c, list(e.session.replies), e.tool_calls) for s, c, e in zip(seed, completions, environments))
        return [0.0] * len(completions)

    return record_rollouts


def expected_rollout(env_id, seed, completion, given):
    """Replay a rollout's tool calls in the live env: each tool message must be what the env showed, and the return
    is the live env's for those replies, then empty ones until it ends."""
    live = live_env(env_id)
    live.reset(seed=seed)
    calls = [call["function"]["arguments"]["text"] for message in completion if message["role"] == "assistant"
             for call in message.get("tool_calls") or ()]
    results = [message["content"] for message in completion if message["role"] == "tool"]
    assert given == calls[:len(given)]  # the env got the model's tool-call arguments, in order
    total, done, replies = 0.0, False, 0
    for text, result in zip(calls, results):
        if done:
            assert result == EPISODE_OVER
            continue
        obs, reward, terminated, truncated, info = live.step(text)
        total, done, replies = total + reward, terminated or truncated, replies + 1
        assert_same_view(result, env_says(obs, info, terminated, truncated))
    assert replies == len(given)
    missing = 0
    while not done:
        _, reward, terminated, truncated, _ = live.step("")
        total, done, missing = total + reward, terminated or truncated, missing + 1
    return total, missing, len(results)


def tool_vlm_processor(corpus):
    """The tiny Qwen2-VL processor with Qwen3-VL's chat template (the same picture placeholder, and tool calling),
    its pictures given as torch tensors, as Qwen2-VL's torchvision image processor (transformers' choice where
    torchvision is installed) gives them. TRL 1.16's environment loop splits them with torch: the NumPy arrays of the
    PIL image processor (the one this venv has) fail there when a tool result carries no picture."""
    from transformers import BatchFeature
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    class TorchImages(Qwen2VLImageProcessorPil):
        def __call__(self, *args, **kwargs):
            return BatchFeature({key: torch.as_tensor(np.asarray(value))
                                 for key, value in super().__call__(*args, **kwargs).items()})

    processor = tiny_vlm_processor(corpus)
    processor.image_processor = TorchImages(min_pixels=TINY_VL_PIXELS, max_pixels=TINY_VL_PIXELS)
    processor.chat_template = trl.chat_template_utils.qwen3_vl_chat_template
    return processor


def tiny_trainer(tmp_path, env_id, rows, reward_log, iterations):
    corpus = ['{"formula": "(1+2)*3-4"} 0123456789+-*/() "action": "forward()" stop turn_direction',
              tool_call('{"formula": "1+2"}'), "<tool_response>\n</tool_response>", TOOL_INSTRUCTION, EPISODE_OVER]
    for row in rows:
        corpus += [part["text"] if isinstance(part, dict) else part for message in row["prompt"]
                   for part in (message["content"] if isinstance(message["content"], list) else [message["content"]])
                   if not isinstance(part, dict) or part["type"] == "text"]
    if "VL" in env_id:
        processing = tool_vlm_processor(corpus)
        model, tokenizer = tiny_vlm(processing), processing.tokenizer
    else:
        processing = tiny_tokenizer(corpus, trl.chat_template_utils.qwen2_5_chat_template, padding_side="left")
        model, tokenizer = tiny_model(processing), processing
    config = trl.GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, num_generations=2, max_steps=1,
                            max_completion_length=12_000, logging_steps=1, report_to="none", use_cpu=True,
                            save_strategy="no", reward_weights=[0.0, 0.0, 0.0], seed=0, learning_rate=1e-2,
                            max_tool_calling_iterations=iterations)
    trainer = trl.GRPOTrainer(model=model, args=config, train_dataset=to_hf_dataset(rows), processing_class=processing,
                              reward_funcs=[recorder(reward_log), episode_success, episode_step_accuracy],
                              environment_factory=episode_environment())
    return trainer, tokenizer


@pytest.mark.filterwarnings("ignore:You are using 'environment_factory'")
@pytest.mark.parametrize("env_id", sorted(SETTINGS))
def test_grpo_plays_whole_episodes_through_trls_tool_loop(tmp_path, env_id):
    """One GRPO step of the installed trl with ``environment_factory``: TRL renders the tool, parses the tool calls,
    calls the environment, splices its results (pictures included) into the sequence, scores with ``get_reward``
    and the zero-weight success and step-accuracy columns, and runs the loss's forward pass with every picture."""
    routes = env_id.startswith("VIRL")
    rows = rows_of(env_id, 2, seed=1)
    log = []
    trainer, tokenizer = tiny_trainer(tmp_path, env_id, rows, log, iterations=2 if routes else 3)
    scripted = ScriptedToolModel(trainer, tokenizer)
    trainer.model.generate = scripted
    probe = []
    if "VL" in env_id:
        trainer.model.model.visual.register_forward_pre_hook(
            lambda module, args, kwargs: probe.append((torch.is_grad_enabled(), (args or [kwargs["hidden_states"]])[0]
                                                       .shape[0])), with_kwargs=True)
    trainer.train()
    assert trainer.state.global_step == 1 and len(log) == 4
    for row, text in zip([r for r in rows for _ in range(2)], scripted.calls[0]):  # the env's prompt, the instruction
        prompt = row["prompt"][0]["content"]  # and the tool's schema
        prompt = prompt if isinstance(prompt, str) else prompt[-1]["text"]
        assert prompt + TOOL_INSTRUCTION in text and '{"type": "function", "function": {"name": "reply"' in text
    returns, pictures = [], 0
    for (seed, completion, given, calls), environment in zip(log, trainer.environments):
        total, missing, results = expected_rollout(env_id, seed, completion, given)
        assert calls == results and environment.get_reward() == total and environment.missing == missing
        returns.append(total)
        pictures += 1 + sum(not isinstance(m["content"], str) for m in completion if m["role"] == "tool")
    kinds = [(len(given), environment.unfinished) for (_, _, given, _), environment in zip(log, trainer.environments)]
    assert kinds[2] == (0, True) and kinds[3] == (1, True)  # plain text is no answer; a model that stops
    if not routes:
        assert kinds[0] == (1, False) and kinds[1] == (2, False)
    metrics = trainer.state.log_history[0]
    assert metrics["rewards/EpisodeEnvironment/mean"] == pytest.approx(np.mean(returns))
    assert metrics["rewards/episode_success/mean"] == pytest.approx(np.mean([e.success for e in trainer.environments]))
    assert metrics["sftrl/no_tool_call"] == 0.25
    if "VL" in env_id:  # the loss's forward pass saw every picture: the prompts' and the tool results'
        loss = [patches for grad, patches in probe if grad]
        assert loss == [PATCHES * pictures]
        if routes:
            assert pictures > len(log)
