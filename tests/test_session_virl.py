"""The episode session walks whole V-IRL routes exactly as the live env does, turn by turn: observation text, messages,
reward, feedback and end, on 300 random-reply routes per id under both protocols; on image ids the street views the
session shows (from a whole-route dataset row) equal the env's at every turn."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import gymnasium as gym
import numpy as np
import pytest

import virl_env
from sftrl_core.specs import SpecError
from sftrl_train import EpisodeSession
from sftrl_train.datasets import rl_rows
from sftrl_train.episodes import message_text
from virl_env.env import VIRLEnv
from virl_env.numeric import navigation_actions
from virl_env.session import RouteSession
from virl_env.specs import advance, expert_reply, grade, point_spec, route_spec

ALL_IDS = sorted(virl_env.ENV_IDS)
IMAGE_IDS = {env_id for env_id in ALL_IDS if "-VL-" in env_id}
#: Random-reply routes per id and protocol.
ROUTES = 300
#: Of which this many also compare the street views (image ids): the session gets them from a dataset row.
PICTURE_ROUTES = 20
KWARGS = {env_id: ({"view_size": 32} if env_id in IMAGE_IDS else {}) for env_id in ALL_IDS}


def reply_for(rng: np.random.Generator, env: gym.Env) -> str:
    """A seeded mix of replies: the expert's (most often, so that routes are walked far and some succeed), another
    action of the action space, a wrong or partial observation, junk."""
    base = env.unwrapped
    kind = rng.integers(12)
    if kind <= 6:
        return base.expert_reply() if kind <= 4 else base.expert_action()
    actions = navigation_actions(base.active_rules.action_mode) + ("turn_direction(up)",)
    action = actions[rng.integers(len(actions))]
    if kind == 7:
        return json.dumps({"current observation": "You observe an intersection", "action": action})
    if kind == 8:
        return f"<think>hm</think>\n```json\n{{'action': '{action.upper()}',}}\n```"
    if kind == 9:
        return str(rng.choice(["", "I am lost", "forward() stop()", "{" * 50, "\x00\u2603"]))
    return action


def digest(image) -> str | None:
    return None if image is None else hashlib.sha256(np.ascontiguousarray(np.asarray(image)).tobytes()).hexdigest()


@pytest.mark.parametrize("protocol", ["suite", "paper"])
@pytest.mark.parametrize("env_id", ALL_IDS)
def test_session_walks_routes_as_the_live_env(env_id, protocol):
    env = gym.make(env_id, protocol=protocol, **KWARGS[env_id])
    image_mode = env_id in IMAGE_IDS
    rng = np.random.default_rng(ALL_IDS.index(env_id) + 100 * (protocol == "paper"))
    rows = {}
    if image_mode:  # the street views of the first routes, as a whole-route dataset row carries them
        rows = {row["seed"]: row for row in rl_rows(env_id, PICTURE_ROUTES, whole_routes=True, protocol=protocol,
                                                      **KWARGS[env_id])}
    successes, moved_on, retried, turns = 0, 0, 0, 0
    for seed in range(ROUTES):
        obs, info = env.reset(seed=seed)
        spec = env.unwrapped.episode_spec()
        row = rows.get(seed)
        if row is not None:
            assert row["spec"] == json.dumps(spec, sort_keys=True, separators=(",", ":"))
        walk = RouteSession(json.dumps(spec))
        session = EpisodeSession(spec, images=row["point_images"] if row is not None else None)
        text = obs["text"] if image_mode else obs
        assert walk.text == session.text == text
        assert [message_text(m) for m in session.messages] == [m["content"] for m in info["messages"]]
        done = False
        while not done:
            index = env.unwrapped.point_index
            reply = reply_for(rng, env)
            obs, reward, terminated, truncated, info = env.step(reply)
            _, w_reward, w_terminated, w_truncated, w_info = walk.step(reply)
            turn = session.reply(reply)
            turns += 1
            text = obs["text"] if image_mode else obs
            assert (walk.text, w_reward, w_terminated, w_truncated) == (text, reward, terminated, truncated), reply
            for key in ("verdict", "feedback", "attempts_left", "is_success", "step_correct", "points_solved",
                        "step_index", "num_points", "instruction", "observation", "messages"):
                assert w_info[key] == info[key], (key, reply)
            assert (turn.verdict, turn.reward, turn.feedback, turn.terminated, turn.truncated) == (
                info["verdict"], reward, info["feedback"], terminated, truncated)
            assert session.text == text
            assert [message_text(m) for m in session.messages] == [m["content"] for m in info["messages"]]
            if row is not None:  # the session shows the views of the point the env stands at
                assert digest(session.image) == digest(obs["image"])
                assert digest(session.messages[0]["content"][0]["image"]) == digest(obs["image"])
            done = terminated or truncated
            if not done:
                assert [message_text(m) for m in turn.next_messages] == (
                    [info["messages"][-1]["content"]] if env.unwrapped.point_index == index else
                    [m["content"] for m in info["messages"]])
                if env.unwrapped.point_index != index:
                    moved_on += 1
                    if row is not None:  # a new point's turn carries its picture
                        assert digest(turn.next_messages[0]["content"][0]["image"]) == digest(obs["image"])
                else:
                    retried += 1
        assert session.done and walk.done and session.success == info["is_success"]
        assert session.rewards == [t.reward for t in session.turns] and len(session.turns) == len(info["step_correct"])
        successes += info["is_success"]
    assert 0 < successes < ROUTES and moved_on and retried  # routes both succeed and fail
    assert turns > 3 * ROUTES  # routes walked far: several points each


def test_route_spec_steps_as_the_env_and_point_specs_stay():
    env = gym.make("VIRL-v0")
    env.reset(seed=3)
    route, point = route_spec(env), point_spec(env)
    assert route == env.unwrapped.episode_spec() and route["point_index"] == point["point_index"] == 0
    assert "rail" in route and "point" in point and len(route["rail"]) == route["num_points"]
    reply = env.unwrapped.expert_reply()
    assert expert_reply(route) == expert_reply(point) == reply
    assert grade(reply, route) == grade(reply, point)
    step = advance(reply, route)
    env.step(reply)
    assert not step.terminated and step.next_spec == env.unwrapped.episode_spec()
    wrong = advance("stop()", step.next_spec)
    _, _, _, _, info = env.step("stop()")
    assert wrong.message == info["feedback"] and wrong.next_spec == env.unwrapped.episode_spec()


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda s: {**s, "rail": []}, "rail"),
        (lambda s: {**s, "rail": [{**s["rail"][0], "kind": "teleport"}, *s["rail"][1:]]}, "kind"),
        (lambda s: {**s, "rail": [{**s["rail"][0], "sentence": 99}, *s["rail"][1:]]}, "sentence"),
        (lambda s: {**s, "point_index": 10_000}, "point_index"),
        (lambda s: {**s, "attempts_left": 0}, "attempts_left"),
        (lambda s: {**s, "points_solved": [True]}, "points_solved"),
        (lambda s: {**s, "observation_mode": "smell"}, "observation_mode"),
        (lambda s: {k: v for k, v in s.items() if k != "shown_feedback"}, "shown_feedback"),
    ],
)
def test_bad_route_specs_are_refused_naming_the_field(mutate, field):
    env = gym.make("VIRL-v0")
    env.reset(seed=0)
    with pytest.raises(SpecError, match=field):
        RouteSession(mutate(route_spec(env)))


def test_a_walk_at_its_step_limit_is_refused_and_one_short_of_it_truncates():
    """A route spec's max_steps (a NavigationTask's step limit) is a field like the others: a walk that has graded
    max_steps replies is over (truncated), so its spec is refused, naming the field, by every reader (it used to be
    accepted, and grading it raised RuntimeError from inside the task); one reply short of it, the next reply is
    graded and ends the walk as truncated."""
    env = gym.make("VIRL-v0")
    env.reset(seed=0)
    reply = env.unwrapped.expert_reply()
    spec = route_spec(env)
    after = advance(reply, spec).next_spec  # one reply graded: step_correct [true], at the second point
    assert after["step_correct"] == [True] and after["max_steps"] == virl_env.MAX_EPISODE_STEPS
    over = {**after, "max_steps": 1}
    for form in (over, json.dumps(over)):
        for read in (lambda s: grade("forward()", s), lambda s: advance("forward()", s), lambda s: expert_reply(s),
                     RouteSession, EpisodeSession):
            with pytest.raises(SpecError, match=r"'max_steps' is 1 and the walk has graded 1 replies \(step_correct\): "
                               "the route was truncated, and a spec describes a route that still takes a reply"):
                read(form)
    last = {**spec, "max_steps": 1}
    step = advance(reply, last)
    assert step.grade.success and step.terminated and step.next_spec is None
    session = RouteSession(last)
    _, reward, terminated, truncated, _ = session.step(reply)
    assert (reward, terminated, truncated) == (1.0, False, True)


@pytest.mark.parametrize("protocol", ["suite", "paper"])
@pytest.mark.parametrize("make, limit, take", [
    ({"rules": {"max_attempts": 100}}, 400, "unwrapped"),  # the registered time limit, from env.unwrapped
    ({"rules": {"max_attempts": 100}}, 400, "wrapped"),
    ({"max_episode_steps": 7}, 7, "wrapped"),  # a limit given to gym.make: read through the wrappers
    ({"max_episode_steps": -1, "rules": {"max_attempts": 100}}, None, "wrapped"),  # no TimeLimit at all
])
def test_a_session_from_the_spec_ends_at_the_env_s_time_limit(protocol, make, limit, take):
    """gym.make's TimeLimit truncates the env; the route spec states it as the walk's max_steps, so a session from
    the spec truncates at the same reply (with 100 attempts a point, the suite's walk reaches 400 steps; it used to
    go on past the env's end). Taken where the env was truncated, the spec is refused."""
    env = gym.make("VIRL-v0", protocol=protocol, **make)
    env.reset(seed=1)
    spec = env.unwrapped.episode_spec() if take == "unwrapped" else route_spec(env)
    assert spec["max_steps"] == limit
    session = EpisodeSession(spec)
    for count in range(1, 2_000):
        observation, reward, terminated, truncated, info = env.step("stop()")
        turn = session.reply("stop()")
        assert (observation, reward, terminated, truncated, info["messages"], info["feedback"]) == (
            session.observation, turn.reward, turn.terminated, turn.truncated, session.messages, turn.feedback)
        if terminated or truncated:
            break
    # "stop()" fails every point but the destination: the paper's walk ends when the first point's attempts run out,
    # the suite's moves on through every attempt of every point and ends at the destination.
    attempts = spec["rules"]["max_attempts"]
    natural_end = attempts if protocol == "paper" else (len(spec["rail"]) - 1) * attempts + 1
    if limit is not None and limit < natural_end:
        assert (count, truncated, terminated) == (limit, True, False)
        with pytest.raises(RuntimeError) as error:
            route_spec(env)
        assert str(error.value) == (f"this episode was truncated at its time limit ({limit} steps); episode_spec() "
                                    "describes a route that still takes a reply")
    else:
        assert (count, truncated, terminated) == (natural_end, False, True)


def test_the_time_limit_of_an_env_built_without_gym_make_is_read_from_its_wrappers():
    env = VIRLEnv()
    env.reset(seed=0)
    assert env.spec is None and route_spec(env)["max_steps"] is None  # no TimeLimit: no limit
    limited = gym.wrappers.TimeLimit(gym.wrappers.TimeLimit(env, 9), 30)
    assert route_spec(limited)["max_steps"] == 9 and route_spec(limited.env)["max_steps"] == 9  # the smallest
    unregistered = gym.make("VIRL-v0")
    unregistered.unwrapped.spec = dataclasses.replace(unregistered.unwrapped.spec, id="NotRegistered-v0")
    unregistered.reset(seed=0)
    assert route_spec(unregistered.unwrapped)["max_steps"] is None
    assert route_spec(unregistered)["max_steps"] == virl_env.MAX_EPISODE_STEPS  # the wrapper gym.make added


@pytest.mark.parametrize("protocol", ["suite", "paper"])
def test_a_route_that_ends_on_the_step_that_reaches_the_time_limit_is_both_terminated_and_truncated(protocol):
    """gymnasium's TimeLimit marks the step that reaches the limit truncated even when the route ends on it; the
    session from the spec does the same (it used to say terminated only)."""
    probe = gym.make("VIRL-v0", protocol=protocol)
    probe.reset(seed=0)
    env = gym.make("VIRL-v0", protocol=protocol, max_episode_steps=len(probe.unwrapped.rail))  # the expert's walk
    env.reset(seed=0)
    session = EpisodeSession(route_spec(env))
    while not session.done:
        reply = env.unwrapped.expert_reply()
        _, reward, terminated, truncated, info = env.step(reply)
        turn = session.reply(reply)
        assert (reward, terminated, truncated, info["feedback"]) == (turn.reward, turn.terminated, turn.truncated,
                                                                     turn.feedback)
    assert terminated and truncated and session.success and info["is_success"]


def test_whole_route_rows_state_the_time_limit_the_env_was_made_with():
    for kwargs, limit in (({}, virl_env.MAX_EPISODE_STEPS), ({"max_episode_steps": 7}, 7)):
        row = rl_rows("VIRL-v0", 1, whole_routes=True, **kwargs)[0]
        spec = row["spec"] if isinstance(row["spec"], dict) else json.loads(row["spec"])
        assert spec["max_steps"] == limit


def test_pictures_must_match_the_rail():
    env = gym.make("VIRL-VL-v0", view_size=32)
    obs, _ = env.reset(seed=0)
    spec = env.unwrapped.episode_spec()
    with pytest.raises(SpecError, match="pictures"):
        RouteSession(spec, images=[obs["image"]])
    text_env = gym.make("VIRL-v0")
    text_env.reset(seed=0)
    with pytest.raises(SpecError, match="text-mode"):
        RouteSession(text_env.unwrapped.episode_spec(), images=[obs["image"]])


def test_live_env_session_walks_the_route_too():
    env = gym.make("VIRL-RuleOOD-v0")
    live = EpisodeSession.from_env(env, seed=5)
    spec_session = EpisodeSession(env.unwrapped.episode_spec())
    rng = np.random.default_rng(5)
    while not live.done:
        reply = reply_for(rng, env)
        a, b = live.reply(reply), spec_session.reply(reply)
        assert (a.verdict, a.reward, a.feedback, a.done, a.next_messages) == (
            b.verdict, b.reward, b.feedback, b.done, b.next_messages)
    assert live.transcript == spec_session.transcript and live.metrics() == spec_session.metrics()
    assert live.transcript[-1] == {"role": "user", "content": live.turns[-1].feedback}
