"""GeneralPoints under protocol="paper": the authors' prompt, parsing, grading, episode, dealing, picture,
evaluation lists and SFT answers (see gpoints_env/protocols.py and the paper protocol notes)."""

from __future__ import annotations

import json
import re
from collections import Counter
from fractions import Fraction
from itertools import combinations_with_replacement, permutations, product

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gpoints_env
from gpoints_env import ENV_IDS, ID_RULES, RULE_OOD_RULES, Verdict, grade, is_solvable
from gpoints_env.protocols import (
    PAPER_EVAL_SETTINGS,
    PAPER_STYLE,
    _EvalFailure,
    _python_arithmetic,
    _search,
    _SHAPES,
    expert_reply,
    paper_answer_key,
    paper_card_list,
    paper_deal,
    paper_eval_hands,
    paper_eval_hands_version,
    paper_grade,
    paper_read_field,
)
from gpoints_env.specs import advance, spec_prompt

# --------------------------------------------------------------------------------------------------------------
# The prompt, verbatim.
# --------------------------------------------------------------------------------------------------------------

TEXT_ID = """
[Task Description]
You are an expert 24 points card game player. You will receive a set of 4 cards.
Note that 'J', 'Q', and 'K' count as '10'., and each card must be used once.
Your goal is to output a formula that evaluates to 24 using numbers from the cards and operators such as '+', '-', '*', '/', '(', ')', and '='.

[Input]
Cards: ['K', '5', '10', 'A']

[Output]
{
  "cards": [x, y, z, w], where 'J', 'Q', and 'K' count as '10'.,
  "number": [a, b, c, d], where a, b, c, and d are the numbers on the cards,
  "formula": 'an equation that equals 24',
}

"""

TEXT_OOD = """
[Task Description]
You are an expert 24 points card game player. You will receive a set of 4 cards.
Note that 'J', 'Q', and 'K' count as '11', '12', and '13' respectively., and each card must be used once.
Your goal is to output a formula that evaluates to 24 using numbers from the cards and operators such as '+', '-', '*', '/', '(', ')', and '='.

[Input]
Cards: ['Q', '2', '7', '6']

[Output]
{
  "cards": [x, y, z, w], where 'J', 'Q', and 'K' count as '11', '12', and '13' respectively.,
  "number": [a, b, c, d], where a, b, c, and d are the numbers on the cards,
  "formula": 'an equation that equals 24',
}

"""

IMAGE_ID = """
[Task Description]
You are an expert 24 points card game player. You are observing these four cards in the image.
Note that 'J', 'Q', and 'K' count as '10'., and each card must be used once.
Your goal is to output a formula that evaluates to 24 using numbers from the cards and operators such as '+', '-', '*', '/', '(', ')', and '='.

[Output]
Your response should be a valid json file in the following format:
{
  "cards": [x, y, z, w], where 'J', 'Q', and 'K' count as '10'.,
  "number": [a, b, c, d], where a, b, c, and d are the numbers on the cards,
  "formula": 'an equation that equals 24',
}

"""


@pytest.mark.parametrize(("env_id", "cards", "expected"), [
    ("GeneralPoints-v0", ["K", "5", "10", "A"], TEXT_ID),
    ("GeneralPoints-RuleOOD-v0", ["Q", "2", "7", "6"], TEXT_OOD),
    ("GeneralPoints-VL-v0", ["K", "5", "10", "A"], IMAGE_ID),
])
def test_reset_prompt_is_the_authors_template(env_id: str, cards: list[str], expected: str) -> None:
    env = gym.make(env_id, protocol="paper")
    obs, info = env.reset(seed=0, options={"cards": cards})
    text = obs["text"] if isinstance(obs, dict) else obs
    assert text == expected
    assert info["messages"] == [{"role": "user", "content": expected}]
    assert spec_prompt(env.unwrapped.episode_spec()) == expected


def test_every_id_takes_the_paper_protocol_and_the_suite_stays_the_default() -> None:
    for env_id in ENV_IDS:
        assert gym.make(env_id).unwrapped.protocol == "suite"
        env = gym.make(env_id, protocol="paper")
        obs, info = env.reset(seed=3)
        text = obs["text"] if isinstance(obs, dict) else obs
        assert text.startswith("\n[Task Description]\nYou are an expert 24 points card game player.")
        assert "paper_label" in info and "paper_label" not in gym.make(env_id).reset(seed=3)[1]
    with pytest.raises(ValueError, match="protocol must be one of"):
        gym.make("GeneralPoints-v0", protocol="papers")


def test_paper_refuses_rules_and_settings_its_prompt_cannot_state() -> None:
    with pytest.raises(ValueError, match="4 cards, A = 1"):
        gym.make("GeneralPoints-v0", protocol="paper", ace_value=11)
    with pytest.raises(ValueError, match="4 cards, A = 1"):
        gym.make("GeneralPoints-v0", protocol="paper", operators="+-*")
    with pytest.raises(ValueError, match="rewards='paper'"):
        gym.make("GeneralPoints-v0", protocol="paper", rewards="binary")
    with pytest.raises(ValueError, match="4 cards, A = 1"):
        gpoints_env.AceValue(gym.make("GeneralPoints-v0", protocol="paper"), 11).reset(seed=0)
    with pytest.raises(ValueError, match="no jitter"):
        gpoints_env.Jitter(gym.make("GeneralPoints-VL-v0", protocol="paper"), degrees=3.0).reset(seed=0)
    # Rules the paper's prompt can state: another target, other face values.
    env = gpoints_env.TargetPoints(gym.make("GeneralPoints-v0", protocol="paper"), 30)
    obs, _ = env.reset(seed=0)
    assert "expert 30 points card game player" in obs
    assert env.step(env.unwrapped.expert_reply())[1] == 5.0


# --------------------------------------------------------------------------------------------------------------
# Grading: the authors' verdicts and rewards (docs/PAPER_PROTOCOL.md section 1).
# --------------------------------------------------------------------------------------------------------------

def _json(formula: str) -> str:
    return json.dumps({"cards": ["x"], "formula": formula})


GRADES = [
    # (ranks, reply, reward, feedback, verdict)
    (["8", "3", "8", "3"], _json("(3*8)3+4"), -7.0,
     "invalid sequence after number, you used invalid numbers: [4], you didn't use numbers: [8].", Verdict.ILLEGAL_FORMULA),
    (["8", "3", "8", "3"], _json("(8*3*9)"), -4.0, "you used invalid numbers: [9], you didn't use numbers: [8, 3].",
     Verdict.WRONG_NUMBERS),
    (["8", "3", "8", "3"], _json("3+*8**3*8"), -6.0,
     "invalid sequence after operator, invalid sequence after operator.", Verdict.ILLEGAL_FORMULA),
    (["K", "5", "9", "A"], _json("10*10-5+1"), -4.0,
     "you used numbers: [10] too many times, you didn't use numbers: [9].", Verdict.WRONG_NUMBERS),
    (["4", "6", "A", "A"], _json("4*6*1*1=24"), 5.0, "Correct solution.", Verdict.CORRECT),
    (["4", "6", "A", "A"], _json("=24"), -2.0, "you didn't use numbers: [4, 6, 1].", Verdict.WRONG_NUMBERS),
    (["4", "6", "A", "A"], _json("4 * 6 * 1 * 1"), -3.0, "illegal characters.", Verdict.ILLEGAL_FORMULA),
    (["4", "6", "A", "A"], _json("4x6x1x1"), -3.0, "illegal characters.", Verdict.ILLEGAL_FORMULA),
    (["4", "6", "A", "A"], "{'formula': '4*6*1*1'}", -3.0, "illegal characters.", Verdict.NO_FORMULA),
    (["4", "6", "A", "A"], "4*6*1*1", -3.0, "illegal characters.", Verdict.NO_FORMULA),
    (["4", "6", "A", "A"], '{"formula": 24}', -3.0, "illegal characters.", Verdict.ILLEGAL_FORMULA),
    (["4", "6", "A", "A"], _json("-4*6*1*1"), -3.0, "invalid sequence after operator.", Verdict.ILLEGAL_FORMULA),
    (["4", "6", "A", "A"], _json("4*6*1*1)"), -3.0, "unmatched closing parenthesis.", Verdict.ILLEGAL_FORMULA),
    # A '(' out of sequence is not pushed, so its ')' is unmatched as well.
    (["4", "6", "A", "A"], _json("4(6*1*1)"), -6.0, "invalid sequence before '(', unmatched closing parenthesis.",
     Verdict.ILLEGAL_FORMULA),
    (["4", "6", "A", "A"], _json("4*6*1*1*()"), -3.0, "invalid sequence after ')'.", Verdict.ILLEGAL_FORMULA),
    (["4", "6", "A", "A"], _json("4*6*1*()"), -5.0, "invalid sequence after ')', you didn't use numbers: [1].",
     Verdict.ILLEGAL_FORMULA),
    # Exact values: a correct formula that float == misses is still correct (theirs: 0, message ".").
    (["8", "3", "8", "3"], _json("8/(3-8/3)"), 5.0, "Correct solution.", Verdict.CORRECT),
    # An unfinished prefix of an answer-key formula: eval fails, +1.
    (["8", "3", "8", "3"], _json("8/(3-8/3"), 1.0, "partial solution.", Verdict.ILLEGAL_FORMULA),
    (["8", "3", "8", "3"], _json("8+8+3+3"), -1.0,
     "8 is partially correct but the full formula does not match any solution.", Verdict.WRONG_VALUE),
    (["8", "3", "8", "3"], _json("3+3+8+8"), -1.0, "your formula does not match any solution.", Verdict.WRONG_VALUE),
    # The prefix walk compares strings: "1" starts the key formula "10*(4-1)-6".
    (["A", "10", "4", "6"], _json("1+10+4+6"), -1.0,
     "1 is partially correct but the full formula does not match any solution.", Verdict.WRONG_VALUE),
    # Division by zero is no penalty of its own: the prefix walk grades it.
    (["8", "3", "5", "5"], _json("8*3/(5-5)"), -1.0,
     "8*3/(5 is partially correct but the full formula does not match any solution.", Verdict.DIVISION_BY_ZERO),
    # Leading zeros make Python's eval fail; "08" is no prefix of a key formula.
    (["8", "3", "8", "3"], _json("08/(3-8/3)"), -1.0, "your formula does not match any solution.",
     Verdict.ILLEGAL_FORMULA),
    # The regex needs exactly one space after the colon and double quotes; the formula ends at the first quote.
    (["4", "6", "A", "A"], 'Answer: "formula": "4*6*1*1" (done)', 5.0, "Correct solution.", Verdict.CORRECT),
    (["4", "6", "A", "A"], 'Answer: "formula":"4*6*1*1"', -3.0, "illegal characters.", Verdict.NO_FORMULA),
]


@pytest.mark.parametrize(("ranks", "reply", "reward", "feedback", "verdict"), GRADES)
def test_paper_grades_as_the_authors(ranks, reply, reward, feedback, verdict) -> None:
    result = paper_grade(reply, ranks, ID_RULES)
    assert (result.reward, result.feedback, result.verdict) == (reward, feedback, verdict)
    assert result.success == (reward == 5.0)
    expected_label = {5.0: "CORRECT_SOLUTION", 1.0: "PARTIAL_SOLUTION", -1.0: "NO_SOLUTION", -2.0: "INCORRECT_NUMBER",
                      -3.0: "ILLEGAL_FORMULA"}.get(reward, "AGGREGATED_ERROR")
    assert result.label == expected_label


def test_rule_ood_values_count_in_the_number_check_and_the_key() -> None:
    rules = RULE_OOD_RULES
    ok = paper_grade(_json("12*2*(7-6)"), ["Q", "2", "7", "6"], rules)
    assert (ok.reward, ok.feedback) == (5.0, "Correct solution.")
    wrong = paper_grade(_json("10*2+7-6+3"), ["Q", "2", "7", "6"], rules)
    assert wrong.feedback == "you used invalid numbers: [10, 3], you didn't use numbers: [12]." and wrong.reward == -4


VISION = [
    # Their card-list parsing: only a bracketed list of unquoted or single-quoted ranks passes.
    ('{"cards": [\'Q\', \'5\', \'J\', \'3\'], "formula": "12*5-J"}', True),
    ('"cards": [Q, 5, J, 3], "formula": "10*3-5-1"', True),
    ('{"cards": ["Q", "5", "J", "3"], "formula": "10*3-5-1"}', False),
    (json.dumps({"cards": ["Q", "5", "J", "3"], "formula": "10*3-5-1"}), False),
    ('"cards": [4, 3, 2, 5], "formula": "1"', False),
    ('"cards": [q, 5, j, 3]', False),
    ('"cards": [5, Q, 3, J]', True),
]


@pytest.mark.parametrize(("reply", "passes"), VISION)
def test_image_mode_checks_the_cards_first(reply: str, passes: bool) -> None:
    result = paper_grade(reply, ["Q", "5", "J", "3"], ID_RULES, image=True)
    if passes:
        assert result.verdict is not Verdict.WRONG_CARDS and result.recognized is True
    else:
        assert (result.reward, result.feedback, result.verdict) == (-1.5, "you recognized wrong cards",
                                                                     Verdict.WRONG_CARDS)
        assert result.label == "INCORRECT_VISION" and result.recognized is False


def test_paper_read_field_and_card_list_follow_theirs() -> None:
    assert paper_read_field('{"formula": "1+2=3", "cards": [1, 2]}', "formula") == "1+2=3"
    assert paper_read_field('{"formula": 24}', "formula") == 24
    assert paper_read_field("no json", "formula") == "None"
    assert paper_read_field('"cards": [1, 2, 3, 4]', "cards") == [1, 2, 3, 4]
    assert paper_read_field('"cards": [1,2,3,4]', "cards") == "[1,2,3,4]"
    assert paper_read_field('"number": [1, 2, 3, 4]', "number") == "1, 2, 3, 4"
    assert paper_card_list("['Q', '5', 'J', '3']") == ["Q", "5", "J", "3"]
    assert paper_card_list([1, 2, 3, 4]) == [] and paper_card_list("[A, 2]") == []
    assert paper_card_list("Q, 5, J, 3") == ["Q", "5", "J", "3"]  # a JSON string value passes too


_ALPHABET = st.text(alphabet='"formula: ]x\n[cards', max_size=60)


@settings(max_examples=400, deadline=None)
@given(_ALPHABET)
def test_linear_matchers_equal_the_authors_regexes(text: str) -> None:
    formula = re.search(r'"formula": "(.*?)"', text)
    assert _search(text, '"formula": "', '"') == (formula.group(1) if formula else None)
    cards = re.search(r'"cards": \[([^\]]+)\]', text)
    assert _search(text, '"cards": [', "]") == (cards.group(1) if cards else None)


def test_hostile_replies_get_a_grade_quickly() -> None:
    hostile = ['"formula": "' * 50_000, '"cards": [' * 50_000 + "x", "(" * 100_000, "1" * 100_000,
               json.dumps({"formula": "(" * 300 + "8/(3-8/3)" + ")" * 300}), '{"formula": ["1"]}', "[" * 100_000,
               json.dumps({"formula": "1" * 5000}), '{"formula": "\u0668/(\u0663-8/3)"}']
    for reply in hostile:
        for image in (False, True):
            result = paper_grade(reply, ["8", "3", "8", "3"], ID_RULES, image=image)
            assert result.reward < 5 and len(result.feedback) < 4000


def test_python_arithmetic_follows_pythons_eval() -> None:
    assert _python_arithmetic(list("8/(3-8/3)".replace("", " ").split())) == 24
    assert _python_arithmetic(["7", "-", "2", "-", "1", "*", "3", "/", "2"]) == Fraction(7, 2)
    assert _python_arithmetic(["(", "1", ")"], float) == 1.0
    nested = ["("] * 200 + ["1"] + [")"] * 200
    assert _python_arithmetic(nested) == 1
    for tokens, kind in ([["("] * 201 + ["1"] + [")"] * 201, "syntax"], [["08"], "syntax"], [["00"], None],
                         [["(", "1"], "syntax"], [["1", "+"], "syntax"], [["\u0663"], "syntax"],
                         [["1", "/", "(", "2", "-", "2", ")"], "zero"], [["1", "/", "0", "+", "("], "syntax"]):
        if kind is None:
            assert _python_arithmetic(tokens) == 0
        else:
            with pytest.raises(_EvalFailure) as failure:
                _python_arithmetic(tokens)
            assert failure.value.kind == kind


# --------------------------------------------------------------------------------------------------------------
# Their solver's answer key.
# --------------------------------------------------------------------------------------------------------------


def _literal_key(values: list[int], target: int = 24) -> set[str]:
    """Their solve() written out plainly: every order x operators x bracket shape, exact values."""
    found = set()
    for digits in set(permutations(values)):
        for ops in product("+-*/", repeat=3):
            base = [str(digits[0]), ops[0], str(digits[1]), ops[1], str(digits[2]), ops[2], str(digits[3])]
            for shape in _SHAPES:
                tokens = list(base)
                for at, bracket in zip(shape, "()" * (len(shape) // 2)):
                    tokens.insert(at, bracket)
                try:
                    if _python_arithmetic(tokens) == target:
                        found.add("".join(tokens))
                except _EvalFailure:
                    pass
    return found


def test_bracket_shapes_are_their_seven() -> None:
    assert _SHAPES == [(), (0, 4), (0, 6), (2, 6), (2, 8), (4, 8), (0, 4, 6, 10)]


@pytest.mark.parametrize("values", [[8, 3, 8, 3], [1, 2, 3, 4], [10, 10, 4, 4], [13, 12, 11, 1], [5, 5, 5, 1]])
def test_answer_key_equals_their_solver(values: list[int]) -> None:
    assert set(paper_answer_key(values)) == _literal_key(values)
    assert paper_answer_key([8, 3, 8, 3]) == ("8/(3-8/3)",)


def test_their_solver_finds_exactly_the_solvable_hands() -> None:
    # So "redeal until their solver finds 24" deals the same hands as exact solvability (both value sets).
    for values in ((1, 2, 3, 4, 5, 6, 7, 8, 9, 10), (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)):
        for hand in list(combinations_with_replacement(values, 4))[::3]:
            assert bool(paper_answer_key(hand)) == is_solvable(hand), hand


# --------------------------------------------------------------------------------------------------------------
# Episodes.
# --------------------------------------------------------------------------------------------------------------


def test_feedback_turns_keep_the_conversation_and_five_attempts_end_it() -> None:
    env = gym.make("GeneralPoints-v0", protocol="paper")
    obs, info = env.reset(options={"cards": ["8", "3", "8", "3"]})
    prompt = obs
    for attempt in range(1, 6):
        obs, reward, terminated, truncated, info = env.step('{"formula": "8 + 8"}')
        assert obs == "You failed this trial because illegal characters."
        assert (reward, info["feedback"], info["paper_label"]) == (-3.0, "illegal characters.", "ILLEGAL_FORMULA")
        assert terminated == (attempt == 5) and not truncated and info["attempts_left"] == 5 - attempt
    assert info["messages"][0] == {"role": "user", "content": prompt}
    assert [m["role"] for m in info["messages"]] == ["user"] + ["assistant", "user"] * 4 + ["assistant"]
    assert info["messages"][2]["content"] == "You failed this trial because illegal characters."
    assert sum(m["content"] == prompt for m in info["messages"]) == 1
    assert not info["is_success"]


def test_a_correct_reply_ends_the_episode_and_specs_grade_alike() -> None:
    env = gym.make("GeneralPoints-VL-v0", protocol="paper")
    obs, info = env.reset(options={"cards": ["8", "3", "8", "3"], "suits": ["spades", "spades", "clubs", "spades"]})
    spec = env.unwrapped.episode_spec()
    assert spec["protocol"] == "paper"
    wrong = '{"cards": [8, 3, 8, 3], "formula": "8+8+3+3"}'
    step = advance(wrong, spec)
    obs, reward, terminated, _, info = env.step(wrong)
    assert (step.grade.reward, step.message, step.terminated) == (reward, obs["text"], terminated)
    assert obs["text"] == "You failed this trial because you recognized wrong cards"
    spec = step.next_spec
    reply = expert_reply(ID_RULES, ["8", "3", "8", "3"], True, "paper")
    assert reply == '\n{\n  "cards": [\'8\', \'3\', \'8\', \'3\'],\n  "number": [8, 3, 8, 3],\n  "formula": "8/(3-8/3)",\n}'
    assert gpoints_env.specs.expert_reply(spec) == reply
    assert grade(reply, spec).reward == 5.0
    obs, reward, terminated, _, info = env.step(reply)
    assert (reward, terminated, info["is_success"], info["verdict"]) == (5.0, True, True, Verdict.CORRECT)


@pytest.mark.parametrize("protocol", ["suite", "paper"])
@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
def test_oracle_scores_100_percent(env_id: str, protocol: str) -> None:
    env = gym.make(env_id, protocol=protocol)
    for seed in range(8):
        env.reset(seed=seed)
        _, reward, terminated, _, info = env.step(env.unwrapped.expert_reply())
        assert info["is_success"] and terminated and reward == 5.0


def test_sft_targets_per_protocol() -> None:
    ranks = ["3", "8", "K", "2"]
    reply = expert_reply(ID_RULES, ranks, protocol="paper")
    formula = re.search(r'"formula": "(.*?)"', reply).group(1)
    assert reply == ('\n{\n  "cards": [\'3\', \'8\', \'K\', \'2\'],\n  "number": [3, 8, 10, 2],\n'
                     f'  "formula": "{formula}",\n}}')
    key = paper_answer_key([3, 8, 10, 2])
    assert formula in key and len(formula) == min(map(len, key))
    assert _python_arithmetic(re.findall(r"\d+|[-+*/()]", formula), float) == 24  # their float eval accepts it
    suite = json.loads(expert_reply(ID_RULES, ranks))
    assert list(suite) == ["formula"] and gpoints_env.check_answer(suite["formula"], [3, 8, 10, 2]).success
    assert list(json.loads(expert_reply(ID_RULES, ranks, image=True))) == ["cards", "formula"]


# --------------------------------------------------------------------------------------------------------------
# Dealing and the picture.
# --------------------------------------------------------------------------------------------------------------


def _their_face_count_distribution(ood: bool) -> dict[int, float]:
    """P(number of J/Q/K in a dealt hand) under their process, by enumeration (ID values for solvability)."""
    weights: Counter[int] = Counter()
    rules = RULE_OOD_RULES if ood else ID_RULES
    ranges = [range(13)] * 3 + [range(10, 13) if ood else range(13)]
    for ranks in product(*ranges):
        values = [rules.rank_values[r] for r in ranks]
        if is_solvable(values):
            weights[sum(r >= 10 for r in ranks)] += 1
    total = sum(weights.values())
    return {k: v / total for k, v in weights.items()}


@pytest.mark.parametrize("ood", [False, True])
def test_paper_dealing_matches_their_distribution(ood: bool) -> None:
    rules = RULE_OOD_RULES if ood else ID_RULES
    rng = np.random.default_rng(0)
    hands = [paper_deal(rules, rng) for _ in range(3000)]
    faces = Counter(sum(card.rank in "JQK" for card in hand) for hand in hands)
    for k, p in _their_face_count_distribution(ood).items():
        assert abs(faces[k] / 3000 - p) < 0.03, (k, faces[k] / 3000, p)
    assert all(is_solvable(rules.values([c.rank for c in hand])) for hand in hands)
    # Ranks with replacement and suits per card: identical physical cards occur (about 1 hand in 10).
    assert 0.04 < sum(len(set(hand)) < 4 for hand in hands) / 3000 < 0.2


def test_paper_dealing_is_seeded() -> None:
    a = gym.make("GeneralPoints-RuleOOD-v0", protocol="paper")
    b = gym.make("GeneralPoints-RuleOOD-v0", protocol="paper")
    assert [a.reset(seed=s)[1]["suits"] for s in range(20)] == [b.reset(seed=s)[1]["suits"] for s in range(20)]
    assert all(set(a.reset(seed=s)[1]["cards"]) & {"J", "Q", "K"} for s in range(50))


def test_paper_picture_has_their_size_colour_and_layout() -> None:
    env = gym.make("GeneralPoints-VL-v0", protocol="paper")
    obs, info = env.reset(options={"cards": ["8", "3", "8", "3"]})
    image = obs["image"]
    assert image.shape == (1200, 1200, 3) and env.observation_space["image"].shape == (1200, 1200, 3)
    assert tuple(image[0, 0]) == (0x35, 0x65, 0x4D) and tuple(image[410, 150]) == (0x35, 0x65, 0x4D)
    for x in (5, 302, 599, 896):
        assert tuple(image[411, x]) == (0, 0, 0)  # their unmasked paste: black card corners
        assert image[411:411 + 378, x:x + 270].mean() > 180  # mostly card stock
        assert tuple(image[411 + 189, x - 3]) == (0x35, 0x65, 0x4D)
    assert tuple(image[411 + 378, 150]) == (0x35, 0x65, 0x4D) and tuple(image[411 + 377, 150]) != (0x35, 0x65, 0x4D)
    assert PAPER_STYLE.resolution == 1200


# --------------------------------------------------------------------------------------------------------------
# The evaluation lists.
# --------------------------------------------------------------------------------------------------------------


def test_eval_lists_are_shipped_with_a_version() -> None:
    assert paper_eval_hands_version() == 1
    assert set(PAPER_EVAL_SETTINGS) == {"GP-L", "GP-L-RuleOOD", "GP-VL", "GP-VL-RuleOOD", "GP-VL-VisualOOD"}
    assert paper_eval_hands("GP-L")[0] == {"cards": ["K", "5", "2", "4"], "suits": ["hearts", "clubs", "diamonds", "clubs"]}
    assert paper_eval_hands("GeneralPoints-RuleOOD-v0")[1]["cards"] == ["J", "Q", "J", "J"]
    with pytest.raises(ValueError, match="unknown paper setting"):
        paper_eval_hands("GP-X")


@pytest.mark.parametrize("setting", sorted(PAPER_EVAL_SETTINGS))
def test_eval_lists_replay_in_order(setting: str) -> None:
    hands = paper_eval_hands(setting)
    assert len(hands) == 234
    env = gym.make(PAPER_EVAL_SETTINGS[setting], protocol="paper")
    for hand in hands:
        obs, info = env.reset(options=hand)
        assert (info["cards"], info["suits"]) == (hand["cards"], hand["suits"])
    if setting != "GP-L":
        return
    duplicated = next(h for h in hands if len(set(zip(h["cards"], h["suits"]))) < 4)
    with pytest.raises(ValueError, match="repeats a physical card"):
        gym.make("GeneralPoints-v0").reset(options=duplicated)


def test_suits_option_is_checked() -> None:
    env = gym.make("GeneralPoints-VL-v0", protocol="paper")
    with pytest.raises(ValueError, match="not a suit of the 'black' deck"):
        env.reset(options={"cards": ["8", "3", "8", "3"], "suits": ["hearts"] * 4})
    with pytest.raises(ValueError, match="pass both"):
        env.reset(options={"suits": ["spades"] * 4})
    suite = gym.make("GeneralPoints-v0")
    _, info = suite.reset(options={"cards": ["8", "3", "8", "3"], "suits": ["hearts", "clubs", "spades", "spades"]})
    assert info["suits"] == ["hearts", "clubs", "spades", "spades"]
