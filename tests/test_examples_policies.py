"""The SFT/RL examples' shared pieces: demonstrations, supervised training, save/load, PPO, harness adapters."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

torch = pytest.importorskip("torch")  # the examples extra; the wrappers themselves need neither
pytest.importorskip("stable_baselines3")
torch.set_num_threads(1)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import policies  # noqa: E402
from gpoints_env import Verdict  # noqa: E402
from gpoints_env.numeric import FormulaBuilder  # noqa: E402
from policies import (  # noqa: E402
    GPointsPolicyAgent,
    MLPPolicy,
    VIRLPolicyAgent,
    gp_demonstrations,
    load_policy,
    make_gp_env,
    make_ppo,
    make_virl_env,
    mlp_probs,
    save_policy,
    sb3_probs,
    train_sft,
    virl_demonstrations,
)


def test_gp_demonstrations_replay_to_correct_formulas():
    x, y = gp_demonstrations(5, seed=0)
    env = make_gp_env()
    assert x.shape[1] == env.observation_space.shape[0] and len(x) == len(y)
    # Every episode starts from an empty formula (the "start" entry of the last-token one-hot is set).
    starts = np.flatnonzero(x[:, 4 + 1 + 4 + 13 * 10 + 10] == 1.0)
    assert len(starts) == 5
    for begin, end in zip(starts, [*starts[1:], len(x)]):
        numbers = [int(round(v * 13)) for v in x[begin, :4]]
        builder = FormulaBuilder(numbers)
        for token in y[begin:end]:
            builder.push(int(token))
        assert builder.complete


def test_virl_demonstrations_never_use_evaluation_routes():
    env = make_virl_env()
    for seed in range(30):
        _, info = env.reset(seed=seed)
        assert info["route"] >= policies.VIRL_EVAL_ROUTES
    x, y = virl_demonstrations(3, seed=0)
    assert len(x) == len(y) > 0 and set(y) <= set(range(env.action_space.n))


def test_sft_loss_decreases_and_the_model_round_trips(tmp_path):
    x, y = gp_demonstrations(20, seed=0)
    model, losses = train_sft(x, y, 10, epochs=15, seed=0, batch_size=32)
    assert losses[-1] < 0.7 * losses[0]
    path = tmp_path / "m.pt"
    save_policy(model, path)
    assert json.loads(path.with_suffix(".json").read_text())["obs_dim"] == x.shape[1]
    again = load_policy(path)
    probe = torch.as_tensor(x[:7])
    with torch.no_grad():
        torch.testing.assert_close(model(probe), again(probe))


def test_same_seed_same_sft_model():
    x, y = virl_demonstrations(2, seed=0)
    a, _ = train_sft(x, y, 10, epochs=2, seed=3)
    b, _ = train_sft(x, y, 10, epochs=2, seed=3)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)


@pytest.mark.parametrize("env_id", ["GeneralPoints-v0", "GeneralPoints-RuleOOD-v0"])
def test_gp_adapter_gives_well_formed_replies_and_never_repeats_a_failed_one(env_id):
    torch.manual_seed(0)
    agent = GPointsPolicyAgent(mlp_probs(MLPPolicy(make_gp_env().observation_space.shape[0], 10)), seed=0)
    env = gym.make(env_id)
    for seed in range(4):
        obs, info = env.reset(seed=seed)
        agent.begin_episode(env)
        replies, done = [], False
        while not done:
            reply = agent(obs, info)
            replies.append(json.loads(reply)["formula"])
            obs, _, terminated, truncated, info = env.step(reply)
            assert info["verdict"] in (Verdict.CORRECT, Verdict.WRONG_VALUE, Verdict.DIVISION_BY_ZERO)
            done = terminated or truncated
        assert len(set(replies)) == len(replies)


def test_virl_adapter_decodes_an_expert_policy_to_success_through_the_harness():
    from sftrl_eval import evaluate

    vocabulary = make_virl_env().actions

    class ExpertProbs:
        """A 'policy' that puts all mass on the expert's action (reads the env the adapter was given)."""

        def __call__(self, obs):
            probs = np.zeros(len(vocabulary))
            probs[vocabulary.index(agent._env.unwrapped.expert_action())] = 1.0
            return probs

    agent = VIRLPolicyAgent(ExpertProbs(), vocabulary, name="expert-probs")
    summary = evaluate(agent, "VIRL-L", episodes=2, progress=False)
    assert summary["success_rate"] == 1.0 and summary["per_step_accuracy"] == 1.0


def test_virl_adapter_answers_in_its_own_vocabulary_even_out_of_distribution():
    from sftrl_eval import evaluate

    vocabulary = make_virl_env().actions  # compass words
    probs = np.zeros(len(vocabulary))
    probs[vocabulary.index("turn_direction(north)")] = 1.0
    agent = VIRLPolicyAgent(lambda obs: probs, vocabulary, name="always-north")
    # Relative-turn rules: a compass word is outside the action space, so the env calls it invalid.
    summary = evaluate(agent, "VIRL-L-RuleOOD", episodes=1, progress=False)
    assert summary["unparseable_rate"] > 0.0 and summary["success_rate"] == 0.0


def test_virl_adapter_needs_begin_episode():
    agent = VIRLPolicyAgent(lambda obs: np.ones(10) / 10, make_virl_env().actions)
    with pytest.raises(RuntimeError, match="begin_episode"):
        agent("prompt", {"step_index": 0, "attempts_left": 2})


def test_ppo_policy_plays_through_both_adapters():
    from sftrl_eval import evaluate

    gp_env, virl_env = make_gp_env(), make_virl_env()
    gp_model = make_ppo(gp_env, seed=0, n_steps=64, batch_size=64)
    gp_model.learn(128)
    virl_model = make_ppo(virl_env, seed=0, n_steps=64, batch_size=64)
    virl_model.learn(128)
    gp = evaluate(GPointsPolicyAgent(sb3_probs(gp_model), name="ppo"), "GP-L-RuleOOD", episodes=2, progress=False)
    assert gp["unparseable_rate"] == 0.0 and gp["episodes"] == 2
    virl = evaluate(VIRLPolicyAgent(sb3_probs(virl_model), virl_env.actions, name="ppo"), "VIRL-L", episodes=1,
                    progress=False)
    assert virl["unparseable_rate"] == 0.0 and virl["per_step_accuracy"] is not None
