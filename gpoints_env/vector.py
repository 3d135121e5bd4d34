"""Vector environments that work with text observations (kept for its public name): :func:`make_vec` is
:func:`sftrl_core.vector.make_vec`, ``gym.make_vec`` with ``shared_memory=False`` for the async mode, since
Gymnasium 1.4's shared memory returns stale ``Text`` observations.

    envs = make_vec("GeneralPoints-v0", num_envs=4)   # async; vectorization_mode="sync" for one process
"""

from __future__ import annotations

from sftrl_core.vector import make_vec

__all__ = ["make_vec"]
