"""Every registered id of both games: the Gymnasium checker, determinism across processes, pickling, vectors."""

from __future__ import annotations

import hashlib
import pickle
import warnings

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import gpoints_env
import virl_env
from conftest import (
    ALL_ENV_IDS,
    digest_step,
    digests_in_fresh_processes,
    oracle_reply,
    rollout_digest,
    same_observation,
    text_of,
)
from sftrl_core import make_vec


def test_every_id_of_both_packages_is_covered():
    packages = ("gpoints_env", "virl_env")
    registered = {env_id for env_id, spec in gym.registry.items()
                  if isinstance(spec.entry_point, str) and spec.entry_point.split(".")[0] in packages}
    assert registered == set(ALL_ENV_IDS)
    assert isinstance(gpoints_env.ENV_IDS, dict) and len(ALL_ENV_IDS) == len(set(ALL_ENV_IDS)) == 10
    assert gpoints_env.make_vec is make_vec and virl_env.make_vec is make_vec


def test_check_env_without_warnings(any_env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(gym.make(any_env_id).unwrapped)


@pytest.fixture(scope="module")
def fresh_process_digests() -> list[dict]:
    return digests_in_fresh_processes(ALL_ENV_IDS, seed=11)


def test_same_seed_same_rollout_across_processes(any_env_id, fresh_process_digests):
    mine = rollout_digest(any_env_id, 11)
    assert [d[any_env_id] for d in fresh_process_digests] == [mine, mine]
    assert rollout_digest(any_env_id, 12) != mine  # the digest does see the seed


def test_pickle_mid_episode(any_env_id):
    env = gym.make(any_env_id)
    env.reset(seed=3)
    env.step("no answer here")
    clone = pickle.loads(pickle.dumps(env))
    digests = []
    for e in (env, clone):
        h = hashlib.sha256()
        for _ in range(3):
            obs, reward, terminated, truncated, info = e.step(oracle_reply(e))
            digest_step(h, obs, float(reward), terminated, truncated, info)
            if terminated or truncated:
                break
        digest_step(h, *e.reset())  # the generator state travelled with the pickle too
        digests.append(h.hexdigest())
    assert digests[0] == digests[1]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_vector_envs_via_make_vec(any_env_id, mode):
    envs = make_vec(any_env_id, num_envs=2, vectorization_mode=mode)
    try:
        if mode == "async":
            assert envs.shared_memory is False
        obs, _ = envs.reset(seed=[1, 2])
        singles = [gym.make(any_env_id).reset(seed=s)[0] for s in (1, 2)]
        for i, single in enumerate(singles):
            mine = {k: v[i] for k, v in obs.items()} if isinstance(obs, dict) else obs[i]
            assert same_observation(mine, single)
        before = list(text_of(obs))
        obs, rewards, terminated, truncated, info = envs.step(("no answer here", "no answer either"))
        after = list(text_of(obs))
        # Fresh observations that hold the feedback, not a stale copy of the reset's.
        assert all(isinstance(t, str) and t and t != b for t, b in zip(after, before))
        assert [str(v) for v in info["verdict"]] in (["no_formula"] * 2, ["invalid"] * 2)
        assert rewards.shape == (2,)
    finally:
        envs.close()
