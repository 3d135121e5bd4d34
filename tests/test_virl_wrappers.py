"""Variant wrappers (virl_env.wrappers) on their own: rules, looks, fog, specs, isolation."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from virl_env import (
    BearingActions,
    CityLook,
    DenseRail,
    DiscreteNavigation,
    Fog,
    NavigationRules,
    NightCity,
    RelativeActions,
    RuleWrapper,
    StyleWrapper,
    VIRLEnv,
)


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
    with pytest.raises(TypeError, match="returned dict, expected NavigationRules"):
        env.reset(seed=0)
    with pytest.raises(TypeError, match="RelativeActions wraps VIRLEnv environments"):
        RelativeActions(gym.make("CartPole-v1"))
    with pytest.raises(NotImplementedError, match="transform_rules"):
        RuleWrapper(gym.make("virl_env:VIRL-v0")).reset(seed=0)
    with pytest.raises(TypeError, match="callable"):
        VIRLEnv().reset(seed=0, options={"rule_transforms": ("relative",)})
    # The env no longer offers a way for a wrapper to change it for good.
    assert not hasattr(VIRLEnv(), "add_rule_transform") and not hasattr(VIRLEnv(), "add_style_transform")


# ---- faults of issue 9: wrappers used to register their transform on the env they wrap -----------------
def test_rule_wrapper_built_and_dropped_leaves_the_env_unchanged():
    env = gym.make("virl_env:VIRL-v0")
    before, _ = env.reset(seed=2)
    RelativeActions(env)  # built and thrown away
    DenseRail(env, forward_points=6)
    after, info = env.reset(seed=2)
    assert after == before and info["action_mode"] == "absolute"
    assert env.unwrapped.active_rules == NavigationRules()


def test_style_wrapper_built_and_dropped_leaves_the_env_unchanged():
    env = gym.make("virl_env:VIRL-VL-v0", view_size=32)
    before, _ = env.reset(seed=1)
    NightCity(env)
    CityLook(env, "tokyo")
    after, _ = env.reset(seed=1)
    np.testing.assert_array_equal(after["image"], before["image"])
    assert env.unwrapped.city.style.look.time_of_day != "night"


def test_two_wrappers_on_one_env_do_not_interfere():
    env = gym.make("virl_env:VIRL-v0")
    relative, bearing = RelativeActions(env), BearingActions(env)
    assert relative.reset(seed=0)[1]["action_mode"] == "relative"
    assert bearing.reset(seed=0)[1]["action_mode"] == "bearing"
    assert env.reset(seed=0)[1]["action_mode"] == "absolute"
    assert relative.reset(seed=0)[1]["action_mode"] == "relative"
    vision = gym.make("virl_env:VIRL-VL-v0", view_size=32)
    night, tokyo = NightCity(vision, lit_fraction=0.9), CityLook(vision, "tokyo")
    night.reset(seed=0)
    assert vision.unwrapped.city.style.look.lit_fraction == 0.9
    tokyo.reset(seed=0)
    assert vision.unwrapped.city.style.look.lit_fraction != 0.9


def test_wrapper_does_not_change_the_callers_options():
    env = RelativeActions(gym.make("virl_env:VIRL-v0"))
    options = {"route": 3}
    env.reset(options=options)
    assert options == {"route": 3}


BUILT_IN = [
    ("VIRL-v0", lambda env: RelativeActions(env)),
    ("VIRL-v0", lambda env: BearingActions(env)),
    ("VIRL-v0", lambda env: DenseRail(env, forward_points=5, drop_rate=0.25)),
    ("VIRL-VL-v0", lambda env: CityLook(env, "rome")),
    ("VIRL-VL-v0", lambda env: NightCity(env, lit_fraction=0.2, light=0.7)),
    ("VIRL-VL-v0", lambda env: Fog(env, density=0.3, blur=1.0, color=(10, 20, 30))),
    ("VIRL-RuleOOD-v0", lambda env: DiscreteNavigation(env, action_mode="relative")),
    ("VIRL-VL-v0", lambda env: Fog(NightCity(DenseRail(env, forward_points=1)), density=0.2)),
]


@pytest.mark.parametrize("env_id, wrap", BUILT_IN, ids=range(len(BUILT_IN)))
def test_every_built_in_wrapper_is_rebuilt_from_its_spec(env_id, wrap):
    kwargs = {"view_size": 32} if "VL" in env_id else {}
    wrapped = wrap(gym.make(env_id, **kwargs))
    rebuilt = gym.make(wrapped.spec)
    assert rebuilt.spec == wrapped.spec
    a, ia = wrapped.reset(seed=5)
    b, ib = rebuilt.reset(seed=5)
    assert ia == ib
    if isinstance(a, dict):
        assert a["text"] == b["text"]
        np.testing.assert_array_equal(a["image"], b["image"])
    else:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_custom_style_wrapper_with_arguments_records_them():
    class Brightness(StyleWrapper):
        def __init__(self, env, light: float = 0.9):
            gym.utils.RecordConstructorArgs.__init__(self, light=light)
            self.light = light
            super().__init__(env)

        def transform_style(self, style):
            return style.replace(look=style.look.replace(light=self.light))

    env = Brightness(gym.make("virl_env:VIRL-VL-v0", view_size=32), light=0.5)
    assert env.spec.additional_wrappers[-1].kwargs == {"light": 0.5}
    env.reset(seed=0)
    assert env.unwrapped.city.style.look.light == 0.5
