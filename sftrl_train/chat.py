"""Chat-template splicing for multi-turn loops that work in tokens (TRL ``rollout_func``, OpenRLHF agents).

A multi-turn rollout keeps one token sequence: the templated prompt, the model's reply, the env's feedback as the
next user turn, the next reply... The text spliced in after a reply must be exactly what the chat template puts
between an assistant message's content and the next assistant message's content: the end-of-turn marker, the
user turn holding the feedback, and the generation prompt. :func:`turn_suffix` reads that text off the tokenizer's
own template (never a hard-coded format) and drops the end-of-turn marker when the model already emitted it as its
stop token, so markers are never doubled nor missing. A vision-language model's processor is read the same way: its
template is given messages in the content-part form processors take (``[{"type": "text", "text": ...}]``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

__all__ = ["turn_suffix", "render_prompt"]

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


@lru_cache(maxsize=16)
def _suffix_parts(tokenizer: Any, template_kwargs: tuple[tuple[str, Any], ...]) -> tuple[str, str]:
    """The template's text between a reply and the feedback, and after the feedback (generation prompt included)."""
    messages = [{"role": "user", "content": "question"}, {"role": "assistant", "content": _REPLY},
                {"role": "user", "content": _FEEDBACK}]
    if _is_processor(tokenizer):  # processor templates may only read content parts
        messages = [{**m, "content": [{"type": "text", "text": m["content"]}]} for m in messages]
    text = _render(tokenizer, messages, add_generation_prompt=True, **dict(template_kwargs))
    if text.count(_REPLY) != 1 or text.count(_FEEDBACK) != 1:
        raise ValueError("this tokenizer's chat template does not render an assistant reply and a later user turn "
                         "verbatim, so a multi-turn loop cannot splice feedback into its token sequence")
    after_reply = text[text.index(_REPLY) + len(_REPLY):]
    before, after = after_reply.split(_FEEDBACK)
    return before, after


def turn_suffix(tokenizer: Any, feedback: str, stop_text: str | None, **template_kwargs: Any) -> str:
    """The text to append after a model's reply so that the sequence continues with a user turn holding
    ``feedback`` and the prompt for the next assistant turn, as the chat template renders a conversation.

    Args:
        tokenizer: a Hugging Face tokenizer with a chat template, or a vision-language model's processor.
        feedback: the env's message (the next user turn's content).
        stop_text: the text of the stop token the model generated (e.g. ``"<|im_end|>"``), or ``None`` when the
            reply was cut by the length limit. A template end-of-turn marker that begins with it is not repeated.
        **template_kwargs: extra arguments of ``apply_chat_template`` (e.g. ``enable_thinking=False``).
    """
    before, after = _suffix_parts(tokenizer, tuple(sorted(template_kwargs.items())))
    if stop_text and before.startswith(stop_text):
        before = before[len(stop_text):]
    return before + feedback + after


def render_prompt(tokenizer: Any, messages: list[dict[str, Any]], **template_kwargs: Any) -> str:
    """The templated prompt with the generation prompt, as a trainer feeds it to the model."""
    return _render(tokenizer, messages, add_generation_prompt=True, **template_kwargs)
