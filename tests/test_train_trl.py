"""TRL integration with the real installed trl: GRPO on a tiny model built here (no downloads), single- and
multi-turn, with the suite's dataset and reward functions; the multi-turn rollout's splicing and masks, on whole
GeneralPoints episodes and whole V-IRL routes, with every chat template the adapters are tested with; why an
episode's rollout ended."""

from __future__ import annotations

import json

import numpy as np
import pytest

trl = pytest.importorskip("trl")  # the trl extra
torch = pytest.importorskip("torch")

from gpoints_env.specs import advance, expert_reply  # noqa: E402
from sftrl_train import rewards as rewards_module  # noqa: E402
from sftrl_train import trl as trl_glue  # noqa: E402
from sftrl_train.chat import turn_suffix  # noqa: E402
from sftrl_train.datasets import rl_rows, to_hf_dataset  # noqa: E402
from sftrl_train.rewards import play_turns, trl_reward, trl_success  # noqa: E402
from sftrl_train import EpisodeSession  # noqa: E402
from test_train_tiny_lm import TEMPLATES, tiny_model, tiny_tokenizer, tiny_vlm_processor  # noqa: E402

@pytest.fixture(scope="module")
def rows():
    return rl_rows("GeneralPoints-v0", 8, seed=0)


@pytest.fixture(scope="module")
def tokenizer(rows):
    corpus = [row["prompt"][0]["content"] for row in rows]
    corpus += [advance("1", row["spec"]).message for row in rows] + ['{"formula": "(1+2)*3-4"} 0123456789+-*/()']
    return tiny_tokenizer(corpus)


def grpo(tmp_path, tokenizer, rows, model=None, **trainer_kwargs):
    """Two GRPO steps on ``rows`` with the suite's rewards; ``tokenizer`` may be a processor (then pass ``model``)."""
    config = trl.GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, num_generations=4, max_steps=2,
                            max_completion_length=trainer_kwargs.pop("max_completion_length", 24), logging_steps=1,
                            report_to="none", use_cpu=True, save_strategy="no", reward_weights=[1.0, 0.0], seed=0,
                            learning_rate=1e-2)
    trainer = trl.GRPOTrainer(model=model if model is not None else tiny_model(tokenizer),
                              reward_funcs=[trainer_kwargs.pop("reward"), trl_success],
                              args=config, train_dataset=to_hf_dataset(rows), processing_class=tokenizer,
                              **trainer_kwargs)
    trainer.train()
    return trainer


def recording(function, calls):
    def wrapper(*args, **kwargs):
        result = function(*args, **kwargs)
        calls.append((kwargs, result))
        return result

    wrapper.__name__ = function.__name__
    return wrapper


def test_grpo_single_turn_scores_with_the_env_grader(tmp_path, tokenizer, rows):
    calls = []
    trainer = grpo(tmp_path, tokenizer, rows, reward=recording(trl_reward, calls))
    assert trainer.state.global_step == 2
    assert len(calls) == 2
    for kwargs, result in calls:
        assert len(result) == len(kwargs["completions"]) == 4
        for completion, spec, reward in zip(kwargs["completions"], kwargs["spec"], result):
            assert reward == rewards_module.grade(completion, spec).reward  # what env.step gives that reply
    logged = [entry for entry in trainer.state.log_history if "sftrl/success" in entry]
    assert logged and all("rewards/trl_success/mean" in entry for entry in logged)


def test_grpo_multi_turn_splices_feedback_and_sums_the_episode(tmp_path, tokenizer, rows):
    calls, rollouts = [], []
    rollout = trl_glue.multi_turn_rollout(rows, max_turn_tokens=8)

    def recorded_rollout(prompts, trainer):
        output = rollout(prompts, trainer)
        rollouts.append(output)
        return output

    trainer = grpo(tmp_path, tokenizer, rows, reward=recording(trl_reward, calls), rollout_func=recorded_rollout,
                   max_completion_length=160)
    assert trainer.state.global_step == 2
    multi = 0
    for output, (kwargs, result) in zip(rollouts, calls):
        for ids, mask, replies, spec, reward in zip(output["completion_ids"], output["env_mask"],
                                                    output["turn_replies"], kwargs["spec"], result):
            assert len(ids) == len(mask) <= 160
            assert reward == sum(g.reward for g in play_turns(replies, spec))
            if len(replies) > 1:
                multi += 1
                text = tokenizer.decode(ids)
                first = advance(replies[0], spec)
                assert first.message in text  # the env's feedback went in as the next user turn
                assert "<|im_start|>user\n[Feedback]" in text
                assert 0 in mask and mask[0] == 1
                model_text = tokenizer.decode([t for t, m in zip(ids, mask) if m], skip_special_tokens=True)
                assert "[Feedback]" not in model_text  # feedback tokens are masked out of the loss
    assert multi > 0


class ScriptedGeneration:
    """Stands in for the model: returns the token ids of scripted replies, one script per prompt."""

    def __init__(self, tokenizer, scripts):
        self.tokenizer, self.scripts, self.turn = tokenizer, scripts, {}

    def __call__(self, trainer, sequences, max_new_tokens, vision=None):
        out = []
        for sequence in sequences:
            key = len(out)
            turn = self.turn.get(key, 0)
            self.turn[key] = turn + 1
            text = self.scripts[key][turn]
            out.append(self.tokenizer.encode(text, add_special_tokens=False)[:max_new_tokens])
        return out


class FakeTrainer:
    def __init__(self, tokenizer, budget=400, processing_class=None):
        self._tokenizer = tokenizer
        self.max_completion_length = budget
        self.eos_token_ids = [tokenizer.eos_token_id]
        self.chat_template_kwargs = {}
        self.processing_class = processing_class or tokenizer
        self.metrics = []

    def _log_metric(self, name, value):  # GRPOTrainer's metric logger (reward functions get it as log_metric)
        self.metrics.append((name, value))


def test_rollout_stops_on_a_correct_reply_and_masks_feedback(monkeypatch, rows, tokenizer):
    spec = rows[0]["spec"]
    right = expert_reply(spec)
    scripts = {0: ["1+1<|im_end|>", right + "<|im_end|>"], 1: [right + "<|im_end|>"]}
    monkeypatch.setattr(trl_glue, "_generate", ScriptedGeneration(tokenizer, scripts))
    rollout = trl_glue.multi_turn_rollout(rows)
    output = rollout([rows[0]["prompt"], rows[0]["prompt"]], FakeTrainer(tokenizer))
    assert output["turn_replies"] == [["1+1", right], [right]]
    first = advance("1+1", spec)
    expected = "1+1<|im_end|>" + turn_suffix(tokenizer, first.message, "<|im_end|>") + right + "<|im_end|>"
    assert tokenizer.decode(output["completion_ids"][0]) == expected
    # The whole sequence is exactly the chat template's rendering of the conversation the env would hold.
    conversation = rows[0]["prompt"] + [{"role": "assistant", "content": "1+1"},
                                        {"role": "user", "content": first.message},
                                        {"role": "assistant", "content": right}]
    rendered = tokenizer.apply_chat_template(conversation, tokenize=False)
    assert tokenizer.decode(output["prompt_ids"][0] + output["completion_ids"][0]) == rendered.rstrip("\n")
    mask = output["env_mask"][0]
    feedback = [t for t, m in zip(output["completion_ids"][0], mask) if not m]
    assert first.message in tokenizer.decode(feedback)
    assert first.grade.verdict == "wrong_numbers"  # -2 then +5: a retry success returns 3
    assert trl_reward(None, ["", ""], [spec, spec], turn_replies=output["turn_replies"]) == [3.0, 5.0]
    assert trl_success(None, ["", ""], [spec, spec], turn_replies=output["turn_replies"]) == [1.0, 1.0]


def test_rollout_respects_max_turns_and_budget(monkeypatch, rows, tokenizer):
    scripts = {0: ["1+1<|im_end|>"] * 5}
    monkeypatch.setattr(trl_glue, "_generate", ScriptedGeneration(tokenizer, scripts))
    output = trl_glue.multi_turn_rollout(rows, max_turns=2)([rows[1]["prompt"]], FakeTrainer(tokenizer))
    assert len(output["turn_replies"][0]) == 2
    monkeypatch.setattr(trl_glue, "_generate", ScriptedGeneration(tokenizer, scripts))
    output = trl_glue.multi_turn_rollout(rows)([rows[1]["prompt"]], FakeTrainer(tokenizer, budget=30))
    assert len(output["turn_replies"][0]) == 1 and len(output["completion_ids"][0]) <= 30  # no room for feedback


def test_rollout_refuses_unknown_prompts_and_conflicts(rows):
    rollout = trl_glue.multi_turn_rollout(rows)
    with pytest.raises(KeyError, match="same rows"):
        rollout([[{"role": "user", "content": "hello"}]], FakeTrainer(tiny_tokenizer(["a b c"])))
    other = dict(rows[0], spec=rows[1]["spec"])
    with pytest.raises(ValueError, match="same prompt"):
        trl_glue.multi_turn_rollout([rows[0], other])
    same_hand = dict(rows[0], spec=json.dumps({**json.loads(rows[0]["spec"]), "suits": ["hearts"] * 4}))
    assert len(trl_glue.SpecIndex([rows[0], same_hand])) == 1  # suits do not change grading: no conflict


def test_rollout_says_why_an_episode_ended_before_the_game_did(monkeypatch, rows, tokenizer):
    """An episode whose next turn does not fit max_completion_length stops there: the rollout says so, per episode
    (``episode_end``) and as logged metrics, instead of ending it silently."""
    spec = rows[1]["spec"]
    reply = "1+1<|im_end|>"
    suffix = tokenizer.encode(turn_suffix(tokenizer, advance("1+1", spec).message, "<|im_end|>"),
                              add_special_tokens=False)
    budget = len(tokenizer.encode(reply, add_special_tokens=False)) + len(suffix)  # the reply fits, its feedback not
    scripts = {0: [reply] * 5, 1: [reply] * 5, 2: [expert_reply(spec) + "<|im_end|>"]}
    monkeypatch.setattr(trl_glue, "_generate", ScriptedGeneration(tokenizer, scripts))
    trainer = FakeTrainer(tokenizer, budget=budget)
    output = trl_glue.multi_turn_rollout(rows, max_turns=3)([rows[1]["prompt"]] * 3, trainer)
    assert output["episode_end"] == ["no_room", "no_room", "done"]
    assert output["turn_rewards"] == [[-2.0], [-2.0], [5.0]]
    assert dict(trainer.metrics) == {"sftrl/ended_early": 2 / 3, "sftrl/ended_max_turns": 0.0,
                                     "sftrl/ended_no_room": 2 / 3}
    monkeypatch.setattr(trl_glue, "_generate", ScriptedGeneration(tokenizer, {0: [reply] * 5}))
    trainer = FakeTrainer(tokenizer)
    output = trl_glue.multi_turn_rollout(rows, max_turns=2)([rows[1]["prompt"]], trainer)
    assert output["episode_end"] == ["max_turns"] and dict(trainer.metrics)["sftrl/ended_max_turns"] == 1.0


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_rollout_closes_a_reply_cut_by_the_length_limit(monkeypatch, rows, name):
    template, eos = TEMPLATES[name]
    corpus = [row["prompt"][0]["content"] for row in rows] + [advance("1", row["spec"]).message for row in rows]
    tokenizer = tiny_tokenizer(corpus + ['{"formula": "(1+2)*3-4"} 0123456789+-*/()'], template, eos)
    spec = rows[0]["spec"]
    right = expert_reply(spec)
    limit = len(tokenizer.encode(right + eos, add_special_tokens=False))  # the right reply fits...
    cut = "1+" * limit + "1"  # ...this one is cut by the length limit
    monkeypatch.setattr(trl_glue, "_generate", ScriptedGeneration(tokenizer, {0: [cut, right + eos]}))
    output = trl_glue.multi_turn_rollout(rows, max_turn_tokens=limit)([rows[0]["prompt"]], FakeTrainer(
        tokenizer, budget=10_000))
    first_reply = output["turn_replies"][0][0]
    assert cut.startswith(first_reply) and first_reply != cut
    conversation = rows[0]["prompt"] + [{"role": "assistant", "content": first_reply},
                                        {"role": "user", "content": advance(first_reply, spec).message},
                                        {"role": "assistant", "content": right}]
    rendered = tokenizer.apply_chat_template(conversation, tokenize=False)
    full = tokenizer.decode(output["prompt_ids"][0] + output["completion_ids"][0])
    assert full == rendered[:rendered.rindex(right) + len(right) + len(eos)]


def scripted_walk(spec, seed, expert_share=0.7):
    rng = np.random.default_rng(seed)
    session = EpisodeSession(spec)
    while not session.done:
        session.reply(session.expert_reply() if rng.random() < expert_share else "stop()")
    return session


def test_rollout_walks_whole_routes(monkeypatch):
    route_rows = rl_rows("VIRL-RuleOOD-v0", 2, seed=8, whole_routes=True)
    tokenizer = tiny_tokenizer([m["content"] for r in route_rows for m in r["prompt"]]
                               + ['{"action": "forward()"} turn_direction stop'])
    sessions = [scripted_walk(row["spec"], seed=n) for n, row in enumerate(route_rows)]
    scripts = {n: [r + "<|im_end|>" for r in s.replies] for n, s in enumerate(sessions)}
    monkeypatch.setattr(trl_glue, "_generate", ScriptedGeneration(tokenizer, scripts))
    trainer = FakeTrainer(tokenizer, budget=200_000)
    output = trl_glue.multi_turn_rollout(route_rows)([row["prompt"] for row in route_rows], trainer)
    assert output["episode_end"] == ["done", "done"]
    for n, (row, session) in enumerate(zip(route_rows, sessions)):
        assert output["turn_replies"][n] == session.replies and output["turn_rewards"][n] == session.rewards
        # One sequence: the route's first prompt, each reply, and each next prompt whole (the model's own replies
        # between them), exactly as the chat template renders the session's transcript.
        full = tokenizer.decode(output["prompt_ids"][n] + output["completion_ids"][n])
        assert full == tokenizer.apply_chat_template(session.transcript[:-1], tokenize=False).rstrip("\n")
        ids, mask = output["completion_ids"][n], output["env_mask"][n]
        model_text = tokenizer.decode([t for t, m in zip(ids, mask) if m])
        assert model_text == "".join(r + "<|im_end|>" for r in session.replies)
    logged = []
    returns = trl_reward(None, [""] * 2, [r["spec"] for r in route_rows], turn_replies=output["turn_replies"],
                         log_metric=lambda name, value: logged.append((name, value)))
    assert returns == [s.total_reward for s in sessions]
    assert dict(logged)["sftrl/success"] == sum(s.success for s in sessions) / 2
    assert dict(logged)["sftrl/step_accuracy"] == pytest.approx(sum(s.step_accuracy for s in sessions) / 2)


def test_rollout_refuses_to_put_a_new_points_views_in_the_completion(monkeypatch):
    route_rows = rl_rows("VIRL-VL-v0", 1, seed=0, whole_routes=True, view_size=32)
    processor = tiny_vlm_processor([p["text"] for m in route_rows[0]["prompt"] for p in m["content"]
                                    if p["type"] == "text"] + ['{"action": "forward()"} stop'])
    tokenizer = processor.tokenizer
    session = EpisodeSession(route_rows[0]["spec"])
    script = [session.expert_reply() + "<|im_end|>"]
    monkeypatch.setattr(trl_glue, "_generate", ScriptedGeneration(tokenizer, {0: script}))
    prompt = trl.data_utils.prepare_multimodal_messages(route_rows[0]["prompt"], images=route_rows[0]["images"])
    with pytest.raises(NotImplementedError, match="verl or OpenRLHF"):
        trl_glue.multi_turn_rollout(route_rows)([prompt], FakeTrainer(tokenizer, budget=100_000,
                                                                      processing_class=processor))
