"""The paper authors' checker, ported exactly: reading a reply as their ``re_match`` and ``robust_str_to_list``
do, and grading it as their ``utils_rl.step_rewards`` does (their order, messages and summed rewards, the ``+1``
partial solution and the prefix walk against their answer key, :func:`gpoints_env.paper_solver.paper_answer_key`).

The suite's own checker is :mod:`gpoints_env.checker`; :class:`gpoints_env.protocols.PaperProtocol` selects this
one under ``protocol="paper"``.

>>> from gpoints_env.rules import ID_RULES
>>> paper_grade('{"formula": "8 * 3"}', ["8", "3", "8", "3"], ID_RULES).feedback
'illegal characters.'
>>> r = paper_grade('{"formula": "(8*3*9)"}', ["8", "3", "8", "3"], ID_RULES)
>>> r.reward, r.feedback
(-4.0, "you used invalid numbers: [9], you didn't use numbers: [8, 3].")
"""

from __future__ import annotations

import json
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any, Sequence

from .checker import Grade, Verdict
from .paper_solver import _TOKEN_RE, _EvalFailure, _python_arithmetic, paper_answer_key
from .rules import Rules

__all__ = [
    "PaperGrade",
    "PAPER_REWARD_FN",
    "PAPER_MAX_FORMULA_CHARS",
    "paper_read_field",
    "paper_card_list",
    "paper_grade",
]

#: ``REWARD_FN``: the reward of each kind of outcome. Penalties add up; an unlabeled total is logged by their
#: evaluator as ``AGGREGATED_ERROR``.
PAPER_REWARD_FN: dict[str, float] = {
    "CORRECT_SOLUTION": 5.0,
    "PARTIAL_SOLUTION": 1.0,
    "NO_SOLUTION": -1.0,
    "INCORRECT_VISION": -1.5,
    "INCORRECT_NUMBER": -2.0,
    "ILLEGAL_FORMULA": -3.0,
}
_LABELS = {value: name for name, value in PAPER_REWARD_FN.items()}

#: Longest formula (after the cut at '=') graded as theirs is; a longer one is "illegal characters" (-3). Bounds
#: the work and the feedback a reply can cause; their replies are capped at 256 tokens.
PAPER_MAX_FORMULA_CHARS = 1000


# --------------------------------------------------------------------------------------------------------------
# Reading a reply: utils_general.re_match and robust_str_to_list, without regex backtracking.
# --------------------------------------------------------------------------------------------------------------

_NOT_FOUND = "None"  # what their re_match returns when nothing matches


def _search(text: str, prefix: str, close: str) -> str | None:
    """Their regexes in linear time: ``re.search(re.escape(prefix) + '(.*?)"', text).group(1)`` for
    ``close='"'`` (``.`` stops at a newline), ``re.search(re.escape(prefix) + r'([^\\]]+)\\]', text).group(1)``
    for ``close=']'``; ``None`` when they do not match."""
    start = 0
    while True:
        at = text.find(prefix, start)
        if at < 0:
            return None
        begin = at + len(prefix)
        end = text.find(close, begin)
        if end < 0:
            return None
        if close == '"':
            newline = text.find("\n", begin, end)
            if newline < 0:
                return text[begin:end]
            # No quote between this match and the newline, so no later match can start before it either.
            start = newline + 1
        elif end > begin:
            return text[begin:end]
        else:
            start = at + 1


def _read(reply: object, key: str) -> tuple[bool, Any]:
    """Their ``re_match(reply, key)`` for ``formula``, ``cards`` and ``number``, and whether anything matched."""
    if not isinstance(reply, str):
        return False, _NOT_FOUND
    try:
        whole = json.loads(reply)
    except (ValueError, RecursionError):
        whole = None
    if isinstance(whole, dict) and key in whole:
        return True, whole[key]
    if key == "formula":
        found = _search(reply, '"formula": "', '"')
        return (False, _NOT_FOUND) if found is None else (True, found)
    found = _search(reply, f'"{key}": [', "]")
    if found is None:
        return False, _NOT_FOUND
    if key != "cards":  # their list conversion is for patterns containing 'cards' only
        return True, found
    try:
        return True, [int(item) for item in found.split(", ")]
    except ValueError:
        return True, "[" + found + "]"


def paper_read_field(reply: object, key: str) -> Any:
    """The authors' ``re_match``: ``json.loads(reply)[key]``, else the regular expression of ``key``
    (``"formula": "(.*?)"``, ``"cards": \\[([^\\]]+)\\]``, ``"number": ...``), else the string ``"None"``.

    A ``cards`` match that splits on ``", "`` into integers becomes a list of ints, any other a string in brackets.
    """
    if key not in ("formula", "cards", "number"):
        raise ValueError(f"paper_read_field reads 'formula', 'cards' or 'number', got {key!r}")
    return _read(reply, key)[1]


def paper_card_list(value: Any) -> list[str]:
    """The authors' ``robust_str_to_list``: drop ``[ ] '`` and spaces, split on ``,``; exactly 4 items, else ``[]``.
    Anything but a string (a JSON list, a list of ints) gives ``[]``."""
    if not isinstance(value, str):
        return []
    items = value.replace("[", "").replace("]", "").replace("'", "").replace(" ", "").split(",")
    return items if len(items) == 4 else []


# --------------------------------------------------------------------------------------------------------------
# Grading: utils_rl.step_rewards, in their order, with their messages and rewards.
# --------------------------------------------------------------------------------------------------------------


def _any_starts_with(key: tuple[str, ...], prefix: str) -> bool:
    at = bisect_left(key, prefix)
    return at < len(key) and key[at].startswith(prefix)


@dataclass(frozen=True)
class PaperGrade(Grade):
    """A grade under the paper protocol. ``reward`` and ``feedback`` are the authors' (summed penalties, their
    messages joined with ``", "`` and ending in ``"."``); ``verdict`` is the suite's name for what went wrong
    first; ``label`` is the name their evaluator logs for the reward (``CORRECT_SOLUTION``, ``PARTIAL_SOLUTION``,
    ``NO_SOLUTION``, ``INCORRECT_VISION``, ``INCORRECT_NUMBER``, ``ILLEGAL_FORMULA``, or ``AGGREGATED_ERROR``
    for a sum such as -4)."""

    label: str = ""


#: Old name of :class:`PaperGrade`, kept for one release (not in ``__all__``); use ``PaperGrade``.
PaperCheckResult = PaperGrade


def _result(verdict: Verdict, reward: float, messages: list[str], **fields: Any) -> PaperGrade:
    return PaperGrade(verdict, reward, ", ".join(messages) + ".", label=_LABELS.get(reward, "AGGREGATED_ERROR"),
                            **fields)


def _token_order_errors(tokens: list[str]) -> list[str]:
    """Their sequence check: one message per offending token (an unclosed '(' and a final operator pass)."""
    errors = []
    previous = None
    open_parens = 0
    for tok in tokens:
        if tok in "+-*/":
            kind = "operator"
            if previous not in ("number", "close_paren"):
                errors.append("invalid sequence after operator")
        elif tok == "(":
            kind = "open_paren"
            if previous in (None, "operator", "open_paren"):
                open_parens += 1
            else:
                errors.append("invalid sequence before '('")
        elif tok == ")":
            kind = "close_paren"
            if previous in ("number", "close_paren"):
                if open_parens:
                    open_parens -= 1
                else:
                    errors.append("unmatched closing parenthesis")
            else:
                errors.append("invalid sequence after ')'")
        else:
            kind = "number"
            if previous not in (None, "operator", "open_paren"):
                errors.append("invalid sequence after number")
        previous = kind
    return errors


def _counts(numbers: Sequence[int]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for n in numbers:
        counts[n] = counts.get(n, 0) + 1
    return counts


def _number_errors(used: Sequence[int], cards: Sequence[int]) -> list[str]:
    """Their number check: invalid numbers or else overused ones, then unused ones (unique, first-seen order)."""
    have, need = _counts(used), _counts(cards)
    errors = []
    invalid = [n for n in have if n not in need]
    overused = [n for n in have if have[n] > need.get(n, 0)]
    if invalid:
        errors.append(f"you used invalid numbers: {invalid}")
    elif overused:
        errors.append(f"you used numbers: {overused} too many times")
    unused = [n for n in need if need[n] > have.get(n, 0)]
    if unused:
        errors.append(f"you didn't use numbers: {unused}")
    return errors


def paper_grade(reply: object, ranks: Sequence[str], rules: Rules, image: bool = False) -> PaperGrade:
    """Grade a raw reply as the authors' ``step_rewards`` does (``docs/PAPER_PROTOCOL.md`` section 1).

    In order: (image mode) the sorted reported cards must equal the sorted ranks, else -1.5 ``you recognized wrong
    cards`` (no period); characters other than integers and ``+-*/()`` give -3 ``illegal characters``; each token
    out of sequence -3; invalid or overused numbers -2, unused numbers -2; only if nothing was wrong: +5 if the
    formula equals the target, +1 ``partial solution`` if evaluating it fails and it starts an answer-key formula;
    otherwise -1 at the first token whose prefix starts no answer-key formula.

    Args:
        reply: the model's raw reply (anything that is not a ``str`` reads as no formula).
        ranks: the dealt rank labels.
        rules: the active rules (card values and target).
        image: image mode: check the reply's ``cards`` first.

    Returns:
        A :class:`PaperGrade`; never raises for any ``reply``.
    """
    numbers = rules.values(list(ranks))
    found, raw = _read(reply, "formula")
    formula = raw.split("=")[0] if isinstance(raw, str) else None
    recognized = None
    if image:
        reported = paper_card_list(paper_read_field(reply, "cards"))
        if sorted(reported) != sorted(ranks):
            return PaperGrade(Verdict.WRONG_CARDS, PAPER_REWARD_FN["INCORRECT_VISION"],
                                    "you recognized wrong cards", recognized=False, label="INCORRECT_VISION")
        recognized = True
    illegal = PAPER_REWARD_FN["ILLEGAL_FORMULA"]
    tokens = _TOKEN_RE.findall(formula) if formula is not None and len(formula) <= PAPER_MAX_FORMULA_CHARS else None
    if tokens is None or "".join(tokens) != formula:
        verdict = Verdict.NO_FORMULA if not found else Verdict.ILLEGAL_FORMULA
        return _result(verdict, illegal, ["illegal characters"], recognized=recognized)
    messages = _token_order_errors(tokens)
    reward = illegal * len(messages)
    used = tuple(int(tok) for tok in tokens if tok[0] not in "+-*/()")
    number_errors = _number_errors(used, numbers)
    messages += number_errors
    reward += PAPER_REWARD_FN["INCORRECT_NUMBER"] * len(number_errors)
    details = {"formula": formula, "numbers_used": used, "recognized": recognized}
    if messages:
        verdict = Verdict.ILLEGAL_FORMULA if len(messages) > len(number_errors) else Verdict.WRONG_NUMBERS
        return _result(verdict, reward, messages, **details)
    key = paper_answer_key(numbers, rules.target)
    try:
        value = _python_arithmetic(tokens)
    except _EvalFailure as failure:
        verdict = Verdict.DIVISION_BY_ZERO if failure.kind == "zero" else Verdict.ILLEGAL_FORMULA
        if _any_starts_with(key, formula):
            return _result(verdict, PAPER_REWARD_FN["PARTIAL_SOLUTION"], ["partial solution"], **details)
        value = None
    else:
        if value == rules.target:
            return _result(Verdict.CORRECT, PAPER_REWARD_FN["CORRECT_SOLUTION"], ["Correct solution"], value=value,
                           **details)
        verdict = Verdict.WRONG_VALUE
    prefix = ""
    for tok in tokens:
        if not _any_starts_with(key, prefix + tok):
            message = ("your formula does not match any solution" if not prefix
                       else f"{prefix} is partially correct but the full formula does not match any solution")
            return _result(verdict, PAPER_REWARD_FN["NO_SOLUTION"], [message], value=value, **details)
        prefix += tok
    # Every prefix starts a key formula yet the formula is no hit: theirs reaches this on a float miss (reward 0,
    # message "."). With exact values it cannot happen (a whole key formula is correct, a proper prefix that uses
    # every card fails to evaluate and scored +1 above); kept so the walk stays theirs.
    return _result(verdict, 0.0, [], value=value, **details)
