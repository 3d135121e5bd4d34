"""The solver against independent brute force, and every witness solution against the checker."""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from itertools import combinations_with_replacement, permutations, product

import pytest
import sympy

from gpoints_env import (
    ID_RULES,
    RANKS,
    RULE_OOD_RULES,
    Rules,
    Verdict,
    canonical_form,
    check_answer,
    find_solution,
    formula_to_sympy,
    is_solvable,
    parse_formula,
    solvable_rank_hands,
    solve,
)

ALL_RANK_HANDS = list(combinations_with_replacement(range(len(RANKS)), 4))


# An independent solvability search: pick any two values, replace them with a combination, repeat (a different
# algorithm from the solver's split-based reachable sets), memoised on the sorted state.
@lru_cache(maxsize=None)
def _brute_reaches(state: tuple[Fraction, ...], target: Fraction) -> bool:
    if len(state) == 1:
        return state[0] == target
    for i in range(len(state)):
        for j in range(i + 1, len(state)):
            a, b = state[i], state[j]
            rest = state[:i] + state[i + 1 : j] + state[j + 1 :]
            made = {a + b, a - b, b - a, a * b}
            if b:
                made.add(a / b)
            if a:
                made.add(b / a)
            if any(_brute_reaches(tuple(sorted(rest + (m,))), target) for m in made):
                return True
    return False


def brute_force_solvable(values: list[int], target: int) -> bool:
    return _brute_reaches(tuple(sorted(Fraction(v) for v in values)), Fraction(target))


def test_there_are_1820_rank_multisets():
    assert len(ALL_RANK_HANDS) == 1820


@pytest.mark.parametrize("rules", [ID_RULES, RULE_OOD_RULES], ids=["id", "rule_ood"])
def test_solvable_table_matches_brute_force_on_every_rank_multiset(rules):
    table = set(solvable_rank_hands(rules))
    brute = {hand for hand in ALL_RANK_HANDS if brute_force_solvable(rules.values([RANKS[r] for r in hand]), 24)}
    assert table == brute
    if rules is RULE_OOD_RULES:
        assert len(table) == 1362  # the reference count in SPEC.md for J/Q/K = 11/12/13, target 24


def test_solvable_counts_for_other_targets_match_brute_force():
    for target in (10, 1, 0):
        rules = ID_RULES.replace(target=target)
        table = set(solvable_rank_hands(rules))
        brute = {h for h in ALL_RANK_HANDS if brute_force_solvable(rules.values([RANKS[r] for r in h]), target)}
        assert table == brute, target


def test_zero_valued_cards_and_zero_target_edge_cases():
    # With aces worth 0, products with a zero and divisions of zero matter.
    for values, target in [((0, 0, 0, 0), 0), ((0, 1, 2, 3), 0), ((0, 0, 4, 6), 24), ((0, 5, 5, 5), 0), ((0, 0, 0, 5), 5)]:
        assert is_solvable(values, target) == brute_force_solvable(list(values), target), (values, target)


def test_known_hands():
    assert solve([8, 3, 8, 3]) == ["8/(3-8/3)"]
    assert find_solution([8, 3, 8, 3]) == "8/(3-8/3)"
    assert solve([1, 1, 1, 1]) == [] and find_solution([1, 1, 1, 1]) is None
    assert not is_solvable([1, 1, 1, 1])
    assert "5*(5-1/5)" in solve([5, 5, 5, 1])


# ---- every distinct solution, against a brute force over formula strings -----------------------------------

_SHAPES = ("((a{0}b){1}c){2}d", "(a{0}(b{1}c)){2}d", "(a{0}b){1}(c{2}d)", "a{0}((b{1}c){2}d)", "a{0}(b{1}(c{2}d))")


def all_formulas(numbers: list[int]) -> set[str]:
    """Every fully parenthesised formula over the numbers (all orders, operators and tree shapes)."""
    out = set()
    for a, b, c, d in set(permutations(numbers)):
        for ops in product("+-*/", repeat=3):
            for shape in _SHAPES:
                out.add(shape.format(*ops).replace("a", str(a)).replace("b", str(b)).replace("c", str(c)).replace("d", str(d)))
    return out


@pytest.mark.parametrize("numbers", [[8, 3, 8, 3], [1, 2, 3, 4], [4, 6, 8, 9], [10, 10, 4, 4], [2, 3, 5, 12]])
def test_solve_returns_exactly_the_distinct_canonical_solutions(numbers):
    expected = set()
    for formula in all_formulas(numbers):
        value = parse_formula(formula).value  # the checker's parser: a code path apart from the solver's
        if value == 24:
            expected.add(canonical_form(formula))
    solutions = solve(numbers)
    assert len(solutions) == len(set(solutions))
    assert set(solutions) == expected
    # Trivially equivalent spellings collapse: no two returned solutions share a canonical form.
    assert len({canonical_form(s) for s in solutions}) == len(solutions)


def test_canonical_form_collapses_trivial_variants_only():
    assert canonical_form("(3*8)*((2-1))") == canonical_form("(2-1)*8*3") == "8*3*(2-1)"
    assert canonical_form("9+3*(8-3)") == canonical_form("((8-3)*3)+9")
    assert canonical_form("8-(3-(2-1))") == canonical_form("8+2-1-3")
    assert canonical_form("(8-3)*3") != canonical_form("(3-8)*3")  # a different value, not a reordering


@pytest.mark.parametrize("rules", [ID_RULES, RULE_OOD_RULES], ids=["id", "rule_ood"])
def test_every_witness_solution_scores_correct(rules):
    for hand in solvable_rank_hands(rules):
        numbers = rules.values([RANKS[r] for r in hand])
        witness = find_solution(numbers, rules.target)
        result = check_answer('{"formula": "%s"}' % witness, numbers, rules.target)
        assert result.verdict is Verdict.CORRECT, (numbers, witness, result.feedback)
        # An evaluation path independent of the checker's: sympy's exact rationals.
        assert formula_to_sympy(witness, evaluate=True) == sympy.Integer(rules.target)


def test_every_listed_solution_scores_correct_on_a_sample_of_hands():
    hands = solvable_rank_hands(RULE_OOD_RULES)[::40]
    for hand in hands:
        numbers = RULE_OOD_RULES.values([RANKS[r] for r in hand])
        solutions = solve(numbers)
        assert solutions, numbers
        for formula in solutions:
            assert check_answer(formula, numbers).verdict is Verdict.CORRECT, (numbers, formula)


def test_restricted_operators():
    assert not is_solvable([8, 3, 8, 3], operators="+-*")
    assert solve([8, 3, 8, 3], operators="+-*") == []
    assert is_solvable([6, 6, 6, 6], operators="+")
    assert solve([6, 6, 6, 6], operators="+") == ["6+6+6+6"]
    rules = Rules(operators="+-*")
    for hand in solvable_rank_hands(rules)[::25]:
        witness = find_solution(rules.values([RANKS[r] for r in hand]), 24, "+-*")
        assert "/" not in witness


def test_other_hand_sizes():
    assert solve([4, 6], 24) == ["6*4"]
    assert is_solvable([24], 24) and not is_solvable([23], 24)
    assert find_solution([1, 2, 3, 4, 5], 24) is not None
    assert check_answer(find_solution([1, 2, 3, 4, 5], 24), [1, 2, 3, 4, 5]).verdict is Verdict.CORRECT
