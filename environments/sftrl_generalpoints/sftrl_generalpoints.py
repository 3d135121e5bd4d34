"""GeneralPoints (after "SFT Memorizes, RL Generalizes", Chu et al., 2025) as a verifiers environment.

Four playing cards; the model writes a formula with ``+ - * / ( )`` that uses each card once and makes 24, with
feedback and up to 5 attempts. ``--env.taskset.setting`` picks the paper setting (its evaluation hands, in order),
``--env.taskset.protocol`` the protocol::

    vf-eval sftrl-generalpoints -m MODEL --env.taskset.setting GP-VL --env.taskset.protocol paper

The glue lives in the suite, :mod:`sftrl_eval.verifiers_env`.
"""

from __future__ import annotations

from typing import Literal

import verifiers.v1 as vf

from sftrl_eval.verifiers_env import ChatHarness, EpisodeTask, GameEnv, SettingTaskset, SettingTasksetConfig

__all__ = ["GeneralPointsTaskset", "GameEnv", "ChatHarness"]


class GeneralPointsConfig(SettingTasksetConfig):
    setting: Literal["GP-L", "GP-L-RuleOOD", "GP-VL", "GP-VL-RuleOOD", "GP-VL-VisualOOD"] = "GP-L"
    """The paper setting whose evaluation hands are the tasks (GP-VL...: the cards as a picture)."""


class GeneralPointsTaskset(SettingTaskset, vf.Taskset[EpisodeTask, GeneralPointsConfig]):
    """The evaluation hands of a GeneralPoints setting, one task each, in the harness's order."""

    GAME = "GeneralPoints"
