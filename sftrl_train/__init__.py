"""Trainer glue for the suite: datasets, reward functions and multi-turn adapters for TRL, verl, OpenRLHF and Ray.

Everything grades from episode specs (``env.unwrapped.episode_spec()``; :mod:`gpoints_env.specs`,
:mod:`virl_env.specs`), so a trainer scores completions exactly as ``env.step`` would, without a live env.

* :mod:`sftrl_train.datasets`: seeded rows for RL and SFT, JSONL/Parquet writers, ``datasets.Dataset``.
* :mod:`sftrl_train.rewards`: TRL ``reward_funcs``, verl ``compute_score``, OpenRLHF ``reward_func``.
* :mod:`sftrl_train.episodes`: :class:`~sftrl_train.episodes.EpisodeSession` (also ``SpecEpisode``): a whole episode
  of either game played turn by turn, from its spec or a live env, exactly as the env plays it.
* :mod:`sftrl_train.chat`: chat-template splicing for multi-turn token sequences.
* :mod:`sftrl_train.trl`: a multi-turn GRPO ``rollout_func`` (whole episodes), and ``episode_environment()`` for
  TRL's own tool loop (``environment_factory``; V-IRL image routes too).
* :mod:`sftrl_train.verl`: verl rows, agent loop (verl >= 0.9) and interaction (older verl).
* :mod:`sftrl_train.openrlhf`: OpenRLHF agent executor and reward function, loadable by file path.
* :mod:`sftrl_train.rllib`: Ray RLlib env creator for the numeric wrappers.

Trainer packages are imported only inside the functions that need them, with an error naming the extra to install
(``pip install "sft-rl-generalization-envs[trl]"``, ``[verl]``, ``[openrlhf]``, ``[ray]``).
"""

from __future__ import annotations

from .datasets import rl_rows, sft_rows, to_hf_dataset, write_jsonl, write_parquet
from .episodes import EpisodeSession, SpecEpisode, Turn
from .rewards import openrlhf_reward_func, trl_reward, trl_step_accuracy, trl_success, verl_compute_score
from .trl import multi_turn_rollout

__all__ = [
    "rl_rows",
    "sft_rows",
    "to_hf_dataset",
    "write_jsonl",
    "write_parquet",
    "EpisodeSession",
    "SpecEpisode",
    "Turn",
    "trl_reward",
    "trl_success",
    "trl_step_accuracy",
    "multi_turn_rollout",
    "verl_compute_score",
    "openrlhf_reward_func",
]
