"""GeneralPoints episode specs: grading from a spec equals env.step, for every id, image ids included."""

from __future__ import annotations

import functools
import itertools
import json
import pickle
from fractions import Fraction
from typing import Callable

import gymnasium as gym
import numpy as np
import pytest

import gpoints_env
from gpoints_env import ENV_IDS, AceValue, TargetPoints
from gpoints_env.specs import GAME, advance, episode_spec, grade, spec_prompt
from sftrl_core.specs import SpecError, dump_spec
from sftrl_train import EpisodeSession

EPISODES = 600  # x up to 5 attempts each: a few thousand (episode, reply) pairs per id


def zero_division(numbers: list[str]) -> str | None:
    """A formula with exactly these numbers that divides by zero, where the hand allows one."""
    for order in itertools.permutations(numbers):
        first, rest = order[0], order[1:]
        for signs in itertools.product("+-", repeat=len(rest) - 1):
            terms = [rest[0]] + [sign + n for sign, n in zip(signs, rest[1:])]
            if sum(Fraction(t) for t in terms) == 0:
                return f"{first}/({''.join(terms)})"
    return None


def reply_for(rng: np.random.Generator, info: dict, solution: Callable[[], str]) -> str:
    """A reply drawn from the kinds a model gives: right, wrong in each way, hostile, with and without cards."""
    numbers = [str(n) for n in info["numbers"]]
    cards = list(info["cards"])
    ops = "+-*/"
    kind = rng.integers(16)
    if kind == 0:
        formula = solution()
    elif kind == 1:  # the right numbers, random operators: mostly a wrong value, sometimes right
        order = rng.permutation(len(numbers))
        formula = numbers[order[0]]
        for i in order[1:]:
            formula += ops[rng.integers(4)] + numbers[i]
    elif kind == 2:  # a number missing or reused
        formula = "*".join(numbers[:-1] + [numbers[0]])
    elif kind == 3:
        formula = zero_division(numbers) or "+".join(numbers)
    elif kind == 4:
        formula = rng.choice(["", "24", "((((", "import os", "1e9**9**9", "9" * 60, "(" * 200 + "1" + ")" * 200])
    else:
        formula = "+".join(numbers)
    style = rng.integers(6)
    if kind >= 5 or style == 0 or (kind == 0 and style < 3):  # image-mode answers: report cards, right or wrong
        shown = cards if rng.random() < 0.6 else [cards[0]] * len(cards)
        if rng.random() < 0.2:
            shown = "not a list"
        reported = json.dumps(shown)
        return f'{{"cards": {reported}, "formula": "{formula}"}}'
    if style == 1:
        return f"<think>try {numbers[0]}+1</think> {formula} = 24"
    if style == 2:
        return f"```json\n{{'formula': '{formula}',}}\n```"
    if style == 3:
        return formula.replace("*", "\u00d7").replace("/", "\u00f7")
    return json.dumps({"formula": formula})


def _make(env_id: str, **kwargs) -> gym.Env:
    if ENV_IDS[env_id].get("observation_mode") == "image":
        kwargs.setdefault("resolution", 64)  # a small picture: the picture plays no part in grading
    return gym.make(env_id, **kwargs)


@pytest.mark.parametrize("protocol", ["suite", "paper"])
@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
def test_grade_from_spec_equals_env_step(env_id, protocol):
    env = _make(env_id, protocol=protocol)
    rng = np.random.default_rng(list(ENV_IDS).index(env_id))
    pairs = 0
    verdicts = set()
    for episode in range(EPISODES):
        obs, info = env.reset(seed=episode)
        solution = functools.cache(env.unwrapped.solution)  # the solver's search is the slow part: only on demand
        terminated = False
        while not terminated:
            spec = episode_spec(env)
            text = json.dumps(spec)  # as a dataset column holds it
            reply = reply_for(rng, info, solution)
            expected = grade(reply, text)
            turn = advance(reply, spec)
            obs, reward, terminated, truncated, info = env.step(reply)
            pairs += 1
            assert (expected.verdict, expected.reward, expected.feedback, expected.success) == (
                info["verdict"], reward, info["feedback"], info["is_success"]), reply
            assert turn.grade == expected
            assert turn.terminated == terminated
            prompt_text = obs["text"] if isinstance(obs, dict) else obs
            assert prompt_text.endswith(turn.message)  # the observation after an attempt ends with its feedback
            if terminated:
                assert turn.next_spec is None
            else:
                assert info["messages"][-1] == {"role": "user", "content": turn.message}
                assert turn.next_spec == episode_spec(env)
            verdicts.add(expected.verdict)
    assert pairs >= 2000
    if protocol == "paper":  # the authors' verdicts differ (see gpoints_env.protocols); equality is what counts
        return
    expected_verdicts = {"correct", "wrong_value", "wrong_numbers", "division_by_zero", "illegal_formula",
                         "no_formula"}
    if ENV_IDS[env_id].get("observation_mode") == "image":
        expected_verdicts.add("wrong_cards")
    assert expected_verdicts <= verdicts  # the replies reached every verdict this id can give


@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
def test_spec_is_plain_json_and_describes_the_episode(env_id):
    env = _make(env_id)
    obs, info = env.reset(seed=3)
    spec = env.unwrapped.episode_spec()
    assert json.loads(json.dumps(spec)) == spec
    assert spec["game"] == GAME and spec["env_id"] == env_id and spec["attempt"] == 0
    assert spec["cards"] == info["cards"] and spec["suits"] == info["suits"]
    assert spec["observation_mode"] == ENV_IDS[env_id].get("observation_mode", "text")
    assert spec_prompt(spec) == (obs["text"] if isinstance(obs, dict) else obs)
    replay = gym.make(env_id).unwrapped
    rules = gpoints_env.Rules(**{**spec["rules"], "face_values": tuple(spec["rules"]["face_values"])})
    _, replay_info = replay.reset(options={"cards": spec["cards"], "rules": rules})
    assert replay_info["numbers"] == info["numbers"]


def test_spec_follows_rule_wrappers_and_reward_scheme():
    env = TargetPoints(AceValue(gym.make("GeneralPoints-v0", rewards="binary", max_attempts=2), 11), 30)
    env.reset(seed=1)
    spec = episode_spec(env)
    assert spec["rules"]["ace_value"] == 11 and spec["rules"]["target"] == 30
    assert spec["rewards"]["correct"] == 1.0 and spec["rewards"]["wrong_value"] == 0.0
    assert spec["max_attempts"] == 2
    solution = env.unwrapped.solution()
    assert grade(json.dumps({"formula": solution}), spec).reward == 1.0
    first = advance("1+1", spec)
    assert not first.terminated and first.next_spec["attempt"] == 1
    assert advance("1+1", first.next_spec).terminated  # the last attempt


def test_spec_refuses_finished_and_unstarted_episodes():
    env = gym.make("GeneralPoints-v0", max_attempts=1)
    with pytest.raises(RuntimeError, match="reset"):
        episode_spec(env)
    env.reset(seed=0)
    env.step("no idea")
    with pytest.raises(RuntimeError, match="over"):
        episode_spec(env)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda s: {**s, "game": "V-IRL"}, "game"),
        (lambda s: {**s, "version": 99}, "version"),
        (lambda s: {**s, "protocol": "mystery"}, "protocol"),
        (lambda s: {**s, "cards": ["A", "2"]}, "cards"),
        (lambda s: {**s, "cards": ["A", "2", "3", "Z"]}, "cards"),
        (lambda s: {**s, "rules": {**s["rules"], "target": "24"}}, "rules"),
        (lambda s: {**s, "rules": "paper"}, "rules"),
        (lambda s: {**s, "rewards": {"jackpot": 100}}, "rewards"),
        (lambda s: {**s, "attempt": 5}, "over"),
        (lambda s: {**s, "attempt": True}, "attempt"),
        (lambda s: {k: v for k, v in s.items() if k != "observation_mode"}, "observation_mode"),
    ],
)
def test_bad_specs_get_a_clear_error(mutate, message):
    env = gym.make("GeneralPoints-v0")
    env.reset(seed=0)
    spec = mutate(episode_spec(env))
    with pytest.raises(SpecError, match=message):
        grade("1+2+3+4", spec)
    with pytest.raises(SpecError, match=message):
        grade("1+2+3+4", dump_spec(spec))


@pytest.mark.parametrize("text", ["", "[]", "{", "null", "[" * 100_000, '{"game": "GeneralPoints"}'])
def test_spec_text_that_is_no_spec_gets_a_clear_error(text):
    with pytest.raises(SpecError):
        grade("1+2+3+4", text)


def test_any_reply_gets_a_verdict():
    env = gym.make("GeneralPoints-VL-v0", resolution=64)
    env.reset(seed=0)
    spec = episode_spec(env)
    for reply in [None, 24, b"8*3", ["8*3"], {"formula": "8*3"}, "\x00" * 10_000, "(" * 100_000,
                  '{"cards": ' + "[" * 10_000 + "}", "9**9**9**9", "\ud800"]:
        result = grade(reply, spec)
        assert result.reward == spec["rewards"][result.verdict.value]
        assert not result.success


def test_grade_is_exported_and_specs_pickle():
    env = gym.make("GeneralPoints-v0")
    env.reset(seed=0)
    spec = episode_spec(env)
    assert gpoints_env.grade is grade
    assert pickle.loads(pickle.dumps(advance("1", spec))).next_spec == {**spec, "attempt": 1}


@pytest.mark.parametrize("limit", [1, 4, 5])
def test_a_time_limit_that_ends_episodes_before_their_attempts_is_refused_by_the_spec(limit):
    """A GeneralPoints spec states no time limit (its ids register none): where a TimeLimit would end an episode at
    or before its last attempt (and mark that step truncated), a session from the spec would not, so the spec is
    refused, naming the limit; a longer limit changes nothing, and a session from it ends with the env."""
    env = gym.make("GeneralPoints-v0", max_episode_steps=limit)
    env.reset(seed=0)
    shorter = f" and max_attempts={limit}" if limit < 5 else ""
    with pytest.raises(ValueError) as error:
        episode_spec(env)
    assert str(error.value) == (
        f"this env's time limit ({limit} steps) ends an episode at or before its 5 attempts, which a GeneralPoints "
        f"spec does not state (a session from it would not end there): make the env with "
        f"max_episode_steps=-1{shorter}, or play the live env (sftrl_train.EpisodeSession.from_env)")
    env = gym.make("GeneralPoints-v0", max_episode_steps=6)
    env.reset(seed=0)
    session = EpisodeSession(episode_spec(env))
    for _ in range(5):
        _, reward, terminated, truncated, info = env.step("x")
        turn = session.reply("x")
        assert (reward, terminated, truncated, info["feedback"]) == (turn.reward, turn.terminated, turn.truncated,
                                                                     turn.feedback)
    assert terminated and not truncated and session.done
