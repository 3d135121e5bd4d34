"""Chat-template splicing for multi-turn loops that work in tokens (TRL ``rollout_func``, OpenRLHF agents, verl).

A multi-turn rollout keeps one token sequence: the templated prompt, the model's reply, the next user turn (the
env's feedback, or a V-IRL route's next prompt), the next reply... The text spliced in after a reply must be exactly
what the chat template puts between an assistant message's content and the next assistant message's content: the
end-of-turn marker, the user turn, and the generation prompt. :func:`turn_suffix` reads that text off the
tokenizer's own template (never a hard-coded format) and drops the end-of-turn marker when the model already emitted
it as its stop token, so markers are never doubled nor missing: a reply cut by the length limit is closed before the
next turn. A vision-language model's processor is read the same way: its template is given messages in the
content-part form processors take (``[{"type": "text", "text": ...}]``), and an image part of the next turn becomes
the template's picture placeholder.

:func:`closing_text` is the template's end of an assistant turn alone, and :func:`reply_is_closed` tells whether
generated token ids already end with it, for loops whose token builder adds the next turn itself (verl).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

__all__ = ["turn_suffix", "render_prompt", "closing_text", "reply_is_closed"]

_QUESTION = "\x01SFTRL-QUESTION\x01"
_REPLY = "\x01SFTRL-REPLY\x01"
_FEEDBACK = "\x01SFTRL-FEEDBACK\x01"


def _render(tokenizer: Any, messages: list[dict[str, Any]], **kwargs: Any) -> str:
    text = tokenizer.apply_chat_template(messages, tokenize=False, **kwargs)
    if not isinstance(text, str):  # some versions return a list for a batch of one
        text = text[0]
    return text


def _is_processor(templater: Any) -> bool:
    """Whether ``templater`` is a multimodal processor (which takes content parts) rather than a tokenizer."""
    try:
        from transformers import ProcessorMixin
    except ImportError:  # pragma: no cover - a processor cannot exist without transformers
        return False
    return isinstance(templater, ProcessorMixin)


def _as_parts(message: Mapping[str, Any]) -> dict[str, Any]:
    content = message["content"]
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    else:  # image parts become bare placeholders: the template writes the placeholder, the caller keeps the picture
        content = [{"type": "image"} if part.get("type") == "image" else dict(part) for part in content]
    return {"role": message["role"], "content": content}


def _as_text(message: Mapping[str, Any]) -> dict[str, Any]:
    content = message["content"]
    if not isinstance(content, str):
        if any(part.get("type") == "image" for part in content):
            raise ValueError("a turn with a picture needs the model's processor (its chat template writes the "
                             "picture's placeholder), not a text tokenizer")
        content = "".join(part.get("text") or "" for part in content)
    return {"role": message["role"], "content": content}


def _conversation(templater: Any, messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    convert = _as_parts if _is_processor(templater) else _as_text
    return [convert(m) for m in messages]


@lru_cache(maxsize=16)
def _suffix_parts(tokenizer: Any, template_kwargs: tuple[tuple[str, Any], ...]) -> tuple[str, str]:
    """The template's text between a reply and the feedback, and after the feedback (generation prompt included)."""
    messages = _conversation(tokenizer, [{"role": "user", "content": _QUESTION},
                                         {"role": "assistant", "content": _REPLY},
                                         {"role": "user", "content": _FEEDBACK}])
    text = _render(tokenizer, messages, add_generation_prompt=True, **dict(template_kwargs))
    if text.count(_REPLY) != 1 or text.count(_FEEDBACK) != 1:
        raise ValueError("this tokenizer's chat template does not render an assistant reply and a later user turn "
                         "verbatim, so a multi-turn loop cannot splice feedback into its token sequence")
    after_reply = text[text.index(_REPLY) + len(_REPLY):]
    before, after = after_reply.split(_FEEDBACK)
    return before, after


def _drop_stop(before: str, stop_text: str | None) -> str:
    if stop_text and before.startswith(stop_text):
        return before[len(stop_text):]
    return before


def turn_suffix(tokenizer: Any, feedback: str | Sequence[Mapping[str, Any]], stop_text: str | None,
                **template_kwargs: Any) -> str:
    """The text to append after a model's reply so that the sequence continues with the next user turn and the
    prompt for the next assistant turn, as the chat template renders a conversation.

    Args:
        tokenizer: a Hugging Face tokenizer with a chat template, or a vision-language model's processor.
        feedback: the next user turn's text (the env's feedback), or the messages the conversation gains before the
            next reply (:attr:`sftrl_train.episodes.Turn.next_messages`: a V-IRL route's next prompt, with an image
            part in image mode; a processor then writes its picture placeholder).
        stop_text: the text of the stop token the model generated (e.g. ``"<|im_end|>"``), or ``None`` when the
            reply was cut by the length limit (the suffix then closes the reply first). A template end-of-turn marker
            that begins with it is not repeated.
        **template_kwargs: extra arguments of ``apply_chat_template`` (e.g. ``enable_thinking=False``).

    Raises:
        ValueError: the template does not render a reply and a later user turn verbatim; a picture with a text
            tokenizer.
    """
    if isinstance(feedback, str) or (len(feedback) == 1 and feedback[0]["role"] == "user"
                                     and isinstance(feedback[0]["content"], str)):
        text = feedback if isinstance(feedback, str) else feedback[0]["content"]
        before, after = _suffix_parts(tokenizer, tuple(sorted(template_kwargs.items())))
        return _drop_stop(before, stop_text) + text + after
    # Turns with content parts (pictures): render the whole conversation and cut after the reply.
    messages = _conversation(tokenizer, [{"role": "user", "content": _QUESTION},
                                         {"role": "assistant", "content": _REPLY}, *feedback])
    text = _render(tokenizer, messages, add_generation_prompt=True, **template_kwargs)
    if text.count(_REPLY) != 1:
        raise ValueError("this tokenizer's chat template does not render an assistant reply verbatim, so a "
                         "multi-turn loop cannot splice the next turn into its token sequence")
    return _drop_stop(text[text.index(_REPLY) + len(_REPLY):], stop_text)


@lru_cache(maxsize=16)
def _closing(tokenizer: Any, template_kwargs: tuple[tuple[str, Any], ...]) -> str:
    messages = _conversation(tokenizer, [{"role": "user", "content": _QUESTION},
                                         {"role": "assistant", "content": _REPLY}])
    text = _render(tokenizer, messages, add_generation_prompt=False, **dict(template_kwargs))
    if text.count(_REPLY) != 1:
        raise ValueError("this tokenizer's chat template does not render an assistant reply verbatim")
    return text[text.index(_REPLY) + len(_REPLY):]


def closing_text(tokenizer: Any, **template_kwargs: Any) -> str:
    """What the chat template writes right after an assistant message's content when the conversation ends there:
    the end of an assistant turn (ChatML ``"<|im_end|>\\n"``, Llama 3 ``"<|eot_id|>"``)."""
    return _closing(tokenizer, tuple(sorted(template_kwargs.items())))


def _token_tools(templater: Any) -> Any:
    return getattr(templater, "tokenizer", templater) if _is_processor(templater) else templater


def reply_is_closed(tokenizer: Any, token_ids: Sequence[int], **template_kwargs: Any) -> bool:
    """Whether generated ``token_ids`` end with the template's end-of-turn token (or the tokenizer's end-of-sequence
    token): ``False`` for a reply cut by the length limit, which a loop must close before the next turn."""
    if not token_ids:
        return False
    tokens = _token_tools(tokenizer)
    closing = tokens.encode(closing_text(tokenizer, **template_kwargs), add_special_tokens=False)
    enders = set(closing[:1])
    if getattr(tokens, "eos_token_id", None) is not None:
        enders.add(tokens.eos_token_id)
    return token_ids[-1] in enders


def render_prompt(tokenizer: Any, messages: list[dict[str, Any]], **template_kwargs: Any) -> str:
    """The templated prompt with the generation prompt, as a trainer feeds it to the model."""
    return _render(tokenizer, messages, add_generation_prompt=True, **template_kwargs)
