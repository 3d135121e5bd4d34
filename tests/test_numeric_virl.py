"""DiscreteNavigation: the numeric V-IRL game (spaces, encoding, expert play, SB3)."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

import virl_env  # noqa: F401
from virl_env.numeric import OBSERVATION_SIZE, DiscreteNavigation, encode_navigation_state, navigation_actions
from virl_env.wrappers import RelativeActions



def _sb3():
    """stable-baselines3 (the examples extra), on one torch thread; the wrappers themselves need neither."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return pytest.importorskip("stable_baselines3")


@pytest.mark.parametrize("env_id, n_actions", [("VIRL-v0", 10), ("VIRL-RuleOOD-v0", 6)])
def test_sb3_check_env_passes_without_warnings(env_id, n_actions):
    _sb3()
    from stable_baselines3.common.env_checker import check_env

    env = DiscreteNavigation(gym.make(env_id))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, warn=True)
    assert env.action_space.n == n_actions
    assert env.observation_space.shape == (OBSERVATION_SIZE,)


def test_actions_are_the_words_of_the_action_mode():
    assert navigation_actions("absolute")[:3] == ("forward()", "stop()", "turn_direction(north)")
    assert navigation_actions("relative")[2:] == tuple(
        f"turn_direction({w})" for w in ("left", "right", "slightly left", "slightly right"))
    with pytest.raises(ValueError, match="sideways"):
        navigation_actions("sideways")


@pytest.mark.parametrize("env_id", ["VIRL-v0", "VIRL-RuleOOD-v0"])
def test_expert_ids_solve_every_route_and_the_encoding_determines_the_action(env_id):
    env = DiscreteNavigation(gym.make(env_id))
    seen: dict[bytes, int] = {}
    for seed in range(40):
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            action = env.expert_action_id()
            # The expected action is a function of the observation (learnable), though never stored in it.
            assert seen.setdefault(obs.tobytes(), action) == action
            assert env.observation_space.contains(obs)
            obs, reward, terminated, truncated, info = env.step(action)
            assert reward == 1.0
            done = terminated or truncated
        assert info["is_success"]


def test_observation_does_not_depend_on_the_agent_s_earlier_mistakes():
    """The prompt's history shows the expert's actions, so a wrong earlier action changes nothing but attempts."""
    good, bad = DiscreteNavigation(gym.make("VIRL-v0")), DiscreteNavigation(gym.make("VIRL-v0"))
    good.reset(options={"route": 3})
    bad.reset(options={"route": 3})
    good.step(good.expert_action_id())
    wrong = (bad.expert_action_id() + 1) % bad.action_space.n
    bad.step(wrong)
    obs_bad, *_ = bad.step(wrong)  # attempts at the start point run out: moved on
    np.testing.assert_array_equal(encode_navigation_state(good), encode_navigation_state(bad))
    np.testing.assert_array_equal(obs_bad, encode_navigation_state(good))


def test_wrong_action_costs_and_retries():
    env = DiscreteNavigation(gym.make("VIRL-v0"))
    first, _ = env.reset(options={"route": 0})
    wrong = (env.expert_action_id() + 1) % env.action_space.n
    obs, reward, terminated, _, info = env.step(wrong)
    assert reward == -1.0 and not terminated and info["attempts_left"] == 1
    assert obs[-1] == pytest.approx(0.5) and first[-1] == 0.0  # attempts used at this point


def test_mode_mismatch_and_bad_arguments_are_named():
    env = DiscreteNavigation(RelativeActions(gym.make("VIRL-v0")))  # base rules absolute, active relative
    with pytest.raises(ValueError, match="action_mode='relative'"):
        env.reset(seed=0)
    assert DiscreteNavigation(RelativeActions(gym.make("VIRL-v0")), action_mode="relative").reset(seed=0)
    with pytest.raises(ValueError, match="diagonal"):
        DiscreteNavigation(gym.make("VIRL-v0"), action_mode="diagonal")
    with pytest.raises(TypeError, match="action_mode"):
        DiscreteNavigation(gym.make("VIRL-v0"), action_mode=3)
    with pytest.raises(TypeError, match="virl_env"):
        DiscreteNavigation(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="action"):
        env = DiscreteNavigation(gym.make("VIRL-v0"))
        env.reset(seed=0)
        env.step(10)


def _mean_return(model, seeds) -> float:
    env = DiscreteNavigation(gym.make("VIRL-v0"))
    total = 0.0
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(int(action))
            total += reward
            done = terminated or truncated
    return total / len(seeds)


def test_ppo_beats_the_untrained_policy_after_two_thousand_steps():
    """A real (short) training run: on fixed held-out seeds the trained policy's mean return is positive
    and far above the untrained one's (random actions lose about a point per attempt)."""
    PPO = _sb3().PPO

    env = DiscreteNavigation(gym.make("VIRL-v0"))
    model = PPO("MlpPolicy", env, seed=0, n_steps=512, batch_size=128, n_epochs=4, learning_rate=1e-3,
                device="cpu")
    seeds = range(10_000, 10_020)
    untrained = _mean_return(model, seeds)
    model.learn(2048)
    trained = _mean_return(model, seeds)
    assert model.num_timesteps == 2048
    assert trained > 0.0 and trained > untrained + 10.0, (untrained, trained)
