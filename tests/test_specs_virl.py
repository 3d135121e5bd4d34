"""V-IRL point specs (per-step rows): grading from a spec equals env.step at that rail point, for every id, image ids
included. Route specs (whole routes) are tested with the episode session (test_session_virl.py)."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

import virl_env
from sftrl_core.specs import SpecError, dump_spec
from virl_env.numeric import navigation_actions
from virl_env.specs import GAME, advance, expert_reply, grade, point_spec

ALL_IDS = sorted(virl_env.ENV_IDS)
IMAGE_IDS = {env_id for env_id in ALL_IDS if "-VL-" in env_id}
#: (episode, point, reply) triples per id.
TRIPLES = 2000
#: Grading never looks at the pictures: image ids run with small views (32 px) so that they can take as
#: many triples as the text ids.
MAKE_KWARGS = {env_id: ({"view_size": 32} if env_id in IMAGE_IDS else {}) for env_id in ALL_IDS}


def reply_for(rng: np.random.Generator, env: gym.Env, spec: dict) -> str:
    """A reply of the kinds a model gives: the expert's, another action, a wrong or partial observation, junk."""
    base = env.unwrapped
    kind = rng.integers(10)
    actions = navigation_actions(spec["rules"]["action_mode"]) + ("turn_direction(up)",)
    if kind <= 1:
        return expert_reply(spec)
    if kind == 2:
        return base.expert_action()
    action = actions[rng.integers(len(actions))]
    observation = spec["point"]["observation"]
    if kind == 3:
        return json.dumps({"current observation": "You observe an intersection", "action": action})
    if kind == 4:
        return json.dumps({"current observation": observation, "action": action})
    if kind == 5:
        return f"<think>hmm</think>\n```json\n{{'action': '{action.upper()}',}}\n```"
    if kind == 6:
        return rng.choice(["", "I am lost", "forward() stop()", "{" * 500, "turn_direction(" * 50, "\x00\u2603"])
    return action


@pytest.mark.parametrize("protocol", ["suite", "paper"])
@pytest.mark.parametrize("env_id", ALL_IDS)
def test_grade_from_spec_equals_env_step(env_id, protocol):
    env = gym.make(env_id, protocol=protocol, **MAKE_KWARGS[env_id])
    rng = np.random.default_rng(ALL_IDS.index(env_id))
    triples, verdicts, moved, retried = 0, set(), 0, 0
    seed = 0
    while triples < TRIPLES:
        obs, info = env.reset(seed=seed)
        seed += 1
        done = False
        while not done:
            spec = point_spec(env)
            text = json.dumps(spec)
            index = spec["point_index"]
            reply = reply_for(rng, env, spec)
            expected = grade(reply, text)
            step = advance(reply, spec)
            obs, reward, terminated, truncated, info = env.step(reply)
            done = terminated or truncated
            triples += 1
            assert (expected.verdict, expected.reward, expected.feedback) == (
                info["verdict"], reward, info["feedback"]), reply
            assert expected.success == (info["verdict"] == "correct") == info["step_correct"][-1]
            assert step.grade == expected
            point_over = terminated or env.unwrapped.point_index != index
            assert step.terminated == point_over
            if step.terminated:
                assert step.next_spec is None
                moved += 1
            else:
                retried += 1
                assert info["messages"][-1] == {"role": "user", "content": step.message}
                assert step.next_spec == point_spec(env)
            verdicts.add(expected.verdict)
    assert moved and (retried or protocol == "paper")
    if protocol == "suite":  # the paper's verdicts differ (see virl_env.task.rules); equality is what counts
        assert {"correct", "wrong_action", "wrong_observation", "invalid"} <= verdicts


@pytest.mark.parametrize("env_id", ["VIRL-v0", "VIRL-VL-RuleOOD-v0"])
def test_spec_embeds_the_point_and_is_plain_json(env_id):
    env = gym.make(env_id)
    obs, info = env.reset(seed=4)
    env.step(env.unwrapped.expert_reply())
    spec = point_spec(env)
    assert json.loads(json.dumps(spec)) == spec
    assert spec["game"] == GAME and spec["env_id"] == env_id and spec["point_index"] == 1
    assert spec["point"]["observation"] == env.unwrapped.rail[1].observation
    assert spec["history"] == [list(step) for step in env.unwrapped.history]
    assert spec["observation_mode"] == ("image" if env_id in IMAGE_IDS else "text")
    assert spec["episode"]["route"] == info["route"]


def test_grading_needs_no_city(monkeypatch):
    env = gym.make("VIRL-v0")
    env.reset(seed=2)
    spec = dump_spec(point_spec(env))
    reply = env.unwrapped.expert_reply()

    def no_city(*args, **kwargs):
        raise AssertionError("grading regenerated a city")

    import virl_env.world.city
    import virl_env.sources

    monkeypatch.setattr(virl_env.world.city, "generate_city", no_city)
    monkeypatch.setattr(virl_env.sources, "styled_city", no_city)
    assert grade(reply, spec).success


def test_last_attempt_moves_on_or_ends_as_the_env_does():
    env = gym.make("VIRL-v0", rules={"max_attempts": 1, "on_exhausted": "terminate"})
    env.reset(seed=0)
    step = advance("stop()", point_spec(env))
    assert step.terminated and step.next_spec is None
    assert "episode has ended" in step.message
    env = gym.make("VIRL-v0", rules={"max_attempts": 1})
    env.reset(seed=0)
    step = advance("stop()", point_spec(env))
    assert step.terminated and "moved on" in step.message


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda s: {**s, "game": "GeneralPoints"}, "game"),
        (lambda s: {**s, "point": {**s["point"], "kind": "teleport"}}, "kind"),
        (lambda s: {**s, "point": {"heading": 0}}, "point"),
        (lambda s: {**s, "rules": {**s["rules"], "action_mode": "diagonal"}}, "rules"),
        (lambda s: {**s, "attempts_left": 0}, "attempts_left"),
        (lambda s: {**s, "last_point": "yes"}, "last_point"),
        (lambda s: {**s, "rewards": {"correct": "lots"}}, "rewards"),
    ],
)
def test_bad_specs_get_a_clear_error(mutate, message):
    env = gym.make("VIRL-v0")
    env.reset(seed=0)
    with pytest.raises(SpecError, match=message):
        grade("forward()", mutate(point_spec(env)))


def test_any_reply_gets_a_verdict():
    env = gym.make("VIRL-v0")
    env.reset(seed=0)
    spec = point_spec(env)
    for reply in [None, 3, ["forward()"], "(" * 100_000, "\ud800", "turn_direction(north" * 1000]:
        result = grade(reply, spec)
        assert result.verdict == "invalid" and not result.success
