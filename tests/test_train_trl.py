"""TRL integration with the real installed trl: GRPO on a tiny model built here (no downloads), single- and
multi-turn, with the suite's dataset and reward functions; the multi-turn rollout's splicing and masks."""

from __future__ import annotations

import json

import pytest

trl = pytest.importorskip("trl")  # the trl extra
torch = pytest.importorskip("torch")

from gpoints_env.specs import advance, expert_reply  # noqa: E402
from sftrl_train import rewards as rewards_module  # noqa: E402
from sftrl_train import trl as trl_glue  # noqa: E402
from sftrl_train.chat import turn_suffix  # noqa: E402
from sftrl_train.datasets import rl_rows, to_hf_dataset  # noqa: E402
from sftrl_train.rewards import play_turns, trl_reward, trl_success  # noqa: E402
from test_train_tiny_lm import tiny_model, tiny_tokenizer  # noqa: E402

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
    def __init__(self, tokenizer, budget=400):
        self._tokenizer = tokenizer
        self.max_completion_length = budget
        self.eos_token_ids = [tokenizer.eos_token_id]
        self.chat_template_kwargs = {}


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
