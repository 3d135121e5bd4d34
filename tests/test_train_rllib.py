"""RLlib glue: the env creator (numeric wrappers, seeds from worker and vector indices, a clear error for text
observations, ids that work in a fresh process) and, with Ray installed, PPO on it with a remote env runner."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from gymnasium import spaces

from gpoints_env.numeric import FormulaTokens
from sftrl_train.rllib import env_creator, env_seed
from virl_env.numeric import DiscreteNavigation


class Context(dict):
    """RLlib's EnvContext call shape: a config dict with worker and vector indices."""

    def __init__(self, config, worker_index=0, vector_index=0):
        super().__init__(config)
        self.worker_index, self.vector_index = worker_index, vector_index


def first_obs(env):
    obs, _ = env.reset()  # RLlib resets without a seed: the creator's seed decides the episode
    return obs


@pytest.mark.parametrize("env_id, wrapper", [("GeneralPoints-v0", FormulaTokens), ("VIRL-v0", DiscreteNavigation),
                                             ("gpoints_env:GeneralPoints-RuleOOD-v0", FormulaTokens)])
def test_creator_wraps_the_numeric_game(env_id, wrapper):
    env = env_creator(Context({"env_id": env_id}, worker_index=1, vector_index=1))
    assert isinstance(env, wrapper)
    assert isinstance(env.observation_space, spaces.Box) and isinstance(env.action_space, spaces.Discrete)
    obs, reward, *_ = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs)


def test_seeds_come_from_worker_and_vector_indices():
    def episode(worker, vector, seed=0):
        return first_obs(env_creator(Context({"env_id": "GeneralPoints-v0", "seed": seed}, worker, vector)))

    assert np.array_equal(episode(1, 2), episode(1, 2))  # the same indices replay the same episodes
    observations = [episode(w, v) for w in (1, 2) for v in (1, 2)] + [episode(1, 1, seed=5)]
    distinct = {obs.tobytes() for obs in observations}
    assert len(distinct) == len(observations)
    assert env_seed(0, 1, 2) != env_seed(0, 2, 1)


def test_new_api_stack_contexts_get_one_vector_index_each():
    # RLlib's new stack builds every env of a worker from one context whose vector_index is 0.
    envs = [env_creator(Context({"env_id": "GeneralPoints-v0"}, worker_index=7)) for _ in range(3)]
    assert len({first_obs(env).tobytes() for env in envs}) == 3


def test_text_observations_get_a_clear_error():
    with pytest.raises(TypeError, match="no encoder"):
        env_creator({"env_id": "GeneralPoints-v0", "numeric": False})
    with pytest.raises(ValueError, match="env_id"):
        env_creator({})
    with pytest.raises(ValueError, match="not an id of this suite"):
        env_creator({"env_id": "CartPole-v1"})


def test_bare_id_works_in_a_fresh_process():
    code = textwrap.dedent("""
        from sftrl_train.rllib import env_creator
        env = env_creator({"env_id": "GeneralPoints-v0", "wrapper_kwargs": {"invalid_penalty": -2.0}})
        print(type(env).__name__, env.action_space.n)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["FormulaTokens", "10"]


def test_ppo_trains_with_a_remote_env_runner(tmp_path):
    pytest.importorskip("ray.rllib")  # the ray extra (its own CI venv: ray pins an older gymnasium)
    torch = pytest.importorskip("torch")
    import ray
    from ray.rllib.algorithms.ppo import PPOConfig

    from sftrl_train.rllib import register

    torch.set_num_threads(1)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        name = register("GeneralPoints-v0", name="sftrl-gp")
        config = (PPOConfig().environment(name, env_config={"seed": 3})
                  .env_runners(num_env_runners=1, num_envs_per_env_runner=2, rollout_fragment_length=64)
                  .training(train_batch_size_per_learner=128, minibatch_size=64, num_epochs=1)
                  .learners(num_learners=0))
        algo = config.build_algo()
        result = algo.train()
        algo.stop()
    finally:
        ray.shutdown()
    runners = result["env_runners"]
    assert runners["num_env_steps_sampled"] >= 128  # a fresh worker process built the env from the bare id
    assert np.isfinite(result["learners"]["default_policy"]["total_loss"])
