"""VIRLEnv behaviour, registration, determinism, vector envs, pickling, rendering."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import virl_env
from virl_env import TEXT_ENV_IDS, NavigationRules, RelativeActions, VIRLEnv
from virl_env.protocols.prompts import OBS_CHARSET, OBS_MAX_LENGTH
from virl_env.world.routes import MAX_PATH_NODES
from virl_env.world.styles import STYLE_NAMES, UNSEEN_STYLES, get_style

REPO = Path(__file__).resolve().parents[1]
INFO_KEYS = {"instruction", "observation", "step_index", "num_points", "attempts_left", "verdict", "feedback",
             "is_success", "step_correct", "points_solved", "action_mode", "route", "city_seed", "style",
             "messages"}


def run_expert(env, seed=None, options=None, use_reply=True):
    obs, info = env.reset(seed=seed, options=options)
    total, steps = 0.0, 0
    while True:
        u = env.unwrapped
        reply = u.expert_reply() if use_reply else u.expert_action()
        obs, reward, terminated, truncated, info = env.step(reply)
        total += reward
        steps += 1
        if terminated or truncated:
            return obs, total, steps, info


@pytest.mark.parametrize("env_id", TEXT_ENV_IDS)
def test_check_env_without_warnings(env_id):
    env = gym.make(f"virl_env:{env_id}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    env.close()


def test_make_works_in_a_fresh_interpreter():
    code = ("import gymnasium as gym; env = gym.make('virl_env:VIRL-RuleOOD-v0'); o, i = env.reset(seed=0); "
            "print(env.unwrapped.active_rules.action_mode, i['num_points'] > 3)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["relative", "True"]


@pytest.mark.parametrize("env_id", TEXT_ENV_IDS)
def test_expert_always_succeeds(env_id):
    env = gym.make(f"virl_env:{env_id}")
    space = env.observation_space
    for seed in range(40):
        obs, total, steps, info = run_expert(env, seed=seed, use_reply=seed % 2 == 0)
        assert info["is_success"] is True
        assert info["verdict"] == "correct"
        assert all(info["step_correct"]) and len(info["step_correct"]) == steps == info["num_points"]
        assert info["points_solved"] == [True] * steps
        assert total == pytest.approx(steps)
        if seed < 5:
            assert obs in space
        assert obs.endswith("The navigation episode has ended.")


@pytest.mark.parametrize("style", UNSEEN_STYLES)
def test_expert_succeeds_in_unseen_styles_and_all_modes(style):
    for mode in ("absolute", "relative", "bearing"):
        env = VIRLEnv(style=style, rules={"action_mode": mode, "forward_points": 1})
        for seed in range(4):
            _, _, _, info = run_expert(env, seed=seed)
            assert info["is_success"] and info["style"] == style and info["action_mode"] == mode


def test_expert_succeeds_with_drops_and_dense_rails():
    env = VIRLEnv(rules={"forward_points": 8, "drop_rate": 0.5})
    lengths = set()
    for seed in range(10):
        _, _, steps, info = run_expert(env, seed=seed, options={"route": 3})
        assert info["is_success"]
        lengths.add(steps)
    assert len(lengths) > 1  # random drops differ between seeds


def test_observations_are_in_space_and_bounded():
    # Longest possible prompt: every landmark name at the longest length of any style, three in
    # view at every point, the densest rail, the longest action line.
    longest_name = max(len(t.format(word=w)) for s in STYLE_NAMES for _, ts in get_style(s).naming.landmark_kinds
                       for t in ts for w in get_style(s).naming.landmark_words)
    points = (MAX_PATH_NODES + 2) + (MAX_PATH_NODES + 1) * 8
    per_point = len("O_999: ") + 3 * (longest_name + len(" is on your right behind; ")) + \
        len("You observe an intersection\n") + len("A_999: turn_direction(slightly right)\n")
    assert 3000 + 8 * 200 + points * per_point < OBS_MAX_LENGTH
    env = VIRLEnv(rules={"forward_points": 8})
    for seed in range(5):
        obs, info = env.reset(seed=seed)
        assert obs in env.observation_space
        obs, *_ = env.step("nonsense \u2603")
        assert obs in env.observation_space and "[Feedback]" in obs
        assert set(obs) <= set(OBS_CHARSET)


def test_info_is_json_friendly_and_has_no_expected_action():
    env = gym.make("virl_env:VIRL-v0")
    obs, info = env.reset(seed=3)
    assert set(info) == INFO_KEYS
    json.dumps(info)
    assert info["verdict"] is None and info["is_success"] is False and info["feedback"] == ""
    assert info["messages"] == [{"role": "user", "content": obs}]
    expert = env.unwrapped.expert_action()
    for key, value in info.items():
        if key not in ("messages", "instruction"):
            assert expert not in json.dumps(value)
    obs, r, term, trunc, info = env.step("forward(")
    json.dumps(info)
    assert set(info) == INFO_KEYS


def test_wrong_attempts_feedback_and_moving_on():
    env = gym.make("virl_env:VIRL-v0")
    obs, info = env.reset(seed=1, options={"route": 4})
    u = env.unwrapped
    assert u.expert_action().startswith("turn_direction(")
    assert info["attempts_left"] == 2
    obs, r, term, trunc, info = env.step('{"action": "forward()"}')
    assert (r, term, info["verdict"], info["attempts_left"], info["step_index"]) == (-1.0, False, "wrong_action", 1, 0)
    assert "[Feedback]" in obs and "Attempts left at this point: 1." in obs
    assert info["messages"][0]["role"] == "user" and "[Feedback]" not in info["messages"][0]["content"]
    assert info["messages"][1:] == [{"role": "assistant", "content": '{"action": "forward()"}'},
                                    {"role": "user", "content": info["feedback"]}]
    expert = u.expert_action()
    obs, r, term, trunc, info = env.step("stop()")
    # Second failure: the point is failed and the agent is moved on (default on_exhausted).
    assert (r, term, info["verdict"], info["step_index"], info["attempts_left"]) == (-1.0, False, "wrong_action", 1, 2)
    assert info["points_solved"] == [False] and info["step_correct"] == [False, False]
    assert f"the expected action there was {expert}" in obs
    assert f"A_1: {expert}" in obs and "O_2: " in obs
    assert len(info["messages"]) == 1
    obs, total, steps, info = run_expert(env.unwrapped)  # fresh episode: resets
    assert info["is_success"]
    # Finish an episode with one failed point: not a success, but it terminates at the destination.
    env.reset(seed=1, options={"route": 4})
    env.step("gibberish")
    env.step("gibberish")
    while True:
        obs, r, term, trunc, info = env.step(env.unwrapped.expert_action())
        if term:
            break
    assert info["is_success"] is False and info["points_solved"][0] is False and all(info["points_solved"][1:])
    assert np.mean(info["step_correct"]) < 1.0


def test_terminate_on_exhausted_and_failed_stop():
    env = VIRLEnv(rules={"on_exhausted": "terminate"})
    env.reset(seed=0, options={"route": 2})
    env.step("forward()")
    obs, r, term, trunc, info = env.step("forward()")
    assert term and not info["is_success"] and info["attempts_left"] == 0
    assert "No attempts left; the episode has ended." in obs
    with pytest.raises(RuntimeError, match="episode has ended"):
        env.step("forward()")
    with pytest.raises(RuntimeError, match="episode has ended"):
        env.expert_action()
    # Failing the stop at the destination ends the episode even when advancing.
    env = VIRLEnv(rules={"max_attempts": 1})
    env.reset(seed=0, options={"route": 2})
    while env.expert_action() != "stop()":
        env.step(env.expert_action())
    obs, r, term, trunc, info = env.step("forward()")
    assert term and not info["is_success"] and r == -1.0


@pytest.mark.parametrize("max_attempts", [1, 2])
def test_a_failed_destination_ends_the_route_under_advance(max_attempts):
    """Under on_exhausted="advance" the route still ends where the destination's attempts run out: terminated, not
    a success, the feedback says the episode has ended, and nothing claims the agent was moved on past it."""
    env = VIRLEnv(rules={"max_attempts": max_attempts, "on_exhausted": "advance"})
    env.reset(seed=0, options={"route": 2})
    while env.expert_action() != "stop()":
        env.step(env.expert_reply())
    last = len(env.rail) - 1
    assert env.point_index == last and env.rail[last].kind == "destination"
    history = env.history
    for _ in range(max_attempts):
        obs, reward, terminated, truncated, info = env.step('{"action": "forward()"}')
    assert (reward, terminated, truncated, info["is_success"]) == (-1.0, True, False, False)
    assert info["feedback"].endswith("No attempts left; the episode has ended.")
    assert "moved on" not in info["feedback"] and "moved on" not in obs and "expected action there was" not in obs
    assert obs.endswith("The navigation episode has ended.") and "[Output]" not in obs
    assert info["step_index"] == last and info["attempts_left"] == 0 and info["points_solved"][-1] is False
    assert len(info["points_solved"]) == len(env.rail) and env.history == history  # the destination is not passed
    with pytest.raises(RuntimeError, match="episode has ended"):
        env.step("stop()")
    # The same at the task itself, for any last point (a one-point rail, as a point spec builds it).
    from virl_env.task.navigation import NavigationTask

    for point in (env.rail[last], env.rail[0]):
        task = NavigationTask((point,), NavigationRules(max_attempts=1), env.rewards)
        step = task.step("I am lost")
        assert step.terminated and not task.success and task.index == 0 and task.history == []
        assert "moved on" not in step.feedback and step.feedback.endswith("the episode has ended.")


def test_step_guards():
    env = VIRLEnv()
    with pytest.raises(RuntimeError, match="reset"):
        env.step("forward()")
    env.reset(seed=0, options={"rules": {"max_attempts": 9}})
    for bad in (None, 3, b"forward()", {"action": "forward()"}, ["forward()"]):
        # a reply that is not text gets a verdict, as in GeneralPoints, never an exception
        obs, r, term, _trunc, info = env.step(bad)
        assert (r, term, info["verdict"]) == (-1.0, False, "invalid") and obs in env.observation_space
        assert info["feedback"].startswith(f"Invalid reply: the reply must be text, not {type(bad).__name__}.")
        assert info["messages"][-2]["role"] == "assistant" and isinstance(info["messages"][-2]["content"], str)
    env.reset(seed=0)
    obs, r, *_ = env.step("\x00" * 100_000)
    assert r == -1.0
    _, _, _, info = run_expert(env, seed=0)
    with pytest.raises(RuntimeError, match="episode has ended"):
        env.step("stop()")


def test_constructor_and_option_validation():
    with pytest.raises(ValueError, match="render_mode"):
        VIRLEnv(render_mode="human")
    with pytest.raises(ValueError, match="city_seed"):
        VIRLEnv(city_seed=-3)
    with pytest.raises(TypeError, match="num_routes"):
        VIRLEnv(num_routes="many")
    with pytest.raises(ValueError, match="unknown city style"):
        VIRLEnv(style="gotham")
    with pytest.raises(TypeError, match="unknown NavigationRules fields"):
        VIRLEnv(rules={"attempts": 3})
    env = VIRLEnv()
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"routes": 1})
    with pytest.raises(ValueError, match="route"):
        env.reset(options={"route": -1})
    with pytest.raises(TypeError, match="route"):
        env.reset(options={"route": "1"})


def test_route_and_city_options_replay_exactly():
    env = VIRLEnv()
    a, ia = env.reset(seed=0, options={"route": 12})
    b, ib = env.reset(seed=99, options={"route": 12})
    assert a == b and ia["route"] == ib["route"] == 12
    c, ic = env.reset(options={"route": 12, "city_seed": 4})
    assert ic["city_seed"] == 4 and c != a
    d, _ = env.reset(options={"route": 13})
    assert d != a
    env2 = VIRLEnv(city_seed=None)
    _, i1 = env2.reset(seed=5)
    _, i2 = env2.reset(seed=5)
    _, i3 = env2.reset(seed=6)
    assert i1["city_seed"] == i2["city_seed"] != i3["city_seed"]
    # options["rules"] replaces the base rules for one episode.
    obs, info = env.reset(seed=0, options={"rules": {"action_mode": "relative"}})
    assert info["action_mode"] == "relative" and "'slightly left'" in obs
    obs, info = env.reset(seed=0)
    assert info["action_mode"] == "absolute"


def _rollout_digest(env_id: str, seed: int) -> str:
    env = gym.make(f"virl_env:{env_id}")
    h = hashlib.sha256()
    obs, info = env.reset(seed=seed)
    h.update(obs.encode())
    replies = ["forward()", "stop()"]
    for t in range(40):
        reply = env.unwrapped.expert_reply() if t % 3 else replies[t % 2]
        obs, r, term, trunc, info = env.step(reply)
        h.update(f"{obs}|{r}|{term}|{trunc}|{json.dumps(info, sort_keys=True)}".encode())
        if term or trunc:
            obs, info = env.reset()
            h.update(obs.encode())
    return h.hexdigest()


@pytest.mark.parametrize("env_id", TEXT_ENV_IDS)
def test_same_seed_same_rollout(env_id):
    assert _rollout_digest(env_id, 11) == _rollout_digest(env_id, 11)
    assert _rollout_digest(env_id, 11) != _rollout_digest(env_id, 12)


def test_rule_ood_id_equals_relative_wrapper():
    registered = gym.make("virl_env:VIRL-RuleOOD-v0")
    wrapped = RelativeActions(gym.make("virl_env:VIRL-v0"))
    for seed in range(5):
        a, ia = registered.reset(seed=seed)
        b, ib = wrapped.reset(seed=seed)
        assert a == b and ia == ib
        assert registered.unwrapped.expert_action() == wrapped.unwrapped.expert_action()
        assert wrapped.unwrapped.active_rules.action_mode == "relative"
        assert wrapped.unwrapped.rules.action_mode == "absolute"  # base rules untouched


def test_instruction_is_the_same_in_both_modes():
    a = gym.make("virl_env:VIRL-v0")
    b = gym.make("virl_env:VIRL-RuleOOD-v0")
    for seed in range(5):
        _, ia = a.reset(seed=seed)
        _, ib = b.reset(seed=seed)
        assert ia["instruction"] == ib["instruction"]


def test_pickle_roundtrip_mid_episode():
    env = gym.make("virl_env:VIRL-v0")
    env.reset(seed=4)
    env.step(env.unwrapped.expert_reply())
    env.step("forward(")
    clone = pickle.loads(pickle.dumps(env))
    for _ in range(60):
        reply = env.unwrapped.expert_reply()
        a = env.step(reply)
        b = clone.step(reply)
        assert a[0] == b[0] and a[1:4] == b[1:4] and a[4] == b[4]
        if a[2]:
            break
    # One failed attempt followed by the right one still solves the point: a success.
    assert a[2] and a[4]["is_success"] is True
    assert a[4]["points_solved"] == [True] * len(a[4]["points_solved"])
    assert a[4]["step_correct"].count(False) == 1
    wrapped = pickle.loads(pickle.dumps(RelativeActions(gym.make("virl_env:VIRL-v0"))))
    _, info = wrapped.reset(seed=0)
    assert info["action_mode"] == "relative"


@pytest.mark.parametrize("vector_cls", ["sync", "async"])
def test_vector_envs_with_string_actions(vector_cls):
    fns = [lambda: gym.make("virl_env:VIRL-v0") for _ in range(2)]
    if vector_cls == "sync":
        venv = gym.vector.SyncVectorEnv(fns)
    else:
        # shared_memory=False: Gymnasium 1.4 reads Text observations from shared memory only once,
        # so with the default every later observation would be stale.
        venv = gym.vector.AsyncVectorEnv(fns, shared_memory=False)
    obs, info = venv.reset(seed=[1, 2])
    assert len(obs) == 2 and all(isinstance(o, str) for o in obs) and obs[0] != obs[1]
    previous = obs
    obs, rewards, term, trunc, info = venv.step(("forward()", '{"action": "stop()"}'))
    assert all(isinstance(o, str) for o in obs)
    assert obs[0] != previous[0] and obs[1] != previous[1]  # fresh observations, not stale ones
    assert rewards.dtype == np.float64 and set(rewards.tolist()) <= {1.0, -1.0}
    assert list(info["verdict"]) and len(info["verdict"]) == 2
    venv.close()


def test_vector_env_matches_single_envs():
    venv = gym.vector.AsyncVectorEnv([lambda: gym.make("virl_env:VIRL-v0") for _ in range(2)], shared_memory=False)
    obs, _ = venv.reset(seed=[5, 6])
    single = [gym.make("virl_env:VIRL-v0").reset(seed=s)[0] for s in (5, 6)]
    assert list(obs) == single
    venv.close()


@pytest.mark.parametrize("env_id", TEXT_ENV_IDS)
def test_render_modes(env_id):
    env = gym.make(f"virl_env:{env_id}", render_mode="rgb_array", render_size=320)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (320, 320, 3) and frame.dtype == np.uint8
    env.step(env.unwrapped.expert_action())
    frame2 = env.render()
    assert not np.array_equal(frame, frame2)  # the agent moved
    text_env = gym.make(f"virl_env:{env_id}", render_mode="ansi")
    text_env.reset(seed=0)
    text = text_env.render()
    assert isinstance(text, str) and "point 1/" in text and "instruction:" in text
    assert text_env.unwrapped.expert_action() not in text.split("instruction:")[0]


def test_render_without_mode_warns_and_returns_none():
    env = VIRLEnv()
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert env.render() is None


@pytest.mark.parametrize("env_id", TEXT_ENV_IDS)
def test_truncation(env_id):
    env = gym.make(f"virl_env:{env_id}", max_episode_steps=3, rules={"max_attempts": 100})
    env.reset(seed=0)
    results = [env.step("nonsense") for _ in range(3)]
    assert [r[3] for r in results] == [False, False, True]
    assert not any(r[2] for r in results)
    assert env.spec.max_episode_steps == 3
    assert gym.spec(env_id).max_episode_steps == virl_env.MAX_EPISODE_STEPS


def test_default_episode_never_hits_truncation():
    # The worst case with default rules: two failed attempts at every point of the longest rail.
    assert (MAX_PATH_NODES + 2 + (MAX_PATH_NODES + 1) * 2) * 2 < virl_env.MAX_EPISODE_STEPS


def test_binary_rewards():
    env = VIRLEnv(rewards="binary")
    env.reset(seed=0)
    _, r1, *_ = env.step("gibberish")
    _, r2, *_ = env.step(env.expert_action())
    assert (r1, r2) == (0.0, 1.0)


def test_expert_reply_is_a_valid_full_answer():
    env = VIRLEnv()
    env.reset(seed=8)
    reply = json.loads(env.expert_reply())
    assert set(reply) == {"current observation", "current instruction", "action"}
    _, info = env.reset(seed=8)
    assert reply["current observation"] == info["observation"]
    assert reply["current instruction"] in info["instruction"]
    assert reply["action"] == env.expert_action()


def test_rules_in_constructor():
    env = VIRLEnv(rules=NavigationRules(max_attempts=3))
    _, info = env.reset(seed=0)
    assert info["attempts_left"] == 3


def test_env_ids_is_every_registered_id_with_its_kwargs():
    assert set(virl_env.ENV_IDS) == set(virl_env.ALL_ENV_IDS) == set(TEXT_ENV_IDS) | set(virl_env.VL_ENV_IDS)
    for env_id, kwargs in virl_env.ENV_IDS.items():
        assert gym.spec(env_id).kwargs == kwargs
    assert virl_env.ENV_IDS["VIRL-RuleOOD-v0"] == {"action_mode": "relative"}


def test_rule_ood_merges_user_rules_instead_of_replacing_them():
    """Issue 13 item 7: rules= used to replace the id's rules, silently losing the relative actions."""
    env = gym.make("virl_env:VIRL-RuleOOD-v0", rules={"max_attempts": 3, "forward_points": 0})
    obs, info = env.reset(seed=0)
    rules = env.unwrapped.active_rules
    assert rules.action_mode == "relative" and rules.max_attempts == 3 and rules.forward_points == 0
    assert info["action_mode"] == "relative" and info["attempts_left"] == 3 and "'slightly left'" in obs
    # The same with a NavigationRules instance and with the per-episode rules option.
    env = gym.make("virl_env:VIRL-RuleOOD-v0", rules=NavigationRules(max_attempts=4))
    assert env.reset(seed=0)[1]["attempts_left"] == 4 and env.unwrapped.rules.action_mode == "relative"
    _, info = env.reset(seed=0, options={"rules": {"max_attempts": 1}})
    assert info["action_mode"] == "relative" and info["attempts_left"] == 1
    # A conflicting mode is refused, naming both.
    with pytest.raises(ValueError, match="action_mode='absolute'.*action_mode='relative'"):
        gym.make("virl_env:VIRL-RuleOOD-v0", rules={"action_mode": "absolute"})
    with pytest.raises(ValueError, match="action_mode='bearing'"):
        gym.make("virl_env:VIRL-VL-RuleOOD-v0", rules=NavigationRules(action_mode="bearing"))
    with pytest.raises(ValueError, match="action_mode='bearing'"):
        env.reset(options={"rules": {"action_mode": "bearing"}})
    # The plain ids take any mode from rules, as before.
    assert gym.make("virl_env:VIRL-v0", rules={"action_mode": "bearing"}).reset(seed=0)[1]["action_mode"] == "bearing"


def test_episode_state_is_declared_and_readable_before_and_after_reset():
    env = VIRLEnv()
    assert env.route is None and env.city is None and env.episode is None and env.route_index is None
    assert env.rail == () and env.point_index == 0 and env.history == ()
    assert env.active_rules == env.rules and env.task is None and env.image_mode is False
    assert env.source.describe() == {"source": "city", "style": "new_york", "city_seed": 0, "num_routes": 1000}
    with pytest.raises(RuntimeError, match="reset"):
        env.expert_action()
    with pytest.raises(AttributeError):
        env.active_rules = NavigationRules()  # read-only: the episode's rules come from reset
    _, info = env.reset(seed=0, options={"route": 5})
    assert env.route_index == info["route"] == 5
    assert env.episode.describe() == {"source": "city", "style": "new_york", "city_seed": 0, "route": 5}
    first = env.rail[0].observation
    action = env.expert_action()
    env.step(action)
    assert env.history == ((first, action),) and env.point_index == 1


def test_info_does_not_depend_on_the_observation_being_built_first():
    env = VIRLEnv()
    obs, info = env.reset(seed=3)
    env.step("nonsense")
    info_first = env._get_info()  # without a _get_obs() call in between
    obs = env._get_obs()
    assert info_first == env._get_info()
    # The chat form: the prompt without feedback, the reply, the feedback that the prompt shows.
    first, reply, feedback = info_first["messages"]
    assert "[Feedback]" not in first["content"] and reply == {"role": "assistant", "content": "nonsense"}
    assert feedback["content"] == info_first["feedback"] and f"[Feedback]\n{feedback['content']}" in obs
    assert info_first["verdict"] is virl_env.Verdict.INVALID and info_first["verdict"] == "invalid"


def test_episode_spec_delegates_to_the_specs_module():
    import json

    from virl_env import specs

    env = VIRLEnv()
    env.reset(seed=0)
    spec = env.episode_spec()
    assert spec == specs.episode_spec(env) and json.loads(json.dumps(spec)) == spec
    env.step(env.expert_reply())
    assert env.episode_spec()["point_index"] == spec["point_index"] + 1  # the spec follows the episode


def test_make_vec_is_the_core_one_and_returns_real_prompts():
    import sftrl_core

    assert virl_env.make_vec is sftrl_core.make_vec
    envs = virl_env.make_vec("VIRL-v0", num_envs=2)
    try:
        obs, info = envs.reset(seed=0)
        assert all(o.startswith("[Task Description]") for o in obs)
    finally:
        envs.close()



# ---- the pieces on their own -------------------------------------------------------------------------------
def test_navigation_task_is_plain_logic():
    from virl_env.task.checker import expected_action
    from virl_env.world.routes import RailPoint
    from virl_env.task.rules import REWARD_TABLES
    from virl_env.task.navigation import NavigationTask

    def point(kind, turn_to=None, relative=None):
        return RailPoint(position=(0.0, 0.0), heading=0.0, kind=kind, observation=f"at {kind}", landmarks=(),
                         at_intersection=kind == "turn", sentence=0, turn_to=turn_to, turn_relative=relative)

    rail = (point("start", 90.0, "right"), point("forward"), point("turn", 180.0, "right"), point("destination"))
    task = NavigationTask(rail, NavigationRules(), REWARD_TABLES["paper"])
    assert task.expected_action == "turn_direction(east)" and task.attempts_left == 2
    assert task.grade("forward()").verdict == "wrong_action" and task.attempts_left == 1 and task.index == 0
    assert task.point_replies == [("forward()", task.feedback)] and "Attempts left at this point: 1" in task.feedback
    task.grade("stop()")  # attempts run out: moved on, the expected action shown, not the reply
    assert task.index == 1 and task.points_solved == [False] and "expected action there was" in task.shown_feedback
    assert task.history == [("at start", "turn_direction(east)")] and task.point_replies == []
    for p in rail[1:]:
        assert task.grade(expected_action(p, "absolute")).verdict is virl_env.Verdict.CORRECT
    assert task.finished and not task.success and task.points_solved == [False, True, True, True]
    assert task.index == 3 and task.attempts_left == 2
    with pytest.raises(RuntimeError, match="ended"):
        task.expected_action
    with pytest.raises(RuntimeError, match="ended"):
        task.grade("stop()")
    with pytest.raises(ValueError, match="at least one"):
        NavigationTask((), NavigationRules(), REWARD_TABLES["paper"])


def test_sources_draw_the_same_episode_from_the_same_generator():
    from virl_env.sources import BenchmarkSource, CitySource
    from virl_env.world.styles import get_style

    source = CitySource(get_style("new_york"), None, 1000)
    a = source.draw({}, NavigationRules(drop_rate=0.5), np.random.default_rng(3))
    b = source.draw({}, NavigationRules(drop_rate=0.5), np.random.default_rng(3))
    assert a.describe() == b.describe() and [p.position for p in a.rail] == [p.position for p in b.rail]
    assert a.city_seed == b.city_seed != 0
    bench = BenchmarkSource([("tokyo", 0, 4), ("paris", 1, 2)])
    episode = bench.draw({"route": 1}, NavigationRules(), np.random.default_rng(0))
    assert episode.route_index == 1 and episode.describe() == {"source": "city", "style": "paris", "city_seed": 1,
                                                                "route": 2}
    with pytest.raises(ValueError, match="route must be < 2"):
        bench.draw({"route": 2}, NavigationRules(), np.random.default_rng(0))
    with pytest.raises(ValueError, match="city_seed option does not apply"):
        bench.draw({"city_seed": 3}, NavigationRules(), np.random.default_rng(0))
    assert "Move forward" in episode.render_ansi(0, "absolute", finished=False, points_solved=())


def test_messages_keep_the_prompt_shown_on_arrival_after_a_move_on():
    """When a point's attempts run out and the walk is moved on, the next prompt carries the "moved on" paragraph;
    a failed retry there must not rewrite that first user turn of ``info["messages"]`` (the model saw it)."""
    env = gym.make("virl_env:VIRL-v0")
    obs, info = env.reset(seed=3)
    assert info["step_index"] == 0 and info["attempts_left"] == 2
    env.step("stop()")  # wrong at the start point: one attempt left
    arrived, _, terminated, _, info = env.step("stop()")  # wrong again: the walk is moved on
    assert not terminated and info["step_index"] == 1 and "moved on" in arrived
    assert info["messages"] == [{"role": "user", "content": arrived}]
    obs, reward, terminated, _, info = env.step("stop()")  # a failed retry at the new point
    assert not terminated and reward < 0 and info["step_index"] == 1
    assert info["messages"] == [{"role": "user", "content": arrived}, {"role": "assistant", "content": "stop()"},
                                {"role": "user", "content": info["feedback"]}]
