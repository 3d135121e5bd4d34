"""Exact GeneralPoints solver: which hands are solvable, one witness formula, or every distinct solution.

All arithmetic is exact (:class:`fractions.Fraction`), so solutions such as ``8/(3-8/3)`` are found and never
rejected by rounding. Three entry points:

* :func:`is_solvable` answers quickly from memoised sets of reachable values (no expression search);
* :func:`find_solution` returns one witness formula by depth-first search with early exit;
* :func:`solve` returns every distinct solution. Forms that differ only by commutative reordering,
  associative regrouping or redundant parentheses are printed identically and counted once: ``8*3*(2-1)``
  and ``(2-1)*(3*8)`` are one solution, while ``(8-3)*3+9`` and ``9+3*(8-3)`` also collapse.

:func:`solvable_rank_hands` lists the solvable rank multisets under a :class:`~gpoints_env.rules.Rules`, computed
once per rule set and cached, so dealing a solvable hand never searches.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from itertools import combinations_with_replacement
from typing import Iterable, Sequence

from .checker import FormulaError, build_expression
from .rules import OPERATORS, RANKS, Rules

__all__ = ["is_solvable", "find_solution", "solve", "canonical_form", "solvable_rank_hands", "reachable_values"]


# --------------------------------------------------------------------------------------------------------------
# Fast solvability: sets of reachable values per sub-multiset, then a target-directed check.
# --------------------------------------------------------------------------------------------------------------


def _splits(values: tuple[int, ...]) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Distinct ways to split a sorted multiset into two non-empty sorted sub-multisets (unordered pairs)."""
    n = len(values)
    seen: set[tuple[tuple[int, ...], tuple[int, ...]]] = set()
    out = []
    # Fixing index 0 in the left part enumerates each unordered pair of index sets exactly once.
    for mask in range(1, 1 << n):
        if not mask & 1 or mask == (1 << n) - 1:
            continue
        left = tuple(values[i] for i in range(n) if mask >> i & 1)
        right = tuple(values[i] for i in range(n) if not mask >> i & 1)
        pair = (left, right) if left <= right else (right, left)
        if pair not in seen:
            seen.add(pair)
            out.append(pair)
    return out


def _combine(xs: Iterable[Fraction], ys: Iterable[Fraction], operators: str) -> set[Fraction]:
    ys = tuple(ys)
    out: set[Fraction] = set()
    add, sub, mul, div = "+" in operators, "-" in operators, "*" in operators, "/" in operators
    for x in xs:
        for y in ys:
            if add:
                out.add(x + y)
            if sub:
                out.add(x - y)
                out.add(y - x)
            if mul:
                out.add(x * y)
            if div:
                if y:
                    out.add(x / y)
                if x:
                    out.add(y / x)
    return out


@lru_cache(maxsize=None)
def reachable_values(values: tuple[int, ...], operators: str = OPERATORS) -> frozenset[Fraction]:
    """Every value a formula using each of ``values`` exactly once can take.

    Args:
        values: the numbers, sorted ascending (the cache key; sort before calling).
        operators: allowed binary operators.
    """
    if len(values) == 1:
        return frozenset((Fraction(values[0]),))
    out: set[Fraction] = set()
    for left, right in _splits(values):
        out |= _combine(reachable_values(left, operators), reachable_values(right, operators), operators)
    return frozenset(out)


def _completes(xs: frozenset[Fraction], ys: frozenset[Fraction], target: Fraction, operators: str) -> bool:
    """Whether ``x op y`` or ``y op x`` equals ``target`` for some x in xs, y in ys (membership tests only)."""
    if len(xs) > len(ys):
        xs, ys = ys, xs
    add, sub, mul, div = "+" in operators, "-" in operators, "*" in operators, "/" in operators
    y_has_nonzero = any(ys)
    for x in xs:
        if add and target - x in ys:
            return True
        if sub and (x - target in ys or target + x in ys):
            return True
        if mul:
            if x:
                if target / x in ys:
                    return True
            elif target == 0:  # 0 * y == 0 for any y
                return True
        if div:
            # x / y == target, y != 0
            if target:
                if x and x / target in ys:
                    return True
            elif x == 0 and y_has_nonzero:
                return True
            # y / x == target, x != 0
            if x and target * x in ys:
                return True
    return False


@lru_cache(maxsize=None)
def _is_solvable_sorted(values: tuple[int, ...], target: int, operators: str) -> bool:
    goal = Fraction(target)
    if len(values) == 1:
        return values[0] == target
    return any(
        _completes(reachable_values(left, operators), reachable_values(right, operators), goal, operators)
        for left, right in _splits(values)
    )


def is_solvable(numbers: Sequence[int], target: int = 24, operators: str = OPERATORS) -> bool:
    """Whether some formula using each number exactly once with ``operators`` and parentheses equals ``target``.

    Memoised per multiset: the first call for a hand costs well under a millisecond, later calls a dict lookup.
    """
    return _is_solvable_sorted(tuple(sorted(numbers)), target, operators)


@lru_cache(maxsize=64)
def _solvable_value_hands(rank_values: tuple[int, ...], target: int, hand_size: int, operators: str):
    hands = []
    for ranks in combinations_with_replacement(range(len(RANKS)), hand_size):
        values = tuple(sorted(rank_values[r] for r in ranks))
        if _is_solvable_sorted(values, target, operators):
            hands.append(ranks)
    return tuple(hands)


def solvable_rank_hands(rules: Rules) -> tuple[tuple[int, ...], ...]:
    """All solvable rank multisets under ``rules``, as sorted tuples of indices into :data:`~gpoints_env.rules.RANKS`.

    Computed once per (card values, target, hand size, operators) and cached; in deck order, so the result is
    the same in every process. Ignores dealing constraints (suit colour, required face card).
    """
    return _solvable_value_hands(rules.rank_values, rules.target, rules.hand_size, rules.operators)


# --------------------------------------------------------------------------------------------------------------
# Expressions in a canonical form: sums and products are flattened and their operands sorted, so trivially
# equivalent formulas print identically.
# --------------------------------------------------------------------------------------------------------------


class _Expr:
    """A formula with its exact value and its canonical text.

    ``kind`` is ``"n"`` (a number), ``"+"`` (a sum: ``pos`` terms minus ``neg`` terms, none of them sums) or
    ``"*"`` (a product: ``pos`` factors divided by ``neg`` factors, none of them products).
    """

    __slots__ = ("kind", "value", "pos", "neg", "text", "order")

    def __init__(self, kind: str, value: Fraction, pos: tuple[_Expr, ...] = (), neg: tuple[_Expr, ...] = ()):
        self.kind, self.value, self.pos, self.neg = kind, value, pos, neg
        if kind == "n":
            self.text = str(value.numerator)
        elif kind == "+":
            self.text = "+".join(e.text for e in pos) + "".join("-" + e.text for e in neg)
        else:
            self.text = "*".join(e._factor_text() for e in pos) + "".join("/" + e._factor_text() for e in neg)
        # Larger operands first reads naturally ("8*3", "(8-3)*3+9"); text breaks ties deterministically.
        self.order = (-value, self.text)

    def _factor_text(self) -> str:
        return f"({self.text})" if self.kind == "+" else self.text

    @staticmethod
    def number(n: int) -> _Expr:
        return _Expr("n", Fraction(n))

    def _parts(self, kind: str) -> tuple[tuple[_Expr, ...], tuple[_Expr, ...]]:
        return (self.pos, self.neg) if self.kind == kind else ((self,), ())

    @staticmethod
    def _build(kind: str, value: Fraction, pos: list[_Expr], neg: list[_Expr]) -> _Expr:
        pos.sort(key=_order)
        neg.sort(key=_order)
        return _Expr(kind, value, tuple(pos), tuple(neg))

    def combine(self, op: str, other: _Expr) -> _Expr:
        """``self op other`` in canonical form. Division by zero must be excluded by the caller."""
        kind = "+" if op in "+-" else "*"
        a_pos, a_neg = self._parts(kind)
        b_pos, b_neg = other._parts(kind)
        if op == "+":
            return self._build(kind, self.value + other.value, [*a_pos, *b_pos], [*a_neg, *b_neg])
        if op == "-":
            return self._build(kind, self.value - other.value, [*a_pos, *b_neg], [*a_neg, *b_pos])
        if op == "*":
            return self._build(kind, self.value * other.value, [*a_pos, *b_pos], [*a_neg, *b_neg])
        return self._build(kind, self.value / other.value, [*a_pos, *b_neg], [*a_neg, *b_pos])


def _order(e: _Expr) -> tuple[Fraction, str]:
    return e.order


def _results(a: _Expr, b: _Expr, operators: str) -> Iterable[_Expr]:
    if "+" in operators:
        yield a.combine("+", b)
    if "-" in operators:
        yield a.combine("-", b)
        yield b.combine("-", a)
    if "*" in operators:
        yield a.combine("*", b)
    if "/" in operators:
        if b.value:
            yield a.combine("/", b)
        if a.value:
            yield b.combine("/", a)


def _search(items: list[_Expr], goal: Fraction, operators: str) -> _Expr | None:
    if len(items) == 1:
        return items[0] if items[0].value == goal else None
    n = len(items)
    for i in range(n):
        for j in range(i + 1, n):
            rest = [items[k] for k in range(n) if k != i and k != j]
            for made in _results(items[i], items[j], operators):
                found = _search([*rest, made], goal, operators)
                if found is not None:
                    return found
    return None


@lru_cache(maxsize=8192)
def _find_solution_sorted(values: tuple[int, ...], target: int, operators: str) -> str | None:
    if not _is_solvable_sorted(values, target, operators):
        return None
    # Larger numbers first tends to reach typical targets sooner.
    found = _search([_Expr.number(v) for v in reversed(values)], Fraction(target), operators)
    return None if found is None else found.text


def find_solution(numbers: Sequence[int], target: int = 24, operators: str = OPERATORS) -> str | None:
    """One formula using each number exactly once that equals ``target``, or ``None`` if there is none.

    The formula is in canonical form (see :func:`solve`) and is deterministic for a given multiset.
    """
    return _find_solution_sorted(tuple(sorted(numbers)), target, operators)


@lru_cache(maxsize=4096)
def _solve_sorted(values: tuple[int, ...], target: int, operators: str) -> tuple[str, ...]:
    n = len(values)
    full = (1 << n) - 1
    # exprs[mask]: canonical text -> expression, over the numbers at the indices in mask.
    exprs: list[dict[str, _Expr]] = [{} for _ in range(full + 1)]
    for i, v in enumerate(values):
        e = _Expr.number(v)
        exprs[1 << i][e.text] = e
    for mask in range(1, full + 1):
        if mask & (mask - 1) == 0:
            continue
        table = exprs[mask]
        low = mask & -mask
        sub = (mask - 1) & mask
        while sub:
            # Each unordered split once: the lowest index stays on the left.
            if sub & low:
                for a in exprs[sub].values():
                    for b in exprs[mask ^ sub].values():
                        for made in _results(a, b, operators):
                            table.setdefault(made.text, made)
            sub = (sub - 1) & mask
    goal = Fraction(target)
    found = {text for text, e in exprs[full].items() if e.value == goal}
    return tuple(sorted(found, key=lambda t: (len(t), t)))


def solve(numbers: Sequence[int], target: int = 24, operators: str = OPERATORS) -> list[str]:
    """Every distinct formula that uses each number exactly once and equals ``target``.

    Formulas are canonical: sums and products are flattened, their operands sorted (larger first), and only
    necessary parentheses are written; so commutative reorderings, regroupings and redundant parentheses of
    one solution are returned once. Formulas that differ in any other way (``(8-3)*3+9`` vs ``(8+3-5)...``)
    are distinct. Shortest first, then alphabetical.

    Args:
        numbers: the card values (any order).
        target: the number to reach.
        operators: allowed binary operators, a subset of ``"+-*/"``.

    Returns:
        The formulas, an empty list when the hand has no solution.
    """
    return list(_solve_sorted(tuple(sorted(numbers)), target, operators))


def canonical_form(formula: str, operators: str = OPERATORS) -> str:
    """The canonical text of a formula, as :func:`solve` prints solutions: two formulas that differ only by
    commutative reordering, associative regrouping or redundant parentheses get the same text.

    >>> canonical_form("(3*8) * ((2-1))") == canonical_form("(2-1)*8*3")
    True

    Raises:
        FormulaError: the formula is not legal, or it divides by zero.
    """

    def binary(op: str, a: _Expr, b: _Expr) -> _Expr:
        if op == "/" and not b.value:
            raise FormulaError("the formula divides by zero")
        return a.combine(op, b)

    return build_expression(formula, _Expr.number, binary, operators).text
