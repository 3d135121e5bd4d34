"""Ray RLlib glue: an env creator for the numeric wrappers, seeded per worker and per vector index.

RLlib builds envs in its worker processes from a name. Three things break with a plain ``gym.make`` id there:
a fresh worker never imported ``gpoints_env``/``virl_env``, so a bare id such as ``"GeneralPoints-v0"`` raises
``NameNotFound``; RLlib has no encoder for ``Text`` observations (the games' prompts); and every env a worker builds
gets the same config, so without care all of them play the same seeded episodes. :func:`env_creator` imports the
game of the id first, wraps it in the game's numeric wrapper (:class:`gpoints_env.numeric.FormulaTokens`,
:class:`virl_env.numeric.DiscreteNavigation`), refuses ``Text`` observations with a clear error, and seeds each env
from the worker and vector indices. :func:`register` registers it under the id for RLlib:

.. code-block:: python

    from ray.rllib.algorithms.ppo import PPOConfig
    from sftrl_train.rllib import register
    register("GeneralPoints-v0")  # then RLlib builds FormulaTokens(GeneralPoints-v0) in every worker
    algo = PPOConfig().environment("GeneralPoints-v0").env_runners(num_env_runners=2).build_algo()

``env_config`` keys: ``env_id`` (set by :func:`register`), ``seed`` (base seed, default 0), ``wrapper_kwargs``
(for the numeric wrapper); any other key goes to ``gym.make``. When RLlib is given a seed
(``config.debugging(seed=...)``) it seeds the envs' first reset itself, which takes precedence.
"""

from __future__ import annotations

import importlib
import os
from collections import Counter
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ._games import bare_id, game_for_id
from .datasets import require

__all__ = ["env_creator", "register", "env_seed", "NUMERIC_WRAPPERS"]

#: The numeric wrapper of each game.
NUMERIC_WRAPPERS = {"GeneralPoints": "gpoints_env.numeric:FormulaTokens",
                    "V-IRL": "virl_env.numeric:DiscreteNavigation"}

# RLlib's new API stack builds all of a worker's envs from one context (vector_index 0); the n-th env a process
# builds for a worker then takes vector index n, so that they do not all play the same episodes.
_BUILT: Counter[tuple[int, int]] = Counter()


def env_seed(seed: int, worker_index: int, vector_index: int) -> int:
    """An env's seed from the base seed and its worker and vector indices: independent streams for every pair."""
    return int(np.random.SeedSequence([seed, worker_index, vector_index]).generate_state(1)[0])


def _text_spaces(space: spaces.Space) -> bool:
    if isinstance(space, spaces.Text):
        return True
    if isinstance(space, spaces.Dict):
        return any(_text_spaces(s) for s in space.spaces.values())
    if isinstance(space, spaces.Tuple):
        return any(_text_spaces(s) for s in space.spaces)
    return False


def env_creator(env_config: Mapping[str, Any]) -> gym.Env:
    """Build one env for RLlib from ``env_config`` (a dict or RLlib's ``EnvContext``).

    Args:
        env_config: ``env_id`` (required), optional ``seed``, ``numeric`` (default ``True``: wrap in the game's
            numeric wrapper), ``wrapper_kwargs``, and ``gym.make`` keyword arguments. ``worker_index`` and
            ``vector_index`` are read from an ``EnvContext``.

    Returns:
        The env, its first reset already seeded.

    Raises:
        ValueError: no ``env_id``, or an id of neither game.
        TypeError: ``numeric=False`` with an id whose observations hold text, which RLlib cannot encode.
    """
    config = dict(env_config)
    if "env_id" not in config:
        raise ValueError("env_config needs an 'env_id' (e.g. {'env_id': 'GeneralPoints-v0'})")
    env_id = config.pop("env_id")
    seed = config.pop("seed", 0)
    numeric = config.pop("numeric", True)
    wrapper_kwargs = config.pop("wrapper_kwargs", {})
    config.pop("num_envs", None)  # RLlib's vector entry point adds it
    worker_index = int(getattr(env_config, "worker_index", 0) or 0)
    vector_index = int(getattr(env_config, "vector_index", 0) or 0)
    if vector_index == 0:
        key = (os.getpid(), worker_index)
        vector_index = _BUILT[key]
        _BUILT[key] += 1
    game = game_for_id(env_id)  # imports the game: its ids are registered in this worker
    env = gym.make(bare_id(env_id), **config)
    if numeric:
        module_name, class_name = NUMERIC_WRAPPERS[game].split(":")
        env = getattr(importlib.import_module(module_name), class_name)(env, **wrapper_kwargs)
    elif _text_spaces(env.observation_space):
        raise TypeError(
            f"{env_id} observes text ({env.observation_space}), which RLlib has no encoder for; keep numeric=True "
            "for the game's numeric wrapper, or train language models with sftrl_train.trl / verl / openrlhf")
    episode_seed = env_seed(seed, worker_index, vector_index)
    env.reset(seed=episode_seed)  # later resets without a seed continue this stream
    env.action_space.seed(episode_seed)
    return env


def register(env_id: str, name: str | None = None, **env_config: Any) -> str:
    """Register :func:`env_creator` for ``env_id`` with Ray Tune's registry (which RLlib's workers read).

    Args:
        env_id: a registered id of either game.
        name: the name to register (default: ``env_id``), to pass to ``config.environment(name)``.
        **env_config: defaults for the env config (``seed``, ``wrapper_kwargs``, ``gym.make`` arguments); the
            algorithm's ``env_config`` overrides them.

    Returns:
        The registered name.

    Raises:
        ImportError: naming the extra when Ray is missing.
        ValueError: an id of neither game.
    """
    game_for_id(env_id)  # fail here, not in a worker, for an unknown id
    registry = require("ray.tune.registry", "ray", "sftrl_train.rllib.register")
    defaults = {"env_id": env_id, **env_config}
    registry.register_env(name or env_id, lambda context: env_creator(_merged(defaults, context)))
    return name or env_id


class _Merged(dict):
    """The defaults overridden by RLlib's context, keeping its worker and vector indices."""

    worker_index = 0
    vector_index = 0


def _merged(defaults: Mapping[str, Any], context: Mapping[str, Any]) -> _Merged:
    merged = _Merged({**defaults, **context})
    merged.worker_index = getattr(context, "worker_index", 0)
    merged.vector_index = getattr(context, "vector_index", 0)
    return merged
