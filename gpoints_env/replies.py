"""Reading raw model replies: drop the reasoning, find the value of a field in strict or relaxed JSON.

Shared by the formula checker and the card-recognition check. Every function is linear in the reply's length
and never evaluates text as code.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["strip_thinking", "key_pattern", "find_key_value"]

_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"
_JSON_DECODER = json.JSONDecoder()


def key_pattern(key: str) -> re.Pattern[str]:
    """A pattern for ``key:`` or ``key =`` with the key quoted or not (``"formula":``, ``'cards':``, ``formula:``)."""
    return re.compile(r"""(["'`]?)\b""" + re.escape(key) + r"""\1\s*[:=]""", re.IGNORECASE)


def strip_thinking(reply: str) -> str:
    """The part of a reply after its reasoning: text after the last ``</think>`` (templates may put the opening
    tag in the prompt), or before an unclosed ``<think>`` (the model never finished thinking)."""
    close = reply.rfind(_THINK_CLOSE)
    if close >= 0:
        return reply[close + len(_THINK_CLOSE):]
    opening = reply.find(_THINK_OPEN)
    return reply if opening < 0 else reply[:opening]


def _rest_of_line(text: str, start: int) -> str:
    end = text.find("\n", start)
    return text[start:] if end < 0 else text[start:end]


def find_key_value(text: str, pattern: re.Pattern[str]) -> tuple[bool, Any, bool]:
    """Read the value of the last ``key: value`` that ``pattern`` matches, JSON or relaxed.

    Returns ``(found, value, is_json)``: a JSON value (any type) when one parses cleanly, else the raw text of
    the value up to the end of the line or the closing quote.
    """
    last = None
    for last in pattern.finditer(text):
        pass
    if last is None:
        return False, None, False
    pos = last.end()
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
