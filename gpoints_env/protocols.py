"""Evaluation protocols: the suite's own (``"suite"``, the default) and the paper authors' (``"paper"``).

A protocol is everything about an episode that a benchmark's numbers depend on besides the rules of the game:
how hands are dealt, the prompt, how a reply is read and graded, the feedback text, the picture and the answer
format of a demonstration. :class:`GeneralPointsEnv` takes ``protocol="suite"`` or ``protocol="paper"`` and
asks the selected :class:`Protocol` for each of these; :mod:`gpoints_env.specs` does the same from a spec.

``"suite"`` is the suite's behaviour (modules :mod:`~gpoints_env.cards`, :mod:`~gpoints_env.prompts`,
:mod:`~gpoints_env.checker`), unchanged. ``"paper"`` reproduces the evaluation in the authors' released code
(LeslieTrue/SFTvsRL @5a6ea55; ``docs/PAPER_PROTOCOL.md`` section 1 describes it), with the templates and
messages verbatim and the few deliberate differences listed in the README's table "paper protocol vs the
authors' code":

* the prompt: ``Q_GeneralPoint_EQN_L`` / ``Q_GeneralPoint_EQN_VL`` (:data:`PAPER_TEXT_TEMPLATE`,
  :data:`PAPER_IMAGE_TEMPLATE`), one user turn; after a failure the user turn ``You failed this trial because
  <message>`` (:data:`PAPER_FEEDBACK_TEMPLATE`) is added to the same conversation;
* reading a reply (:func:`paper_read_field`): ``json.loads`` of the whole reply, else their regular expressions;
  the formula is cut at its first ``=``; the card list is parsed as their ``robust_str_to_list`` does;
* grading (:func:`paper_grade`): their order, messages and rewards (penalties add up), the ``+1`` partial
  solution and the prefix walk against their answer key (:func:`paper_answer_key`);
* dealing (:func:`paper_deal`): ranks drawn with replacement (rule OOD: three from A..K and one from J..K,
  shuffled), suits drawn independently per card, redealt until their solver finds the target, all from the
  env's seeded generator;
* the picture: 1,200 pixels, table colour ``#35654d``, cards 270 x 378 at x = 5, 302, 599, 896, y = 411.

>>> from gpoints_env.rules import ID_RULES
>>> paper_grade('{"formula": "8 * 3"}', ["8", "3", "8", "3"], ID_RULES).feedback
'illegal characters.'
>>> r = paper_grade('{"formula": "(8*3*9)"}', ["8", "3", "8", "3"], ID_RULES)
>>> r.reward, r.feedback
(-4.0, "you used invalid numbers: [9], you didn't use numbers: [8, 3].")
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from importlib import resources
from itertools import chain, permutations, product, zip_longest
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .cards import Card, NoSolvableHandError, deal_hand, hand_from_ranks
from .checker import PAPER_REWARDS, CheckResult, RewardTable, Verdict, grade_reply
from .prompts import build_prompt, feedback_message
from .render import render_hand, render_hand_paper
from .rules import OPERATORS, RANKS, Rules
from .solver import find_solution
from .style import DEFAULT_STYLE, CardStyle

__all__ = [
    "PROTOCOLS",
    "Protocol",
    "SuiteProtocol",
    "PaperProtocol",
    "get_protocol",
    "PaperCheckResult",
    "PAPER_REWARD_FN",
    "PAPER_TEXT_TEMPLATE",
    "PAPER_IMAGE_TEMPLATE",
    "PAPER_RESPONSE_TEMPLATE",
    "PAPER_FEEDBACK_TEMPLATE",
    "PAPER_TABLE_COLOUR",
    "PAPER_STYLE",
    "PAPER_MAX_FORMULA_CHARS",
    "PAPER_EVAL_SETTINGS",
    "paper_face_card_msg",
    "paper_prompt",
    "paper_read_field",
    "paper_card_list",
    "paper_answer_key",
    "paper_grade",
    "paper_deal",
    "paper_expert_reply",
    "paper_eval_hands",
    "paper_eval_hands_version",
    "expert_reply",
]

# --------------------------------------------------------------------------------------------------------------
# The authors' text, verbatim (prompt_lib/prompts.py and utils_rl.py); formatted with str.format as theirs is.
# --------------------------------------------------------------------------------------------------------------

#: ``Q_GeneralPoint_EQN_L``: the text-mode prompt (placeholders ``target_number``, ``face_card_msg``, ``cards``).
PAPER_TEXT_TEMPLATE = """
[Task Description]
You are an expert {target_number} points card game player. You will receive a set of 4 cards.
Note that {face_card_msg}, and each card must be used once.
Your goal is to output a formula that evaluates to {target_number} using numbers from the cards and operators such as '+', '-', '*', '/', '(', ')', and '='.

[Input]
Cards: {cards}

[Output]
{{
  "cards": [x, y, z, w], where {face_card_msg},
  "number": [a, b, c, d], where a, b, c, and d are the numbers on the cards,
  "formula": 'an equation that equals {target_number}',
}}

"""

#: ``Q_GeneralPoint_EQN_VL``: the image-mode prompt (the image comes first in the same user turn).
PAPER_IMAGE_TEMPLATE = """
[Task Description]
You are an expert {target_number} points card game player. You are observing these four cards in the image.
Note that {face_card_msg}, and each card must be used once.
Your goal is to output a formula that evaluates to {target_number} using numbers from the cards and operators such as '+', '-', '*', '/', '(', ')', and '='.

[Output]
Your response should be a valid json file in the following format:
{{
  "cards": [x, y, z, w], where {face_card_msg},
  "number": [a, b, c, d], where a, b, c, and d are the numbers on the cards,
  "formula": 'an equation that equals {target_number}',
}}

"""

#: ``ResponseEqn``: the authors' answer template (defined in their code for SFT targets).
PAPER_RESPONSE_TEMPLATE = """
{{
  "cards": {cards},
  "number": {numbers},
  "formula": "{formula}",
}}"""

#: The user turn after a failed attempt (their evaluator's ``f"You failed this trial because {info['Verify Info']}"``).
PAPER_FEEDBACK_TEMPLATE = "You failed this trial because {message}"

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

#: The authors' table colour (``'#35654d'``).
PAPER_TABLE_COLOUR = (0x35, 0x65, 0x4D)
#: The paper's picture: 1,200 x 1,200 pixels on the authors' table colour (our own card art).
PAPER_STYLE = DEFAULT_STYLE.replace(resolution=1200, background=PAPER_TABLE_COLOUR)

#: Longest formula (after the cut at '=') graded as theirs is; a longer one is "illegal characters" (-3). Bounds
#: the work and the feedback a reply can cause; their replies are capped at 256 tokens.
PAPER_MAX_FORMULA_CHARS = 1000
# Python's parser refuses more than 200 nested parentheses ("too many nested parentheses").
_PYTHON_MAX_NESTING = 200

#: Each paper evaluation setting and the env id that plays it (``gym.make(env_id, protocol="paper")``).
PAPER_EVAL_SETTINGS: dict[str, str] = {
    "GP-L": "GeneralPoints-v0",
    "GP-L-RuleOOD": "GeneralPoints-RuleOOD-v0",
    "GP-VL": "GeneralPoints-VL-v0",
    "GP-VL-RuleOOD": "GeneralPoints-VL-RuleOOD-v0",
    "GP-VL-VisualOOD": "GeneralPoints-VL-VisualOOD-v0",
}

# --------------------------------------------------------------------------------------------------------------
# Prompt.
# --------------------------------------------------------------------------------------------------------------


def _check_paper_rules(rules: Rules) -> None:
    if rules.hand_size != 4 or rules.ace_value != 1 or rules.operators != OPERATORS:
        raise ValueError(
            "protocol='paper' plays the paper's game only: 4 cards, A = 1 and the operators + - * / (its prompt "
            f"states nothing else), got hand_size={rules.hand_size}, ace_value={rules.ace_value}, "
            f"operators={rules.operators!r}"
        )


def paper_face_card_msg(rules: Rules) -> str:
    """The prompt's ``face_card_msg``: theirs for J/Q/K = 10 and 11/12/13, the same wording for other values."""
    jack, queen, king = rules.face_values
    if jack == queen == king:
        return f"'J', 'Q', and 'K' count as '{jack}'."
    return f"'J', 'Q', and 'K' count as '{jack}', '{queen}', and '{king}' respectively."


def paper_prompt(rules: Rules, ranks: Sequence[str] | None) -> str:
    """The authors' prompt for a hand: the text template with the ranks, or (``ranks=None``) the image template.

    Raises:
        ValueError: rules the paper's prompt cannot state (other than 4 cards, A = 1, all four operators).
    """
    _check_paper_rules(rules)
    arguments = {"target_number": str(rules.target), "face_card_msg": paper_face_card_msg(rules)}
    if ranks is None:
        return PAPER_IMAGE_TEMPLATE.format(**arguments)
    return PAPER_TEXT_TEMPLATE.format(cards=repr(list(ranks)), **arguments)


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
# Python's arithmetic on their token set, exactly (their ``eval``), without evaluating any text as code.
# --------------------------------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"\d+|[+\-*/()]")  # theirs; \d also matches non-ASCII digits, as in theirs
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


class _EvalFailure(Exception):
    """Where their ``eval`` raises: ``kind`` is ``"syntax"`` (SyntaxError) or ``"zero"`` (ZeroDivisionError)."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


def _python_arithmetic(tokens: Sequence[str], number: Callable[[int], Any] = Fraction) -> Any:
    """The value Python's ``eval`` gives the joined tokens (integers, ``+ - * /``, parentheses), computed with
    ``number`` (exact :class:`~fractions.Fraction` by default, ``float`` for Python's own result).

    Raises:
        _EvalFailure: where ``eval`` raises: a syntax error (Python's grammar: no leading zeros, ASCII digits,
            at most 200 nested parentheses, balanced, no dangling operator) or a division by zero.
    """
    values: list[Any] = []
    ops: list[str] = []
    depth, operand_next, zero = 0, True, False

    def apply() -> None:
        nonlocal zero
        op, right, left = ops.pop(), values.pop(), values.pop()
        if op == "+":
            values.append(left + right)
        elif op == "-":
            values.append(left - right)
        elif op == "*":
            values.append(left * right)
        elif right == 0:
            zero = True  # a syntax error later in the text still wins: Python compiles before it evaluates
            values.append(left)
        else:
            values.append(left / right)

    for tok in tokens:
        if tok[0] not in "+-*/()":
            if not operand_next or not tok.isascii() or (tok[0] == "0" and tok.strip("0")):
                raise _EvalFailure("syntax")
            values.append(number(int(tok)))
            operand_next = False
        elif tok == "(":
            depth += 1
            if not operand_next or depth > _PYTHON_MAX_NESTING:
                raise _EvalFailure("syntax")
            ops.append(tok)
        elif tok == ")":
            if operand_next or depth == 0:
                raise _EvalFailure("syntax")
            while ops[-1] != "(":
                apply()
            ops.pop()
            depth -= 1
        else:
            if operand_next:
                raise _EvalFailure("syntax")
            while ops and ops[-1] != "(" and _PRECEDENCE[ops[-1]] >= _PRECEDENCE[tok]:
                apply()
            ops.append(tok)
            operand_next = True
    if operand_next or depth:
        raise _EvalFailure("syntax")
    while ops:
        apply()
    if zero:
        raise _EvalFailure("zero")
    return values[0]


# --------------------------------------------------------------------------------------------------------------
# Their solver's answer key (GeneralPointEnv_oneline.solve): every distinct value order x 3-operator choice x
# 7 bracket shapes that reaches the target, written without spaces.
# --------------------------------------------------------------------------------------------------------------


def _bracket_shapes(n: int) -> list[tuple[int, ...]]:
    exprlen = 2 * n - 1
    return ([()] + [(x, y) for x in range(0, exprlen, 2) for y in range(x + 4, exprlen + 2, 2)
                    if (x, y) != (0, exprlen + 1)] + [(0, 3 + 1, 4 + 2, 7 + 3)])


_SHAPES = _bracket_shapes(4)


class _Tree(tuple):
    """An expression tree over leaf indices, built by running :func:`_python_arithmetic` on a template."""

    def __add__(self, other):  # type: ignore[override]
        return _Tree(("+", self, other))

    def __sub__(self, other):
        return _Tree(("-", self, other))

    def __mul__(self, other):  # type: ignore[override]
        return _Tree(("*", self, other))

    def __truediv__(self, other):
        return _Tree(("/", self, other))


@lru_cache(maxsize=1)
def _templates() -> tuple[tuple[_Tree, tuple[tuple[str, ...], ...]], ...]:
    """Their expression strings with leaf indices for numbers (all 3-operator choices x 7 bracket shapes), grouped
    by the tree Python parses them into (strings of one tree have one value)."""
    groups: dict[_Tree, list[tuple[str, ...]]] = {}
    for ops in product("+-*/", repeat=3):
        base = list(chain.from_iterable(zip_longest("0123", ops, fillvalue="")))[:7]
        for shape in _SHAPES:
            tokens = list(base)
            for at, bracket in zip(shape, "()" * (len(shape) // 2)):
                tokens.insert(at, bracket)
            tree = _python_arithmetic(tokens, lambda i: _Tree(("n", i)))
            groups.setdefault(tree, []).append(tuple(tokens))
    return tuple((tree, tuple(strings)) for tree, strings in groups.items())


def _tree_values(tree: _Tree, columns: np.ndarray) -> np.ndarray:
    if tree[0] == "n":
        return columns[:, tree[1]]
    left, right = _tree_values(tree[1], columns), _tree_values(tree[2], columns)
    if tree[0] == "+":
        return left + right
    if tree[0] == "-":
        return left - right
    if tree[0] == "*":
        return left * right
    return left / right


@lru_cache(maxsize=8192)
def _answer_key(values: tuple[int, ...], target: int) -> tuple[str, ...]:
    orders = sorted(set(permutations(values)))
    columns = np.array(orders, dtype=float)
    found: set[str] = set()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for tree, strings in _templates():
            # Floats only screen (an exact hit is within rounding of the target); each candidate is then checked
            # exactly, as their solver's Fraction arithmetic does.
            near = np.flatnonzero(np.abs(_tree_values(tree, columns) - target) < 1e-6)
            for row in near.tolist():
                digits = [str(d) for d in orders[row]]
                spelled = [[digits[int(t)] if t.isdigit() else t for t in template] for template in strings]
                try:
                    hit = _python_arithmetic(spelled[0]) == target
                except _EvalFailure:
                    hit = False
                if hit:
                    found.update("".join(tokens) for tokens in spelled)
    return tuple(sorted(found))


def paper_answer_key(numbers: Sequence[int], target: int = 24) -> tuple[str, ...]:
    """Every formula the authors' solver finds for a 4-card hand, as their grader matches prefixes against: all
    distinct orders of the values x all 3-operator choices x their 7 bracket shapes (none, ``(ab)cd``,
    ``(abc)d``, ``a(bc)d``, ``a(bcd)``, ``ab(cd)``, ``(ab)(cd)``) whose exact value is ``target``, without
    spaces, sorted. Empty when their solver finds nothing (their dealer then redeals)."""
    return _answer_key(tuple(sorted(numbers)), target)


def _any_starts_with(key: tuple[str, ...], prefix: str) -> bool:
    at = bisect_left(key, prefix)
    return at < len(key) and key[at].startswith(prefix)


# --------------------------------------------------------------------------------------------------------------
# Grading: utils_rl.step_rewards, in their order, with their messages and rewards.
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaperCheckResult(CheckResult):
    """A grade under the paper protocol. ``reward`` and ``feedback`` are the authors' (summed penalties, their
    messages joined with ``", "`` and ending in ``"."``); ``verdict`` is the suite's name for what went wrong
    first; ``label`` is the name their evaluator logs for the reward (``CORRECT_SOLUTION``, ``PARTIAL_SOLUTION``,
    ``NO_SOLUTION``, ``INCORRECT_VISION``, ``INCORRECT_NUMBER``, ``ILLEGAL_FORMULA``, or ``AGGREGATED_ERROR``
    for a sum such as -4)."""

    label: str = ""


def _result(verdict: Verdict, reward: float, messages: list[str], **fields: Any) -> PaperCheckResult:
    return PaperCheckResult(verdict, reward, ", ".join(messages) + ".", label=_LABELS.get(reward, "AGGREGATED_ERROR"),
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


def paper_grade(reply: object, ranks: Sequence[str], rules: Rules, image: bool = False) -> PaperCheckResult:
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
        A :class:`PaperCheckResult`; never raises for any ``reply``.
    """
    numbers = rules.values(list(ranks))
    found, raw = _read(reply, "formula")
    formula = raw.split("=")[0] if isinstance(raw, str) else None
    recognized = None
    if image:
        reported = paper_card_list(paper_read_field(reply, "cards"))
        if sorted(reported) != sorted(ranks):
            return PaperCheckResult(Verdict.WRONG_CARDS, PAPER_REWARD_FN["INCORRECT_VISION"],
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


# --------------------------------------------------------------------------------------------------------------
# Dealing (GeneralPointEnv_oneline._generate_cards + solve), from the env's generator.
# --------------------------------------------------------------------------------------------------------------

#: Redeals before giving up (a paper hand is solvable with probability about 0.75; 1,000 failures in a row
#: mean the rules admit no hand).
_MAX_DEALS = 1000


def paper_deal(rules: Rules, rng: np.random.Generator) -> list[Card]:
    """Deal as the authors do: 4 ranks drawn uniformly from A..K with replacement (``rules.require_face_card``,
    their rule OOD: 3 from A..K and 1 from J..K, then shuffled), each card's suit drawn independently from the
    allowed suits (so two identical physical cards can occur), redealt until their solver reaches the target.

    Raises:
        NoSolvableHandError: no solvable hand after 1,000 deals.
    """
    suits = rules.suits
    for _ in range(_MAX_DEALS):
        if rules.require_face_card:
            indices = np.concatenate([rng.integers(0, 13, size=3), rng.integers(10, 13, size=1)])
            rng.shuffle(indices)
        else:
            indices = rng.integers(0, 13, size=4)
        picks = rng.integers(0, len(suits), size=4)
        ranks = [RANKS[i] for i in indices.tolist()]
        if paper_answer_key(rules.values(ranks), rules.target):
            return [Card(rank, suits[s]) for rank, s in zip(ranks, picks.tolist())]
    raise NoSolvableHandError(f"no hand reaching {rules.target} in {_MAX_DEALS} paper deals under {rules}")


# --------------------------------------------------------------------------------------------------------------
# Demonstrations.
# --------------------------------------------------------------------------------------------------------------


def _float_hits(formula: str, target: int) -> bool:
    try:
        return _python_arithmetic(_TOKEN_RE.findall(formula), float) == target
    except _EvalFailure:
        return False


def paper_expert_reply(rules: Rules, ranks: Sequence[str]) -> str:
    """The authors' SFT answer (``ResponseEqn``) for a hand: the ranks and values as Python lists and an answer-key
    formula, the shortest one their float ``eval`` also accepts (so the reply earns +5 under theirs as well)."""
    numbers = rules.values(list(ranks))
    key = sorted(paper_answer_key(numbers, rules.target), key=lambda text: (len(text), text))
    if not key:
        raise ValueError(f"the hand {list(ranks)} has no solution their solver finds under {rules}")
    formula = next((text for text in key if _float_hits(text, rules.target)), key[0])
    return PAPER_RESPONSE_TEMPLATE.format(cards=repr(list(ranks)), numbers=repr(numbers), formula=formula)


def _suite_expert_reply(rules: Rules, ranks: Sequence[str], image: bool) -> str:
    formula = find_solution(rules.values(list(ranks)), rules.target, rules.operators)
    answer: dict[str, Any] = {"cards": list(ranks)} if image else {}
    answer["formula"] = formula
    return json.dumps(answer)


# --------------------------------------------------------------------------------------------------------------
# The evaluation lists.
# --------------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _eval_hands_file() -> dict[str, Any]:
    text = resources.files("gpoints_env").joinpath("data", "gp_eval_hands.json").read_text(encoding="utf-8")
    return json.loads(text)


def paper_eval_hands(setting: str) -> list[dict[str, list[str]]]:
    """The 234 hands the authors' evaluator deals for a setting, in order, as reset options.

    ``env.reset(options=hand)`` replays each hand exactly (ranks and suits, duplicates included). The lists were
    rebuilt by replaying their evaluation path (``random.seed(42)``, one discarded hand, 234 resets); they are
    right only if nothing else drew from Python's ``random`` module between the seeding and the dealing (see the
    data file's ``_about`` and ``version``).

    Args:
        setting: ``"GP-L"``, ``"GP-L-RuleOOD"``, ``"GP-VL"``, ``"GP-VL-RuleOOD"``, ``"GP-VL-VisualOOD"``, or the
            env id that plays it (:data:`PAPER_EVAL_SETTINGS`).

    Returns:
        A fresh list of ``{"cards": [...], "suits": [...]}`` dicts.

    Raises:
        ValueError: an unknown setting.
    """
    by_id = {env_id: name for name, env_id in PAPER_EVAL_SETTINGS.items()}
    name = by_id.get(setting.split(":")[-1], setting) if isinstance(setting, str) else setting
    if name not in PAPER_EVAL_SETTINGS:
        raise ValueError(f"unknown paper setting {setting!r}; known: {', '.join(PAPER_EVAL_SETTINGS)} "
                         "(or their env ids)")
    return [{"cards": list(hand["ranks"]), "suits": list(hand["suits"])} for hand in _eval_hands_file()[name]]


def paper_eval_hands_version() -> int:
    """The version of the shipped evaluation lists (the data file's ``version`` field)."""
    return int(_eval_hands_file()["version"])


# --------------------------------------------------------------------------------------------------------------
# The protocols.
# --------------------------------------------------------------------------------------------------------------


class Protocol:
    """What an episode's numbers depend on besides the rules: dealing, prompt, grading, feedback, picture and the
    format of an expert's answer. :class:`SuiteProtocol` and :class:`PaperProtocol` are the two instances."""

    name: str = ""

    def check(self, rules: Rules, style: CardStyle, rewards: RewardTable) -> None:
        """Raise ValueError if this protocol cannot play an episode under ``rules``, ``style`` and ``rewards``."""

    def default_style(self) -> CardStyle:
        """The card style when the env is given none."""
        return DEFAULT_STYLE

    def deal(self, rules: Rules, rng: np.random.Generator) -> list[Card]:
        raise NotImplementedError

    def fixed_hand(self, labels: Sequence[object], suits: Sequence[str] | None, rules: Rules,
                   rng: np.random.Generator) -> list[Card]:
        """The hand of ``reset(options={"cards": ..., "suits": ...})`` (suits drawn from ``rng`` when not given)."""
        raise NotImplementedError

    def prompt(self, rules: Rules, ranks: Sequence[str] | None) -> str:
        """The task prompt (``ranks=None`` in image mode)."""
        raise NotImplementedError

    def grade(self, reply: object, ranks: Sequence[str], rules: Rules, rewards: RewardTable,
              image: bool) -> CheckResult:
        raise NotImplementedError

    def after_attempt(self, prompt: str, result: CheckResult, attempt: int, max_attempts: int) -> tuple[str, str]:
        """``(observation text, user turn)`` after graded attempt number ``attempt`` (the user turn is added to the
        conversation when the episode goes on)."""
        raise NotImplementedError

    def render(self, hand: Sequence[Card], style: CardStyle, rng: np.random.Generator | None) -> np.ndarray:
        raise NotImplementedError

    def expert_reply(self, rules: Rules, ranks: Sequence[str], image: bool) -> str:
        """A correct reply in the answer format this protocol's prompt asks for (SFT demonstrations, oracles)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class SuiteProtocol(Protocol):
    """The suite's own protocol (the default): :mod:`~gpoints_env.cards`, :mod:`~gpoints_env.prompts`,
    :mod:`~gpoints_env.checker` and :mod:`~gpoints_env.render` as they are."""

    name = "suite"

    def deal(self, rules: Rules, rng: np.random.Generator) -> list[Card]:
        return deal_hand(rules, rng)

    def fixed_hand(self, labels, suits, rules, rng):
        return hand_from_ranks(labels, rules, rng, suits)

    def prompt(self, rules, ranks):
        return build_prompt(rules, ranks)

    def grade(self, reply, ranks, rules, rewards, image):
        return grade_reply(reply, list(ranks), rules, rewards, check_cards=image)

    def after_attempt(self, prompt, result, attempt, max_attempts):
        turn = feedback_message(result.feedback, attempt, max_attempts, result.success)
        return f"{prompt}\n\n{turn}", turn

    def render(self, hand, style, rng):
        return render_hand(hand, style, rng)

    def expert_reply(self, rules, ranks, image):
        return _suite_expert_reply(rules, ranks, image)


class PaperProtocol(Protocol):
    """The authors' protocol (see the module docstring). Observations after a step hold only the new user turn
    (``You failed this trial because ...``); ``info["messages"]`` holds the whole conversation, prompt once."""

    name = "paper"

    def check(self, rules, style, rewards):
        _check_paper_rules(rules)
        if style.jitter_degrees or style.jitter_offset:
            raise ValueError("protocol='paper' draws the authors' fixed card layout; it has no jitter")
        if rewards != PAPER_REWARDS:
            raise ValueError("protocol='paper' uses the authors' rewards (penalties add up); leave rewards='paper' "
                             "(use info['is_success'] for a 0/1 signal)")

    def default_style(self):
        return PAPER_STYLE

    def deal(self, rules, rng):
        return paper_deal(rules, rng)

    def fixed_hand(self, labels, suits, rules, rng):
        hand = hand_from_ranks(labels, rules, rng, suits, distinct=False, solvable=False)
        if not paper_answer_key(rules.values([card.rank for card in hand]), rules.target):
            raise ValueError(f"the hand {[card.rank for card in hand]} cannot make {rules.target} under {rules}")
        return hand

    def prompt(self, rules, ranks):
        return paper_prompt(rules, ranks)

    def grade(self, reply, ranks, rules, rewards, image):
        return paper_grade(reply, ranks, rules, image)

    def after_attempt(self, prompt, result, attempt, max_attempts):
        turn = result.feedback if result.success else PAPER_FEEDBACK_TEMPLATE.format(message=result.feedback)
        return turn, turn

    def render(self, hand, style, rng):
        return render_hand_paper(hand, style)

    def expert_reply(self, rules, ranks, image):
        return paper_expert_reply(rules, ranks)


SUITE = SuiteProtocol()
PAPER = PaperProtocol()
#: The protocols by name.
PROTOCOLS: Mapping[str, Protocol] = {"suite": SUITE, "paper": PAPER}


def get_protocol(name: str | Protocol) -> Protocol:
    """The protocol named ``name`` (``"suite"`` or ``"paper"``), or ``name`` itself if it is one.

    Raises:
        ValueError: an unknown name.
    """
    if isinstance(name, Protocol):
        return name
    if isinstance(name, str) and name in PROTOCOLS:
        return PROTOCOLS[name]
    raise ValueError(f"protocol must be one of {sorted(PROTOCOLS)}, got {name!r}")


def expert_reply(rules: Rules, ranks: Sequence[str], image: bool = False, protocol: str | Protocol = "suite") -> str:
    """A correct reply to a hand in the answer format ``protocol``'s prompt asks for: under ``"suite"`` a JSON
    object with a witness ``formula`` (image mode: the ``cards`` first), under ``"paper"`` the authors' SFT answer
    (``ResponseEqn``: ``cards``, ``number``, ``formula``). For SFT demonstrations and oracles."""
    return get_protocol(protocol).expert_reply(rules, ranks, image)
