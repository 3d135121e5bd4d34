"""TRL on image settings with the real installed trl: GRPO on tiny vision-language models built here (Qwen2-VL and
LLaVA, no downloads), single- and multi-turn, on the suite's image rows (GeneralPoints-VL, V-IRL-VL) with its reward
functions; the model must see the pictures when it generates and when the loss is computed."""

from __future__ import annotations

import json

import pytest

trl = pytest.importorskip("trl")  # the trl extra
torch = pytest.importorskip("torch")

from sftrl_train import rewards as rewards_module  # noqa: E402
from sftrl_train import trl as trl_glue  # noqa: E402
from sftrl_train.datasets import rl_rows, to_hf_dataset  # noqa: E402
from sftrl_train.episodes import SpecEpisode  # noqa: E402
from sftrl_train.rewards import play_turns, trl_reward  # noqa: E402
from test_train_tiny_lm import (tiny_llava, tiny_llava_processor, tiny_tokenizer, tiny_vlm,  # noqa: E402
                                tiny_vlm_processor)
from test_train_trl import FakeTrainer, grpo, recording  # noqa: E402

IMAGE_TOKENS = 4  # a picture in either tiny model: Qwen2-VL 4 x 4 patches merged 2 x 2; LLaVA 2 x 2 patches
FAMILIES = {"qwen2-vl": (tiny_vlm_processor, tiny_vlm), "llava": (tiny_llava_processor, tiny_llava)}
CASES = [(family, env_id) for family in FAMILIES for env_id in ("GeneralPoints-VL-v0", "VIRL-VL-v0")]


@pytest.fixture(scope="module")
def image_rows():
    return {"GeneralPoints-VL-v0": rl_rows("GeneralPoints-VL-v0", 8, seed=0, resolution=64),
            "VIRL-VL-v0": rl_rows("VIRL-VL-v0", 1, seed=0, view_size=32)[:8]}


@pytest.fixture(scope="module")
def processors(image_rows):
    corpus = ['{"cards": ["A", "5", "J", "10"], "formula": "(1+2)*3-4"} 0123456789+-*/()',
              '{"action": "turn_left"} forward turn_right stop']
    for rows in image_rows.values():
        for row in rows:
            corpus += [part["text"] for message in row["prompt"] for part in message["content"]
                       if part["type"] == "text"]
            corpus.append(SpecEpisode(row["spec"]).reply("1").message)
    return {family: make(corpus) for family, (make, _) in FAMILIES.items()}


class VisionProbe:
    """Records every call of the model's vision tower: whether gradients were on (the loss's forward pass) or off
    (generation), the pictures or patches it got and, for Qwen2-VL, the patches its ``grid_thw`` describes."""

    def __init__(self, model):
        self.calls = []
        tower = model.model.visual if hasattr(model.model, "visual") else model.model.vision_tower
        tower.register_forward_pre_hook(self, with_kwargs=True)

    def __call__(self, module, args, kwargs):
        pixels = args[0] if args else kwargs.get("pixel_values", kwargs.get("hidden_states"))
        grid = kwargs["grid_thw"] if "grid_thw" in kwargs else (args[1] if len(args) > 1 else None)
        described = int(grid.prod(dim=-1).sum()) if grid is not None else pixels.shape[0]
        self.calls.append((torch.is_grad_enabled(), pixels.shape[0], described))

    def check(self):
        generation = [c for c in self.calls if not c[0]]
        loss = [c for c in self.calls if c[0]]
        assert generation and loss  # pictures reached both generation and the loss's forward pass
        for _, pixels, described in self.calls:
            assert pixels == described > 0
        return generation


@pytest.mark.parametrize("family, env_id", CASES)
def test_grpo_single_turn_on_pictures_scores_with_the_env_grader(tmp_path, processors, image_rows, family, env_id):
    rows, calls, processor = image_rows[env_id], [], processors[family]
    model = FAMILIES[family][1](processor)
    probe = VisionProbe(model)
    trainer = grpo(tmp_path, processor, rows, model=model, reward=recording(trl_reward, calls))
    assert trainer._is_vlm and trainer.state.global_step == 2
    assert len(calls) == 2
    for kwargs, result in calls:
        assert len(result) == len(kwargs["completions"]) == 4
        for completion, spec, reward in zip(kwargs["completions"], kwargs["spec"], result):
            assert reward == rewards_module.grade(completion, spec).reward  # what env.step gives that reply
    probe.check()


def model_turns(ids, mask):
    """The runs of model tokens (mask 1) in a completion: one per reply."""
    runs, current = [], []
    for token, keep in zip(ids, mask):
        if keep:
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    return runs + ([current] if current else [])


@pytest.mark.parametrize("family, env_id", CASES)
def test_grpo_multi_turn_on_pictures_splices_feedback_and_sees_the_picture_every_turn(
        tmp_path, monkeypatch, processors, image_rows, family, env_id):
    rows, calls, rollouts, generate_calls = image_rows[env_id], [], [], []
    processor = processors[family]
    rollout = trl_glue.multi_turn_rollout(rows, max_turn_tokens=8)

    def recorded_rollout(prompts, trainer):
        output = rollout(prompts, trainer)
        rollouts.append((prompts, output))
        return output

    generate = trl_glue._generate

    def recorded_generate(trainer, sequences, max_new_tokens, vision=None):
        generate_calls.append(vision)
        return generate(trainer, sequences, max_new_tokens, vision=vision)

    monkeypatch.setattr(trl_glue, "_generate", recorded_generate)
    model = FAMILIES[family][1](processor)
    probe = VisionProbe(model)
    trainer = grpo(tmp_path, processor, rows, model=model, reward=recording(trl_reward, calls),
                   rollout_func=recorded_rollout, max_completion_length=240)
    assert trainer.state.global_step == 2
    tokenizer = processor.tokenizer
    image_id = model.config.image_token_id
    multi = 0
    for (prompts, output), (kwargs, result) in zip(rollouts, calls):
        for prompt, prompt_ids, ids, mask, replies, spec, reward in zip(
                prompts, output["prompt_ids"], output["completion_ids"], output["env_mask"], output["turn_replies"],
                kwargs["spec"], result):
            # The prompt ids are the processor's own encoding, image tokens expanded for the forward pass's pixels.
            encoded = processor.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True,
                                                    return_dict=True)
            assert prompt_ids == list(encoded["input_ids"][0]) and prompt_ids.count(image_id) == IMAGE_TOKENS
            assert len(ids) == len(mask) <= 240 and image_id not in ids
            assert reward == sum(g.reward for g in play_turns(replies, spec))
            # What was graded is each reply's raw text: the model's own tokens of that turn, decoded.
            assert [tokenizer.decode(run, skip_special_tokens=True) for run in model_turns(ids, mask)] == replies
            if len(replies) > 1:
                multi += 1
                feedback = SpecEpisode(spec).reply(replies[0]).message
                assert "<|im_start|>user\n" + feedback + "<|im_end|>" in tokenizer.decode(ids)  # the next user turn
                model_text = tokenizer.decode([t for t, m in zip(ids, mask) if m], skip_special_tokens=True)
                assert feedback not in model_text  # feedback tokens are masked out of the loss
    assert multi > 0
    # Every turn was generated with the prompts' pictures: one picture per sequence in each generate call.
    assert len(generate_calls) > len(rollouts)
    assert all(v is not None and all("pixel_values" in x.media for x in v) for v in generate_calls)
    generation = probe.check()
    assert len(generation) >= len(generate_calls)


def test_rollout_finds_image_prompts_as_trl_passes_them(image_rows):
    rows = image_rows["GeneralPoints-VL-v0"]
    texts = {json.dumps([p.get("text") for m in row["prompt"] for p in m["content"]]) for row in rows}
    index = trl_glue.SpecIndex(to_hf_dataset(rows))  # pictures decoded back from the dataset
    assert len(texts) == 1 and len(index) == len(rows)  # hands share the prompt text: their pictures tell them apart
    for row in rows:
        filled = trl.data_utils.prepare_multimodal_messages(row["prompt"], images=row["images"])
        assert index.spec(filled) == row["spec"]
    with pytest.raises(ValueError, match="no picture"):
        index.spec(rows[0]["prompt"])  # a placeholder without its picture
    # A tokenizer cannot encode pictures: the rollout says to pass the processor.
    rollout = trl_glue.multi_turn_rollout(rows)
    filled = trl.data_utils.prepare_multimodal_messages(rows[0]["prompt"], images=rows[0]["images"])
    with pytest.raises(ValueError, match="processor"):
        rollout([filled], FakeTrainer(tiny_tokenizer(["a b c"])))
