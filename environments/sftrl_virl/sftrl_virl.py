"""V-IRL navigation (after "SFT Memorizes, RL Generalizes", Chu et al., 2025) as a verifiers environment.

A whole route is one episode: at each rail point the model reads the numbered instructions and the walk so far
(VIRL-VL...: and a 2x2 grid of street views) and replies with one action, with 2 attempts per point and feedback.
``--env.taskset.setting`` picks the paper setting (its evaluation routes, in order), ``--env.taskset.protocol``
the protocol::

    vf-eval sftrl-virl -m MODEL --env.taskset.setting VIRL-VL --env.taskset.protocol paper

Rewards: ``success`` (every point of the route solved) and ``episode_return``; metric ``per_step_accuracy``. The
glue lives in the suite, :mod:`sftrl_eval.verifiers_env`.
"""

from __future__ import annotations

from typing import Literal

import verifiers.v1 as vf

from sftrl_eval.verifiers_env import ChatHarness, EpisodeTask, GameEnv, SettingTaskset, SettingTasksetConfig

__all__ = ["VIRLTaskset", "GameEnv", "ChatHarness"]


class VIRLConfig(SettingTasksetConfig):
    setting: Literal["VIRL-L", "VIRL-L-RuleOOD", "VIRL-VL", "VIRL-VL-RuleOOD", "VIRL-VL-VisualOOD"] = "VIRL-L"
    """The paper setting whose evaluation routes are the tasks (VIRL-VL...: street views as pictures)."""
    dataset_dir: str | None = None
    """The authors' released V-IRL data, if you have it: the paper protocol then plays their route draws."""


class VIRLTaskset(SettingTaskset, vf.Taskset[EpisodeTask, VIRLConfig]):
    """The evaluation routes of a V-IRL setting, one task each, in the harness's order."""

    GAME = "V-IRL"
