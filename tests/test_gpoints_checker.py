"""The answer checker: extraction from raw replies, the whitelist parser, verdicts, rewards, hostile input."""

from __future__ import annotations

from fractions import Fraction

import pytest

from gpoints_env import BINARY_REWARDS, PAPER_REWARDS, RewardTable, Verdict, check_answer, extract_formula
from gpoints_env.checker import MAX_FORMULA_CHARS, MAX_NESTING, FormulaError, parse_formula, reward_table
from gpoints_env.prompts import OBSERVATION_CHARSET

from fuzz_support import hang_guard

HAND = [8, 3, 8, 3]  # one solution: 8/(3-8/3)


# ---- extraction: the formula is found wherever a model puts it ---------------------------------------------

CORRECT_REPLIES = {
    "strict JSON": '{"formula": "8/(3-8/3)"}',
    "JSON with other keys": '{"cards": ["8", "3", "8", "3"], "number": [8, 3, 8, 3], "formula": "8/(3-8/3)"}',
    "single quotes, trailing comma": "{'formula': '8/(3-8/3)',}",
    "code fence": 'Here you go:\n```json\n{\n  "formula": "8/(3-8/3)"\n}\n```',
    "spaces and = 24": '{"formula": "8 / ( 3 - 8 / 3 ) = 24"}',
    "24 = formula": '{"formula": "24 = 8/(3-8/3)"}',
    "unicode signs": '{"formula": "8 \u00f7 (3 \u2212 8 \u00f7 3)"}',
    "LaTeX division": "$8 \\div (3 - 8 \\div 3) = 24$",
    "think block ignored": '<think>maybe {"formula": "8*3"}? no...</think>{"formula": "8/(3-8/3)"}',
    "think opened in the prompt": 'so 8*3 fails.</think>\n{"formula": "8/(3-8/3)"}',
    "last formula key wins": '{"formula": "8*3"} wait, that is wrong. {"formula": "8/(3-8/3)"}',
    "formula: line": "Reasoning...\n**Formula:** 8/(3-8/3)\n",
    "bare expression": "8/(3-8/3)",
    "bare in prose": "After some thought, the answer is 8/(3-8/3) = 24.",
    "unquoted key": "{formula: 8/(3-8/3)}",
    "escaped JSON": '{"formula": "8\\/(3-8\\/3)"}',
    "backticks": "formula: `8/(3-8/3)`",
}


@pytest.mark.parametrize("name", list(CORRECT_REPLIES))
def test_correct_answers_in_many_formats(name):
    result = check_answer(CORRECT_REPLIES[name], HAND)
    assert result.verdict is Verdict.CORRECT, result.feedback
    assert result.reward == 5.0
    assert result.formula == "8/(3-8/3)"
    assert result.value == 24


def test_exact_arithmetic_accepts_what_floats_reject():
    # 8/(3-8/3) is 23.999999999999996 in floating point; the authors' checker rejected it.
    assert 8 / (3 - 8 / 3) != 24
    assert check_answer("8/(3-8/3)", HAND).success
    assert check_answer("(5-1/5)*5", [5, 1, 5, 5]).success
    assert check_answer("3/(1-7/8)", [3, 1, 7, 8]).success
    assert check_answer("8/(3-3/8)", [8, 3, 3, 8]).verdict is Verdict.WRONG_VALUE  # 64/21


# ---- verdicts: one per answer, most specific first ---------------------------------------------------------

VERDICT_TABLE = [
    # reply, hand, verdict, words the feedback must contain
    ("(8-3)*3+8", HAND, Verdict.WRONG_VALUE, "evaluates to 23, not 24"),
    ("8*3/(8-3)", HAND, Verdict.WRONG_VALUE, "evaluates to 24/5"),
    ("8*3", HAND, Verdict.WRONG_NUMBERS, "not used: 3, 8"),
    ("8*3*(3-8/8)", HAND, Verdict.WRONG_NUMBERS, "used too often: 8"),
    ("(8+3+8+3)+2", HAND, Verdict.WRONG_NUMBERS, "not on the cards: 2"),
    ("{\"formula\": \"24\"}", HAND, Verdict.WRONG_NUMBERS, "not on the cards: 24"),
    ("24", HAND, Verdict.NO_FORMULA, "No formula found"),  # a bare number is no formula
    ("83-8*3... no", HAND, Verdict.WRONG_NUMBERS, "83"),
    ("3/(8-8)*3", HAND, Verdict.DIVISION_BY_ZERO, "divides by zero"),
    ("1/0", [1, 0, 2, 3], Verdict.WRONG_NUMBERS, "not used"),
    ("{\"formula\": \"8/(3-8/3)-\"}", HAND, Verdict.ILLEGAL_FORMULA, "ends with an operator"),
    ("{\"formula\": \"8**3\"}", HAND, Verdict.ILLEGAL_FORMULA, "power"),
    ("{\"formula\": \"8^3\"}", HAND, Verdict.ILLEGAL_FORMULA, "'^'"),
    ("{\"formula\": \"8//3\"}", HAND, Verdict.ILLEGAL_FORMULA, "'//'"),
    ("{\"formula\": \"-8+3*8+3\"}", HAND, Verdict.ILLEGAL_FORMULA, "unary minus"),
    ("{\"formula\": \"8(3-8/3)\"}", HAND, Verdict.ILLEGAL_FORMULA, "implicit multiplication"),
    ("{\"formula\": \"(8/(3-8/3)\"}", HAND, Verdict.ILLEGAL_FORMULA, "never closed"),
    ("{\"formula\": \"8/(3-8/3))\"}", HAND, Verdict.ILLEGAL_FORMULA, "no matching"),
    ("{\"formula\": \"8*()3\"}", HAND, Verdict.ILLEGAL_FORMULA, "empty parentheses"),
    ("{\"formula\": \"2.5*8+3+3\"}", HAND, Verdict.ILLEGAL_FORMULA, "decimal"),
    ("{\"formula\": \"K+8+3+3\"}", HAND, Verdict.ILLEGAL_FORMULA, "letter"),
    ("{\"formula\": \"__import__('os').system('echo hacked')\"}", HAND, Verdict.ILLEGAL_FORMULA, "letter"),
    ("{\"formula\": \"8 \u00e9 3\"}", HAND, Verdict.ILLEGAL_FORMULA, "\\xe9"),
    ("{\"formula\": \"8 ; 3\"}", HAND, Verdict.ILLEGAL_FORMULA, "';'"),
    ("{\"formula\": \"\"}", HAND, Verdict.NO_FORMULA, "empty"),
    ("{\"formula\": 24}", HAND, Verdict.ILLEGAL_FORMULA, "not a number"),
    ("{\"formula\": null}", HAND, Verdict.ILLEGAL_FORMULA, "not null"),
    ("{\"formula\": [\"8\", \"/\", \"3\"]}", HAND, Verdict.ILLEGAL_FORMULA, "not a list"),
    ("{\"formula\": {\"x\": 1}}", HAND, Verdict.ILLEGAL_FORMULA, "not an object"),
    ("{\"formula\": true}", HAND, Verdict.ILLEGAL_FORMULA, "not a boolean"),
    ("I cannot solve this one.", HAND, Verdict.NO_FORMULA, "No formula found"),
    ("", HAND, Verdict.NO_FORMULA, "No formula found"),
    ("<think>8/(3-8/3) works", HAND, Verdict.NO_FORMULA, "No formula found"),  # never finished thinking
]


@pytest.mark.parametrize("reply, hand, verdict, words", VERDICT_TABLE, ids=[str(i) for i in range(len(VERDICT_TABLE))])
def test_verdict_table(reply, hand, verdict, words):
    result = check_answer(reply, hand)
    assert result.verdict is verdict, result.feedback
    assert words in result.feedback
    assert result.reward == PAPER_REWARDS[verdict]


@pytest.mark.parametrize("reply", [None, 24, b"8/(3-8/3)", ["8/(3-8/3)"], {"formula": "8/(3-8/3)"}])
def test_non_string_replies_get_a_verdict_not_a_crash(reply):
    result = check_answer(reply, HAND)
    assert result.verdict is Verdict.NO_FORMULA
    assert "must be text" in result.feedback


def test_operator_restriction_is_enforced():
    result = check_answer("8/(3-8/3)", HAND, operators="+-*")
    assert result.verdict is Verdict.ILLEGAL_FORMULA
    assert "'/' is not allowed" in result.feedback


def test_other_targets():
    assert check_answer("8-3+8-3", [8, 3, 3, 8], target=10).success
    assert check_answer("8-3+8-3", [8, 3, 3, 8]).verdict is Verdict.WRONG_VALUE


# ---- hostile input: a verdict, quickly, never a crash or a hang -------------------------------------------

HOSTILE = {
    "100k characters of digits": ("9" * 100_000, {Verdict.NO_FORMULA}),
    "100k-character expression": ("9+" * 50_000 + "9", {Verdict.ILLEGAL_FORMULA}),
    "100k-character JSON formula": ('{"formula": "' + "1+" * 50_000 + '1"}', {Verdict.ILLEGAL_FORMULA}),
    "100k characters of letters": ("x" * 100_000, {Verdict.NO_FORMULA}),
    "deep parentheses (bare)": ("(" * 5000 + "8/(3-8/3)" + ")" * 5000, {Verdict.ILLEGAL_FORMULA}),
    "deep parentheses (JSON, short)": ('{"formula": "' + "(" * 40 + "8/(3-8/3)" + ")" * 40 + '"}', {Verdict.ILLEGAL_FORMULA}),
    "deeply nested JSON value": ('{"formula": ' + "[" * 100_000 + "]" * 100_000 + "}", {Verdict.ILLEGAL_FORMULA}),
    "unterminated JSON string": ('{"formula": "8/(3-8/3)', {Verdict.CORRECT}),
    "many think tags": ("<think>" * 30_000 + "8/(3-8/3)", {Verdict.NO_FORMULA}),
    "many closing think tags": ("</think>" * 30_000 + "8/(3-8/3)", {Verdict.CORRECT}),
    "many formula keys": ('"formula": ' * 30_000, {Verdict.NO_FORMULA}),
    "python code": ("__import__('os').system('touch /tmp/pwned')", {Verdict.NO_FORMULA}),
    "power tower": ('{"formula": "9**9**9**9"}', {Verdict.ILLEGAL_FORMULA}),
    "huge integers": ('{"formula": "' + "9" * 900 + "*" + "9" * 90 + '"}', {Verdict.WRONG_NUMBERS}),
    "huge product of cards": ('{"formula": "' + "*".join(["8"] * 400) + '"}', {Verdict.WRONG_NUMBERS}),
    "NUL and control characters": ("\x00\x01\x02 8/(3-8/3) \x7f", {Verdict.CORRECT}),
    "lone surrogates": ("\ud800\udfff" * 1000, {Verdict.NO_FORMULA}),
    "unicode digits": ('{"formula": "\u0668/(\u0663-\u0668/\u0663)"}', {Verdict.ILLEGAL_FORMULA}),
    "superscripts": ('{"formula": "8\u00b3"}', {Verdict.ILLEGAL_FORMULA}),
    "regex bait": ("(" + "1" * 50_000 + " " * 50_000 + "x", {Verdict.NO_FORMULA}),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_answers_get_the_right_verdict_quickly(name):
    reply, verdicts = HOSTILE[name]
    with hang_guard("the checker", seconds=5.0):
        result = check_answer(reply, HAND)
    assert result.verdict in verdicts, result.feedback
    # Feedback stays short and inside the observation charset whatever the reply held.
    assert len(result.feedback) < 1500
    assert set(result.feedback) <= set(OBSERVATION_CHARSET)


def test_limits_are_stated_in_feedback():
    long_formula = "+".join(["1"] * (MAX_FORMULA_CHARS // 2 + 1))
    assert f"limit is {MAX_FORMULA_CHARS}" in check_answer(long_formula, HAND).feedback
    deep = "(" * (MAX_NESTING + 1) + "8" + ")" * (MAX_NESTING + 1)
    with pytest.raises(FormulaError, match="nested deeper"):
        parse_formula(deep)
    ok = "(" * MAX_NESTING + "8" + ")" * MAX_NESTING
    assert parse_formula(ok).value == 8


def test_parse_formula_is_exact_and_reports_numbers():
    parsed = parse_formula("8 / (3 - 8/3)")
    assert parsed.value == Fraction(24) and parsed.numbers == (8, 3, 8, 3) and parsed.text == "8/(3-8/3)"
    assert parse_formula("1/3+1/6").value == Fraction(1, 2)
    assert parse_formula("2-3-4").value == -5  # left-associative
    assert parse_formula("2/3/4").value == Fraction(1, 6)
    assert parse_formula("2+3*4").value == 14  # precedence
    assert parse_formula("1/(2-2)").value is None
    with pytest.raises(TypeError):
        parse_formula(8)


def test_extraction_reports_its_source():
    assert extract_formula('{"formula": "1+2"}').source == "key"
    assert extract_formula("so 1+2").source == "bare"
    assert extract_formula("nothing here").formula is None


# ---- rewards -----------------------------------------------------------------------------------------------


def test_paper_reward_table():
    assert PAPER_REWARDS[Verdict.CORRECT] == 5
    assert PAPER_REWARDS[Verdict.WRONG_VALUE] == -1
    assert PAPER_REWARDS[Verdict.WRONG_NUMBERS] == -2
    assert PAPER_REWARDS[Verdict.ILLEGAL_FORMULA] == -3
    assert PAPER_REWARDS[Verdict.NO_FORMULA] == -3
    assert PAPER_REWARDS[Verdict.DIVISION_BY_ZERO] == -3


def test_reward_schemes():
    assert reward_table("binary") is BINARY_REWARDS
    assert [BINARY_REWARDS[v] for v in Verdict] == [1.0 if v is Verdict.CORRECT else 0.0 for v in Verdict]
    custom = reward_table({"illegal_formula": -10})
    assert custom.illegal_formula == -10 and custom.correct == 5
    assert check_answer("8^3", HAND, rewards=custom).reward == -10
    with pytest.raises(ValueError, match="unknown reward scheme"):
        reward_table("gentle")
    with pytest.raises(ValueError, match="unknown reward fields"):
        reward_table({"corect": 1})
    with pytest.raises(TypeError):
        reward_table(5)
    assert isinstance(reward_table(RewardTable(correct=2)), RewardTable)


def test_verdicts_serialise_as_strings():
    import json

    assert json.dumps({"verdict": Verdict.WRONG_VALUE}) == '{"verdict": "wrong_value"}'
    assert str(Verdict.CORRECT) == "correct"


# ---- replies of real chat models (issue 13) ------------------------------------------------------------------

CARDS_10_4_5_1 = [10, 4, 5, 1]


@pytest.mark.parametrize(
    "reply",
    [
        "**Formula:**\n\n(10-4)*(5-1)",  # a bold label on its own line, the formula below it
        "__Formula:__\n(10-4)*(5-1)",
        "**Formula:**   \r\n  (10-4)*(5-1)",
        "**Formula:** (10-4)*(5-1)",  # the same on one line (worked before)
        "Formula:**(10-4)*(5-1)**",  # a bold value right after the separator
        "The answer is **(10-4)*(5-1)**.",
        "**(10-4)*(5-1) = 24**",
    ],
)
def test_bold_labels_and_bold_formulas_are_read(reply):
    result = check_answer(reply, CARDS_10_4_5_1)
    assert result.verdict is Verdict.CORRECT and result.formula == "(10-4)*(5-1)"


def test_a_bold_cards_label_on_its_own_line_is_read_too():
    from gpoints_env.recognition import read_reported_cards

    assert read_reported_cards('**Cards:**\n\n["10", "4", "5", "A"]') == (True, ["10", "4", "5", "A"])


@pytest.mark.parametrize(
    "reply",
    [
        "for i in range(3):\n    x = 3**i",  # code: '3**' must not become the formula '3'
        "(A*N*(3)*Z|",  # prose: '(3)*' must not become the formula '(3)'
        "2*x and then 3*",
        "**3**",
    ],
)
def test_markdown_stripping_does_not_manufacture_formulas(reply):
    result = check_answer(reply, CARDS_10_4_5_1)
    assert result.verdict in (Verdict.NO_FORMULA, Verdict.ILLEGAL_FORMULA), result
    assert result.reward == -3 and result.formula is None


def test_an_echoed_feedback_label_is_not_a_formula_field():
    feedback = check_answer('{"formula": "(10-x)*(5-1)"}', CARDS_10_4_5_1).feedback
    assert feedback.startswith("Illegal formula: unexpected letter")
    echoed = check_answer(feedback, CARDS_10_4_5_1)
    assert echoed.verdict is Verdict.NO_FORMULA and "position 1" not in echoed.feedback
    # An answer before the echo still counts; an echo of the feedback's JSON example is a placeholder.
    assert check_answer('{"formula": "(10-4)*(5-1)"}\n' + feedback, CARDS_10_4_5_1).verdict is Verdict.CORRECT
    assert check_answer("Illegal formula: (10-4)*(5-1)", CARDS_10_4_5_1).verdict is Verdict.CORRECT  # bare


def test_the_prompt_example_is_a_placeholder_not_a_formula():
    from gpoints_env.prompts import ANSWER_EXAMPLE, IMAGE_ANSWER_EXAMPLE, build_prompt
    from gpoints_env.rules import ID_RULES

    for example in (ANSWER_EXAMPLE, IMAGE_ANSWER_EXAMPLE):
        assert extract_formula(example).formula == "<your formula>"
    for prompt in (build_prompt(ID_RULES, ["10", "4", "5", "A"]), build_prompt(ID_RULES, None)):
        assert "(1+2)*3-4" not in prompt and '"formula": "<your formula>"' in prompt
        assert extract_formula(prompt).source != "bare"  # no arithmetic over other numbers to copy
    copied = check_answer(ANSWER_EXAMPLE, CARDS_10_4_5_1)
    assert copied.verdict is Verdict.ILLEGAL_FORMULA and "placeholder" in copied.feedback
    assert ANSWER_EXAMPLE in check_answer("no idea", CARDS_10_4_5_1).feedback
