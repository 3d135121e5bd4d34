"""Rule-variant wrappers, each on its own and stacked."""

from __future__ import annotations

import warnings

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

from gpoints_env import (
    AceValue,
    AllowedOperators,
    FaceCardValues,
    RequireFaceCard,
    Rules,
    RuleWrapper,
    TargetPoints,
    Verdict,
    is_solvable,
)


class AcesHigh(RuleWrapper):
    """The README's worked example: aces count 11."""

    def transform_rules(self, rules: Rules) -> Rules:
        return rules.replace(ace_value=11)


def rollout(env, seed, episodes=20):
    out = []
    for i in range(episodes):
        obs, info = env.reset(seed=seed if i == 0 else None)
        out.append((obs, info["cards"], info["numbers"]))
        out.append(env.step(env.unwrapped.solution())[:3])
    return out


def test_rule_ood_id_equals_wrapped_in_distribution_env():
    wrapped = RequireFaceCard(FaceCardValues(gym.make("GeneralPoints-v0"), 11, 12, 13))
    assert rollout(wrapped, 4) == rollout(gym.make("GeneralPoints-RuleOOD-v0"), 4)


def test_readme_example_aces_high():
    env = AcesHigh(gym.make("GeneralPoints-v0"))
    obs, info = env.reset(seed=0, options={"cards": ["A", "A", "2", "K"]})  # 11 + 11 + 2 * ... = 24
    assert "A counts as 11" in obs and info["numbers"] == [11, 11, 2, 10]
    assert env.unwrapped.active_rules.ace_value == 11 and env.unwrapped.rules.ace_value == 1
    _, reward, terminated, _, info = env.step('{"formula": "11+11+2*10/10"}')
    assert info["verdict"] is Verdict.WRONG_NUMBERS  # 10 used twice: the hand has one K
    _, reward, terminated, _, info = env.step('{"formula": "(11+11+2)*10/10"}')
    assert info["verdict"] is Verdict.WRONG_NUMBERS
    _, reward, terminated, _, info = env.step('{"formula": "11+11+2"}')
    assert info["verdict"] is Verdict.WRONG_NUMBERS and "not used: 10" in info["feedback"]
    for seed in range(50):
        _, info = env.reset(seed=seed)
        assert is_solvable(info["numbers"], 24)
        assert all(n == 11 for c, n in zip(info["cards"], info["numbers"]) if c == "A")


def test_target_points():
    env = TargetPoints(gym.make("GeneralPoints-v0"), target=10)
    for seed in range(50):
        obs, info = env.reset(seed=seed)
        assert info["target"] == 10 and "exactly 10" in obs and "10 Points" in obs
        assert is_solvable(info["numbers"], 10)
        _, reward, terminated, _, info = env.step(env.unwrapped.solution())
        assert reward == 5 and terminated


def test_allowed_operators():
    env = AllowedOperators(gym.make("GeneralPoints-v0"), "*+-")
    obs, info = env.reset(seed=0)
    assert "Allowed operators: + - *" in obs and "Division" not in obs
    assert "/" not in env.unwrapped.solution()
    _, _, _, _, info = env.step("1/1")
    assert info["verdict"] is Verdict.ILLEGAL_FORMULA and "'/' is not allowed" in info["feedback"]
    with pytest.raises(ValueError):
        AllowedOperators(gym.make("GeneralPoints-v0"), "+^")
    with pytest.raises(TypeError):
        AllowedOperators(gym.make("GeneralPoints-v0"), ["+"])


def test_stacking_applies_innermost_first():
    env = TargetPoints(TargetPoints(gym.make("GeneralPoints-v0"), 10), 12)
    _, info = env.reset(seed=0)
    assert info["target"] == 12


def test_options_rules_are_the_base_for_transforms():
    env = AcesHigh(gym.make("GeneralPoints-v0"))
    _, info = env.reset(seed=0, options={"rules": Rules(target=30)})
    assert info["target"] == 30 and env.unwrapped.active_rules.ace_value == 11
    _, info = env.reset()
    assert info["target"] == 24  # options apply to one episode only


class RandomTarget(RuleWrapper):
    """Per-episode randomness must come from the env's generator."""

    def transform_rules(self, rules: Rules) -> Rules:
        return rules.replace(target=int(self.np_random.integers(10, 30)))


def test_random_rule_variants_are_seeded():
    def targets(seed):
        env = RandomTarget(gym.make("GeneralPoints-v0"))
        return [env.reset(seed=seed if i == 0 else None)[1]["target"] for i in range(15)]

    assert targets(1) == targets(1) and len(set(targets(1))) > 3 and targets(1) != targets(2)


@pytest.mark.parametrize(
    "make",
    [
        lambda e: FaceCardValues(e, 11, 12, 13),
        lambda e: AceValue(e, 11),
        lambda e: TargetPoints(e, 10),
        lambda e: RequireFaceCard(e),
        lambda e: AllowedOperators(e, "+-*"),
        lambda e: AcesHigh(e),
    ],
)
def test_every_wrapper_passes_check_env_and_is_recreated_from_its_spec(make):
    env = make(gym.make("GeneralPoints-v0"))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*different from the unwrapped version.*")
        check_env(env)
    again = gym.make(env.spec)
    assert rollout(again, 9, episodes=3) == rollout(env, 9, episodes=3)


def test_wrapper_argument_validation():
    base = gym.make("GeneralPoints-v0")
    with pytest.raises(ValueError):
        FaceCardValues(base, -1, 12, 13)
    with pytest.raises(TypeError):
        FaceCardValues(base, "J", 12, 13)
    with pytest.raises(TypeError):
        TargetPoints(base, "24")
    with pytest.raises(TypeError):
        AceValue(base, 1.5)
    with pytest.raises(TypeError, match="GeneralPoints"):
        AcesHigh(gym.make("CartPole-v1"))

    class Broken(RuleWrapper):
        def transform_rules(self, rules):
            return {"target": 10}

    with pytest.raises(TypeError, match="expected Rules"):
        Broken(gym.make("GeneralPoints-v0")).reset(seed=0)

    class Unfinished(RuleWrapper):
        pass

    with pytest.raises(NotImplementedError):
        Unfinished(gym.make("GeneralPoints-v0")).reset(seed=0)
