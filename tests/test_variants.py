"""Variant wrappers of both games act only through themselves, and every built-in one is rebuilt from its spec."""

from __future__ import annotations

import hashlib
import inspect

import gymnasium as gym
import pytest

import gpoints_env
import gpoints_env.wrappers
import virl_env
import virl_env.wrappers
from conftest import digest_step, oracle_reply, same_observation
from gpoints_env import AceValue, Resolution, SuitColours
from sftrl_core.variants import TransformWrapper

GP_TEXT, GP_IMAGE = ("GeneralPoints-v0", {}), ("GeneralPoints-VL-v0", {})
VIRL_TEXT, VIRL_IMAGE = ("VIRL-v0", {}), ("VIRL-VL-v0", {"view_size": 48})

#: Every built-in wrapper of both packages: (class, the env it wraps, its arguments).
BUILT_INS = [
    (gpoints_env.FaceCardValues, GP_TEXT, {"jack": 11, "queen": 12, "king": 13}),
    (gpoints_env.AceValue, GP_TEXT, {"value": 11}),
    (gpoints_env.TargetPoints, GP_TEXT, {"target": 10}),
    (gpoints_env.RequireFaceCard, GP_TEXT, {}),
    (gpoints_env.AllowedOperators, GP_TEXT, {"operators": "+-*"}),
    (gpoints_env.DealSuits, GP_IMAGE, {"colour": "red"}),
    (gpoints_env.SuitColours, GP_IMAGE, {"colour": (0, 0, 200), "hearts": (0, 90, 200)}),
    (gpoints_env.CardColours, GP_IMAGE, {"background": (10, 10, 80)}),
    (gpoints_env.Jitter, GP_IMAGE, {"degrees": 5.0, "offset": 0.03}),
    (gpoints_env.Resolution, GP_IMAGE, {"resolution": 300}),
    (gpoints_env.GaussianBlur, GP_IMAGE, {"radius": 1.5}),
    (gpoints_env.ImageNoise, GP_IMAGE, {"sigma": 10.0}),
    (virl_env.RelativeActions, VIRL_TEXT, {}),
    (virl_env.BearingActions, VIRL_TEXT, {}),
    (virl_env.DenseRail, VIRL_TEXT, {"forward_points": 4, "drop_rate": 0.3}),
    (virl_env.CityLook, VIRL_IMAGE, {"look": "tokyo"}),
    (virl_env.NightCity, VIRL_IMAGE, {"lit_fraction": 0.3}),
    (virl_env.Fog, VIRL_IMAGE, {"density": 0.4, "blur": 1.0}),
]
BASES = (gpoints_env.wrappers.RuleWrapper, gpoints_env.wrappers.StyleWrapper, virl_env.wrappers.RuleWrapper,
         virl_env.wrappers.StyleWrapper)


def built_in_id(case) -> str:
    return case[0].__name__


def episode_digest(env: gym.Env, seed: int, steps: int = 2) -> str:
    """Digest of a reset from ``seed`` and a few oracle steps."""
    h = hashlib.sha256()
    digest_step(h, *env.reset(seed=seed))
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(oracle_reply(env))
        digest_step(h, obs, float(reward), terminated, truncated, info)
        if terminated or truncated:
            break
    return h.hexdigest()


def test_the_table_lists_every_built_in_wrapper():
    exported = {obj for module in (gpoints_env.wrappers, virl_env.wrappers) for name in module.__all__
                if inspect.isclass(obj := getattr(module, name)) and issubclass(obj, gym.Wrapper)}
    assert exported - set(BASES) == {case[0] for case in BUILT_INS}


@pytest.mark.parametrize("case", BUILT_INS, ids=built_in_id)
def test_a_wrapper_built_and_dropped_leaves_the_env_unchanged(case):
    cls, (env_id, kwargs), args = case
    env = gym.make(env_id, **kwargs)
    space = env.observation_space
    before = episode_digest(env, seed=5)
    cls(env, **args)  # built and dropped
    assert episode_digest(env, seed=5) == before
    assert env.observation_space == space and env.unwrapped.observation_space == space


def test_two_wrappers_on_one_env_do_not_interfere():
    env = gym.make("GeneralPoints-v0")
    w1, w2 = AceValue(env, 11), AceValue(env, 5)
    aces = {"cards": ["A", "A", "2", "K"]}
    assert w1.reset(seed=0, options=aces)[1]["numbers"] == [11, 11, 2, 10]
    assert "A counts as 11" in w1.unwrapped._observation and w1.unwrapped.active_rules.ace_value == 11
    assert w2.reset(seed=0, options={"cards": ["A", "5", "7", "3"]})[1]["numbers"] == [5, 5, 7, 3]
    assert w1.reset(seed=0, options=aces)[1]["numbers"] == [11, 11, 2, 10]
    assert env.reset(seed=0, options=aces)[1]["numbers"] == [1, 1, 2, 10]


def test_two_style_wrappers_on_one_env_do_not_interfere():
    env = gym.make("GeneralPoints-VL-v0")
    blue, green = SuitColours(env, colour=(0, 0, 200)), SuitColours(env, colour=(0, 160, 0))
    plain = env.reset(seed=1)[0]
    a, b = blue.reset(seed=1)[0], green.reset(seed=1)[0]
    assert not same_observation(a, b) and not same_observation(a, plain)
    assert same_observation(blue.reset(seed=1)[0], a) and same_observation(env.reset(seed=1)[0], plain)
    assert env.unwrapped.active_style.suit_colours == env.unwrapped.style.suit_colours


def test_resolution_leaves_the_wrapped_env_its_size():
    env = gym.make("GeneralPoints-VL-v0")
    big = Resolution(env, 640)
    assert big.reset(seed=0)[0]["image"].shape == (640, 640, 3) == big.observation_space["image"].shape
    assert env.reset(seed=0)[0]["image"].shape == (512, 512, 3) == env.observation_space["image"].shape
    assert Resolution(Resolution(env, 128), 256).reset(seed=0)[0]["image"].shape == (256, 256, 3)  # outer wins


def test_virl_wrappers_on_one_env_do_not_interfere():
    env = gym.make("VIRL-v0")
    sparse, dense = virl_env.DenseRail(env, forward_points=0), virl_env.DenseRail(env, forward_points=6)
    counts = [w.reset(seed=2)[1]["num_points"] for w in (sparse, dense, sparse, env)]
    assert counts[0] < counts[3] < counts[1] and counts[2] == counts[0]
    relative = virl_env.RelativeActions(env)
    relative.reset(seed=0)
    assert env.unwrapped.active_rules.action_mode == "relative"
    env.reset(seed=0)
    assert env.unwrapped.active_rules.action_mode == "absolute"


@pytest.mark.parametrize("case", BUILT_INS, ids=built_in_id)
def test_every_built_in_wrapper_is_rebuilt_from_its_spec(case):
    cls, (env_id, kwargs), args = case
    wrapped = cls(gym.make(env_id, **kwargs), **args)
    again = gym.make(wrapped.spec)
    assert type(again) is cls and again.spec == wrapped.spec
    assert episode_digest(again, seed=4) == episode_digest(wrapped, seed=4)
    if isinstance(wrapped, TransformWrapper):  # a variant of the game: it changes the episodes
        assert episode_digest(wrapped, seed=4) != episode_digest(gym.make(env_id, **kwargs), seed=4)
