"""The GeneralPoints environments, parametrised over every registered id."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

import gpoints_env
from gpoints_env import GeneralPointsEnv, Verdict, make_vec

ENV_IDS = list(gpoints_env.ENV_IDS)
TEXT_IDS = [i for i in ENV_IDS if "-VL-" not in i]
IMAGE_IDS = [i for i in ENV_IDS if "-VL-" in i]
REQUIRED_INFO = {"cards", "numbers", "target", "verdict", "feedback", "attempts_left", "is_success", "messages",
                 "recognized"}


def text_of(obs) -> str:
    return obs["text"] if isinstance(obs, dict) else obs


def fingerprint(obs) -> list:
    """A JSON-friendly, comparable digest of an observation (the image by its hash)."""
    if isinstance(obs, dict):
        return [obs["text"], hashlib.sha256(obs["image"].tobytes()).hexdigest(), list(obs["image"].shape)]
    return [obs]


def scripted_rollout(env_id: str, seed: int, episodes: int = 3) -> list:
    """A deterministic rollout: wrong answers, garbage, then the witness; everything observable is recorded."""
    env = gym.make(env_id)
    record = []
    obs, info = env.reset(seed=seed)
    for episode in range(episodes):
        if episode:
            obs, info = env.reset()
        record.append([fingerprint(obs), info["cards"], info["numbers"], info["suits"]])
        for reply in ("(1+2)*3-4", "\u00e9\u00e9 garbage \x00", env.unwrapped.solution()):
            obs, reward, terminated, truncated, info = env.step(reply)
            record.append([fingerprint(obs), reward, terminated, truncated, str(info["verdict"]), info["feedback"]])
            if terminated:
                break
    return record


@pytest.mark.parametrize("env_id", TEXT_IDS)
def test_reset_observation_and_info(env_id):
    env = gym.make(env_id)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert REQUIRED_INFO <= set(info)
    assert "solution" not in info  # only with reveal_solution=True
    rules = env.unwrapped.active_rules
    assert info["numbers"] == rules.values(info["cards"]) and info["target"] == 24
    assert info["verdict"] is None and info["feedback"] is None and info["attempts_left"] == 5
    assert info["is_success"] is False
    assert info["messages"] == [{"role": "user", "content": obs}]
    # The prompt is self-contained: task, values of A/J/Q/K under the rule, target, the cards, the format.
    jack, queen, king = rules.face_values
    for words in ("24", "A counts as 1", f"J counts as {jack}", f"Q counts as {queen}", f"K counts as {king}",
                  ", ".join(info["cards"]), '"formula"', "exactly once"):
        assert words in obs


def test_rule_ood_deals_face_cards_with_their_values():
    env = gym.make("GeneralPoints-RuleOOD-v0")
    env.reset(seed=0)
    for _ in range(300):
        _, info = env.reset()
        assert any(rank in "JQK" for rank in info["cards"])
        values = dict(zip(info["cards"], info["numbers"]))
        assert all(values[r] == v for r, v in {"J": 11, "Q": 12, "K": 13}.items() if r in values)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_multi_turn_episode(env_id):
    env = gym.make(env_id, max_attempts=3)
    obs0, info = env.reset(seed=5)
    obs0 = text_of(obs0)
    obs, reward, terminated, truncated, info = env.step('{"formula": "(1+2)*3-4"}')
    obs = text_of(obs)
    assert (reward, terminated, truncated) == (-2.0, False, False)
    assert info["verdict"] is Verdict.WRONG_NUMBERS and info["attempts_left"] == 2
    assert obs.startswith(obs0) and "[Feedback]" in obs and "2 attempts left" in obs
    obs, reward, terminated, _, info = env.step("no idea")
    assert (reward, terminated, info["verdict"]) == (-3.0, False, Verdict.NO_FORMULA)
    assert "1 attempt left" in text_of(obs)
    solution = env.unwrapped.solution()
    obs, reward, terminated, truncated, info = env.step(f"<think>hmm</think> {solution} = 24")
    assert (reward, terminated, truncated, info["is_success"]) == (5.0, True, False, True)
    assert info["verdict"] is Verdict.CORRECT and info["attempts_left"] == 0
    roles = [m["role"] for m in info["messages"]]
    assert roles == ["user", "assistant", "user", "assistant", "user", "assistant"]
    assert info["messages"][-1]["content"] == f"<think>hmm</think> {solution} = 24"  # raw replies are kept
    with pytest.raises(RuntimeError, match="reset"):
        env.step(solution)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_running_out_of_attempts_terminates_without_success(env_id):
    env = gym.make(env_id)
    env.reset(seed=1)
    for attempt in range(5):
        _, reward, terminated, truncated, info = env.step("(1+2)*3-4")
        assert terminated == (attempt == 4) and not truncated
    assert info["attempts_left"] == 0 and not info["is_success"]
    with pytest.raises(RuntimeError, match="episode is over"):
        env.step("(1+2)*3-4")


def test_step_before_reset_and_non_string_actions():
    env = GeneralPointsEnv()
    with pytest.raises(RuntimeError, match="reset"):
        env.step("1+2")
    env.reset(seed=0)
    for bad in (None, 24, b"1+2", ["1+2"], {"formula": "1+2"}):
        with pytest.raises(TypeError, match="str"):
            env.step(bad)
    assert env.attempts_left == 5  # rejected actions use no attempt
    env.step(np.str_("1+2"))  # numpy strings are strings (vector envs produce them)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_random_and_hostile_actions_never_raise_and_stay_in_the_space(env_id):
    env = gym.make(env_id, max_attempts=1000)
    env.reset(seed=0)
    env.action_space.seed(0)
    hostile = ["9" * 100_000, "(" * 10_000, '{"formula": ' + "[" * 10_000, "\ud800" * 10, "\u00e9" * 5000, ""]
    for action in [env.action_space.sample() for _ in range(50)] + hostile:
        obs, reward, terminated, truncated, info = env.step(action)
        assert env.observation_space.contains(obs), text_of(obs)[-200:]
        assert isinstance(reward, float) and not terminated


def test_fixed_hand_option():
    env = gym.make("GeneralPoints-v0")
    _, info = env.reset(seed=0, options={"cards": ["8", "3", "8", "3"]})
    assert info["cards"] == ["8", "3", "8", "3"] and info["numbers"] == [8, 3, 8, 3]
    assert "8, 3, 8, 3" in info["messages"][0]["content"]
    _, reward, terminated, _, _ = env.step('{"formula": "8/(3-8/3)"}')
    assert reward == 5 and terminated
    _, info = env.reset(options={"cards": ["K", "Q", "3", "A"]})
    assert info["numbers"] == [10, 10, 3, 1]
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"card": ["8", "3", "8", "3"]})
    with pytest.raises(ValueError, match="cannot make 24"):
        env.reset(options={"cards": ["A", "A", "A", "A"]})
    ood = gym.make("GeneralPoints-RuleOOD-v0")
    _, info = ood.reset(options={"cards": ["K", "Q", "3", "A"]})
    assert info["numbers"] == [13, 12, 3, 1]


def test_reveal_solution():
    env = gym.make("GeneralPoints-RuleOOD-v0", reveal_solution=True)
    for seed in range(30):
        _, info = env.reset(seed=seed)
        assert gpoints_env.check_answer(info["solution"], info["numbers"]).success
        _, _, _, _, info = env.step("1+1")
        assert "solution" in info


def test_constructor_arguments():
    env = gym.make("GeneralPoints-v0", target=10, ace_value=11, max_attempts=2, rewards="binary")
    obs, info = env.reset(seed=0)
    assert info["target"] == 10 and "evaluates to exactly 10" in obs and "A counts as 11" in obs
    _, reward, _, _, _ = env.step("nothing")
    assert reward == 0.0
    for bad in ({"max_attempts": 0}, {"max_attempts": 10**6 + 1}, {"max_attempts": True}, {"target": "24"},
                {"rewards": "nice"}, {"render_mode": "human"}, {"suit_colour": "blue"}):
        with pytest.raises(ValueError):
            GeneralPointsEnv(**bad)


# ---- one vocabulary with V-IRL (issue 21) ----------------------------------------------------------------------


def test_grade_types_and_the_old_names_kept_for_one_release():
    from gpoints_env import checker, paper_checker, protocols
    from sftrl_core import grading

    assert issubclass(gpoints_env.Grade, grading.Grade) and issubclass(gpoints_env.PaperGrade, gpoints_env.Grade)
    result = gpoints_env.check_answer("8/(3-8/3)", [8, 3, 8, 3])
    assert type(result) is gpoints_env.Grade and result.success
    paper = protocols.paper_grade('{"formula": "8/(3-8/3)"}', ["8", "3", "8", "3"], gpoints_env.ID_RULES)
    assert type(paper) is gpoints_env.PaperGrade and paper.success
    # Old names: aliases, outside __all__, until the next release.
    assert gpoints_env.CheckResult is checker.CheckResult is gpoints_env.Grade
    assert paper_checker.PaperCheckResult is protocols.PaperCheckResult is gpoints_env.PaperGrade
    assert result.success and not gpoints_env.check_answer("1", [8, 3, 8, 3]).success
    for module in (gpoints_env, checker, paper_checker, protocols):
        assert not {"CheckResult", "PaperCheckResult"} & set(module.__all__)


def test_protocols_are_the_registry_s_and_chosen_as_objects():
    import inspect
    import re

    from gpoints_env import protocols
    from sftrl_core import registry

    assert tuple(gpoints_env.PROTOCOLS) == registry.PROTOCOL_NAMES
    for name, protocol in gpoints_env.PROTOCOLS.items():
        assert protocol.info is registry.PROTOCOLS[name] and protocol.name == name
        assert protocols.get_protocol(name) is protocol is protocols.get_protocol(registry.PROTOCOLS[name])
    assert GeneralPointsEnv().protocol == registry.DEFAULT_PROTOCOL
    # No behaviour picked by comparing protocol names anywhere in the package (the protocol object is asked).
    for module in (gpoints_env.env, gpoints_env.specs, protocols, gpoints_env.checker):
        source = inspect.getsource(module)
        assert not re.search(r"""[!=]= *["'](paper|suite)["']|["'](paper|suite)["'] *[!=]=""", source), module


@pytest.mark.parametrize("max_attempts", [1, 2, 3])
def test_env_and_specs_end_episodes_by_one_rule(max_attempts):
    from gpoints_env import env as env_module
    from gpoints_env import rules, specs

    assert env_module.episode_over is rules.episode_over is specs.episode_over
    wrong, right = gpoints_env.check_answer("1", [8, 3, 8, 3]), gpoints_env.check_answer("8/(3-8/3)", [8, 3, 8, 3])
    assert rules.episode_over(right, 1, 5) and not rules.episode_over(wrong, 1, 5) and rules.episode_over(wrong, 5, 5)
    env = gym.make("GeneralPoints-v0", max_attempts=max_attempts)
    for replies in (["1"] * max_attempts, ["1"] * (max_attempts - 1) + ['{"formula": "8/(3-8/3)"}']):
        env.reset(options={"cards": ["8", "3", "8", "3"]})
        for used, reply in enumerate(replies, 1):
            step = specs.advance(reply, env.unwrapped.episode_spec())
            _, _, terminated, _, _ = env.step(reply)
            assert terminated == step.terminated == rules.episode_over(step.grade, used, max_attempts)
            assert env.unwrapped.finished == terminated
        assert terminated


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_same_episodes_in_this_process(env_id):
    assert scripted_rollout(env_id, 11) == scripted_rollout(env_id, 11)
    assert scripted_rollout(env_id, 11) != scripted_rollout(env_id, 12)


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_vector_envs_with_string_actions(env_id, mode):
    envs = make_vec(env_id, num_envs=2, vectorization_mode=mode)
    try:
        obs, info = envs.reset(seed=[1, 2])
        texts = obs["text"] if isinstance(obs, dict) else obs
        assert len(texts) == 2 and all("[Cards]" in o for o in texts)
        if isinstance(obs, dict):
            assert obs["image"].shape[0] == 2 and obs["image"].dtype == np.uint8
            assert not np.array_equal(obs["image"][0], obs["image"][1])  # two different hands
        else:
            assert ", ".join(info["cards"][1]) in texts[1]
        obs, reward, terminated, truncated, info = envs.step(("(1+2)*3-4", "no formula"))
        assert list(reward) == [-2.0, -3.0]
        texts = obs["text"] if isinstance(obs, dict) else obs
        assert all("[Feedback]" in o for o in texts)  # real, fresh observations (not a stale shared buffer)
        assert [str(v) for v in info["verdict"]] == ["wrong_numbers", "no_formula"]
    finally:
        envs.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_make_with_module_prefix_in_a_fresh_interpreter(env_id, tmp_path):
    code = (
        "import gymnasium as gym; env = gym.make('gpoints_env:%s'); obs, info = env.reset(seed=0); "
        "print(info['target'], len(info['cards']))" % env_id
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert out.stdout.split() == ["24", "4"]


def test_render_ansi():
    env = gym.make("GeneralPoints-RuleOOD-v0", render_mode="ansi")
    env.reset(seed=0)
    env.step("1+1")
    text = env.render()
    assert "target 24" in text and "J=11 Q=12 K=13" in text and "wrong_numbers" in text
    assert GeneralPointsEnv().render() is None  # no render_mode: nothing to render
