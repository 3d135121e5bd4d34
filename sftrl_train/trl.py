"""TRL glue: whole episodes as a multi-turn GRPO rollout (``GRPOTrainer(rollout_func=...)``) or as TRL environments
(``GRPOTrainer(environment_factory=...)``).

Single-turn GRPO needs nothing from this module: pass :func:`sftrl_train.rewards.trl_reward` as ``reward_funcs`` and
a dataset from :mod:`sftrl_train.datasets`. Multi-turn GRPO plays each prompt's whole episode on-policy, as
``env.step`` does: a GeneralPoints hand's attempts with the env's feedback, or a whole V-IRL route
(``rl_rows(..., whole_routes=True)``) whose points follow one another with the model's own replies in the sequence.
TRL's ``rollout_func`` does the generation loop; :func:`multi_turn_rollout` builds one:

.. code-block:: python

    rows = rl_rows("VIRL-v0", 1000, whole_routes=True)
    trainer = GRPOTrainer(model, reward_funcs=[trl_reward, trl_success], train_dataset=to_hf_dataset(rows),
                          args=GRPOConfig(reward_weights=[1.0, 0.0], ...), rollout_func=multi_turn_rollout(rows))

For each prompt it generates a reply, plays it in an :class:`~sftrl_train.episodes.EpisodeSession` of the row's spec,
and while the episode goes on appends the session's next user turn (the env's ``[Feedback]`` on a retry, the next
point's whole prompt when a route moves on) spliced with the tokenizer's own chat template (:mod:`sftrl_train.chat`;
a reply cut by the length limit is closed first), then generates again, until the episode ends, ``max_turns`` or the
completion-length budget. The env's turns are masked out of the loss (``env_mask``). The raw replies go to the reward
functions as ``turn_replies`` (and their per-turn rewards as ``turn_rewards``), so
:func:`~sftrl_train.rewards.trl_reward` returns the episode's return and logs success, per-step accuracy and the
mean per-turn reward as metrics, and :func:`~sftrl_train.rewards.trl_success` gives success apart. Why an episode
ended is in ``episode_end`` and, when the rollout ended it early, in the logged metrics ``sftrl/ended_*``.

TRL hands ``rollout_func`` the prompts, not the rows, so the rollout finds each prompt's spec in the rows it was
built from (prompts that render the same text, with the same pictures, and grade the same share one entry).

Image settings (``GeneralPoints-VL-v0``, ``VIRL-VL-v0`` per-point rows...) work the same way with a vision-language
model and its processor as ``processing_class``: the first prompt is encoded by the processor, pictures included, so
the prompt ids carry the expanded image tokens that match the ``pixel_values`` TRL's forward pass computes from the
dataset's ``images`` column; every turn is generated with those pixel values (and the processor's other fields, e.g.
``image_grid_thw`` and ``mm_token_type_ids``); feedback is text, spliced with the processor's chat template. Tested
with Qwen2-VL (``Qwen2VLForConditionalGeneration`` with ``Qwen2VLProcessor``) and LLaVA
(``LlavaForConditionalGeneration`` with ``LlavaProcessor``). A whole V-IRL image route is the exception: its next
point shows new street views, which would go into the completion, and TRL's loss pass (1.16) computes pixel values
for the prompt's pictures only; the rollout raises ``NotImplementedError`` there. Train image routes with
:class:`EpisodeEnvironment` (below), whose tool results carry the pictures, or with verl's agent loop or OpenRLHF's
agent executor (:mod:`sftrl_train.verl`, :mod:`sftrl_train.openrlhf`).

Generation uses the trainer's model through ``transformers``; with ``use_vllm=True`` the rollout raises
``NotImplementedError`` (this glue does not drive vLLM).

TRL's own multi-turn loop, ``GRPOTrainer(environment_factory=...)``, is the other way to play whole episodes:
:func:`episode_environment` makes :class:`EpisodeEnvironment` instances, one per rollout, each playing the row's
episode in an :class:`~sftrl_train.episodes.EpisodeSession`. The model answers by calling its one tool, ``reply(text)``,
with the answer written as the env's prompt asks; the tool returns the env's next user turn (feedback on a retry, the
next point's prompt, with its street views as an image block in image mode, or the end of the episode), TRL masks it
out of the loss and adds its pictures to the forward pass, and ``get_reward()`` gives the episode's return. This needs
a tool-calling model whose chat template TRL can parse tool calls from (Qwen2.5/Qwen3/Qwen3-VL, Llama 3.1, ... as
``trl.chat_template_utils.add_response_schema`` lists); generation is TRL's own (tested here with ``transformers``,
not with vLLM):

.. code-block:: python

    rows = rl_rows("VIRL-VL-v0", 1000, whole_routes=True)
    trainer = GRPOTrainer(model, reward_funcs=[episode_success, episode_step_accuracy],
                          train_dataset=to_hf_dataset(rows), environment_factory=episode_environment(),
                          args=GRPOConfig(reward_weights=[0.0, 0.0], ...))
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._games import specs_module
from .chat import _is_processor, turn_suffix
from .datasets import require
from .episodes import EpisodeSession, Turn

__all__ = ["multi_turn_rollout", "SpecIndex", "END_REASONS", "EpisodeEnvironment", "episode_environment",
           "episode_success", "episode_step_accuracy", "TOOL_INSTRUCTION", "EPISODE_OVER", "MISSING_REPLIES"]


def _image_fingerprint(image: Any) -> str:
    """A digest of a picture's pixels: the same for a ``PIL`` image, its array, or its PNG round trip."""
    import numpy as np
    from PIL import Image

    if not isinstance(image, Image.Image):
        image = Image.fromarray(np.asarray(image, dtype=np.uint8))
    image = image.convert("RGB")
    return hashlib.sha256(repr(image.size).encode() + image.tobytes()).hexdigest()


def _content_parts(content: Any, images: Iterator[Any]) -> list[list[str]]:
    """A message's content as ``[kind, text or picture digest]`` pairs; placeholders take the next row image."""
    if isinstance(content, str):
        return [["text", content]]
    parts = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            parts.append(["text", part.get("text") or ""])
        elif kind == "image":
            image = part.get("image")
            if image is None:
                image = next(images, None)
            if image is None:
                raise ValueError("an image part of the prompt carries no picture (give the row's 'images' column)")
            parts.append(["image", _image_fingerprint(image)])
        else:
            raise ValueError(f"multi_turn_rollout reads text and image content parts, got a {kind!r} part")
    return parts


def _prompt_key(prompt: Any, images: Iterable[Any] | None = None) -> str:
    """The lookup key of a prompt: its roles, texts and pictures, whether content is a string or parts (as TRL
    passes image prompts) and whether pictures sit in the parts or in the row's ``images`` column."""
    if isinstance(prompt, str):
        return json.dumps(prompt)
    pending = iter(images or ())
    return json.dumps([[m.get("role"), _content_parts(m.get("content"), pending)] for m in prompt], ensure_ascii=False)


def _has_images(prompt: Any) -> bool:
    return not isinstance(prompt, str) and any(
        isinstance(m.get("content"), list) and any(p.get("type") == "image" for p in m["content"]) for m in prompt)


def _grading_view(spec: str) -> str:
    """The spec without fields that do not change grading, to tell true conflicts from harmless duplicates."""
    module = specs_module(spec)
    ignored = getattr(module, "PRESENTATION_FIELDS", ())
    data = json.loads(spec)
    return json.dumps({k: v for k, v in data.items() if k not in ignored}, sort_keys=True)


class SpecIndex:
    """Finds the spec of a prompt, from dataset rows with ``prompt`` and ``spec`` columns (and ``images`` in image
    mode: a prompt's image placeholders take the row's pictures in order).

    Raises:
        ValueError: two rows render the same prompt but grade differently (drop one of them), or a row has no
            ``spec``.
    """

    def __init__(self, rows: Iterable[Mapping[str, Any]]):
        self._specs: dict[str, str] = {}
        for number, row in enumerate(rows):
            if "spec" not in row or "prompt" not in row:
                raise ValueError(f"row {number} lacks a 'prompt' or 'spec' column (use sftrl_train.datasets rows)")
            key, spec = _prompt_key(row["prompt"], row.get("images")), row["spec"]
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
            ValueError: an image part of the prompt carries no picture.
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


@dataclass
class _Vision:
    """A prompt's processor outputs besides the token ids: per-picture tensors (``pixel_values``,
    ``image_grid_thw``...) and per-token lists (``mm_token_type_ids``...) that grow with the sequence."""

    media: dict[str, Any] = field(default_factory=dict)
    per_token: dict[str, list[int]] = field(default_factory=dict)


def _encode_with_processor(processor: Any, prompt: Any, template_kwargs: dict[str, Any]) -> tuple[list[int], _Vision]:
    """The prompt's token ids as the processor gives them (image tokens expanded), and its vision inputs."""
    encoded = processor.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=True,
                                            return_tensors="pt", **template_kwargs)
    ids = encoded["input_ids"]
    vision = _Vision()
    for key, value in encoded.items():
        if key in ("input_ids", "attention_mask") or not hasattr(value, "shape"):
            continue
        if tuple(value.shape) == tuple(ids.shape) and not value.is_floating_point():
            vision.per_token[key] = value[0].tolist()
        else:
            vision.media[key] = value
    return ids[0].tolist(), vision


def _vision_inputs(vision: list[_Vision], sequences: list[list[int]], width: int, device: Any) -> dict[str, Any]:
    """``generate`` keyword arguments for a batch: pictures concatenated in batch order, per-token fields extended
    with zeros over the completion (replies and feedback are text) and left-padded like the ids."""
    import torch

    inputs: dict[str, Any] = {}
    for key in dict.fromkeys(k for v in vision for k in v.media):
        inputs[key] = torch.cat([v.media[key] for v in vision if key in v.media]).to(device)
    for key in dict.fromkeys(k for v in vision for k in v.per_token):
        rows = []
        for v, sequence in zip(vision, sequences):
            prompt_part = v.per_token.get(key, [])
            rows.append([0] * (width - len(sequence)) + prompt_part + [0] * (len(sequence) - len(prompt_part)))
        inputs[key] = torch.tensor(rows, device=device)
    return inputs


def _generate(trainer: Any, sequences: list[list[int]], max_new_tokens: int,
              vision: list[_Vision] | None = None) -> list[list[int]]:
    """Sample one continuation per sequence with the trainer's model and generation settings (and, for image
    prompts, each sequence's pictures)."""
    import copy

    import torch
    from trl.models import unwrap_model_for_generation

    tokenizer = trainer._tokenizer
    width = max(len(s) for s in sequences)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([[pad] * (width - len(s)) + s for s in sequences], device=trainer.accelerator.device)
    mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in sequences], device=ids.device)
    extra = _vision_inputs(vision, sequences, width, ids.device) if vision is not None else {}
    config = copy.deepcopy(trainer.generation_config)
    config.max_new_tokens = max_new_tokens
    with unwrap_model_for_generation(trainer.model_wrapped, trainer.accelerator,
                                     gather_deepspeed3_params=trainer.args.ds3_gather_for_generation,
                                     generation_kwargs=trainer.generation_kwargs) as model, torch.no_grad():
        output = model.generate(input_ids=ids, attention_mask=mask, generation_config=config, **extra)
    return [row[width:].tolist() for row in output.cpu()]


#: Why an episode's rollout ended: the game ended it, ``max_turns`` was reached, or the completion-length budget
#: left no room for the next turn and another reply.
END_REASONS = ("done", "max_turns", "no_room")


def multi_turn_rollout(rows: Iterable[Mapping[str, Any]], *, max_turns: int | None = None,
                       max_turn_tokens: int | None = None, **template_kwargs: Any) -> Callable[[list[Any], Any], dict[str, list]]:
    """A TRL ``rollout_func`` that plays each prompt's whole episode, on-policy: a GeneralPoints hand's attempts, or
    a whole V-IRL route (rows from ``rl_rows(..., whole_routes=True)``) whose points follow one another with the
    model's own replies in the sequence.

    Args:
        rows: the rows of the training dataset (a list from :mod:`sftrl_train.datasets`, or the
            ``datasets.Dataset``); only ``prompt``, ``spec`` (and ``images``) are read.
        max_turns: at most this many replies per episode (default: as many as the env allows).
        max_turn_tokens: at most this many tokens per reply (default: what is left of the trainer's
            ``max_completion_length``, which bounds the whole episode: replies and the turns between them).
        **template_kwargs: extra arguments of the chat template (TRL's ``chat_template_kwargs`` are used too).

    Returns:
        ``rollout_func(prompts, trainer)`` returning ``prompt_ids``, ``completion_ids``, ``logprobs`` (``None``),
        ``env_mask`` (1 for the model's tokens, 0 for the env's turns), and, for the reward functions,
        ``turn_replies`` (each episode's raw replies), ``turn_rewards`` (their per-turn rewards) and ``episode_end``
        (one of :data:`END_REASONS`). Episodes that end before the game ends them are counted in the logged metrics
        ``sftrl/ended_early``, ``sftrl/ended_max_turns`` and ``sftrl/ended_no_room`` (the share of the batch).
        With a processor as the trainer's ``processing_class`` (vision-language models), prompts are encoded by it
        and every turn is generated with the prompt's pictures.

    Raises:
        ValueError: conflicting rows, a bad ``max_turns`` or ``max_turn_tokens``; when the rollout runs, image
            prompts with a tokenizer (not a processor) as ``processing_class``.
        NotImplementedError: when the rollout runs with ``use_vllm=True``; when a V-IRL image route moves on to its
            next point (TRL's loss pass takes the pictures of the prompt only: train image routes with
            :func:`episode_environment`, verl or OpenRLHF, or on per-point rows).
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
        episodes = [EpisodeSession(index.spec(prompt)) for prompt in prompts]
        processor = getattr(trainer, "processing_class", None)
        vision: list[_Vision] | None = None
        if _is_processor(processor):
            encoded = [_encode_with_processor(processor, p, kwargs) for p in prompts]
            prompt_ids, vision = [ids for ids, _ in encoded], [v for _, v in encoded]
            templater = processor
        elif any(_has_images(p) for p in prompts):
            raise ValueError("image prompts need the model's processor as the trainer's processing_class "
                             "(e.g. AutoProcessor.from_pretrained(...)), not its tokenizer")
        else:
            prompt_ids = [_token_list(tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=True,
                                                                    **kwargs)) for p in prompts]
            templater = tokenizer
        completion_ids: list[list[int]] = [[] for _ in prompts]
        env_mask: list[list[int]] = [[] for _ in prompts]
        ended = ["done"] * len(prompts)
        active = list(range(len(prompts)))
        while active:
            room = [min(budget - len(completion_ids[i]), max_turn_tokens or budget) for i in active]
            new = _generate(trainer, [prompt_ids[i] + completion_ids[i] for i in active], max(room),
                            vision=[vision[i] for i in active] if vision is not None else None)
            still = []
            for i, tokens, limit in zip(active, new, room):
                tokens = tokens[:limit]
                stop = next((n for n, t in enumerate(tokens) if t in eos_ids), None)
                if stop is not None:
                    tokens = tokens[:stop + 1]
                completion_ids[i] += tokens
                env_mask[i] += [1] * len(tokens)
                turn = episodes[i].reply(tokenizer.decode(tokens, skip_special_tokens=True))
                if turn.done:
                    continue
                if max_turns is not None and len(episodes[i].turns) >= max_turns:
                    ended[i] = "max_turns"
                    continue
                if any(part.get("type") == "image" for m in turn.next_messages
                       for part in (m["content"] if isinstance(m["content"], list) else ())):
                    raise NotImplementedError(
                        "this V-IRL image route moved on to a new point, whose street views would go into the "
                        "completion; TRL's GRPOTrainer computes the loss of a rollout_func with the prompt's pictures "
                        "only. Train image routes with GRPOTrainer(environment_factory=sftrl_train.trl."
                        "episode_environment()), whose tool results carry the pictures; or with verl or OpenRLHF "
                        "(sftrl_train.verl, sftrl_train.openrlhf), or TRL on per-point rows")
                stop_text = tokenizer.decode(tokens[-1:]) if stop is not None else None
                feedback = tokenizer.encode(turn_suffix(templater, turn.next_messages, stop_text, **kwargs),
                                            add_special_tokens=False)
                if len(completion_ids[i]) + len(feedback) >= budget:
                    ended[i] = "no_room"  # the next turn and a reply do not fit max_completion_length
                    continue
                completion_ids[i] += feedback
                env_mask[i] += [0] * len(feedback)
                still.append(i)
            active = still
        _log_endings(trainer, ended)
        return {"prompt_ids": prompt_ids, "completion_ids": completion_ids, "logprobs": None,
                "env_mask": env_mask, "turn_replies": [e.replies for e in episodes],
                "turn_rewards": [e.rewards for e in episodes], "episode_end": ended}

    return rollout


def _log_endings(trainer: Any, ended: list[str]) -> None:
    """Log the share of episodes the rollout ended before the game did, by reason (TRL's reward-function metric
    logger, which the trainer averages over each logging step)."""
    log = getattr(trainer, "_log_metric", None)
    if log is None or not ended:
        return
    log("sftrl/ended_early", sum(reason != "done" for reason in ended) / len(ended))
    for reason in END_REASONS[1:]:
        log(f"sftrl/ended_{reason}", ended.count(reason) / len(ended))


# ---- TRL's own multi-turn loop: GRPOTrainer(environment_factory=...) ------------------------------------------------

#: What :meth:`EpisodeEnvironment.reset` adds to the end of the env's first prompt by default (TRL appends it to the
#: last user message): the env's texts say how to write an answer, not that it goes through a tool.
TOOL_INSTRUCTION = ("\n\nGive each answer by calling the `reply` tool with your whole answer, written exactly as asked "
                    "above, as its `text` argument. The tool returns the game's response; keep answering through the "
                    "tool until it says the episode is over.")
#: What :meth:`EpisodeEnvironment.reply` returns once the episode is over: after the last feedback, and alone to any
#: later call.
EPISODE_OVER = "The episode is over: there is nothing more to answer."
#: How an episode the rollout leaves unfinished is scored (the model ended its turn without a tool call, before the
#: first reply or later, or TRL's ``max_completion_length`` or ``max_tool_calling_iterations`` stopped it):
#: ``"empty"`` grades each reply it did not give as an empty reply until the env ends the episode (what the env gives a
#: model that says nothing more); ``"unplayed"`` scores the replies given only.
MISSING_REPLIES = ("empty", "unplayed")
#: The bound on replies graded as empty for one episode (the games end theirs far sooner).
_MAX_MISSING = 100_000


def _content_blocks(messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Messages in content-part form as one tool result's content blocks, pictures as ``PIL`` images in place."""
    blocks: list[dict[str, Any]] = []
    for number, message in enumerate(messages):
        content = message["content"]
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if number:
            blocks.append({"type": "text", "text": "\n\n"})
        for part in parts:
            if part.get("type") == "image":
                blocks.append({"type": "image", "image": part["image"]})
            elif blocks and blocks[-1]["type"] == "text":
                blocks[-1] = {"type": "text", "text": blocks[-1]["text"] + (part.get("text") or "")}
            else:
                blocks.append({"type": "text", "text": part.get("text") or ""})
    return blocks


def _tool_result(turn: Turn) -> str | list[dict[str, Any]]:
    """What the env says after a reply, as a tool result: its feedback on a retry, the next point's prompt when a
    route moves on (content blocks with the picture in image mode), the last feedback and :data:`EPISODE_OVER` at the
    end."""
    if turn.done:
        return f"{turn.feedback}\n\n{EPISODE_OVER}" if turn.feedback else EPISODE_OVER
    if not any(isinstance(m["content"], list) and any(p.get("type") == "image" for p in m["content"])
               for m in turn.next_messages):
        return turn.message
    return _content_blocks(turn.next_messages)


class EpisodeEnvironment:
    """One whole episode of either game per rollout, played on-policy through TRL's own tool loop
    (``GRPOTrainer(environment_factory=episode_environment())``).

    TRL makes an instance per rollout (and reuses it for later ones), calls :meth:`reset` with the dataset row, offers
    the model one tool, :meth:`reply`, and scores the finished rollout with :meth:`get_reward`. The episode is an
    :class:`~sftrl_train.episodes.EpisodeSession` of the row's ``spec`` (rows from
    :func:`~sftrl_train.datasets.rl_rows`; ``whole_routes=True`` for whole V-IRL routes), with the row's pictures in
    image mode (a GeneralPoints row's ``images``, a whole route's ``point_images``), so the model sees the env's own
    texts turn by turn: the row's prompt first, then as each tool result the env's feedback on a retry, the next
    point's whole prompt when a route moves on (with its street views as an image content block, which TRL adds to
    the forward pass), and the last feedback with :data:`EPISODE_OVER` at the end.

    The difference from the env's plain protocol: an answer is the ``text`` argument of a ``reply`` tool call, not the
    assistant message itself; the text is graded exactly as ``env.step`` grades a raw reply. Text the model writes
    outside a tool call is not an answer. An episode the rollout leaves unfinished (no tool call at all, the model
    ending its turn early, or TRL's length and iteration limits) is scored as ``missing_replies`` says; by default
    each missing reply is graded as an empty reply, the env's reward for a reply with no answer in it (GeneralPoints
    ``no_formula``, V-IRL ``invalid``), so a model gains nothing by not answering.

    Args:
        instruction: text added to the end of the env's first prompt so the model knows to answer through the tool
            (:data:`TOOL_INSTRUCTION`); ``None`` leaves the prompt exactly as the env's (then the chat template's tool
            description alone tells the model about the tool).
        missing_replies: one of :data:`MISSING_REPLIES`: ``"empty"`` (the default) or ``"unplayed"``, which scores
            the replies given only (a rollout without a tool call then scores 0.0, more than a wrong answer: a model
            can learn to skip hard episodes).

    Attributes:
        session: the rollout's episode (``None`` before the first :meth:`reset`).
        tool_calls: the model's calls of :meth:`reply` in this rollout, those after the end included.
        missing: the replies graded as empty when the rollout was scored.
        unfinished: whether the rollout left the episode unfinished (known once it is scored).

    Raises:
        ValueError: a bad ``missing_replies``.
        TypeError: an ``instruction`` that is not text or ``None``.
    """

    def __init__(self, *, instruction: str | None = TOOL_INSTRUCTION, missing_replies: str = "empty"):
        if instruction is not None and not isinstance(instruction, str):
            raise TypeError(f"instruction must be text or None, got {type(instruction).__name__}")
        if missing_replies not in MISSING_REPLIES:
            raise ValueError(f"missing_replies must be one of {MISSING_REPLIES}, got {missing_replies!r}")
        self._instruction, self._missing_replies = instruction, missing_replies
        self.session: EpisodeSession | None = None
        self._start(None)

    def _start(self, session: EpisodeSession | None) -> None:
        self.session = session
        self.tool_calls = 0
        self.missing = 0
        self.unfinished = False
        self._scored = False

    def reset(self, **row: Any) -> str | None:
        """Start the episode of a dataset row (its ``spec``, and its pictures in image mode); returns the text TRL
        appends to the row's prompt (the ``instruction``), or ``None``.

        Raises:
            ValueError: the row has no ``spec``, or is an image episode without its pictures.
            SpecError: the spec is malformed, or the pictures do not match its route.
        """
        spec = row.get("spec")
        if spec is None:
            raise ValueError("EpisodeEnvironment plays a row's 'spec' column (rows from sftrl_train.datasets.rl_rows); "
                             f"this row has the columns {sorted(row)}")
        pictures = row.get("point_images") or row.get("images")
        session = EpisodeSession(spec, images=list(pictures) if pictures else None)
        if session.image_mode and session.image is None:
            raise ValueError("this is an image episode, and its row has no pictures: keep the 'images' column (and a "
                             "whole route's 'point_images') of sftrl_train.datasets.rl_rows")
        self._start(session)
        return self._instruction

    def reply(self, text: str) -> str | list[dict[str, Any]]:
        """Give the game your answer. It grades the answer and returns what comes next.

        Args:
            text: Your whole answer, written exactly as the game's prompt asks for it (for example the JSON object
                the prompt shows).

        Returns:
            The game's response: feedback to try again, the next point's prompt, or that the episode is over.
        """
        if self.session is None:
            raise RuntimeError("no episode yet: TRL calls reset first")
        self.tool_calls += 1
        if self.session.done or self._scored:
            return EPISODE_OVER
        if not isinstance(text, str):  # a tool-call parser read the answer as a JSON value: write it back as JSON text
            text = json.dumps(text, ensure_ascii=False)
        return _tool_result(self.session.reply(text))

    def get_reward(self) -> float:
        """The episode's return: its per-turn rewards summed, as the env gives them (missing replies scored as
        ``missing_replies`` says).

        Raises:
            RuntimeError: no episode yet.
        """
        return self._scored_session().total_reward

    # Properties, not methods: TRL offers every public method of the class to the model as a tool.
    @property
    def success(self) -> bool:
        """Whether the episode succeeded so far (``info["is_success"]``; V-IRL: every point of the route solved)."""
        return self.session is not None and self.session.success

    @property
    def step_accuracy(self) -> float | None:
        """The share of graded replies that were correct so far (``None`` before the first)."""
        return None if self.session is None else self.session.step_accuracy

    def _scored_session(self) -> EpisodeSession:
        """The episode as the rollout left it, its missing replies graded (once) as ``missing_replies`` says."""
        session = self.session
        if session is None:
            raise RuntimeError("no episode yet: TRL calls reset first")
        if not self._scored:
            self._scored = True
            self.unfinished = not session.done
            if self._missing_replies == "empty":
                while not session.done:
                    if self.missing == _MAX_MISSING:
                        raise RuntimeError(f"this episode did not end after {_MAX_MISSING} empty replies; use "
                                           "missing_replies='unplayed'")
                    session.reply("")
                    self.missing += 1
        return session


def episode_environment(*, instruction: str | None = TOOL_INSTRUCTION,
                        missing_replies: str = "empty") -> Callable[[], EpisodeEnvironment]:
    """The ``environment_factory`` of ``GRPOTrainer`` for whole episodes: makes :class:`EpisodeEnvironment` instances
    with these options (checked now, not in the trainer).

    >>> from sftrl_train.datasets import rl_rows
    >>> env = episode_environment()()  # what TRL does with the factory, once per rollout
    >>> env.reset(**rl_rows("GeneralPoints-v0", 1)[0]) == TOOL_INSTRUCTION  # appended to the row's prompt
    True
    >>> print(env.reply('{"formula": "10+10+5-3"}'))  # the model's tool call: the env's feedback comes back
    [Feedback]
    Attempt 1 of 5 was not correct. Your formula 10+10+5-3 evaluates to 22, not 24.
    You have 4 attempts left.
    >>> env.get_reward(), env.missing  # the model stopped: its 4 missing replies graded as empty ones
    (-13.0, 4)
    """
    EpisodeEnvironment(instruction=instruction, missing_replies=missing_replies)
    return functools.partial(EpisodeEnvironment, instruction=instruction, missing_replies=missing_replies)


def _episode_environments(environments: Any, what: str) -> list[Any]:
    if environments is None:
        raise ValueError(f"{what} reads the rollouts' environments: use it with "
                         "GRPOTrainer(environment_factory=episode_environment())")
    return list(environments)


def episode_success(completions: Any = None, environments: Any = None, log_metric: Callable[[str, float], None]
                    | None = None, **kwargs: Any) -> list[float | None]:
    """A TRL reward function (give it weight 0) with the success of each rollout's episode, 1.0 or 0.0, apart from the
    return that :meth:`EpisodeEnvironment.get_reward` gives. It also logs the share of episodes the rollout left
    unfinished (``sftrl/ended_early``) and of rollouts without a tool call (``sftrl/no_tool_call``).

    Rollouts of other environments get ``None`` (TRL leaves them out).

    Raises:
        ValueError: used without ``environment_factory`` (TRL then passes no environments).
    """
    environments = _episode_environments(environments, "episode_success")
    ours = [e for e in environments if isinstance(e, EpisodeEnvironment)]
    values = [float(e._scored_session().success) if isinstance(e, EpisodeEnvironment) else None
              for e in environments]
    if log_metric is not None and ours:
        log_metric("sftrl/ended_early", sum(e.unfinished for e in ours) / len(ours))
        log_metric("sftrl/no_tool_call", sum(e.tool_calls == 0 for e in ours) / len(ours))
    return values


def episode_step_accuracy(completions: Any = None, environments: Any = None, **kwargs: Any) -> list[float | None]:
    """A TRL reward function (give it weight 0) with the per-step accuracy of each rollout's episode: the share of its
    graded replies that were correct (missing replies graded as ``missing_replies`` says; ``None``, left out by TRL,
    for an episode with no graded reply or of another environment).

    Raises:
        ValueError: used without ``environment_factory``.
    """
    environments = _episode_environments(environments, "episode_step_accuracy")
    return [e._scored_session().step_accuracy if isinstance(e, EpisodeEnvironment) else None for e in environments]
