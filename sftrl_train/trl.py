"""TRL glue: the env's attempts and feedback as a multi-turn GRPO rollout (``GRPOTrainer(rollout_func=...)``).

Single-turn GRPO needs nothing from this module: pass :func:`sftrl_train.rewards.trl_reward` as ``reward_funcs`` and
a dataset from :mod:`sftrl_train.datasets`. Multi-turn GRPO lets the model retry with the env's feedback, as
``env.step`` does: TRL's ``rollout_func`` does the generation loop. :func:`multi_turn_rollout` builds one:

.. code-block:: python

    rows = rl_rows("GeneralPoints-v0", 1000)
    trainer = GRPOTrainer(model, reward_funcs=[trl_reward, trl_success], train_dataset=to_hf_dataset(rows),
                          args=GRPOConfig(reward_weights=[1.0, 0.0], ...), rollout_func=multi_turn_rollout(rows))

For each prompt it generates a reply, grades the raw reply from the row's spec, and while the episode goes on
appends the env's ``[Feedback]`` message as a user turn spliced with the tokenizer's own chat template
(:mod:`sftrl_train.chat`), then generates again, until a correct reply, the last attempt, ``max_turns`` or the
completion-length budget. Feedback tokens are masked out of the loss (``env_mask``); the raw replies go to the reward
functions as ``turn_replies``, so :func:`~sftrl_train.rewards.trl_reward` returns the episode's return and
:func:`~sftrl_train.rewards.trl_success` its success.

TRL hands ``rollout_func`` the prompts, not the rows, so the rollout finds each prompt's spec in the rows it was
built from (prompts that render the same text and grade the same share one entry). Text prompts only: for image
settings use single-turn GRPO. Generation uses the trainer's model through ``transformers``; vLLM is not supported
here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._games import specs_module
from .chat import turn_suffix
from .datasets import require
from .episodes import SpecEpisode

__all__ = ["multi_turn_rollout", "SpecIndex"]


def _prompt_key(prompt: Any) -> str:
    if isinstance(prompt, str):
        return json.dumps(prompt)
    messages = []
    for message in prompt:
        content = message.get("content")
        if not isinstance(content, str):
            raise ValueError("multi_turn_rollout supports text prompts only (message content given as a string); "
                             "for image settings use single-turn GRPO with trl_reward")
        messages.append([message.get("role"), content])
    return json.dumps(messages, ensure_ascii=False)


def _grading_view(spec: str) -> str:
    """The spec without fields that do not change grading, to tell true conflicts from harmless duplicates."""
    module = specs_module(spec)
    ignored = getattr(module, "PRESENTATION_FIELDS", ())
    data = json.loads(spec)
    return json.dumps({k: v for k, v in data.items() if k not in ignored}, sort_keys=True)


class SpecIndex:
    """Finds the spec of a prompt, from dataset rows with ``prompt`` and ``spec`` columns.

    Raises:
        ValueError: two rows render the same prompt but grade differently (drop one of them), or a row has no
            ``spec``.
    """

    def __init__(self, rows: Iterable[Mapping[str, Any]]):
        self._specs: dict[str, str] = {}
        for number, row in enumerate(rows):
            if "spec" not in row or "prompt" not in row:
                raise ValueError(f"row {number} lacks a 'prompt' or 'spec' column (use sftrl_train.datasets rows)")
            key, spec = _prompt_key(row["prompt"]), row["spec"]
            known = self._specs.setdefault(key, spec)
            if known != spec and _grading_view(known) != _grading_view(spec):
                raise ValueError(f"row {number} has the same prompt as an earlier row but another episode; "
                                 "a rollout cannot tell them apart: drop one of them")

    def __len__(self) -> int:
        return len(self._specs)

    def spec(self, prompt: Any) -> str:
        """The spec of ``prompt``.

        Raises:
            KeyError: the prompt is not in the rows the index was built from.
        """
        try:
            return self._specs[_prompt_key(prompt)]
        except KeyError:
            raise KeyError("this prompt is in none of the rows given to multi_turn_rollout: build the rollout from "
                           "the same rows as the training dataset") from None


def _token_list(encoded: Any) -> list[int]:
    """Token ids from ``apply_chat_template(tokenize=True)``, which returns a list or a mapping by version."""
    if isinstance(encoded, Mapping):
        encoded = encoded["input_ids"]
    if hasattr(encoded, "tolist"):
        encoded = encoded.tolist()
    if encoded and isinstance(encoded[0], list):
        encoded = encoded[0]
    return list(encoded)


def _generate(trainer: Any, sequences: list[list[int]], max_new_tokens: int) -> list[list[int]]:
    """Sample one continuation per sequence with the trainer's model and generation settings."""
    import copy

    import torch
    from trl.models import unwrap_model_for_generation

    tokenizer = trainer._tokenizer
    width = max(len(s) for s in sequences)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([[pad] * (width - len(s)) + s for s in sequences], device=trainer.accelerator.device)
    mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in sequences], device=ids.device)
    config = copy.deepcopy(trainer.generation_config)
    config.max_new_tokens = max_new_tokens
    with unwrap_model_for_generation(trainer.model_wrapped, trainer.accelerator,
                                     gather_deepspeed3_params=trainer.args.ds3_gather_for_generation,
                                     generation_kwargs=trainer.generation_kwargs) as model, torch.no_grad():
        output = model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
    return [row[width:].tolist() for row in output.cpu()]


def multi_turn_rollout(rows: Iterable[Mapping[str, Any]], *, max_turns: int | None = None,
                       max_turn_tokens: int | None = None, **template_kwargs: Any) -> Callable[[list[Any], Any], dict[str, list]]:
    """A TRL ``rollout_func`` that plays each prompt's episode through the env's attempts and feedback.

    Args:
        rows: the rows of the training dataset (a list from :mod:`sftrl_train.datasets`, or the
            ``datasets.Dataset``); only ``prompt`` and ``spec`` are read.
        max_turns: at most this many replies per episode (default: as many as the env allows).
        max_turn_tokens: at most this many tokens per reply (default: what is left of the trainer's
            ``max_completion_length``, which bounds the whole episode: replies and feedback together).
        **template_kwargs: extra arguments of the chat template (TRL's ``chat_template_kwargs`` are used too).

    Returns:
        ``rollout_func(prompts, trainer)`` returning ``prompt_ids``, ``completion_ids``, ``logprobs`` (``None``),
        ``env_mask`` (1 for the model's tokens, 0 for feedback) and ``turn_replies`` (each episode's raw replies).

    Raises:
        ValueError: for image prompts, conflicting rows, or a bad ``max_turns`` or ``max_turn_tokens``.
        ImportError: naming the extra when TRL is missing (when the rollout first runs).
    """
    for name, value in (("max_turns", max_turns), ("max_turn_tokens", max_turn_tokens)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    index = SpecIndex(rows)

    def rollout(prompts: list[Any], trainer: Any) -> dict[str, list]:
        require("trl", "trl", "multi_turn_rollout")
        if getattr(trainer, "use_vllm", False):
            raise NotImplementedError("multi_turn_rollout generates with transformers; set use_vllm=False")
        tokenizer = trainer._tokenizer
        kwargs = {**getattr(trainer, "chat_template_kwargs", {}), **template_kwargs}
        budget = trainer.max_completion_length
        eos_ids = set(trainer.eos_token_ids)
        episodes = [SpecEpisode(index.spec(prompt)) for prompt in prompts]
        prompt_ids = [_token_list(tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=True,
                                                                **kwargs)) for p in prompts]
        completion_ids: list[list[int]] = [[] for _ in prompts]
        env_mask: list[list[int]] = [[] for _ in prompts]
        active = list(range(len(prompts)))
        while active:
            room = [min(budget - len(completion_ids[i]), max_turn_tokens or budget) for i in active]
            new = _generate(trainer, [prompt_ids[i] + completion_ids[i] for i in active], max(room))
            still = []
            for i, tokens, limit in zip(active, new, room):
                tokens = tokens[:limit]
                stop = next((n for n, t in enumerate(tokens) if t in eos_ids), None)
                if stop is not None:
                    tokens = tokens[:stop + 1]
                completion_ids[i] += tokens
                env_mask[i] += [1] * len(tokens)
                step = episodes[i].reply(tokenizer.decode(tokens, skip_special_tokens=True))
                if step.terminated or (max_turns is not None and len(episodes[i].replies) >= max_turns):
                    continue
                stop_text = tokenizer.decode(tokens[-1:]) if stop is not None else None
                feedback = tokenizer.encode(turn_suffix(tokenizer, step.message, stop_text, **kwargs),
                                            add_special_tokens=False)
                if len(completion_ids[i]) + len(feedback) >= budget:
                    continue  # no room left for another reply
                completion_ids[i] += feedback
                env_mask[i] += [0] * len(feedback)
                still.append(i)
            active = still
        return {"prompt_ids": prompt_ids, "completion_ids": completion_ids, "logprobs": None,
                "env_mask": env_mask, "turn_replies": [e.replies for e in episodes]}

    return rollout
