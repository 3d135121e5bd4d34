"""Fuzzing the V-IRL reply reader (``virl_env.parse_reply`` and ``virl_env.grade_reply``) with generated replies.

Properties: nothing raises, every call ends within the hang guard, the reward is the verdict's, and:

* a reply that is exactly the JSON object the prompt asks for, ``{"action": A}``, with ``A`` an action of the
  vocabulary written in any letter case and with spaces inside the parentheses (SPEC: "normalise case and
  spacing"), reads as that action and is graded by an evaluator written here: ``correct`` when it is the
  expected action, ``wrong_action`` when it is another action of the active action space, ``invalid`` when
  it belongs to the other mode's space;
* whatever the text, ``correct`` is given only to a reply that names the expected action (its turn's
  argument, or ``forward``/``stop``; compared without case and spaces), and ``parse_reply`` returns either
  an error or one action (of the vocabulary, or a ``turn_direction(...)`` whose argument grading then finds
  outside the action space).
"""

from __future__ import annotations

import json
import random

import gymnasium as gym
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzz_support import GRADED, ILLEGAL_INSIDE, fuzz_settings, hang_guard, hostile_text, reply_preview
from virl_env import ParsedReply, Verdict, expected_action, grade_reply, navigation_actions, parse_reply

MODES = ("absolute", "relative")
VOCABULARY = {mode: navigation_actions(mode) for mode in MODES}
EVERY_ACTION = tuple(dict.fromkeys(VOCABULARY["absolute"] + VOCABULARY["relative"]))
#: Replies to generate in this module (with test_fuzz_gpoints.py the suite passes 10,000; see test_volume).
TARGET_REPLIES = 3_000


def _rail_points():
    """Real rail points (with their rules and rewards) from a few routes of each action mode."""
    points = []
    for env_id in ("VIRL-v0", "VIRL-RuleOOD-v0"):
        env = gym.make(env_id)
        for route in range(3):
            env.reset(seed=route, options={"route": route})
            env_ = env.unwrapped
            points += [(point, env_.active_rules, env_.rewards) for point in env_.rail]
        env.close()
    return points


POINTS = _rail_points()


def _squash(text: str) -> str:
    """Lower case without blanks, hyphens and underscores, as the grader reads a turn's argument (``North-East``,
    ``north_east`` and ``north east`` all name ``northeast``)."""
    return "".join(text.lower().replace("-", "").replace("_", "").split())


def _key_word(action: str) -> str:
    """``north`` for ``turn_direction(north)``, ``stop`` for ``stop()``: what a reply must name."""
    name, _, argument = action.partition("(")
    return _squash(argument.rstrip(")") or name)


def _spelled(action: str, rnd: random.Random) -> str:
    """The action in random letter case, with spaces around its argument."""
    text = "".join(ch.upper() if rnd.random() < 0.3 else ch for ch in action)
    if "(" in text:
        name, _, rest = text.partition("(")
        argument = rest[:-1]
        text = f"{name}({rnd.choice(['', ' ', '  '])}{argument}{rnd.choice(['', ' '])})"
    return text


def _grade(reply: str, point, rules, rewards):
    GRADED["virl"] += 1
    with hang_guard(f"grade_reply({reply_preview(reply)})"):
        result = grade_reply(reply, point, rules, rewards)
    assert isinstance(result.verdict, Verdict), reply_preview(reply)
    assert result.reward == rewards[result.verdict] and isinstance(result.feedback, str)
    if result.verdict is Verdict.CORRECT:  # the reply names the expected action (its turn's argument, or verb)
        assert _key_word(expected_action(point, rules.action_mode)) in _squash(reply), reply_preview(reply)
    return result


def _parse(reply: str) -> ParsedReply:
    GRADED["virl"] += 1
    with hang_guard(f"parse_reply({reply_preview(reply)})"):
        parsed = parse_reply(reply)
    assert (parsed.action is None) == (parsed.error is not None), (reply_preview(reply), parsed)
    # One action: of the vocabulary, or a turn whose argument grading then finds outside the action space.
    assert parsed.action is None or parsed.action in EVERY_ACTION or (
        parsed.action.startswith("turn_direction(") and parsed.action.endswith(")")), parsed
    return parsed


@fuzz_settings(500)
@given(index=st.integers(0, len(POINTS) - 1), seed=st.integers(0, 2**32 - 1))
def test_the_asked_for_json_gets_the_exact_verdict(index, seed):
    point, rules, rewards = POINTS[index]
    rnd = random.Random(seed)
    expected = expected_action(point, rules.action_mode)
    action = expected if rnd.random() < 0.4 else rnd.choice(EVERY_ACTION)
    reply = json.dumps({"action": _spelled(action, rnd)}, ensure_ascii=rnd.random() < 0.5)
    if rnd.random() < 0.3:
        reply = "```json\n" + reply + "\n```"
    if rnd.random() < 0.3:
        reply = "<think>maybe forward() or stop()</think>" + reply
    if action == expected:
        verdict = Verdict.CORRECT
    elif action in VOCABULARY[rules.action_mode]:
        verdict = Verdict.WRONG_ACTION
    else:
        verdict = Verdict.INVALID
    assert _parse(reply).action == action, reply_preview(reply)
    result = _grade(reply, point, rules, rewards)
    assert result.verdict is verdict, (reply_preview(reply), expected, result.feedback)


NEAR_MISSES = ["forward", "forward (", "forward())", "Forward ()", "stop", "stop(now)", "turn_direction()",
               "turn_direction(norht)", "turn_direction(north", "turn_direction(left right)", "turn direction(east)",
               "turn_direction(slightly  left)", "turn_direction(\u200bnorth)", "\uff46orward()", "forward()" * 3,
               "1. forward()\n2. stop()", "forward() stop()", "FORWARD()", "turn_direction(NORTH-EAST)"]


@fuzz_settings(350)
@given(index=st.integers(0, len(POINTS) - 1), seed=st.integers(0, 2**32 - 1))
def test_near_valid_replies_never_raise(index, seed):
    point, rules, rewards = POINTS[index]
    rnd = random.Random(seed)
    action = rnd.choice(NEAR_MISSES + list(EVERY_ACTION))
    for _ in range(rnd.randint(0, 2)):
        at = rnd.randint(0, len(action))
        action = action[:at] + rnd.choice(ILLEGAL_INSIDE + "() _") + action[at:]
    shapes = [
        action,
        json.dumps({"action": action}),
        json.dumps({"action": [action, action]}),
        json.dumps({"action": {"action": action}}),
        json.dumps({"current observation": "You observe an intersection", "action": action}),
        '{"action": "' + action,  # unclosed
        "{'action': '" + action + "',}",
        f"Action: {action}\n<think>",
        f"<think>{action}",
    ]
    for reply in shapes:
        _parse(reply)
        _grade(reply, point, rules, rewards)


@fuzz_settings(250)
@given(index=st.integers(0, len(POINTS) - 1), text=hostile_text,
       prefix=st.sampled_from(["", '{"action": "', "action: ", "<think>", "```\n", '{"current observation": "']))
def test_hostile_text_never_raises(index, text, prefix):
    point, rules, rewards = POINTS[index]
    for reply in (prefix + text, prefix + text + '"}'):
        _parse(reply)
        _grade(reply, point, rules, rewards)


MEGABYTE_BUILDERS = [
    lambda n: "forward()" * (n // 9),
    lambda n: "{" * n,
    lambda n: '{"action": ' * (n // 11) + '"stop()"' + "}" * (n // 11),
    lambda n: "[" * n + "]" * n,
    lambda n: json.dumps({"action": "forward()", "pad": "x" * n}),
    lambda n: json.dumps([{"action": "forward()"}] * (n // 24)),
    lambda n: "turn_direction(" * (n // 15),
    lambda n: "<think>" + "stop() " * (n // 7),
    lambda n: "</think>" * (n // 8) + "stop()",
    lambda n: "\ud800" * n + "forward()",
    lambda n: '"action": "forward()", ' * (n // 23),
]


@fuzz_settings(30)
@given(index=st.integers(0, len(POINTS) - 1), builder=st.sampled_from(range(len(MEGABYTE_BUILDERS))),
       size=st.sampled_from([1_000, 60_000, 1_000_000]))
def test_megabyte_and_deep_replies_never_raise(index, builder, size):
    point, rules, rewards = POINTS[index]
    reply = MEGABYTE_BUILDERS[builder](size)
    _parse(reply)
    _grade(reply, point, rules, rewards)


def test_volume():
    """The module's share of the suite's 10,000 generated replies per run (when its fuzz tests all ran)."""
    if GRADED["virl"] == 0:
        pytest.skip("run with the fuzz tests above")
    assert GRADED["virl"] >= TARGET_REPLIES, GRADED
