"""FormulaTokens: the numeric token game over GeneralPoints (grammar, encoding, submission, SB3)."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

import gpoints_env  # noqa: F401
from gpoints_env import ID_RULES, RULE_OOD_RULES, Verdict, check_answer, find_solution, solvable_rank_hands, solve
from gpoints_env.numeric import FormulaBuilder, FormulaTokens, formula_to_tokens, observation_size



def _sb3():
    """stable-baselines3 (the examples extra), on one torch thread; the wrappers themselves need neither."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return pytest.importorskip("stable_baselines3")

IDS = ("GeneralPoints-v0", "GeneralPoints-RuleOOD-v0")


@pytest.mark.parametrize("env_id", IDS)
def test_sb3_check_env_passes_without_warnings(env_id):
    _sb3()
    from stable_baselines3.common.env_checker import check_env

    env = FormulaTokens(gym.make(env_id))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, warn=True)
    assert env.observation_space.shape == (observation_size(4),)
    assert env.action_space.n == 10


@pytest.mark.parametrize("rules", [ID_RULES, RULE_OOD_RULES], ids=["id", "rule_ood"])
def test_every_solver_solution_of_sampled_hands_is_expressible_and_correct(rules):
    rng = np.random.default_rng(0)
    hands = solvable_rank_hands(rules)
    checked = 0
    for k in rng.choice(len(hands), size=40, replace=False):
        numbers = [int(v) for v in rng.permutation([rules.rank_values[r] for r in hands[k]])]
        for formula in solve(numbers, rules.target):
            builder = FormulaBuilder(numbers, rules.target)
            for token in formula_to_tokens(formula, numbers):
                builder.push(token)
            assert builder.complete
            assert builder.formula == formula.replace(" ", "")
            assert check_answer(builder.formula, numbers, rules.target).success, (numbers, formula)
            checked += 1
    assert checked >= 80  # 40 hands, every distinct solution of each


def test_solver_witness_played_through_the_wrapper_wins_on_the_first_attempt():
    env = FormulaTokens(gym.make("GeneralPoints-RuleOOD-v0"))
    for seed in range(10):
        _, info = env.reset(seed=seed)
        tokens = formula_to_tokens(find_solution(info["numbers"]), info["numbers"])
        for i, token in enumerate(tokens):
            _, reward, terminated, truncated, info = env.step(token)
            assert not truncated
            if i < len(tokens) - 1:
                assert (reward, terminated, info["submitted"]) == (0.0, False, False)
        assert info["submitted"] and terminated and info["is_success"] and reward == 5.0
        assert info["verdict"] is Verdict.CORRECT


def test_random_legal_play_always_submits_a_well_formed_formula():
    env = FormulaTokens(gym.make("GeneralPoints-v0"))
    rng = np.random.default_rng(1)
    verdicts = set()
    env.reset(seed=3)
    for _ in range(60):
        tokens = 0
        while True:
            mask = env.action_masks()
            assert mask.any()
            _, _, terminated, _, info = env.step(int(rng.choice(np.flatnonzero(mask))))
            tokens += 1
            assert tokens <= env.max_tokens
            if info["submitted"]:
                break
        # Cards are played by slot and the grammar keeps the formula legal: only arithmetic can be wrong.
        verdicts.add(info["verdict"])
        assert info["verdict"] in (Verdict.CORRECT, Verdict.WRONG_VALUE, Verdict.DIVISION_BY_ZERO)
        if terminated:
            env.reset()
    assert Verdict.WRONG_VALUE in verdicts


def test_grammar_rejects_dead_ends_and_pointless_parentheses():
    b = FormulaBuilder([1, 2, 3, 4])
    assert not b.is_legal(4) and not b.is_legal(9)  # no operator or ")" first
    for token in (8, 8, 8):  # "(((" uses up what four cards can fill
        b.push(token)
    assert not b.is_legal(8)
    b = FormulaBuilder([1, 2, 3, 4])
    b.push(8)
    b.push(0)
    assert not b.is_legal(9)  # "(1)" closes a group with no operator
    assert not b.is_legal(0)  # card 0 is used, and a card cannot follow a card
    with pytest.raises(ValueError, match="not legal"):
        b.push(0)


def test_illegal_token_is_a_penalised_no_op_and_steps_are_bounded():
    env = FormulaTokens(gym.make("GeneralPoints-v0"), invalid_penalty=-0.5, max_steps=20)
    obs, _ = env.reset(seed=0)
    for step in range(1, 21):
        after, reward, terminated, truncated, info = env.step(4)  # "+" first is never legal
        assert reward == -0.5 and info["invalid_action"] and not terminated
        np.testing.assert_array_equal(after, obs)
        assert truncated == (step == 20)


def test_wrong_answers_use_the_attempt_budget():
    env = FormulaTokens(gym.make("GeneralPoints-v0", max_attempts=2))
    # 1+2+3+4 = 10: the slot-order sum of this hand is wrong, twice.
    _, info = env.reset(seed=0, options={"cards": ["A", "2", "3", "4"]})
    tokens = [0, 4, 1, 4, 2, 4, 3]
    for attempt in (1, 2):
        for token in tokens:
            obs, reward, terminated, _, info = env.step(token)
        assert info["verdict"] is Verdict.WRONG_VALUE and reward == -1.0
        assert terminated == (attempt == 2)
        assert obs[-1] == pytest.approx(attempt / 2)  # attempts used, in the observation
    assert not info["is_success"]


def test_same_seed_same_observations():
    a, b = FormulaTokens(gym.make("GeneralPoints-v0")), FormulaTokens(gym.make("GeneralPoints-v0"))
    np.testing.assert_array_equal(a.reset(seed=11)[0], b.reset(seed=11)[0])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"invalid_penalty": 1.0}, ValueError, "invalid_penalty"),
        ({"invalid_penalty": "x"}, TypeError, "invalid_penalty"),
        ({"value_scale": 0}, ValueError, "value_scale"),
        ({"target_scale": float("nan")}, TypeError, "target_scale"),
        ({"max_steps": 3}, ValueError, "max_steps"),
        ({"max_steps": 2.5}, TypeError, "max_steps"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        FormulaTokens(gym.make("GeneralPoints-v0"), **kwargs)


def test_wrong_envs_are_refused():
    with pytest.raises(TypeError, match="GeneralPoints"):
        FormulaTokens(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="observation_mode"):
        FormulaTokens(gym.make("GeneralPoints-VL-v0"))


def test_formula_to_tokens_refuses_what_the_token_game_cannot_write():
    with pytest.raises(ValueError, match="not on an unused card"):
        formula_to_tokens("3*8*(7-1)", [3, 8, 2, 1])
    with pytest.raises(ValueError, match="not legal"):
        formula_to_tokens("(3)*8*(2-1)", [3, 8, 2, 1])
    with pytest.raises(ValueError, match="incomplete"):
        formula_to_tokens("3*8", [3, 8, 2, 1])
    with pytest.raises(TypeError):
        formula_to_tokens(24, [3, 8, 2, 1])


def _legal_play_states(count: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Observations met in random legal play, each with its mask of legal tokens."""
    env = FormulaTokens(gym.make("GeneralPoints-v0"))
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    states = []
    while len(states) < count:
        mask = env.action_masks()
        states.append((obs, mask))
        obs, _, terminated, truncated, _ = env.step(int(rng.choice(np.flatnonzero(mask))))
        if terminated or truncated:
            obs, _ = env.reset()
    return states


def test_ppo_learns_to_play_legal_tokens():
    """A few thousand PPO steps (fixed seed, one thread: reproducible) teach the policy what the observation
    shows and the -1 penalty rewards: to pick a legal token. The untrained policy picks one about half the time."""
    PPO = _sb3().PPO
    states = _legal_play_states(300, seed=7)
    observations = np.stack([obs for obs, _ in states])

    def legal_rate(model) -> float:
        actions, _ = model.predict(observations, deterministic=True)
        return float(np.mean([mask[a] for (_, mask), a in zip(states, actions)]))

    env = FormulaTokens(gym.make("GeneralPoints-v0"))
    model = PPO("MlpPolicy", env, seed=0, n_steps=512, batch_size=64, n_epochs=4, learning_rate=1e-3, device="cpu")
    untrained = legal_rate(model)
    model.learn(4096)
    assert model.num_timesteps >= 4096
    assert legal_rate(model) > untrained + 0.1
