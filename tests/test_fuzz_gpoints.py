"""Fuzzing the GeneralPoints checker (text and image modes) with generated replies.

Every reply goes through the public functions ``gpoints_env.check_answer`` and ``gpoints_env.grade_reply``.
Properties: nothing raises, every call ends within the hang guard, the reward is the verdict's, and wherever
the verdict is predictable it equals the verdict of :func:`exact_verdict`, an evaluator written here (its own
tokenizer and parser over :class:`fractions.Fraction`) from the rules the README and SPEC state:

* a formula is integers (ASCII digits), ``+ - * /``, parentheses, spaces and tabs; ``×``, ``÷`` and ``−``
  stand for ``*``, ``/`` and ``-``; a trailing ``= N`` is ignored; anything else makes it illegal, as do unary
  minus, implicit multiplication, more than ``MAX_NESTING`` nested parentheses or more than
  ``MAX_FORMULA_CHARS`` characters;
* verdicts, most specific first: illegal, wrong numbers (not the hand's values as a multiset), division by
  zero (anywhere), wrong value, correct; in image mode misread cards come after illegal and before the rest;
* the ``formula`` field of a JSON object is what is graded; text after the last ``</think>`` (or before an
  unclosed ``<think>``) is what is read; a lone expression is graded as the formula.

Replies whose verdict depends on how free text is searched (hostile text, megabyte replies, random JSON) are
checked for the properties that must hold whatever the search does: no exception, a verdict, its reward, and
a ``correct`` verdict only for a formula the exact evaluator also finds correct.
"""

from __future__ import annotations

import json
import random
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzz_support import (
    GRADED,
    ILLEGAL_INSIDE,
    UNICODE_DIGITS,
    fuzz_settings,
    hang_guard,
    hostile_text,
    reply_preview,
)
from gpoints_env import ID_RULES, RULE_OOD_RULES, Verdict, check_answer, grade_reply
from gpoints_env.checker import MAX_FORMULA_CHARS, MAX_NESTING, PAPER_REWARDS

RANKS = ("A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K")
RULES = {"id": ID_RULES, "rule_ood": RULE_OOD_RULES}
SIGNS = {"\u00d7": "*", "\u00f7": "/", "\u2212": "-"}
# Text the reader strips around a formula (Markdown and sentence punctuation): formulas generated with such a
# character at an edge are graded for the generic properties only.
EDGE = " \t\r\n*_`$"
TRAILING = EDGE + ".,;:}\"'"
#: Replies to generate in this module (the suite's total must reach 10,000; see test_volume).
TARGET_REPLIES = 7_000


# ---- the independent evaluator -------------------------------------------------------------------------------


class Illegal(Exception):
    pass


def _tokens(formula: str) -> list[str | int]:
    tokens: list[str | int] = []
    digits = ""
    for ch in formula:
        ch = SIGNS.get(ch, ch)
        if "0" <= ch <= "9":
            digits += ch
            continue
        if digits:
            tokens.append(int(digits))
            digits = ""
        if ch in " \t":
            continue
        if ch in "+-*/()":
            tokens.append(ch)
            continue
        raise Illegal(ch)
    if digits:
        tokens.append(int(digits))
    return tokens


class _Exact:
    """expr := term (('+'|'-') term)* ; term := factor (('*'|'/') factor)* ; factor := INT | '(' expr ')'.
    Values are Fractions; ``None`` is an undefined value (a division by zero somewhere below)."""

    def __init__(self, tokens: list[str | int]):
        self.tokens, self.i, self.depth, self.used = tokens + ["end"], 0, 0, []

    def peek(self):
        return self.tokens[self.i]

    def take(self):
        self.i += 1
        return self.tokens[self.i - 1]

    def expr(self):
        value = self.term()
        while self.peek() in ("+", "-"):
            op, right = self.take(), self.term()
            value = None if value is None or right is None else (value + right if op == "+" else value - right)
        return value

    def term(self):
        value = self.factor()
        while self.peek() in ("*", "/"):
            op, right = self.take(), self.factor()
            if value is None or right is None or (op == "/" and right == 0):
                value = None
            else:
                value = value * right if op == "*" else value / right
        return value

    def factor(self):
        tok = self.take()
        if isinstance(tok, int):
            self.used.append(tok)
            return Fraction(tok)
        if tok == "(":
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise Illegal("depth")
            value = self.expr()
            if self.take() != ")":
                raise Illegal("unclosed")
            self.depth -= 1
            return value
        raise Illegal(str(tok))


def exact_verdict(formula: str, numbers: list[int], target: int) -> str:
    """The verdict the rules give ``formula`` (already extracted) for a hand of ``numbers``."""
    if len(formula) > MAX_FORMULA_CHARS:
        return "illegal_formula"
    core = formula.split("=")[0] if formula.count("=") == 1 and formula.split("=")[1].strip().isdigit() \
        and formula.split("=")[1].strip().isascii() else formula
    try:
        tokens = _tokens(core)
        if not tokens:
            raise Illegal("empty")
        parser = _Exact(tokens)
        value = parser.expr()
        if parser.peek() != "end":
            raise Illegal("trailing")
    except Illegal:
        return "illegal_formula"
    if sorted(parser.used) != sorted(numbers):
        return "wrong_numbers"
    if value is None:
        return "division_by_zero"
    return "correct" if value == target else "wrong_value"


def test_the_exact_evaluator_itself():
    hand = [8, 3, 8, 3]
    assert exact_verdict("8/(3-8/3)", hand, 24) == "correct"
    assert exact_verdict("8 \u00f7 (3 \u2212 8 \u00f7 3) = 24", hand, 24) == "correct"
    assert exact_verdict("8*3+8-3", hand, 24) == "wrong_value"
    assert exact_verdict("8/(3-3)*8", hand, 24) == "division_by_zero"
    assert exact_verdict("8/(3-3)*8*2", hand, 24) == "wrong_numbers"
    for illegal in ("8**3+8+3", "-8+3*8*3", "8(3)+8+3", "8.0*3+8-3", "8*3+8-3)", "(" * 33 + "8" + ")" * 33,
                    "8*3+8-\u00b3", "8*3+8+3\x00", "8^3+8+3", "8//3+8+3"):
        assert exact_verdict(illegal, hand, 24) == "illegal_formula", illegal
    assert exact_verdict("(" * 32 + "8/(3-8/3)" + ")" * 32, hand, 24) == "illegal_formula"  # 33 levels
    assert exact_verdict("(" * 31 + "8/(3-8/3)" + ")" * 31, hand, 24) == "correct"


# ---- generators ----------------------------------------------------------------------------------------------


@st.composite
def hands(draw):
    ranks = draw(st.lists(st.sampled_from(RANKS), min_size=4, max_size=4))
    rules_name = draw(st.sampled_from(sorted(RULES)))
    return ranks, rules_name


def _number(rnd) -> int:
    kind = rnd.randrange(4)
    if kind == 0:
        return rnd.randrange(14)
    if kind == 1:
        return rnd.randrange(10**40)
    if kind == 2:
        return int("9" * rnd.randint(1, 300))  # huge
    return rnd.choice([0, 1, 24, 10**6])


def _expression(rnd, numbers: list[int]) -> str:
    """A well-formed expression over ``numbers`` (the hand's, or others), randomly bracketed."""
    if rnd.random() < 0.6:
        terms = [str(n) for n in rnd.sample(numbers, len(numbers))]
    else:
        terms = [str(_number(rnd)) for _ in range(rnd.randint(1, 6))]
    while len(terms) > 1:
        i = rnd.randrange(len(terms) - 1)
        joined = f"{terms[i]}{rnd.choice('+-*/')}{terms[i + 1]}"
        terms[i:i + 2] = [f"({joined})" if rnd.random() < 0.5 else joined]
    return terms[0]


MUTATIONS = ("insert", "delete", "operator", "unicode_sign", "spaces", "nest", "unbalance", "leading_zero",
             "exponent")


@st.composite
def formulas(draw, numbers: list[int]):
    """A near-valid formula: a well-formed expression with up to three random mutations.

    The choices come from a ``random.Random`` seeded by hypothesis (reproducible under ``derandomize``):
    drawing each choice from hypothesis made generation, not grading, the suite's cost.
    """
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    text = _expression(rnd, numbers)
    for mutation in rnd.sample(MUTATIONS, rnd.choice([0, 0, 1, 1, 2, 3])):
        if mutation == "insert":
            at = rnd.randint(0, len(text))
            text = text[:at] + rnd.choice(ILLEGAL_INSIDE) + text[at:]
        elif mutation == "delete" and len(text) > 1:
            at = rnd.randrange(len(text))
            text = text[:at] + text[at + 1:]
        elif mutation == "operator":
            old = rnd.choice("+-*/")
            text = text.replace(old, rnd.choice(["**", "//", "^", "%", "+-", "*-", "", "x"]), 1)
        elif mutation == "unicode_sign":
            for sign, plain in SIGNS.items():
                if rnd.random() < 0.5:
                    text = text.replace(plain, sign)
        elif mutation == "spaces":
            text = "".join(ch + rnd.choice(["", "", "", " ", "\t", "  "]) for ch in text).strip()
        elif mutation == "nest":
            depth = rnd.randint(1, MAX_NESTING + 4)
            text = "(" * depth + text + ")" * depth
        elif mutation == "unbalance":
            text = rnd.choice("()") + text if rnd.random() < 0.5 else text + ")"
        elif mutation == "leading_zero":
            text = "0" + text if text[:1].isdigit() else text
        elif mutation == "exponent":
            text = text + rnd.choice(["**9**9**9", "^1000", "e309", "E9", "**-1"])
    if rnd.random() < 0.2:  # the claimed result, last: "expr = 24"
        text = f"{text} = {rnd.choice([24, 10, 0])}"
    return text


def _clean_edges(formula: str) -> bool:
    return bool(formula) and formula == formula.strip(EDGE).rstrip(TRAILING) and formula.strip() != ""


PROSE = ["", "Sure.\n", "Here is my answer.\n\n", "```json\n", "Let me think step by step. I add and multiply.\n"]


# ---- the checks ----------------------------------------------------------------------------------------------


def _grade(reply: str, ranks: list[str], rules_name: str, *, check_cards: bool = False):
    rules = RULES[rules_name]
    GRADED["gpoints"] += 1
    with hang_guard(f"grade_reply({reply_preview(reply)})"):
        result = grade_reply(reply, ranks, rules, check_cards=check_cards)
    assert isinstance(result.verdict, Verdict), reply_preview(reply)
    assert result.reward == PAPER_REWARDS[result.verdict] and isinstance(result.feedback, str)
    if result.verdict is Verdict.CORRECT:  # never a success the exact evaluator disagrees with
        assert result.formula is not None
        assert exact_verdict(result.formula, rules.values(ranks), rules.target) == "correct", reply_preview(reply)
    return result


def _check(reply: str, ranks: list[str], rules_name: str):
    rules = RULES[rules_name]
    GRADED["gpoints"] += 1
    with hang_guard(f"check_answer({reply_preview(reply)})"):
        result = check_answer(reply, rules.values(ranks), rules.target, rules.operators)
    assert isinstance(result.verdict, Verdict) and result.reward == PAPER_REWARDS[result.verdict]
    return result


def _case(hand, data):
    """A hand, a near-valid formula over it, and the formula's exact verdict."""
    ranks, rules_name = hand
    rules = RULES[rules_name]
    numbers = rules.values(ranks)
    formula = data.draw(formulas(numbers), label="formula")
    return ranks, rules_name, numbers, formula, exact_verdict(formula, numbers, rules.target)


@fuzz_settings(700)
@given(hand=hands(), data=st.data())
def test_formula_replies_get_the_exact_verdict(hand, data):
    ranks, rules_name, numbers, formula, expected = _case(hand, data)
    as_json = json.dumps({"formula": formula}, ensure_ascii=data.draw(st.booleans()))
    prose = data.draw(st.sampled_from(PROSE))
    thought = data.draw(st.sampled_from(["", "2+2=4, so 24 = 4*6", '{"formula": "1+1"}', "(((", "\u00b2\x00"]))
    replies = [
        as_json,
        prose + as_json,
        f"<think>{thought}</think>" + as_json,  # only what follows the reasoning counts
        as_json + f"\n<think>{thought}",  # an unclosed <think>: what precedes it counts
    ]
    predictable = _clean_edges(formula)
    for reply in replies:
        result = _grade(reply, ranks, rules_name)
        if predictable:
            assert result.verdict.value == expected, (reply_preview(reply), expected, result.feedback)
        assert _check(reply, ranks, rules_name).verdict == result.verdict
    # A lone expression of plain characters is graded as the formula.
    plain = set(formula) <= set("0123456789+-*/() \t\u00d7\u00f7\u2212")
    has_operator = any(ch in formula for ch in "+-*/\u00d7\u00f7\u2212")
    if plain and has_operator and formula[:1] in set("0123456789(") and formula[-1:] in set("0123456789)"):
        result = _grade(formula, ranks, rules_name)
        assert result.verdict.value == expected, (reply_preview(formula), expected, result.feedback)


@fuzz_settings(500)
@given(hand=hands(), data=st.data())
def test_image_mode_replies_get_the_exact_verdict_and_recognition(hand, data):
    ranks, rules_name, numbers, formula, expected = _case(hand, data)
    reported = list(data.draw(st.permutations(ranks)))
    misread = data.draw(st.sampled_from(["no", "rank", "unicode"]))
    if misread == "rank":
        absent = [v for v in range(2, 10) if v not in numbers]
        reported[data.draw(st.integers(0, 3))] = str(data.draw(st.sampled_from(absent)))
    elif misread == "unicode":
        reported[data.draw(st.integers(0, 3))] = data.draw(st.sampled_from(UNICODE_DIGITS))
    reply = json.dumps({"cards": reported, "formula": formula}, ensure_ascii=data.draw(st.booleans()))
    result = _grade(reply, ranks, rules_name, check_cards=True)
    assert result.recognized is (misread == "no"), reply_preview(reply)
    if _clean_edges(formula):
        if misread != "no" and expected not in ("illegal_formula", "no_formula"):
            expected = "wrong_cards"
        assert result.verdict.value == expected, (reply_preview(reply), expected, result.feedback)


# ---- hostile replies: no exception, a verdict, bounded time --------------------------------------------------

MEGABYTE_BUILDERS = [
    lambda n: "9" * n,
    lambda n: "(" * n,
    lambda n: "1+" * (n // 2) + "1",
    lambda n: "(" * (n // 2) + "1" + ")" * (n // 2),
    lambda n: '{"formula": "' + "9" * n + '"}',
    lambda n: '{"formula": "' + "1*" * (n // 2) + '1"}',
    lambda n: "[" * n,
    lambda n: '{"a": ' * (n // 6) + "1" + "}" * (n // 6),
    lambda n: json.dumps({f"k{i}": i for i in range(n // 12)}),
    lambda n: "<think>" * (n // 7),
    lambda n: "</think>" * (n // 8) + '{"formula": "1+2"}',
    lambda n: '{"cards": [' + '"A", ' * (n // 5) + '"K"], "formula": "1+2"}',
    lambda n: "\ud800" * n,
    lambda n: "\u00b2" * n + "+1",
    lambda n: "formula: " * (n // 9),
    lambda n: "\\times" * (n // 6),
    lambda n: "9**" * (n // 3) + "9",
    lambda n: "= 24 " * (n // 5),
]


@fuzz_settings(500)
@given(hand=hands(), text=hostile_text, prefix=st.sampled_from(["", '{"formula": "', "formula: ", "<think>",
                                                                 '{"cards": [', "```\n", "**Formula:**\n\n"]))
def test_hostile_text_never_raises(hand, text, prefix):
    ranks, rules_name = hand
    for reply in (prefix + text, prefix + text + '"}', text + "\n<think>"):
        _grade(reply, ranks, rules_name, check_cards=True)
        _check(reply, ranks, rules_name)


@fuzz_settings(40)
@given(hand=hands(), builder=st.sampled_from(range(len(MEGABYTE_BUILDERS))),
       size=st.sampled_from([1_000, 60_000, 1_000_000]))
def test_megabyte_and_deep_replies_never_raise(hand, builder, size):
    ranks, rules_name = hand
    reply = MEGABYTE_BUILDERS[builder](size)
    _grade(reply, ranks, rules_name, check_cards=True)
    _check(reply, ranks, rules_name)


@pytest.mark.parametrize("reply", [None, 24, 2.5, b"1+2", ["1+2"], {"formula": "1+2"}])
def test_non_text_replies_get_no_formula(reply):
    assert check_answer(reply, [1, 2, 3, 4]).verdict is Verdict.NO_FORMULA
    assert grade_reply(reply, ["A", "2", "3", "4"], ID_RULES, check_cards=True).verdict is Verdict.NO_FORMULA


def test_volume():
    """The module's share of the suite's 10,000 generated replies per run (when its fuzz tests all ran)."""
    if GRADED["gpoints"] == 0:
        pytest.skip("run with the fuzz tests above")
    assert GRADED["gpoints"] >= TARGET_REPLIES, GRADED
