"""Image mode: read the cards a model says it saw, and compare them with the cards dealt.

The paper's vision-language setting asks the model to report the cards (``"cards": ["J", "3", "8", "A"]``)
before its formula, and a misread hand is penalised apart from the arithmetic. The authors' parser failed
valid JSON card lists and so confused format with perception; here any reasonable spelling counts:

* a JSON or relaxed list (``["J", "3"]``, ``['J', 3]``, ``[J, 3]``) or a comma-separated string;
* ranks as letters or numbers: ``A``/``1``/``Ace``, ``10``/``T``, ``J``/``Jack``..., and J/Q/K by their value
  under the active rules (``11`` for J in rule OOD; ``10`` for any of 10, J, Q, K in distribution);
* suits are ignored wherever they appear (``"10 of hearts"``, ``"K♠"``, ``"Qs"``).

The comparison is a multiset matching: the reported cards are right when each can be assigned to a distinct
dealt card it may denote.
"""

from __future__ import annotations

import re
from itertools import permutations
from typing import Any, Sequence

from .replies import find_key_value, key_pattern, strip_thinking
from .rules import RANKS, Rules

__all__ = ["read_reported_cards", "cards_match", "MAX_REPORTED_CARDS"]

#: More reported cards than this cannot be a hand; such a report is simply wrong (and bounds the work).
MAX_REPORTED_CARDS = 8

_CARDS_KEY = key_pattern("cards")
_WORDS = {"ACE": "A", "ONE": "A", "TWO": "2", "THREE": "3", "FOUR": "4", "FIVE": "5", "SIX": "6", "SEVEN": "7",
          "EIGHT": "8", "NINE": "9", "TEN": "10", "T": "10", "JACK": "J", "QUEEN": "Q", "KING": "K"}
_SUIT_WORDS = re.compile(r"\b(?:OF\s+)?(?:SPADES?|HEARTS?|DIAMONDS?|CLUBS?)\b|[\u2660-\u2667]")
_LIST_ITEM_SPLIT = re.compile(r"[,;]")


def read_reported_cards(reply: str) -> tuple[bool, list[str] | None]:
    """Find the ``cards`` field of a reply.

    Returns:
        ``(False, None)`` when the reply reports no cards; ``(True, items)`` with the raw items as strings
        when it does; ``(True, None)`` when the field holds something that is not a list of cards.
    """
    found, value, is_json = find_key_value(strip_thinking(reply), _CARDS_KEY)
    if not found:
        return False, None
    if is_json:
        if isinstance(value, str):
            value = _LIST_ITEM_SPLIT.split(value) if _LIST_ITEM_SPLIT.search(value) else value.split()
        if not isinstance(value, list) or len(value) > MAX_REPORTED_CARDS:
            return True, None
        if any(isinstance(item, (bool, list, dict)) or item is None for item in value):
            return True, None
        return True, [str(item) for item in value]
    # Relaxed text: "['J', '3', 8, 'A']" or "[J, 3, 8, A]" or "J, 3, 8, A" on the rest of the line.
    text = str(value)
    if text.startswith("["):
        close = text.find("]")
        text = text[1:close] if close >= 0 else text[1:]
    items = [item.strip(" \t'\"`") for item in _LIST_ITEM_SPLIT.split(text)]
    items = [item for item in items if item]
    if not items or len(items) > MAX_REPORTED_CARDS:
        return True, None
    return True, items


def _possible_ranks(item: str, rules: Rules) -> set[str]:
    """The dealt ranks a reported item may denote under ``rules``."""
    text = _SUIT_WORDS.sub(" ", item.upper()).strip(" \t.-_()'\"")
    if len(text) > 1 and text[-1] in "SHDC" and text[:-1] in RANKS + ("T", "1"):  # "QS", "10H"
        text = text[:-1]
    text = _WORDS.get(text, text)
    ranks = set()
    if text in RANKS:
        ranks.add(text)
    # ASCII digits only: superscripts, circled numbers and other Unicode digits pass str.isdigit() but int()
    # rejects them, and no card is written that way.
    if text.isascii() and text.isdigit() and len(text) <= 4:
        value = int(text)
        if value == 1:
            ranks.add("A")
        ranks.update(rank for rank, rank_value in zip(RANKS, rules.rank_values) if rank_value == value)
    return ranks


def cards_match(reported: Sequence[Any], dealt: Sequence[str], rules: Rules) -> bool:
    """Whether the reported cards are the dealt ranks as a multiset (see the module docstring)."""
    if len(reported) != len(dealt):
        return False
    options = [_possible_ranks(str(item), rules) for item in reported]
    if any(not opts for opts in options):
        return False
    # At most 5 cards: trying every assignment is cheap and exact.
    return any(all(dealt[j] in options[i] for i, j in enumerate(order)) for order in permutations(range(len(dealt))))
