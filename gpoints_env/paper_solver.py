"""The paper authors' arithmetic and solver, ported exactly: what their ``eval`` makes of a formula and every
formula their solver finds for a hand (their answer key), and the SFT answer they write from it.

Nothing here evaluates text as code: formulas are tokenised against their token set and computed by
:func:`_python_arithmetic`, which reproduces Python's grammar and arithmetic on that set. The grader
(:mod:`gpoints_env.paper_checker`), the paper's dealer (:func:`gpoints_env.cards.paper_deal`) and the paper
protocol's demonstrations all use the one answer key here.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache
from itertools import chain, permutations, product, zip_longest
from typing import Any, Callable, Sequence

import numpy as np

from .prompts import PAPER_RESPONSE_TEMPLATE
from .rules import Rules

__all__ = ["paper_answer_key", "paper_expert_reply"]

# Python's parser refuses more than 200 nested parentheses ("too many nested parentheses").
_PYTHON_MAX_NESTING = 200

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


# --------------------------------------------------------------------------------------------------------------
# The authors' SFT answer (ResponseEqn), from their answer key.
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
