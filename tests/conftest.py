"""Shared test helpers: every registered id of both games, and one cross-process determinism harness.

``ALL_ENV_IDS`` (and the ``any_env_id`` fixture) hold every id registered by :mod:`gpoints_env` and
:mod:`virl_env`; :func:`rollout_digest` plays a short scripted rollout and digests everything observable, and
:func:`digests_in_fresh_processes` computes the same digests in fresh interpreters with different hash seeds.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable

import gymnasium as gym
import numpy as np
import pytest

import gpoints_env
import virl_env

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent

GP_ENV_IDS: tuple[str, ...] = tuple(gpoints_env.ENV_IDS)
# Every V-IRL id whether ENV_IDS lists them all (a dict) or only the text ids (VL_ENV_IDS holds the others).
VIRL_ENV_IDS: tuple[str, ...] = tuple(dict.fromkeys([*virl_env.ENV_IDS, *getattr(virl_env, "VL_ENV_IDS", ())]))
ALL_ENV_IDS: tuple[str, ...] = GP_ENV_IDS + VIRL_ENV_IDS
#: Replies a scripted rollout cycles through before the oracle's: garbage, a wrong formula, a wrong action.
SCRIPTED_REPLIES = ("\u00e9\u00e9 garbage \x00", "(1+2)*3-4", "turn_direction(south)")


@pytest.fixture(params=ALL_ENV_IDS)
def any_env_id(request: pytest.FixtureRequest) -> str:
    """Each registered id of both packages in turn."""
    return request.param


def oracle_reply(env: gym.Env) -> str:
    """A correct reply for the current state of either game (the V-IRL expert's, or a GeneralPoints witness)."""
    base = env.unwrapped
    expert = getattr(base, "expert_reply", None)
    return expert() if expert is not None else base.solution()


def digest_step(h: Any, obs: Any, *rest: Any) -> None:
    """Add an observation (text and image bytes) and the rest of a step or reset (rewards, flags, info) to ``h``."""
    if isinstance(obs, dict):
        h.update(obs["text"].encode() + obs["image"].tobytes() + repr(obs["image"].shape).encode())
    else:
        h.update(obs.encode())
    h.update(json.dumps(rest, default=str, sort_keys=True).encode())


def rollout_digest(env_id: str, seed: int, episodes: int = 2, max_steps: int = 6) -> str:
    """Digest of a scripted rollout of ``env_id`` from ``seed``: the scripted wrong replies, then oracle replies,
    over ``episodes`` episodes of at most ``max_steps`` steps (later episodes reset without a seed)."""
    env = gym.make(env_id)
    h = hashlib.sha256()
    for episode in range(episodes):
        digest_step(h, *env.reset(seed=seed if episode == 0 else None))
        for t in range(max_steps):
            reply = SCRIPTED_REPLIES[t] if t < len(SCRIPTED_REPLIES) else oracle_reply(env)
            obs, reward, terminated, truncated, info = env.step(reply)
            digest_step(h, obs, float(reward), terminated, truncated, info)
            if terminated or truncated:
                break
    env.close()
    return h.hexdigest()


def digests_in_fresh_processes(env_ids: Iterable[str], seed: int, hash_seeds: Iterable[str] = ("1", "2")) -> list[dict]:
    """``{env_id: rollout_digest(env_id, seed)}`` computed in one fresh interpreter per hash seed (set and dict
    iteration orders differ between them), so that hidden process state cannot pass for determinism."""
    ids = list(env_ids)
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); from conftest import rollout_digest; "
            "print(json.dumps({i: rollout_digest(i, int(sys.argv[2])) for i in sys.argv[3:]}))")
    results = []
    for hash_seed in hash_seeds:
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO)}
        out = subprocess.run([sys.executable, "-c", code, str(TESTS), str(seed), *ids], capture_output=True,
                             text=True, env=env, cwd=REPO, timeout=600)
        assert out.returncode == 0, out.stderr
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


def text_of(obs: Any) -> str:
    """The text of an observation of either mode."""
    return obs["text"] if isinstance(obs, dict) else obs


def same_observation(a: Any, b: Any) -> bool:
    """Whether two observations of either mode are equal (text and pixels)."""
    if isinstance(a, dict) != isinstance(b, dict):
        return False
    if isinstance(a, dict):
        return a["text"] == b["text"] and np.array_equal(a["image"], b["image"])
    return a == b
