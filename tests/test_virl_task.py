"""The walk of a route as a pure object (virl_env.task.navigation.NavigationTask) and the protocols as strategy
objects (virl_env.protocols): the env's step is the task's step, the task's state written as JSON rebuilds it
exactly, and nothing in virl_env chooses a behaviour by testing a protocol's name."""

from __future__ import annotations

import json
import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import virl_env
from sftrl_core import registry
from virl_env.protocols import PROTOCOLS, PaperProtocol, Protocol, SuiteProtocol, get_protocol
from virl_env.task.navigation import NavigationStep, NavigationTask, rail_point_from_dict, rail_point_to_dict
from virl_env.task.rules import NavigationRules, RewardTable

PACKAGE = Path(virl_env.__file__).resolve().parent
WORLD_INFO = ("route", "city_seed", "style")


def replies(env, rng: np.random.Generator) -> str | object:
    """The expert's reply, another action, a wrong observation, junk, or no text at all."""
    base = env.unwrapped
    kind = rng.integers(9)
    if kind <= 3:
        return base.expert_reply()
    if kind == 4:
        return json.dumps({"current observation": "You observe an intersection", "action": "forward()"})
    if kind == 5:
        return None
    return ["forward()", "stop()", "turn_direction(left)", '{"action": "turn_direction(north)"}', ""][rng.integers(5)]


def rebuilt(task: NavigationTask) -> NavigationTask:
    return NavigationTask.from_state(json.loads(json.dumps(task.to_state())))


@pytest.mark.parametrize("protocol", list(registry.PROTOCOL_NAMES))
@pytest.mark.parametrize("env_id", virl_env.ALL_ENV_IDS)
def test_env_step_is_the_task_step_and_the_state_rebuilds_it(env_id, protocol):
    env = gym.make(env_id, protocol=protocol, **({"view_size": 32} if "VL" in env_id else {}))
    rng = np.random.default_rng(7)
    for seed in range(4):
        obs, info = env.reset(seed=seed, options={"rules": {"on_exhausted": "advance"}} if seed % 2 else None)
        done = False
        while not done:
            task = env.unwrapped.task
            copy = rebuilt(task)
            assert copy.to_state() == task.to_state()
            text = obs["text"] if isinstance(obs, dict) else obs
            assert copy.observation == task.observation == text
            assert {**copy.info(), **{k: info[k] for k in WORLD_INFO}} == info
            assert copy.expert_reply() == env.unwrapped.expert_reply()
            reply = replies(env, rng)
            step = copy.step(reply)
            obs, reward, terminated, truncated, info = env.step(reply)
            assert isinstance(step, NavigationStep)
            assert (step.reward, step.terminated, step.truncated, step.feedback, step.grade.verdict) == (
                reward, terminated, truncated, info["feedback"], info["verdict"])
            assert copy.to_state() == env.unwrapped.task.to_state()
            done = terminated or truncated
        assert copy.success == info["is_success"]
        with pytest.raises(RuntimeError, match="ended"):
            copy.step("stop()")


def test_the_task_needs_no_world(monkeypatch):
    env = gym.make("VIRL-VL-v0", view_size=32)
    env.reset(seed=3)
    env.step("stop()")
    state = json.dumps(env.unwrapped.task.to_state())
    expected = env.unwrapped.task.observation

    def no_world(*args, **kwargs):
        raise AssertionError("the task touched the world")

    import virl_env.sources
    import virl_env.streetview.views
    import virl_env.world.city

    for module, name in ((virl_env.world.city, "generate_city"), (virl_env.world.city, "get_city"),
                         (virl_env.sources, "styled_city"), (virl_env.streetview.views, "render_grid")):
        monkeypatch.setattr(module, name, no_world)
    task = NavigationTask.from_state(json.loads(state))
    assert task.observation == expected and task.image
    while not task.finished:
        task.step(task.expert_reply())
    assert task.success and task.step_correct[0] is False and all(task.step_correct[1:])


def test_steps_truncate_at_max_steps():
    env = gym.make("VIRL-v0", rules={"max_attempts": 50})
    env.reset(seed=0)
    state = env.unwrapped.task.to_state()
    task = NavigationTask.from_state({**state, "max_steps": 3})
    assert [task.step("junk").truncated for _ in range(3)] == [False, False, True]
    assert not task.finished and task.attempts_left == 47
    with pytest.raises(RuntimeError, match="truncated after 3 steps"):
        task.step("junk")
    with pytest.raises(ValueError, match="max_steps"):
        NavigationTask(task.rail, task.rules, task.rewards, max_steps=0)
    # As gymnasium's TimeLimit: the reply that reaches the limit is truncated, also when it ends the route.
    for extra, truncated in ((0, True), (1, False)):
        task = NavigationTask.from_state({**state, "max_steps": len(state["rail"]) + extra})
        steps = [task.step(task.expert_reply()) for _ in state["rail"]]
        assert task.finished and task.success and task.truncated is truncated
        assert [(step.terminated, step.truncated) for step in steps[-2:]] == [(False, False), (True, truncated)]


def test_rail_points_round_trip_through_json():
    env = gym.make("VIRL-v0")
    env.reset(seed=1)
    for point in env.unwrapped.rail:
        assert rail_point_from_dict(json.loads(json.dumps(rail_point_to_dict(point)))) == point


@pytest.mark.parametrize("change, error", [
    ({"index": 99}, "index"),
    ({"index": 1}, "points_solved"),
    ({"attempts_left": 0}, "attempts_left"),
    ({"attempts_left": 7}, "attempts_left"),
    ({"verdict": "great"}, "verdict"),
    ({"protocol": "Paper"}, "protocol"),
    ({"rail": []}, "rail"),
    ({"step_correct": [1]}, "step_correct"),
    ({"point_replies": [["a"]]}, "point_replies"),
    ({"feedback": None}, "feedback"),
    ({"rules": {"max_attempts": 0}}, "max_attempts"),
    ({"extra": 1}, "unknown"),
])
def test_bad_states_are_refused_naming_the_key(change, error):
    env = gym.make("VIRL-v0")
    env.reset(seed=0)
    state = env.unwrapped.task.to_state()
    with pytest.raises((ValueError, TypeError), match=error):
        NavigationTask.from_state({**state, **change})
    missing = dict(state)
    del missing["rail"]
    with pytest.raises(ValueError, match="missing"):
        NavigationTask.from_state(missing)
    bad_point = {**state["rail"][0], "kind": "teleport"}
    with pytest.raises(ValueError, match="kind"):
        NavigationTask.from_state({**state, "rail": [bad_point]})


# ---- the protocols as objects ---------------------------------------------------------------------------------
def test_the_protocols_are_the_registrys():
    assert tuple(PROTOCOLS) == registry.PROTOCOL_NAMES and virl_env.PROTOCOLS is PROTOCOLS
    assert isinstance(PROTOCOLS["suite"], SuiteProtocol) and isinstance(PROTOCOLS["paper"], PaperProtocol)
    for name, protocol in PROTOCOLS.items():
        assert protocol.name == name and protocol.info is registry.PROTOCOLS[name]
        assert get_protocol(name) is protocol and get_protocol(protocol) is protocol
    assert PROTOCOLS["paper"].info.reproduces_paper and not PROTOCOLS["suite"].info.reproduces_paper
    with pytest.raises(ValueError, match="protocol must be one of"):
        get_protocol("Paper")
    env = gym.make("VIRL-v0", protocol="paper")
    assert env.unwrapped.protocol == "paper" and env.unwrapped.task is None
    env.reset(seed=0)
    assert env.unwrapped.task.protocol is PROTOCOLS["paper"]


def test_a_protocol_variant_is_a_subclass_the_env_takes():
    class TerseFeedback(SuiteProtocol):
        """The suite's protocol with one-word feedback after a failed reply."""

        def retry_feedback(self, message, attempts_left):
            return "No."

    env = gym.make("VIRL-v0", protocol=TerseFeedback())
    env.reset(seed=0)
    obs, reward, _term, _trunc, info = env.step("junk")
    assert reward == -1.0 and info["feedback"] == "No." and obs.endswith("[Feedback]\nNo.\n\n[Output]\n" +
                                                                        obs.split("[Output]\n")[-1])
    assert isinstance(env.unwrapped.task.protocol, Protocol)


def test_no_module_chooses_a_behaviour_by_a_protocol_name():
    pattern = re.compile(r"""[!=]=\s*["'](?:suite|paper)["']|["'](?:suite|paper)["']\s*[!=]=|"""
                         r"""\bin\s*\(\s*["'](?:suite|paper)["']""")
    found = [f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
             for path in sorted(PACKAGE.rglob("*.py"))
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             if pattern.search(line)]
    assert found == []


def test_paper_rules_and_action_modes_come_from_the_protocol():
    paper = PROTOCOLS["paper"]
    assert paper.resolve_rules(None, None) == virl_env.PAPER_RULES
    assert paper.resolve_rules({"max_attempts": 3}, "relative") == virl_env.PAPER_RULES.replace(
        max_attempts=3, action_mode="relative")
    assert PROTOCOLS["suite"].resolve_rules(None, None) == NavigationRules()
    with pytest.raises(ValueError, match="absolute and relative actions only"):
        paper.check_rules(NavigationRules(action_mode="bearing"))
    PROTOCOLS["suite"].check_rules(NavigationRules(action_mode="bearing"))
    assert paper.grade(None, gym_point(), NavigationRules(), RewardTable()).verdict == "invalid"


def gym_point():
    env = gym.make("VIRL-v0")
    env.reset(seed=0)
    return env.unwrapped.task.point


@pytest.mark.parametrize("module", ["virl_env.task.navigation", "virl_env.protocols", "virl_env.task.metrics"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
