"""Grade a model's free-text answer to a GeneralPoints hand: extract, parse, check, reward, explain.

:func:`grade_reply` is the entry point the environment uses (cards, rules, and in image mode the reported
cards); :func:`check_answer` grades the formula alone against a list of numbers.

Nothing here evaluates text as code. A reply goes through three stages, each linear in its length:

1. :func:`extract_formula` finds the formula in the raw reply: the value of a ``formula`` key (strict or relaxed
   JSON: single quotes, code fences, trailing commas, ``formula: ...`` lines) or else the last bare arithmetic
   expression; ``<think>...</think>`` is skipped.
2. :func:`parse_formula` normalises it (``×``, ``÷``, ``−``, a trailing ``= 24``), tokenises it against a whitelist
   (integers, ``+ - * /``, parentheses, spaces) and parses it with a small recursive-descent parser whose
   nesting depth and input size are bounded, computing the value exactly with :class:`fractions.Fraction`.
3. :func:`check_answer` compares the numbers used with the hand (as a multiset) and the value with the
   target, and returns one :class:`Verdict`, its reward from a :class:`RewardTable`, and feedback a model can
   act on.

Verdicts are tried most specific first: no formula, illegal formula, (image mode) wrong cards, wrong numbers,
division by zero, wrong value, correct.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any, Callable, Mapping, Sequence, TypeVar

from sftrl_core import grading
from sftrl_core.grading import VerdictEnum
from sftrl_core.replies import find_key_value, key_pattern, strip_thinking
from sftrl_core.rewards import RewardTable as CoreRewardTable

from .prompts import ANSWER_EXAMPLE
from .recognition import cards_match, read_reported_cards
from .rules import OPERATORS, Rules

__all__ = [
    "Verdict",
    "RewardTable",
    "PAPER_REWARDS",
    "BINARY_REWARDS",
    "REWARD_SCHEMES",
    "reward_table",
    "Extraction",
    "ParsedFormula",
    "FormulaError",
    "Grade",
    "extract_formula",
    "parse_formula",
    "check_answer",
    "grade_reply",
    "formula_to_sympy",
    "build_expression",
    "tokenize_formula",
    "format_number",
    "MAX_FORMULA_CHARS",
    "MAX_NESTING",
]

#: Longest formula (after extraction) the checker will parse; a 4-card formula needs about 20 characters.
MAX_FORMULA_CHARS = 1000
#: Deepest parenthesis nesting the parser accepts (keeps recursion far from Python's limit).
MAX_NESTING = 32


class Verdict(VerdictEnum):
    """The one verdict an answer gets. A ``str`` subclass equal to its value, so it serialises to JSON as it."""

    CORRECT = "correct"
    WRONG_VALUE = "wrong_value"  #: uses exactly the cards, but the value is not the target
    DIVISION_BY_ZERO = "division_by_zero"  #: uses exactly the cards, but divides by zero
    WRONG_NUMBERS = "wrong_numbers"  #: parses, but the numbers used are not the cards (missing, reused, extra)
    WRONG_CARDS = "wrong_cards"  #: image mode: the reported cards are not the cards in the image
    ILLEGAL_FORMULA = "illegal_formula"  #: a formula was found but is not a legal expression
    NO_FORMULA = "no_formula"  #: no formula could be found in the reply


@dataclass(frozen=True)
class RewardTable(CoreRewardTable):
    """Reward per verdict. The defaults are the paper's values (correct +5, wrong value -1, wrong numbers -2,
    misread cards -1.5 in image mode, illegal or unparseable formula -3), except for a division by zero. The
    paper's checker has no verdict for it (its float ``eval`` fails and the answer mostly ends at -1, see the
    paper protocol notes); the suite gives it -3 because such a formula never evaluates to a number, like an
    illegal one, rather than reaching a wrong number. ``{"division_by_zero": -1}`` gives the paper's value.

    ``table[verdict]`` and ``table.reward(verdict)`` give a verdict's reward;
    :meth:`~sftrl_core.rewards.RewardTable.resolve` (alias :func:`reward_table`) reads a scheme name, a table or
    a mapping of overrides:

    >>> RewardTable.resolve({"illegal_formula": -1})[Verdict.ILLEGAL_FORMULA]
    -1.0
    """

    correct: float = 5.0
    wrong_value: float = -1.0
    division_by_zero: float = -3.0
    wrong_numbers: float = -2.0
    wrong_cards: float = -1.5
    illegal_formula: float = -3.0
    no_formula: float = -3.0


PAPER_REWARDS = RewardTable()
#: 1 for a correct answer, 0 otherwise (e.g. for GRPO-style training).
BINARY_REWARDS = RewardTable(correct=1.0, wrong_value=0.0, division_by_zero=0.0, wrong_numbers=0.0,
                             wrong_cards=0.0, illegal_formula=0.0, no_formula=0.0)
REWARD_SCHEMES: dict[str, RewardTable] = {"paper": PAPER_REWARDS, "binary": BINARY_REWARDS}
RewardTable.SCHEMES = REWARD_SCHEMES
#: Resolve a reward scheme: a name in :data:`REWARD_SCHEMES`, a :class:`RewardTable`, or a mapping of field
#: overrides on the paper's table (e.g. ``{"illegal_formula": -1}``); raises ValueError or TypeError naming the
#: problem. Same as :meth:`RewardTable.resolve`.
reward_table = RewardTable.resolve


# --------------------------------------------------------------------------------------------------------------
# Stage 1: find the formula in a raw reply.
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Extraction:
    """Where the formula came from. ``formula`` is ``None`` when none was found; ``problem`` then says why,
    and ``illegal`` tells whether a formula field existed but held something that is not a formula."""

    formula: str | None
    source: str  # "key" (a formula field), "bare" (an expression in the text) or "none"
    problem: str | None = None
    illegal: bool = False


_JSON_KIND = {list: "a list", dict: "an object", bool: "a boolean", int: "a number", float: "a number",
              type(None): "null"}
# Characters that may occur in an arithmetic run of free text (the tokenizer later rejects what is illegal).
_RUN_RE = re.compile(r"[0-9(][0-9 \t+\-*/()\u00d7\u00f7\u2212\u2013\u00b7\u22c5\u2217=.^%!]*")
_RUN_OPERATORS = frozenset("+-*/\u00d7\u00f7\u2212\u2013\u00b7\u22c5\u2217^%")
_DIGITS = frozenset("0123456789")
# Around a formula, these belong to the prose: blanks, code and math quotes, Markdown emphasis, and (after the
# formula) punctuation.
_QUOTING = " \t\r\n`$_"
_LEADING_JUNK = _QUOTING + "*"
_TRAILING_JUNK = _QUOTING + ".,;:}\"'"
_TRAILING_JUNK_AND_EMPHASIS = _TRAILING_JUNK + "*"
# The formula field, but not the label of this checker's own feedback ("Illegal formula: ...") echoed by a model.
# (The look-behind sits after the key's letters, so it costs nothing at the positions where no key starts.)
_FORMULA_KEY = re.compile(key_pattern("formula").pattern.replace("formula", "formula(?<!illegal formula)"),
                          re.IGNORECASE)


def _opens_emphasis(text: str, start: int) -> bool:
    """Whether ``text`` has a Markdown emphasis opener (``*`` or ``**`` at the start or after a blank or ``(``)
    right before ``start`` (so a ``*`` after a letter, as in ``N*(3)``, is an operator, not emphasis)."""
    stars = start
    while stars > 0 and start - stars < 3 and text[stars - 1] == "*":
        stars -= 1
    return stars < start and (stars == 0 or text[stars - 1] in " \t\r\n([{:\"'")


def _strip_edges(text: str, opened: bool = False) -> str:
    """A formula without the prose around it.

    A trailing ``*`` is Markdown emphasis only when emphasis opened before the formula (``**(1+2)*8**``, or
    ``opened``); otherwise it stays, and the parser rejects it: ``3**i`` or ``(3)*`` never become the formulas
    ``3`` or ``(3)``.
    """
    stripped = text.lstrip(_LEADING_JUNK)
    if not opened and len(stripped) < len(text):
        opened = "*" in text[:len(text) - len(stripped)]
    return stripped.rstrip(_TRAILING_JUNK_AND_EMPHASIS if opened else _TRAILING_JUNK)


def extract_formula(reply: str) -> Extraction:
    """Find the formula in a raw model reply (see the module docstring). Never raises for a ``str``."""
    text = strip_thinking(reply)
    found, value, is_json = find_key_value(text, _FORMULA_KEY)
    if found:
        if not isinstance(value, str):
            kind = _JSON_KIND.get(type(value), type(value).__name__)
            return Extraction(None, "key", f"the formula must be a string such as \"(1+2)*3\", not {kind}", True)
        formula = _strip_edges(value)
        if not formula:
            return Extraction(None, "key", "the formula field is empty")
        return Extraction(formula, "key")
    if "\\" in text:
        text = _replace_latex(text)  # "8 \\div 3" must read as one run of arithmetic
    candidate = None
    for match in _RUN_RE.finditer(text):
        run = _strip_edges(match.group(), _opens_emphasis(text, match.start()))
        # Set tests, not a regex such as "[0-9].*[+]": that backtracks quadratically on a 100k-digit run.
        # Tested after stripping: what is left of "**3**" holds no operator, so it is no formula.
        if not _RUN_OPERATORS.isdisjoint(run) and not _DIGITS.isdisjoint(run):
            candidate = run
    if candidate is None:
        return Extraction(None, "none", 'neither a "formula" field nor an arithmetic expression in the reply')
    return Extraction(candidate, "bare")


# --------------------------------------------------------------------------------------------------------------
# Stage 2: tokenise and parse a formula, computing its value exactly.
# --------------------------------------------------------------------------------------------------------------


class FormulaError(ValueError):
    """A formula is not a legal expression; the message says why in words a model can act on."""


_UNICODE_SIGNS = str.maketrans({"\u00d7": "*", "\u2217": "*", "\u00b7": "*", "\u22c5": "*", "\u00f7": "/",
                                "\u2215": "/", "\u2212": "-", "\u2013": "-", "\u2014": "-", "\uff08": "(",
                                "\uff09": ")", "\u00a0": " "})
_LATEX_SIGNS = (("\\times", "*"), ("\\cdot", "*"), ("\\div", "/"), ("\\left", ""), ("\\right", ""))
_ALLOWED = "0123456789+-*/() \t"
_INTEGER_RE = re.compile(r"\s*\d+\s*")


def _replace_latex(text: str) -> str:
    for latex, sign in _LATEX_SIGNS:
        text = text.replace(latex, sign)
    return text


def _normalise(formula: str) -> str:
    text = formula.translate(_UNICODE_SIGNS)
    if "\\" in text:
        text = _replace_latex(text)
    if "=" in text:
        # "expr = 24", "24 = expr", "expr == 24": keep the side that is not just the claimed result.
        sides = [side for side in text.split("=") if side.strip()]
        exprs = [side for side in sides if not _INTEGER_RE.fullmatch(side)]
        text = exprs[0] if exprs else (sides[0] if sides else "")
    return _strip_edges(text)


_TOKEN_RE = re.compile(r"[0-9]+|\*\*|//|[-+*/()]|[ \t]+|.", re.DOTALL)


def _tokenise(text: str, operators: str) -> list[str]:
    tokens = [tok for tok in _TOKEN_RE.findall(text) if tok[0] not in " \t"]
    for tok in tokens:
        ch = tok[0]
        if "0" <= ch <= "9" or ch in "()":
            continue
        if tok == "**":
            raise FormulaError("'**' (power) is not allowed; use only + - * / and parentheses")
        if tok == "//":
            raise FormulaError("'//' is not an operator; use '/' for exact division")
        if ch in OPERATORS:
            if ch not in operators:
                raise FormulaError(f"the operator {ch!r} is not allowed in this game; allowed: {' '.join(operators)}")
            continue
        position = text.find(ch) + 1
        if ch == "." and text[position:position + 1].isdigit():
            raise FormulaError("decimal numbers are not allowed; write the card values as integers")
        if ch.isalpha():
            raise FormulaError(
                f"unexpected letter {ascii(ch)} at position {position}: write card values as numbers "
                "(e.g. 10 rather than J) and use only + - * / and parentheses"
            )
        hint = " ('^' is not allowed: no powers)" if ch == "^" else ""
        if ch == "<" and ">" in text:
            hint = " (write your formula in place of the example's placeholder)"
        raise FormulaError(
            f"unexpected character {ascii(ch)} at position {position}{hint}; use only integers, + - * / and parentheses"
        )
    return tokens


T = TypeVar("T")


class _Parser:
    """Recursive descent over ``expr := term (('+'|'-') term)*``, ``term := factor (('*'|'/') factor)*``,
    ``factor := INTEGER | '(' expr ')'``. Builds values through ``number`` and ``binary`` callbacks, so the
    same grammar yields exact values for grading or sympy expressions for users."""

    def __init__(self, tokens: list[str], number: Callable[[int], T], binary: Callable[[str, T, T], T]):
        self.tokens = [*tokens, ""]  # "" marks the end, so lookahead never indexes past it
        self.pos, self.depth = 0, 0
        self.number, self.binary = number, binary
        self.numbers: list[int] = []

    def parse(self) -> T:
        if len(self.tokens) == 1:
            raise FormulaError("the formula is empty")
        value = self.expr()
        tok = self.tokens[self.pos]
        if tok == ")":
            raise FormulaError("unbalanced parentheses: a ')' has no matching '('")
        if tok:
            raise FormulaError(f"missing operator before {tok!r} (implicit multiplication is not allowed; use '*')")
        return value

    def expr(self) -> T:
        value = self.term()
        while (tok := self.tokens[self.pos]) == "+" or tok == "-":
            self.pos += 1
            value = self.binary(tok, value, self.term())
        return value

    def term(self) -> T:
        value = self.factor()
        while (tok := self.tokens[self.pos]) == "*" or tok == "/":
            self.pos += 1
            value = self.binary(tok, value, self.factor())
        return value

    def factor(self) -> T:
        tok = self.tokens[self.pos]
        self.pos += 1
        if tok[:1].isdigit():
            n = int(tok)
            self.numbers.append(n)
            return self.number(n)
        if tok == "(":
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise FormulaError(f"parentheses nested deeper than {MAX_NESTING} levels")
            value = self.expr()
            if self.tokens[self.pos] != ")":
                raise FormulaError("unbalanced parentheses: a '(' is never closed")
            self.pos += 1
            self.depth -= 1
            return value
        if not tok:
            raise FormulaError("the formula ends with an operator or an open parenthesis")
        if tok == ")":
            raise FormulaError("empty parentheses or an operator right before ')'")
        if tok == "-":
            raise FormulaError("unary minus is not allowed: every '-' must subtract one expression from another")
        raise FormulaError(f"operator {tok!r} has no left operand")


@dataclass(frozen=True)
class ParsedFormula:
    """A legal formula: its normalised text, the integers it uses (in order) and its exact value, which is
    ``None`` when it divides by zero."""

    text: str
    numbers: tuple[int, ...]
    value: Fraction | None


def _exact(op: str, a: Fraction | int | None, b: Fraction | int | None) -> Fraction | int | None:
    """Exact arithmetic on ints and Fractions (ints while results stay whole: faster); ``None`` = undefined."""
    if a is None or b is None:
        return None
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if not b:
        return None
    if type(a) is int and type(b) is int:
        return a // b if a % b == 0 else Fraction(a, b)
    return a / b


def tokenize_formula(formula: str, operators: str = OPERATORS) -> list[str]:
    """The tokens of a formula (integers, operators, parentheses) after normalising signs and ``= 24``.

    Raises:
        FormulaError: a character or operator the game does not allow, or a formula over the length limit.
    """
    if len(formula) > MAX_FORMULA_CHARS:
        raise FormulaError(f"the formula is {len(formula)} characters long; the limit is {MAX_FORMULA_CHARS}")
    # ascii() in the tokeniser's messages keeps feedback inside the observation charset whatever was written.
    return _tokenise(_normalise(formula), operators)


def build_expression(
    formula: str, number: Callable[[int], T], binary: Callable[[str, T, T], T], operators: str = OPERATORS
) -> T:
    """Parse a formula with the safe parser, building the result bottom-up with ``number(n)`` for each integer
    and ``binary(op, left, right)`` for each operation (for custom representations of formulas).

    Raises:
        FormulaError: the formula is not legal.
    """
    return _Parser(tokenize_formula(formula, operators), number, binary).parse()


def parse_formula(formula: str, operators: str = OPERATORS) -> ParsedFormula:
    """Parse one formula (already extracted from a reply) and compute its value exactly.

    Raises:
        FormulaError: the formula is not legal; the message says why.
        TypeError: ``formula`` is not a string.
    """
    if not isinstance(formula, str):
        raise TypeError(f"formula must be a str, got {type(formula).__name__}")
    tokens = tokenize_formula(formula, operators)
    parser = _Parser(tokens, int, _exact)
    value = parser.parse()
    return ParsedFormula("".join(tokens), tuple(parser.numbers), None if value is None else Fraction(value))


def formula_to_sympy(formula: str, operators: str = OPERATORS, evaluate: bool = False):
    """A sympy expression for a formula, built by the safe parser (never ``sympify`` on the text).

    With ``evaluate=False`` (default) the expression keeps the formula's structure, e.g. for printing or
    symbolic comparison; with ``evaluate=True`` it is the exact sympy ``Rational`` value.

    Raises:
        FormulaError: the formula is not legal (including a division by zero).
    """
    import sympy

    def binary(op: str, a, b):
        if op == "+":
            return sympy.Add(a, b, evaluate=evaluate)
        if op == "-":
            return sympy.Add(a, sympy.Mul(-1, b, evaluate=evaluate), evaluate=evaluate)
        if op == "*":
            return sympy.Mul(a, b, evaluate=evaluate)
        return sympy.Mul(a, sympy.Pow(b, -1, evaluate=evaluate), evaluate=evaluate)

    if parse_formula(formula, operators).value is None:  # also raises FormulaError for illegal text
        raise FormulaError("the formula divides by zero")
    return build_expression(formula, sympy.Integer, binary, operators)


# --------------------------------------------------------------------------------------------------------------
# Stage 3: the verdict.
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grade(grading.Grade):
    """The grade of one answer: :class:`~sftrl_core.grading.Grade`'s ``verdict``, ``reward``, ``feedback`` and
    ``success``, and what was read from the reply."""

    formula: str | None = None  #: the normalised formula that was graded, if one was found and legal
    value: Fraction | None = None  #: its exact value
    numbers_used: tuple[int, ...] | None = None
    #: image mode: whether the reported cards were right; ``None`` when not checked or no cards were reported
    recognized: bool | None = None

    @property
    def is_correct(self) -> bool:
        """Old name of :attr:`success`, kept for one release; use ``success``."""
        return self.success


#: Old name of :class:`Grade`, kept for one release (not in ``__all__``); use ``Grade``.
CheckResult = Grade


def format_number(value: Fraction | int) -> str:
    """Short exact text for a value: ``24``, ``-7/2``; very large values by their size only."""
    text = str(value)
    if len(text) <= 40:
        return text
    value = Fraction(value)
    return f"a number of about {len(str(abs(value.numerator))) - len(str(value.denominator)) + 1} digits"


def _shorten(formula: str, limit: int = 120) -> str:
    return formula if len(formula) <= limit else formula[: limit - 3] + "..."


def _numbers_message(used: Sequence[int], cards: Sequence[int]) -> str:
    # Plain dict counts: collections.Counter arithmetic was a third of a wrong answer's grading time.
    need: dict[int, int] = {}
    for n in cards:
        need[n] = need.get(n, 0) + 1
    have: dict[int, int] = {}
    for n in used:
        have[n] = have.get(n, 0) + 1
    problems = []
    missing = sorted(n for n, k in need.items() for _ in range(k - have.get(n, 0)))
    if missing:
        problems.append("not used: " + ", ".join(map(str, missing)))
    reused = sorted(n for n, k in have.items() if n in need and k > need[n])
    if reused:
        problems.append("used too often: " + ", ".join(map(str, reused)))
    foreign = sorted(n for n in have if n not in need)
    if foreign:
        problems.append("not on the cards: " + ", ".join(format_number(n) for n in foreign[:12])
                        + (", ..." if len(foreign) > 12 else ""))
    used_text = ", ".join(format_number(n) for n in used[:12]) + (", ..." if len(used) > 12 else "")
    return (
        f"Your formula uses the numbers [{used_text}] but the cards give [{', '.join(map(str, cards))}]; "
        f"each card must be used exactly once ({'; '.join(problems)})."
    )


def check_answer(
    reply: object,
    numbers: Sequence[int],
    target: int = 24,
    operators: str = OPERATORS,
    rewards: RewardTable = PAPER_REWARDS,
) -> Grade:
    """Grade a raw model reply against a hand.

    Args:
        reply: the model's raw reply. Anything that is not a ``str`` gets :attr:`Verdict.NO_FORMULA`.
        numbers: the card values of the hand, under the active rules.
        target: the number to reach.
        operators: allowed binary operators.
        rewards: the reward per verdict.

    Returns:
        A :class:`Grade`; never raises for any ``reply``.
    """

    def result(verdict: Verdict, feedback: str, **kw: Any) -> Grade:
        return Grade(verdict, rewards[verdict], feedback, **kw)

    if not isinstance(reply, str):
        return result(Verdict.NO_FORMULA, f"The reply must be text, not {type(reply).__name__}.")
    found = extract_formula(reply)
    if found.formula is None:
        example = ANSWER_EXAMPLE
        if found.illegal:
            return result(Verdict.ILLEGAL_FORMULA, f"Illegal formula: {found.problem}.")
        return result(Verdict.NO_FORMULA, f"No formula found: {found.problem}. Answer with JSON such as {example}.")
    try:
        parsed = parse_formula(found.formula, operators)
    except FormulaError as err:
        return result(Verdict.ILLEGAL_FORMULA, f"Illegal formula: {err}.")
    shown = _shorten(parsed.text)
    common = {"formula": parsed.text, "numbers_used": parsed.numbers}
    if sorted(parsed.numbers) != sorted(numbers):
        return result(Verdict.WRONG_NUMBERS, _numbers_message(parsed.numbers, numbers), **common)
    if parsed.value is None:
        return result(Verdict.DIVISION_BY_ZERO, f"Your formula {shown} divides by zero.", **common)
    if parsed.value != target:
        return result(
            Verdict.WRONG_VALUE,
            f"Your formula {shown} evaluates to {format_number(parsed.value)}, not {target}.",
            value=parsed.value,
            **common,
        )
    return result(Verdict.CORRECT, f"Correct: {shown} = {target}.", value=parsed.value, **common)


def _shown_item(item: str) -> str:
    # Only letters, digits and spaces of what the model wrote are echoed (keeps feedback in the charset).
    kept = "".join(ch for ch in item if ch.isascii() and (ch.isalnum() or ch == " "))[:12]
    return kept or "?"


def grade_reply(
    reply: object,
    ranks: Sequence[str],
    rules: Rules,
    rewards: RewardTable = PAPER_REWARDS,
    check_cards: bool = False,
) -> Grade:
    """Grade a raw reply to a dealt hand under ``rules``: the formula, and in image mode the reported cards.

    With ``check_cards=True`` the reply's ``cards`` field (if any) is compared with ``ranks`` (see
    :mod:`gpoints_env.recognition`) and reported as ``result.recognized``. Cards that were misread give
    :attr:`Verdict.WRONG_CARDS`, which ranks after a missing or illegal formula and before every arithmetic
    verdict: an answer built on misread cards is not a success even if its formula happens to fit. A reply
    without a ``cards`` field is graded on its formula alone (``recognized`` is ``None``).

    Args:
        reply: the model's raw reply.
        ranks: the dealt rank labels, e.g. ``["8", "3", "8", "3"]``.
        rules: the active rules (card values, target, operators).
        rewards: the reward per verdict.
        check_cards: check the reported cards (image mode).

    Returns:
        A :class:`Grade`; never raises for any ``reply``.
    """
    result = check_answer(reply, rules.values(ranks), rules.target, rules.operators, rewards)
    if not check_cards or not isinstance(reply, str):
        return result
    reported, items = read_reported_cards(reply)
    if not reported:
        return result
    recognized = items is not None and cards_match(items, ranks, rules)
    if recognized or result.verdict in (Verdict.NO_FORMULA, Verdict.ILLEGAL_FORMULA):
        return replace(result, recognized=recognized)
    if items is None:
        feedback = (f'The "cards" field must list the {len(ranks)} ranks you see in the image, '
                    'such as ["A", "7", "10", "K"].')
    else:
        feedback = (f"The cards you reported ({', '.join(_shown_item(i) for i in items)}) are not the cards "
                    "in the image. Look at the image again and report the rank of each card.")
    return Grade(Verdict.WRONG_CARDS, rewards[Verdict.WRONG_CARDS], feedback, result.formula, result.value,
                       result.numbers_used, recognized=False)
