"""Reply parsing and grading (virl_env.task.checker), including hostile replies."""

from __future__ import annotations

import json

import pytest

from virl_env.task.checker import (
    MAX_REPLY_CHARS,
    ParsedReply,
    grade_reply,
    normalize_action,
    observation_problem,
    parse_reply,
)
from virl_env.protocols.prompts import OBS_CHARSET
from virl_env.world.routes import RailPoint
from virl_env.task.rules import REWARD_TABLES, NavigationRules, RewardTable, Verdict, get_reward_table

PAPER = REWARD_TABLES["paper"]
ABS = NavigationRules()
REL = NavigationRules(action_mode="relative")
BEAR = NavigationRules(action_mode="bearing")

TURN = RailPoint(position=(0.0, 0.0), heading=0.0, kind="turn",
                 observation="Cafe Flore is on your right behind; You observe an intersection",
                 landmarks=("Cafe Flore",), at_intersection=True, sentence=2, turn_to=92.0,
                 turn_relative="right")
FORWARD = RailPoint(position=(0.0, 50.0), heading=0.0, kind="forward", observation="No landmarks nearby",
                    landmarks=(), at_intersection=False, sentence=1, turn_to=None, turn_relative=None)
DEST = RailPoint(position=(0.0, 90.0), heading=0.0, kind="destination", observation="Bar Luna is on your left",
                 landmarks=("Bar Luna",), at_intersection=False, sentence=3, turn_to=None, turn_relative=None)


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("forward()", "forward()"),
        ("Forward()", "forward()"),
        ("  FORWARD ( ) ", "forward()"),
        ("forward", "forward()"),
        ("stop", "stop()"),
        ("stop().", "stop()"),
        ("turn_direction(east)", "turn_direction(east)"),
        ("Turn_Direction( North East )", "turn_direction(northeast)"),
        ("turn_direction(north-west)", "turn_direction(northwest)"),
        ("turn direction(south_east)", "turn_direction(southeast)"),
        ("turn_direction('east')", "turn_direction(east)"),
        ('turn_direction("slightly  left")', "turn_direction(slightly left)"),
        ("turn_direction(Slightly-Right)", "turn_direction(slightly right)"),
        ("turn_direction(90 degrees)", "turn_direction(90)"),
        ("turn_direction(045)", "turn_direction(45)"),
        ("turn_direction(360)", "turn_direction(0)"),
        ("`forward()`", "forward()"),
        ("go forward please", None),
        ("turn_direction()", None),
        ("", None),
    ],
)
def test_normalize_action(text, action):
    assert normalize_action(text) == action


@pytest.mark.parametrize(
    ("reply", "action", "observation"),
    [
        ('{"action": "forward()"}', "forward()", None),
        ('{"current observation": "No landmarks nearby", "current instruction": "2. Move", '
         '"action": "Forward()"}', "forward()", "No landmarks nearby"),
        ("{'current observation': 'x', 'action': 'turn_direction(east)',}", "turn_direction(east)", "x"),
        ('```json\n{"action": "stop()",}\n```', "stop()", None),
        ('{\n  "current_observation": "a",\n  "Action": "turn_direction(North)"\n}', "turn_direction(north)", "a"),
        ("<think>maybe forward() or stop()</think>\n{\"action\": \"stop()\"}", "stop()", None),
        ("I am at the intersection, so my answer is turn_direction(west).", "turn_direction(west)", None),
        ("turn_direction(east)", "turn_direction(east)", None),
        ('{action: "forward()"}', "forward()", None),
        ('Answer: {"action": "forward()"} hope this helps {', "forward()", None),
    ],
)
def test_parse_reply_accepts(reply, action, observation):
    parsed = parse_reply(reply)
    assert parsed.error is None
    assert parsed.action == action
    assert parsed.observation == observation


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("", "no action found"),
        ("I don't know", "no action found"),
        ("forward() or turn_direction(east)?", "several different actions"),
        ('{"action": 3}', "must be a string"),
        ('{"action": ["forward()"]}', "must be a string"),
        ('{"action": null}', "must be a string"),
        ('{"action": "fly()"}', "not an action"),
        ("<think>forward()", "no action found"),
        ("x" * (MAX_REPLY_CHARS + 1), "too long"),
    ],
)
def test_parse_reply_rejects(reply, error):
    parsed = parse_reply(reply)
    assert parsed.action is None
    assert error in parsed.error


def test_a_reply_that_is_not_text_gets_a_verdict_not_an_exception():
    for bad in (None, 3, b"forward()", ["forward()"], {"action": "forward()"}):
        parsed = parse_reply(bad)
        assert parsed == ParsedReply(None, None, f"the reply must be text, not {type(bad).__name__}")
        grade = grade_reply(bad, FORWARD, ABS, PAPER)
        assert (grade.verdict, grade.reward, grade.action) == (Verdict.INVALID, -1.0, None) and not grade.success
        assert grade.feedback == f"Invalid reply: the reply must be text, not {type(bad).__name__}."
    assert grade_reply(None, FORWARD, ABS, RewardTable.resolve({"invalid": -3})).reward == -3.0


HOSTILE = [
    "[" * 60_000,
    "{" * 30_000 + "}" * 30_000,
    '{"action": ' * 5000,
    "action: '" * 7000,
    '"current observation": "' * 3000,
    "turn_direction(" * 4000,
    "<think>" * 9000,
    "```" + " " * 60_000,
    "," + " " * 60_000 + "}",
    "forward" + " " * 60_000,
    "\x00\x01\ufffd\U0001f600" * 1000,
    "turn_direction(\u5317)",
    '{"action": "turn_direction(\u00e9ast)"}',
    json.dumps({"action": "forward()", "current observation": {"deep": [[[[1]]]]}}),
    json.dumps([{"action": "forward()"}]),
    "NaN", "Infinity", "1e999999", "-" * 100, "\n" * 1000,
]


@pytest.mark.parametrize("reply", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_replies_get_a_verdict(reply):
    for point in (TURN, FORWARD, DEST):
        grade = grade_reply(reply, point, ABS, PAPER)
        assert isinstance(grade.verdict, Verdict)
        assert set(grade.feedback) <= set(OBS_CHARSET), grade.feedback
        assert len(grade.feedback) < 500


def test_list_json_with_one_action_still_reads_it():
    assert parse_reply(json.dumps([{"action": "forward()"}])).action == "forward()"


def test_verdicts_and_rewards():
    assert grade_reply('{"action": "turn_direction(east)"}', TURN, ABS, PAPER).verdict is Verdict.CORRECT
    g = grade_reply('{"action": "turn_direction(north)"}', TURN, ABS, PAPER)
    assert g.verdict is Verdict.WRONG_ACTION and g.reward == -1.0
    assert "turn_direction(north)" in g.feedback
    g = grade_reply('{"action": "forward()"}', TURN, ABS, PAPER)
    assert g.verdict is Verdict.WRONG_ACTION
    # A relative word in absolute mode is outside the action space.
    g = grade_reply('{"action": "turn_direction(right)"}', TURN, ABS, PAPER)
    assert g.verdict is Verdict.INVALID and g.reward == -1.0 and "not in the action space" in g.feedback
    assert grade_reply("turn_direction(right)", TURN, REL, PAPER).verdict is Verdict.CORRECT
    assert grade_reply("turn_direction(slightly right)", TURN, REL, PAPER).verdict is Verdict.WRONG_ACTION
    assert grade_reply("turn_direction(east)", TURN, REL, PAPER).verdict is Verdict.INVALID
    assert grade_reply("turn_direction(90)", TURN, BEAR, PAPER).verdict is Verdict.CORRECT
    assert grade_reply("turn_direction(90 degrees)", TURN, BEAR, PAPER).verdict is Verdict.CORRECT
    assert grade_reply("turn_direction(45)", TURN, BEAR, PAPER).verdict is Verdict.WRONG_ACTION
    assert grade_reply("turn_direction(100)", TURN, BEAR, PAPER).verdict is Verdict.INVALID
    assert grade_reply("stop()", DEST, ABS, PAPER).verdict is Verdict.CORRECT
    assert grade_reply("forward()", DEST, ABS, PAPER).verdict is Verdict.WRONG_ACTION
    assert grade_reply("stop()", FORWARD, ABS, PAPER).verdict is Verdict.WRONG_ACTION
    g = grade_reply("gibberish", FORWARD, ABS, PAPER)
    assert g.verdict is Verdict.INVALID and g.action is None and g.reward == -1.0


def test_a_grade_with_a_step_s_feedback_keeps_everything_else():
    """What a step reports (info["feedback"]: the grader's message and what happens next) replaces only the
    message: the verdict, reward and the action read stay."""
    g = grade_reply('{"action": "turn_direction(north)"}', TURN, ABS, PAPER)
    assert g.with_feedback(g.feedback) is g
    reported = g.with_feedback(g.feedback + " Try again.")
    assert type(reported) is type(g)
    assert (reported.verdict, reported.reward, reported.action, reported.feedback) == (
        Verdict.WRONG_ACTION, -1.0, "turn_direction(north)", g.feedback + " Try again.")


def test_wrong_observation_fires_only_on_a_wrong_action_with_a_wrong_report():
    def reply(obs, action):
        return json.dumps({"current observation": obs, "action": action})

    # Wrong action + report denies the intersection we are at: -1.5.
    g = grade_reply(reply("Cafe Flore is on my right behind; no intersection here", "forward()"), TURN, ABS, PAPER)
    assert g.verdict is Verdict.WRONG_OBSERVATION and g.reward == -1.5
    assert "you are at an intersection" in g.feedback
    # Wrong action + report misses the landmark in view: -1.5.
    g = grade_reply(reply("No landmarks nearby; I observe an intersection", "forward()"), TURN, ABS, PAPER)
    assert g.verdict is Verdict.WRONG_OBSERVATION and "Cafe Flore" in g.feedback
    # Wrong action + report claims an intersection where there is none: -1.5.
    g = grade_reply(reply("No landmarks nearby; You observe an intersection", "stop()"), FORWARD, ABS, PAPER)
    assert g.verdict is Verdict.WRONG_OBSERVATION and "not at an intersection" in g.feedback
    # Wrong action + correct report: plain wrong action (-1).
    g = grade_reply(reply("Cafe Flore is on your right behind; You observe an intersection", "forward()"), TURN, ABS, PAPER)
    assert g.verdict is Verdict.WRONG_ACTION
    # Negated mentions count as "no intersection" (the authors' substring test got this wrong).
    g = grade_reply(reply("No landmarks nearby; there isn't an intersection", "stop()"), FORWARD, ABS, PAPER)
    assert g.verdict is Verdict.WRONG_ACTION
    # Correct action with a wrong report is still correct: the action decides.
    g = grade_reply(reply("nothing at all", "turn_direction(east)"), TURN, ABS, PAPER)
    assert g.verdict is Verdict.CORRECT
    # No report: never an observation verdict.
    assert grade_reply('{"action": "forward()"}', TURN, ABS, PAPER).verdict is Verdict.WRONG_ACTION
    # Switched off by the rules.
    off = NavigationRules(grade_observation=False)
    g = grade_reply(reply("nothing", "forward()"), TURN, off, PAPER)
    assert g.verdict is Verdict.WRONG_ACTION


@pytest.mark.parametrize(
    ("report", "problem"),
    [
        ("Cafe Flore is on your right behind; You observe an intersection", None),
        ("cafe flore, right behind. I am at an intersection", None),
        ("Cafe Flore is right behind; I do not observe an intersection", "you are at an intersection"),
        ("I see an intersection", "you did not report Cafe Flore"),
        ("Cafe Flore is on your right behind", "you are at an intersection"),
    ],
)
def test_observation_problem_at_an_intersection(report, problem):
    found = observation_problem(report, TURN)
    assert (found is None) if problem is None else (problem in found)


def test_reward_tables():
    assert get_reward_table("paper") == RewardTable(1.0, -1.0, -1.5, -1.0)
    binary = get_reward_table("binary")
    assert binary.reward(Verdict.CORRECT) == 1.0
    assert {binary.reward(v) for v in Verdict if v is not Verdict.CORRECT} == {0.0}
    custom = RewardTable(correct=2.0)
    assert get_reward_table(custom) is custom and RewardTable.resolve(custom) is custom
    assert binary[Verdict.INVALID] == binary["invalid"] == 0.0  # one spelling in both games: table[verdict]
    assert RewardTable.resolve({"invalid": -3}) == RewardTable(invalid=-3.0)
    assert get_reward_table("paper").to_dict() == {"correct": 1.0, "wrong_action": -1.0,
                                                   "wrong_observation": -1.5, "invalid": -1.0}
    with pytest.raises(ValueError, match="unknown reward scheme 'nice'"):
        get_reward_table("nice")
    with pytest.raises(ValueError, match="unknown reward fields"):
        RewardTable.resolve({"wrong": -2})
    with pytest.raises(TypeError):
        get_reward_table(3)
    with pytest.raises(ValueError, match="wrong_action"):
        RewardTable(wrong_action=float("nan"))
    with pytest.raises(TypeError, match="wrong_action"):
        RewardTable(wrong_action="-1")
    g = grade_reply("stop()", DEST, ABS, binary)
    assert g.reward == 1.0
    assert grade_reply("forward()", DEST, ABS, binary).reward == 0.0


def test_rules_validation():
    with pytest.raises(ValueError, match="action_mode"):
        NavigationRules(action_mode="cardinal")
    with pytest.raises(ValueError, match="max_attempts"):
        NavigationRules(max_attempts=0)
    with pytest.raises(TypeError, match="max_attempts"):
        NavigationRules(max_attempts=2.0)
    with pytest.raises(ValueError, match="on_exhausted"):
        NavigationRules(on_exhausted="retry")
    with pytest.raises(ValueError, match="forward_points"):
        NavigationRules(forward_points=9)
    with pytest.raises(ValueError, match="drop_rate"):
        NavigationRules(drop_rate=1.0)
    with pytest.raises(TypeError, match="grade_observation"):
        NavigationRules(grade_observation="yes")
    with pytest.raises(TypeError, match="unknown NavigationRules fields"):
        NavigationRules.from_value({"mode": "relative"})
    assert NavigationRules.from_value({"action_mode": "relative"}) == REL
    assert ABS.replace(action_mode="bearing") == BEAR


# ---- issue 13 item 12: the answer is read where the prompt asks for it, rambling is invalid ------------
RAMBLING = [
    # A made-up numbered list that happens to contain one action.
    "Here is my plan:\n1. Read the instruction.\n2. Turn left to face east.\n3. Look for Cafe Flore.\n"
    "4. Count the intersections.\n5. Check the landmarks.\n6. Keep the heading.\n7. Forward()\n"
    "8. Continue until the destination is reached.",
    "7. Forward()",
    "- forward()",
    # Cut-off JSON with the action nested deep inside made-up structure.
    '{"navigation": {"route": [{"step": 1, "details": {"action": "forward()", "reason": "the road goes',
    '```json\n{"plan": {"next": {"action": "forward()"}}, "current observation": "No landmarks nearby"}\n```',
    # An action somewhere in prose, not on the final line.
    "Forward() is what I would do at first.\nBut the instruction mentions many landmarks, I am not sure.",
    "I could go forward() here, or maybe not",
]


@pytest.mark.parametrize("reply", RAMBLING, ids=range(len(RAMBLING)))
def test_rambling_is_invalid_even_when_it_names_the_right_action(reply):
    grade = grade_reply(reply, FORWARD, ABS, PAPER)
    assert grade.verdict is Verdict.INVALID and grade.reward == PAPER.invalid and grade.action is None
    assert parse_reply(reply).action is None


@pytest.mark.parametrize(
    ("reply", "action"),
    [
        ("The current sentence is 2: move forward.\nforward()", "forward()"),
        ("I see no landmarks.\n**Forward**", "forward()"),
        ("I am between intersections.\n**Action:** `forward()`", "forward()"),
        ("Final answer: turn_direction(East)", "turn_direction(east)"),
        ("action: stop", "stop()"),
        ("So the next step is to go forward().", "forward()"),
        ('[{"action": "forward()"}]', "forward()"),
        ("{'current observation': 'x', 'action': 'stop()'", "stop()"),  # cut off, but at the top level
    ],
)
def test_answers_where_the_prompt_asks_for_them_are_read(reply, action):
    assert parse_reply(reply).action == action


def test_nested_action_field_gets_a_message_that_says_so():
    assert "nested" in parse_reply('{"plan": {"action": "forward()"}}').error
