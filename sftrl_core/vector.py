"""Vector environments that work with text observations.

Gymnasium 1.4's ``AsyncVectorEnv`` copies observations through shared memory by default, and for ``Text``
spaces that buffer is read once at construction: every later observation comes back stale (empty strings).
:func:`make_vec` is ``gym.make_vec`` with ``shared_memory=False`` for the async mode, which pickles
observations through the worker pipes instead and returns the real prompts.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

__all__ = ["make_vec"]


def make_vec(env_id: str, num_envs: int = 1, vectorization_mode: str = "async", **kwargs: Any) -> gym.vector.VectorEnv:
    """``gym.make_vec`` for text environments: async mode defaults to ``shared_memory=False`` (see module doc).

    Example::

        envs = make_vec("GeneralPoints-v0", num_envs=4)          # or "VIRL-v0", any registered id
        observations, infos = envs.reset(seed=0)                 # four real prompts, not empty strings
        envs.close()

    Args:
        env_id: a registered id, e.g. ``"GeneralPoints-v0"``.
        num_envs: number of sub-environments.
        vectorization_mode: ``"async"`` (default, one process per env) or ``"sync"``.
        **kwargs: passed to ``gym.make_vec`` (``vector_kwargs=...``, ``wrappers=...``) and to the env.
    """
    vector_kwargs = dict(kwargs.pop("vector_kwargs", None) or {})
    if vectorization_mode == "async":
        vector_kwargs.setdefault("shared_memory", False)
    return gym.make_vec(env_id, num_envs, vectorization_mode=vectorization_mode, vector_kwargs=vector_kwargs, **kwargs)
