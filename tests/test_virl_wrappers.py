"""Rule-variant wrappers (virl_env.wrappers) on their own."""

from __future__ import annotations

import gymnasium as gym
import pytest

from virl_env import BearingActions, DenseRail, NavigationRules, RelativeActions, RuleWrapper, VIRLEnv


def test_relative_actions_change_prompt_and_expected_actions_only():
    base = gym.make("virl_env:VIRL-v0")
    rel = RelativeActions(gym.make("virl_env:VIRL-v0"))
    a, ia = base.reset(seed=3)
    b, ib = rel.reset(seed=3)
    assert ia["instruction"] == ib["instruction"]
    assert "'northeast'" in a and "'slightly left'" not in a
    assert "'slightly left'" in b and "'northeast'" not in b
    assert base.unwrapped.expert_action().split("(")[1].rstrip(")") in {
        "north", "northeast", "east", "southeast", "south", "southwest", "west", "northwest"}
    assert rel.unwrapped.expert_action().split("(")[1].rstrip(")") in {
        "left", "right", "slightly left", "slightly right"}
    # The relative word is the one in the instruction's first sentence.
    first = ib["instruction"].split("\n")[0]
    word = rel.unwrapped.expert_action()[len("turn_direction("):-1]
    assert first.startswith(f"1. First, turn {word} to face ")
    # The absolute answer is now outside the action space.
    _, r, _, _, info = rel.step(base.unwrapped.expert_action())
    assert info["verdict"] == "invalid" and r == -1.0


def test_bearing_actions():
    env = BearingActions(gym.make("virl_env:VIRL-v0"))
    obs, info = env.reset(seed=0)
    assert info["action_mode"] == "bearing" and "0 is north, 90 is east" in obs
    action = env.unwrapped.expert_action()
    assert action.startswith("turn_direction(") and action[15:-1].isdigit()
    _, r, *_ = env.step(action.replace(")", " degrees)"))
    assert r == 1.0


def test_dense_rail_validates_and_applies():
    with pytest.raises(ValueError, match="forward_points"):
        DenseRail(gym.make("virl_env:VIRL-v0"), forward_points=20)
    with pytest.raises(ValueError, match="drop_rate"):
        DenseRail(gym.make("virl_env:VIRL-v0"), drop_rate=1.5)
    with pytest.raises(TypeError, match="forward_points"):
        DenseRail(gym.make("virl_env:VIRL-v0"), forward_points="4")
    sparse = VIRLEnv(rules={"forward_points": 0})
    dense = DenseRail(VIRLEnv(rules={"forward_points": 0}), forward_points=5)
    _, a = sparse.reset(seed=1)
    _, b = dense.reset(seed=1)
    assert b["num_points"] > a["num_points"]


def test_wrappers_stack_innermost_first():
    env = RelativeActions(BearingActions(gym.make("virl_env:VIRL-v0")))
    env.reset(seed=0)
    assert env.unwrapped.active_rules.action_mode == "relative"  # outer wrapper applied last
    env = BearingActions(RelativeActions(gym.make("virl_env:VIRL-v0")))
    env.reset(seed=0)
    assert env.unwrapped.active_rules.action_mode == "bearing"


def test_custom_rule_wrapper_with_randomness_from_the_env():
    class RandomAttempts(RuleWrapper):
        """One to four attempts per point, drawn per episode from the env's generator."""

        def transform_rules(self, rules: NavigationRules) -> NavigationRules:
            return rules.replace(max_attempts=int(self.np_random.integers(1, 5)))

    env = RandomAttempts(gym.make("virl_env:VIRL-v0"))
    draws = [env.reset(seed=s)[1]["attempts_left"] for s in range(12)]
    again = [env.reset(seed=s)[1]["attempts_left"] for s in range(12)]
    assert draws == again and len(set(draws)) > 1 and set(draws) <= {1, 2, 3, 4}


def test_bad_wrappers_are_rejected():
    class NotRules(RuleWrapper):
        def transform_rules(self, rules):
            return {"action_mode": "relative"}

    env = NotRules(gym.make("virl_env:VIRL-v0"))
    with pytest.raises(TypeError, match="not NavigationRules"):
        env.reset(seed=0)
    with pytest.raises(TypeError, match="add_rule_transform"):
        RelativeActions(gym.make("CartPole-v1"))
    with pytest.raises(NotImplementedError):
        RuleWrapper(gym.make("virl_env:VIRL-v0")).reset(seed=0)
    with pytest.raises(TypeError, match="callable"):
        VIRLEnv().add_rule_transform("relative")
