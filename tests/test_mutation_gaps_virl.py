"""Gaps found by mutation testing (tools/mutation_test.py, docs/mutation.md) in V-IRL's reading, grading and walk.

Each test pins what a model or a trainer sees: the verdict, the reward, the exact feedback, the action read, when a
route ends. Feedback is part of the contract (a model is meant to act on it), so a garbled message is a behaviour
change these tests catch.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from virl_env.protocols.paper import parse_paper_reply, paper_grade
from virl_env.protocols.prompts import PAPER_FEEDBACK
from virl_env.task.checker import (
    MAX_REPLY_CHARS,
    ParsedReply,
    action_arguments,
    expected_action,
    grade_reply,
    observation_problem,
    parse_reply,
)
from virl_env.task.navigation import NavigationTask
from virl_env.task.rules import PAPER_RULES, NavigationRules, RewardTable, Verdict
from virl_env.world.routes import RailPoint

RULES = NavigationRules()
REWARDS = RewardTable()
NO_ANSWER = ('Invalid reply: no action found where the answer goes; reply with a JSON object whose "action" is one '
             "action of the action space (or the action alone on the last line).")

FORWARD = RailPoint(position=(0.0, 50.0), heading=0.0, kind="forward", observation="No landmarks nearby",
                    landmarks=(), at_intersection=False, sentence=0, turn_to=None, turn_relative=None)
FLORE = RailPoint(position=(0.0, 60.0), heading=0.0, kind="forward", observation="Flore is on your left",
                  landmarks=("Flore",), at_intersection=False, sentence=0, turn_to=None, turn_relative=None)
CROSSING = RailPoint(position=(0.0, 70.0), heading=0.0, kind="crossing",
                     observation="Cafe Flore is on your right; You observe an intersection",
                     landmarks=("Cafe Flore",), at_intersection=True, sentence=0, turn_to=None, turn_relative=None)


# ---- the suite's reader: only the last line answers ------------------------------------------------------------
@pytest.mark.parametrize(
    ("reply", "action"),
    [
        # the last line alone (not everything after the first line, where a second action would make two)
        ("Hmm.\nmaybe stop()\nforward()", "forward()"),
        ("Let me think.\nforward()\n", "forward()"),
        # a label's value loses its emphasis marks ("_" included, which hides the word boundary otherwise)
        ("Hmm\nAction: _forward()_", "forward()"),
        # a line with one JSON brace is a cut-off JSON, not an answer line
        ("I pick\n{ forward()", None),
        ("I pick\n} forward()", None),
        # the marks stripped are emphasis, not letters
        ("Hmm\nforward()X", None),
        ("Hmm\nAction: forward()X", None),
    ],
)
def test_final_answer_line(reply, action):
    grade = grade_reply(reply, FORWARD, RULES, REWARDS)
    assert grade.action == action
    if action is None:
        assert (grade.verdict, grade.feedback) == (Verdict.INVALID, NO_ANSWER)
    else:
        assert (grade.verdict, grade.feedback) == (Verdict.CORRECT, "Correct action.")


NESTED = 'the "action" field is nested inside another object; give it at the top level of the JSON answer'


@pytest.mark.parametrize(
    ("reply", "action", "error"),
    [
        # cut-off JSON (no parse): only an "action" of the answer object itself counts, however many are nested
        ('{"a": {"action": "stop()"}, "action": "forward()"', "forward()", None),
        ('{"a": {"action": "stop()"}, "b": {"action": "stop()"}, "action": "forward()"', "forward()", None),
        ('{"a": {"b": {"x": 1}, "action": "stop()"}', None, NESTED),
        # braces inside strings open and close nothing
        ('{"note": "a { brace", "action": "forward()"', "forward()", None),
        ('{"a": {"note": "x}", "action": "stop()"}', None, NESTED),
    ],
)
def test_a_cut_off_answer_reads_only_its_own_action(reply, action, error):
    parsed = parse_reply(reply)
    assert (parsed.action, parsed.error) == (action, error)


@pytest.mark.parametrize(
    ("argument", "shown"),
    [
        ("up", "up"),
        ("up!", "up?"),        # characters outside the safe set are shown as "?"
        ("a" * 60, "a" * 60),  # the longest argument read is shown whole, without "..."
    ],
)
def test_an_argument_outside_the_action_space_is_named_safely(argument, shown):
    grade = grade_reply(f"turn_direction({argument})", FORWARD, RULES, REWARDS)
    assert (grade.verdict, grade.reward, grade.action) == (Verdict.INVALID, REWARDS.reward(Verdict.INVALID), None)
    assert grade.feedback == (f"Invalid action: turn_direction({shown}) is not in the action space; x must be one of "
                              "['north', 'northeast', 'east', 'southeast', 'south', 'southwest', 'west', "
                              "'northwest'].")


# ---- the suite's observation check ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("report", "point", "problem"),
    [
        ("no intersection here", FORWARD, None),  # negation at the very start of the report
        # a negation 61 characters before "intersection" is outside the 60-character window: a claim
        ("no " + "a" * 57 + " intersection", FORWARD, "you are not at an intersection"),
        ("no " + "a" * 56 + " intersection", FORWARD, None),
        ("Cafe   Flore,\nand an intersection", CROSSING, None),  # runs of white space read as one space
        ("Cafe Flore on the right", CROSSING, "you are at an intersection"),
        # only the first 4,000 characters are read
        ("a" * 3996 + "Flore", FLORE, "you did not report Flore, which is in view"),
        ("a" * 3995 + "Flore", FLORE, None),
    ],
)
def test_observation_problem_edges(report, point, problem):
    assert observation_problem(report, point) == problem


@pytest.mark.parametrize(
    ("report", "point", "problem"),
    [
        ("You observe an intersection", FORWARD, "you are not at an intersection"),
        ("Cafe Flore on the right", CROSSING, "you are at an intersection"),
    ],
)
def test_wrong_observation_feedback_names_the_problem(report, point, problem):
    reply = f'{{"current observation": "{report}", "action": "stop()"}}'
    grade = grade_reply(reply, point, RULES, REWARDS)
    assert (grade.verdict, grade.reward, grade.action) == (
        Verdict.WRONG_OBSERVATION, REWARDS.reward(Verdict.WRONG_OBSERVATION), "stop()")
    assert grade.feedback == f"Wrong action stop(), and your observation is wrong: {problem}."


NOT_IN_SPACE = 'the "action" value is not an action of the action space'


@pytest.mark.parametrize(
    ("reply", "parsed"),
    [
        ('{"observation": "a cafe", "action": "forward()"}', ParsedReply("forward()", "a cafe", None)),
        ('{"current observation": "a cafe", "action": 5}',
         ParsedReply(None, "a cafe", 'the "action" value must be a string such as "forward()"')),
        ('{"current observation": "a cafe", "action": "jump()"}', ParsedReply(None, "a cafe", NOT_IN_SPACE)),
        ("{'current observation': 'a cafe', 'action': 'jump()'", ParsedReply(None, "a cafe", NOT_IN_SPACE)),
        ('{"current observation": "a cafe", "a": {"action": "stop()"}', ParsedReply(None, "a cafe", NESTED)),
        # no JSON: the observation is read from its key, whatever the last line holds
        ("current observation: 'a cafe'\nforward()", ParsedReply("forward()", "a cafe", None)),
        ("current observation: 'a cafe'\nforward() or stop()",
         ParsedReply(None, "a cafe", "the reply names several different actions; give exactly one")),
        ("current observation: 'a cafe'\nhmm", ParsedReply(None, "a cafe", NO_ANSWER[len("Invalid reply: "):-1])),
        # a whole reply that is one action, across lines
        ("turn_direction(\n  north east\n)", ParsedReply("turn_direction(northeast)", None, None)),
        ("Xforward()", ParsedReply(None, None, NO_ANSWER[len("Invalid reply: "):-1])),
        # an object closed before the answer's own object: the answer's "action" is at its top level
        ('{"a": 1} {"action": "stop()"', ParsedReply("stop()", None, None)),
    ],
)
def test_what_is_read_from_a_reply_without_an_action_keeps_its_observation(reply, parsed):
    assert parse_reply(reply) == parsed


def test_a_wrong_action_says_so_and_reports_the_action():
    grade = grade_reply("stop()", FORWARD, RULES, REWARDS)
    assert (grade.verdict, grade.reward, grade.action) == (
        Verdict.WRONG_ACTION, REWARDS.reward(Verdict.WRONG_ACTION), "stop()")
    assert grade.feedback == "Wrong action: stop() is not the right action here."


def test_only_quotes_and_backticks_are_stripped_from_an_argument():
    assert parse_reply("turn_direction(`'East'`)").action == "turn_direction(east)"
    assert parse_reply("turn_direction(Xeast)").action == "turn_direction(xeast)"
    assert grade_reply("turn_direction(Xeast)", FORWARD, RULES, REWARDS).verdict == Verdict.INVALID


def test_a_reply_at_the_length_limit_is_read_and_one_past_it_is_not():
    pad = " " * (MAX_REPLY_CHARS - len("forward()"))
    assert parse_reply("forward()" + pad).action == "forward()"
    assert parse_reply("forward()" + pad + " ").action is None


# ---- the paper's reader and grader --------------------------------------------------------------------------------
def test_paper_reader_bounds():
    assert parse_paper_reply(None) == (None, None)
    assert parse_paper_reply(["forward()"]) == (None, None)
    answer = '"action": "forward()"'
    assert parse_paper_reply(answer + " " * (MAX_REPLY_CHARS - len(answer))) == ("forward()", None)
    assert parse_paper_reply(answer + " " * (MAX_REPLY_CHARS - len(answer) + 1)) == (None, None)


@pytest.mark.parametrize(
    ("reply", "verdict", "feedback", "action"),
    [
        ('{"action": "forward()"}', Verdict.CORRECT, "Correct action.", "forward()"),
        ('{"action": "stop()", "current observation": "an intersection"}', Verdict.WRONG_OBSERVATION,
         PAPER_FEEDBACK["not_at_intersection"], "stop()"),
        ('{"action": "stop()"}', Verdict.WRONG_ACTION, PAPER_FEEDBACK["wrong_action"], "stop()"),
        ('{"answer": "stop()"}', Verdict.INVALID, PAPER_FEEDBACK["wrong_action"], None),
    ],
)
def test_paper_grade_reports_the_action_it_read(reply, verdict, feedback, action):
    grade = paper_grade(reply, FORWARD, PAPER_RULES, REWARDS)
    assert (grade.verdict, grade.reward, grade.feedback, grade.action) == (
        verdict, REWARDS.reward(verdict), feedback, action)


# ---- the walk -----------------------------------------------------------------------------------------------------
def test_task_repr_says_where_the_walk_stands():
    task = NavigationTask([FORWARD, FLORE], RULES, REWARDS)
    assert repr(task) == "<NavigationTask 'suite' point 1/2, 2 attempts left>"
    task.step("forward()")
    task.step("forward()")
    assert repr(task) == "<NavigationTask 'suite' point 2/2, 2 attempts left, finished>"


# ---- the walk's state as data: what a resumed walk accepts and refuses ------------------------------------------
DEST = RailPoint(position=(0.0, 60.0), heading=0.0, kind="destination", observation="Flore is on your left",
                 landmarks=("Flore",), at_intersection=False, sentence=0, turn_to=None, turn_relative=None)


def _state(**changes) -> dict:
    task = NavigationTask([FORWARD, DEST], NavigationRules(), RewardTable(), sentences=["Go."])
    return {**json.loads(json.dumps(task.to_state())), **changes}


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"rules": 5}, TypeError, "navigation state 'rules' must be a mapping of NavigationRules fields"),
        ({"rail": []}, ValueError, "navigation state 'rail' must be a non-empty list of rail points"),
        ({"sentences": [1]}, TypeError, "navigation state 'sentences' must be a list of str"),
        ({"image": 1}, TypeError, "navigation state 'image' and 'finished' must be bools"),
        ({"finished": 1}, TypeError, "navigation state 'image' and 'finished' must be bools"),
        ({"index": 2, "points_solved": [True, True]}, ValueError,
         "navigation state 'index' must be an int in 0..1, got 2"),
        ({"index": True, "points_solved": [True]}, ValueError,
         "navigation state 'index' must be an int in 0..1, got True"),
        ({"attempts_left": 3}, ValueError, "navigation state 'attempts_left' must be an int in 0..2, got 3"),
        ({"attempts_left": 0}, ValueError, "navigation state 'attempts_left' is 0 at a point that still takes a reply"),
        ({"step_correct": "1" * 100}, TypeError,
         "navigation state 'step_correct' must be a list of bools, got " + "1" * 80),
        ({"feedback": 5}, TypeError, "navigation state 'feedback' must be a str, got int"),
        ({"points_solved": [True]}, ValueError,
         "navigation state 'points_solved' must have 0 entries (index 0, finished False), got 1"),
        ({"index": 1, "finished": True, "points_solved": [True]}, ValueError,
         "navigation state 'points_solved' must have 2 entries (index 1, finished True), got 1"),
    ],
)
def test_a_broken_state_is_refused_naming_what_is_wrong(changes, error, message):
    with pytest.raises(error) as caught:
        NavigationTask.from_state(_state(**changes))
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("field", "value", "error", "message"),
    [
        ("position", "ab", ValueError, "a rail point's position is [x, y], got 'ab'"),
        ("landmarks", [1], ValueError, "a rail point's landmarks are a list of names, got [1]"),
        ("observation", 5, TypeError, "a rail point's observation is a str, got 5"),
        ("heading", True, TypeError, "a rail point's heading is a number, got True"),
        ("heading", "x", TypeError, "a rail point's heading is a number, got 'x'"),
        ("at_intersection", 1, TypeError, "a rail point's at_intersection is a bool, got 1"),
        ("sentence", -1, TypeError, "a rail point's sentence is an index (int >= 0), got -1"),
        ("sentence", True, TypeError, "a rail point's sentence is an index (int >= 0), got True"),
    ],
)
def test_a_broken_rail_point_in_a_state_is_refused(field, value, error, message):
    state = _state()
    state["rail"] = [{**state["rail"][0], field: value}, state["rail"][1]]
    with pytest.raises(error) as caught:
        NavigationTask.from_state(state)
    assert str(caught.value) == message


def test_a_state_that_is_not_a_mapping_is_refused():
    with pytest.raises(TypeError) as caught:
        NavigationTask.from_state(_state(rail=[5, 5]))
    assert str(caught.value) == "a rail point is a mapping of its fields, got int"
    with pytest.raises(TypeError) as caught:
        NavigationTask.from_state(_state(point_replies=[["a"]]))
    assert str(caught.value) == "navigation state 'point_replies' must be a list of [reply, feedback] pairs of str"

    with pytest.raises(TypeError) as caught:
        NavigationTask.from_state([])
    assert str(caught.value) == "a navigation state is a mapping, got list"


def test_a_state_may_name_its_reward_scheme():
    task = NavigationTask.from_state(_state(rewards="paper"))
    assert task.rewards == RewardTable.resolve("paper")


@pytest.mark.parametrize(
    ("rail", "rules", "replies", "success"),
    [
        ((FORWARD, DEST), NavigationRules(), ["forward()", "stop()"], True),  # solved to the end
        ((FORWARD, DEST), NavigationRules(on_exhausted="terminate"), ["stop()", "stop()"], False),  # ran out
        # ran out at the third of four points: the history holds the two points passed
        ((FORWARD, FLORE, CROSSING, DEST), NavigationRules(on_exhausted="terminate"),
         ["forward()", "forward()", "stop()", "stop()"], False),
    ],
)
def test_a_finished_walk_rebuilds_as_finished(rail, rules, replies, success):
    task = NavigationTask(rail, rules, RewardTable(), sentences=["Go."])
    for reply in replies:
        task.step(reply)
    assert task.finished
    again = NavigationTask.from_state(json.loads(json.dumps(task.to_state())))
    assert again.to_state() == task.to_state()
    assert (again.finished, again.success, again.history) == (True, success, task.history)
    assert (again.info(), again.observation) == (task.info(), task.observation)


def test_attempts_running_out_at_a_destination_end_the_route_even_before_the_last_point():
    """Under ``on_exhausted="advance"`` a failed point is left behind, except the destination, where the walk
    stops (``Protocol.ends_route``)."""
    task = NavigationTask([DEST, FORWARD], NavigationRules(on_exhausted="advance"), RewardTable())
    task.step("forward()")
    step = task.step("forward()")
    assert (step.terminated, task.finished, task.points_solved) == (True, True, [False])


def test_stepping_past_the_end_says_why():
    task = NavigationTask([DEST], RULES, REWARDS)
    task.step("stop()")
    with pytest.raises(RuntimeError) as caught:
        task.step("stop()")
    assert str(caught.value) == "the episode has ended (terminated); call reset() before stepping again"
    assert task.info()["attempts_left"] == 0
    task = NavigationTask([FORWARD, DEST], RULES, REWARDS, max_steps=1)
    task.step("stop()")
    with pytest.raises(RuntimeError) as caught:
        task.step("forward()")
    assert str(caught.value) == "the episode was truncated after 1 steps; call reset() before stepping again"


@pytest.mark.parametrize(
    ("reply", "stored"),
    [
        ("x" * 8192, "x" * 8192),
        ("x" * 8193, "x" * 8192 + " [cut]"),
        (["forward()"], "['forward()']"),  # not text: its repr
    ],
)
def test_a_failed_reply_is_kept_for_the_messages_cut_to_8192_characters(reply, stored):
    task = NavigationTask([FORWARD, DEST], RULES, REWARDS)
    task.step(reply)
    assert task.point_replies == [(stored, task.feedback)]
    assert task.messages[1] == {"role": "assistant", "content": stored}


def test_the_expert_reply_quotes_the_sentence_executed_here():
    with_sentence = NavigationTask([FORWARD, DEST], RULES, REWARDS, sentences=["Walk on."])
    assert with_sentence.expert_reply() == with_sentence.protocol.expert_reply(FORWARD.observation, "Walk on.",
                                                                                "forward()")
    # a point whose sentence index is past the instruction (here: no instruction) quotes nothing
    without = NavigationTask([FORWARD, DEST], RULES, REWARDS)
    assert without.expert_reply() == without.protocol.expert_reply(FORWARD.observation, "", "forward()")
    past = NavigationTask([dataclasses.replace(DEST, sentence=1)], RULES, REWARDS, sentences=["Walk on."])
    assert past.expert_reply() == past.protocol.expert_reply(DEST.observation, "", "stop()")


def test_a_task_is_text_mode_unless_told_and_needs_a_rail():
    task = NavigationTask([FORWARD, DEST], RULES, REWARDS)
    image = NavigationTask([FORWARD, DEST], RULES, REWARDS, image=True)
    assert (task.image, task.to_state()["image"]) == (False, False)
    assert task.observation != image.observation
    with pytest.raises(ValueError) as caught:
        NavigationTask([], RULES, REWARDS)
    assert str(caught.value) == "a navigation task needs at least one rail point"


@pytest.mark.parametrize("max_steps", [True, 2.5, 0])
def test_max_steps_must_be_a_whole_number_of_steps(max_steps):
    with pytest.raises(ValueError) as caught:
        NavigationTask([FORWARD, DEST], RULES, REWARDS, max_steps=max_steps)
    assert str(caught.value) == f"max_steps must be an int >= 1 or None, got {max_steps!r}"


def test_an_unknown_action_mode_is_named():
    with pytest.raises(ValueError) as caught:
        action_arguments("diagonal")
    assert str(caught.value) == "unknown action mode 'diagonal'"
    with pytest.raises(ValueError) as caught:
        expected_action(dataclasses.replace(CROSSING, turn_to=90.0), "diagonal")
    assert str(caught.value) == "unknown action mode 'diagonal'"
