"""Image-mode environments (VIRL-VL-*): spaces, check_env, determinism, benchmark, wrappers, vectors."""

from __future__ import annotations

import hashlib
import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import virl_env
from virl_env import (
    VISUAL_OOD_ROUTES,
    VISUAL_OOD_STYLES,
    VL_ENV_IDS,
    CityLook,
    Fog,
    NightCity,
    StyleWrapper,
    VIRLVisionEnv,
)
from virl_env.protocols.prompts import IMAGE_LAYOUT_TEXT
from virl_env.world.styles import TRAINING_STYLE, UNSEEN_STYLES

SMALL = {"view_size": 48}


def run_expert(env, seed=None, options=None):
    obs, info = env.reset(seed=seed, options=options)
    while True:
        obs, reward, terminated, truncated, info = env.step(env.unwrapped.expert_reply())
        if terminated or truncated:
            return obs, info


@pytest.mark.parametrize("env_id", VL_ENV_IDS)
def test_check_env_without_warnings(env_id):
    env = gym.make(f"virl_env:{env_id}", **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


def test_ids_and_defaults():
    assert VL_ENV_IDS == ("VIRL-VL-v0", "VIRL-VL-RuleOOD-v0", "VIRL-VL-VisualOOD-v0")
    assert set(virl_env.ALL_ENV_IDS) == set(virl_env.TEXT_ENV_IDS) | set(VL_ENV_IDS) == set(virl_env.ENV_IDS)
    env = gym.make("virl_env:VIRL-VL-v0")
    space = env.observation_space
    assert space["image"].shape == (514, 514, 3) and space["image"].dtype == np.uint8
    assert gym.spec("VIRL-VL-v0").max_episode_steps == virl_env.MAX_EPISODE_STEPS


@pytest.mark.parametrize("env_id", VL_ENV_IDS)
def test_observation_and_expert(env_id):
    env = gym.make(f"virl_env:{env_id}", **SMALL)
    obs, info = env.reset(seed=3)
    assert set(obs) == {"image", "text"} and obs in env.observation_space
    assert obs["image"].shape == (98, 98, 3) and obs["image"].dtype == np.uint8
    text = obs["text"]
    assert IMAGE_LAYOUT_TEXT in text and "O_1: You observe an image of 4 views (front, right / back, left)" in text
    # The current observation is the image: its landmark names are not in the text.
    point = env.unwrapped.rail[0]
    for name in point.landmarks:
        assert name not in text.split("[Observations and actions sequence]")[1]
    obs, info = run_expert(env, seed=3)
    assert info["is_success"] and obs in env.observation_space


def test_images_change_with_the_point_and_not_with_failed_attempts():
    env = VIRLVisionEnv(**SMALL)
    obs0, _ = env.reset(seed=1)
    obs1, *_ = env.step("gibberish")
    assert np.array_equal(obs0["image"], obs1["image"]) and obs0["text"] != obs1["text"]
    obs2, *_ = env.step(env.expert_action())
    assert not np.array_equal(obs1["image"], obs2["image"])
    obs2["image"][:] = 0  # the returned array is the caller's own copy
    assert env._get_obs()["image"].any()


def _digest(env_id: str, seed: int) -> str:
    env = gym.make(f"virl_env:{env_id}", view_size=40)
    h = hashlib.sha256()
    obs, _ = env.reset(seed=seed)
    h.update(obs["image"].tobytes() + obs["text"].encode())
    for t in range(6):
        obs, r, term, trunc, _ = env.step(env.unwrapped.expert_reply() if t % 2 else "forward()")
        h.update(obs["image"].tobytes() + obs["text"].encode() + str(r).encode())
        if term:
            obs, _ = env.reset()
    return h.hexdigest()


def test_same_seed_same_images():
    assert _digest("VIRL-VL-v0", 4) == _digest("VIRL-VL-v0", 4)
    assert _digest("VIRL-VL-v0", 4) != _digest("VIRL-VL-v0", 5)


def test_visual_ood_benchmark_is_fixed_and_replayable():
    assert len(VISUAL_OOD_ROUTES) == 18 and len(set(VISUAL_OOD_STYLES)) == 9
    assert TRAINING_STYLE not in VISUAL_OOD_STYLES and set(VISUAL_OOD_STYLES) <= set(UNSEEN_STYLES)
    assert all(sum(1 for s, _, _ in VISUAL_OOD_ROUTES if s == style) == 2 for style in VISUAL_OOD_STYLES)
    env = gym.make("virl_env:VIRL-VL-VisualOOD-v0", **SMALL)
    seen = set()
    for k in (0, 5, 17):
        a, ia = env.reset(options={"route": k})
        b, ib = env.reset(seed=99, options={"route": k})
        assert ia["route"] == k and ia["style"] == VISUAL_OOD_ROUTES[k][0]
        assert np.array_equal(a["image"], b["image"]) and a["text"] == b["text"]
        seen.add(ia["instruction"])
    assert len(seen) == 3
    draws = {env.reset(seed=s)[1]["route"] for s in range(30)}
    assert draws <= set(range(18)) and len(draws) > 5
    with pytest.raises(ValueError, match="< 18"):
        env.reset(options={"route": 18})
    with pytest.raises(ValueError, match="city_seed"):
        env.reset(options={"route": 1, "city_seed": 3})


def test_render_modes_and_map():
    env = gym.make("virl_env:VIRL-VL-v0", render_mode="rgb_array", render_size=256, **SMALL)
    obs, _ = env.reset(seed=0)
    frame = env.render()
    assert np.array_equal(frame, obs["image"])
    view_map = env.unwrapped.render_map()
    assert view_map.shape == (256, 256, 3) and view_map.dtype == np.uint8
    assert env.unwrapped.render_map(size=300).shape == (300, 300, 3)
    text_env = gym.make("virl_env:VIRL-VL-v0", render_mode="ansi", **SMALL)
    text_env.reset(seed=0)
    assert "instruction:" in text_env.render()


def test_constructor_validation():
    with pytest.raises(ValueError, match="view_size"):
        VIRLVisionEnv(view_size=16)
    with pytest.raises(ValueError, match="view_size"):
        VIRLVisionEnv(view_size=5000)
    with pytest.raises(TypeError, match="view_size"):
        VIRLVisionEnv(view_size="big")
    with pytest.raises(ValueError, match="benchmark"):
        VIRLVisionEnv(benchmark="hard")
    with pytest.raises(ValueError, match="unknown city style"):
        VIRLVisionEnv(benchmark=[("gotham", 0, 0)])


def test_pickle_mid_episode():
    env = gym.make("virl_env:VIRL-VL-v0", **SMALL)
    env.reset(seed=2)
    env.step(env.unwrapped.expert_reply())
    clone = pickle.loads(pickle.dumps(env))
    for _ in range(3):
        reply = env.unwrapped.expert_reply()
        a, b = env.step(reply), clone.step(reply)
        assert np.array_equal(a[0]["image"], b[0]["image"]) and a[0]["text"] == b[0]["text"] and a[1:4] == b[1:4]


def test_truncation():
    env = gym.make("virl_env:VIRL-VL-v0", max_episode_steps=2, rules={"max_attempts": 10}, **SMALL)
    env.reset(seed=0)
    assert [env.step("nonsense")[3] for _ in range(2)] == [False, True]


@pytest.mark.parametrize("vector_cls", ["sync", "async"])
def test_vector_envs(vector_cls):
    fns = [lambda: gym.make("virl_env:VIRL-VL-v0", **SMALL) for _ in range(2)]
    # shared_memory=False: Gymnasium 1.4 reads Text observations from shared memory only once, so
    # with the default every later text observation would be stale.
    venv = gym.vector.SyncVectorEnv(fns) if vector_cls == "sync" else \
        gym.vector.AsyncVectorEnv(fns, shared_memory=False)
    obs, _ = venv.reset(seed=[1, 2])
    assert obs["image"].shape == (2, 98, 98, 3) and len(obs["text"]) == 2
    previous = obs["text"]
    obs, rewards, *_ = venv.step(("forward()", "stop()"))
    assert obs["text"][0] != previous[0] and obs["text"][1] != previous[1]
    single = VIRLVisionEnv(**SMALL)
    first, _ = single.reset(seed=1)
    venv.reset(seed=[1, 2])
    again, _ = venv.reset(seed=[1, 2])
    assert np.array_equal(again["image"][0], first["image"])
    venv.close()


# ---- visual variants ---------------------------------------------------------------------------
def test_city_look_changes_pixels_not_the_task():
    base = VIRLVisionEnv(**SMALL)
    tokyo = CityLook(VIRLVisionEnv(**SMALL), "tokyo")
    a, ia = base.reset(seed=7)
    b, ib = tokyo.reset(seed=7)
    assert a["text"] == b["text"] and ia == ib and ib["style"] == "new_york"
    assert a["image"].mean() > b["image"].mean() + 15
    assert tokyo.unwrapped.city.style.look.time_of_day == "night"
    assert base.unwrapped.expert_action() == tokyo.unwrapped.expert_action()


def test_night_city_and_custom_style_wrapper():
    class PinkSigns(StyleWrapper):
        def transform_style(self, style):
            return style.replace(look=style.look.replace(sign_colors=((255, 105, 180),)))

    env = NightCity(PinkSigns(VIRLVisionEnv(**SMALL)), lit_fraction=0.8)
    env.reset(seed=0)
    look = env.unwrapped.city.style.look
    assert look.sign_colors == ((255, 105, 180),) and look.lit_fraction == 0.8 and look.light == 0.4
    with pytest.raises(ValueError, match="lit_fraction"):
        NightCity(VIRLVisionEnv(**SMALL), lit_fraction=2.0)
    with pytest.raises(TypeError, match="StreetLook"):
        CityLook(VIRLVisionEnv(**SMALL), 3)

    class Broken(StyleWrapper):
        def transform_style(self, style):
            return "tokyo"

    with pytest.raises(TypeError, match="returned str, expected CityStyle"):
        Broken(VIRLVisionEnv(**SMALL)).reset(seed=0)
    with pytest.raises(TypeError, match="NightCity wraps VIRLEnv environments, got CartPoleEnv"):
        NightCity(gym.make("CartPole-v1"))


def test_fog_observation_wrapper():
    env = Fog(VIRLVisionEnv(**SMALL), density=0.6, blur=1.0, color=(200, 200, 200))
    clear, _ = VIRLVisionEnv(**SMALL).reset(seed=0)
    foggy, _ = env.reset(seed=0)
    assert foggy in env.observation_space and foggy["text"] == clear["text"]
    assert foggy["image"].std() < clear["image"].std() * 0.6
    assert abs(float(foggy["image"].mean()) - 200) < abs(float(clear["image"].mean()) - 200)
    with pytest.raises(ValueError, match="density"):
        Fog(VIRLVisionEnv(**SMALL), density=1.0)
    with pytest.raises(TypeError, match="image observation"):
        Fog(gym.make("virl_env:VIRL-v0"))
