"""Reading raw model replies: drop the reasoning and code fences, find a field's value in strict or relaxed JSON.

Shared by both games' checkers. Every function is linear in the reply's length, never raises for a ``str``
and never evaluates text as code.

>>> strip_thinking("<think>2*12?</think> {\\"formula\\": \\"2*12\\"}")
' {"formula": "2*12"}'
>>> find_key_value("formula: (8-4)*6", key_pattern("formula"))
(True, '(8-4)*6', False)
>>> find_json_object('Sure: {"action": "stop()",}')
{'action': 'stop()'}
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["strip_thinking", "strip_code_fence", "key_pattern", "find_key_value", "find_json_object"]

_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"
_FENCE = "```"
_JSON_DECODER = json.JSONDecoder()
# "[1, 2,]" -> "[1, 2]": linear (each comma scans only the blanks after it).
_TRAILING_COMMA_RE = re.compile(r",\s*([}\]])")


def strip_thinking(reply: str) -> str:
    """The part of a reply after its reasoning: text after the last ``</think>`` (templates may put the opening
    tag in the prompt), or before an unclosed ``<think>`` (the model never finished thinking)."""
    close = reply.rfind(_THINK_CLOSE)
    if close >= 0:
        return reply[close + len(_THINK_CLOSE):]
    opening = reply.find(_THINK_OPEN)
    return reply if opening < 0 else reply[:opening]


def strip_code_fence(text: str) -> str:
    """``text`` stripped of surrounding blanks and, when it starts with a Markdown code fence, of the opening
    fence line (with its language tag) and a closing fence.

    >>> strip_code_fence("```json\\n{\\"action\\": \\"forward()\\"}\\n```")
    '{"action": "forward()"}'
    """
    text = text.strip()
    if not text.startswith(_FENCE):
        return text
    # Plain string operations, no regex: nothing can backtrack on a long reply.
    newline = text.find("\n")
    text = text[newline + 1:] if newline >= 0 else text[len(_FENCE):]
    text = text.rstrip()
    if text.endswith(_FENCE):
        text = text[:-len(_FENCE)]
    return text.strip()


def key_pattern(key: str) -> re.Pattern[str]:
    """A pattern for ``key:`` or ``key =`` with the key quoted or not (``"formula":``, ``'cards':``, ``formula:``)."""
    return re.compile(r"""(["'`]?)\b""" + re.escape(key) + r"""\1\s*[:=]""", re.IGNORECASE)


def _rest_of_line(text: str, start: int) -> str:
    end = text.find("\n", start)
    return text[start:] if end < 0 else text[start:end]


def find_key_value(text: str, pattern: re.Pattern[str]) -> tuple[bool, Any, bool]:
    """Read the value of the last ``key: value`` that ``pattern`` matches, JSON or relaxed.

    Args:
        text: the reply (usually after :func:`strip_thinking`).
        pattern: the key, from :func:`key_pattern`.

    Returns:
        ``(found, value, is_json)``: a JSON value (any type) when one parses cleanly, else the raw text of the
        value up to the end of the line or the closing quote; ``(False, None, False)`` when the key is absent.
        The value may start on a later line (``**Formula:**`` on a line of its own, the formula below it).
    """
    last = None
    for last in pattern.finditer(text):
        pass
    if last is None:
        return False, None, False
    pos = last.end()
    # A Markdown label ("**Formula:**" and the value on the next line) closes its emphasis after the separator.
    closer = pos
    while closer < len(text) and closer - pos < 3 and text[closer] in "*_":
        closer += 1
    if closer > pos and (closer == len(text) or text[closer] in " \t\r\n"):
        pos = closer
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    if pos >= len(text):
        return True, "", False
    quote = text[pos]
    if quote in "[{\"0123456789-tfn":
        try:
            value, end = _JSON_DECODER.raw_decode(text, pos)
        except (ValueError, RecursionError):
            pass
        else:
            after = text[end:end + 64].lstrip(" \t\r")
            # A JSON value only counts when it ends where a JSON value would (not "8*3" read as the number 8).
            if isinstance(value, str) or not after or after[0] in ",}]\n":
                return True, value, True
    if quote in "'`\"":
        close = text.find(quote, pos + 1)
        return True, (text[pos + 1:close] if close >= 0 else _rest_of_line(text, pos + 1)), False
    return True, _rest_of_line(text, pos), False


def find_json_object(text: str) -> dict | None:
    """The JSON object spanning the first ``{`` to the last ``}`` of ``text`` (so code fences and prose around it
    do not matter), strict or with trailing commas; ``None`` when there is none or it is not an object.

    Never raises (deep nesting and huge numbers count as no object); linear in the length of ``text``.
    """
    if not isinstance(text, str):
        return None
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    candidate = text[start:end + 1]
    for attempt in (candidate, _TRAILING_COMMA_RE.sub(r"\1", candidate)):
        try:
            value = json.loads(attempt)
        except (ValueError, RecursionError):
            continue
        return value if isinstance(value, dict) else None
    return None
