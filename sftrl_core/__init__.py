"""The shared core of the suite's games: what GeneralPoints (:mod:`gpoints_env`) and V-IRL (:mod:`virl_env`)
have in common, written once.

* :mod:`sftrl_core.replies`: reading raw model replies (``<think>``, code fences, relaxed JSON, ``key: value``).
* :mod:`sftrl_core.grading`: the verdict enum base and the :class:`Grade` of one reply.
* :mod:`sftrl_core.rewards`: the reward-per-verdict table base with named schemes.
* :mod:`sftrl_core.variants`: rule and style wrappers that act only on the episodes reset through them.
* :mod:`sftrl_core.vector`: :func:`make_vec`, ``gym.make_vec`` that works with text observations.

Each game imports this package; neither game imports the other.
"""

from __future__ import annotations

from .grading import Grade, VerdictEnum
from .replies import find_json_object, find_key_value, key_pattern, strip_code_fence, strip_thinking
from .rewards import RewardTable
from .variants import (
    RULE_TRANSFORMS,
    STYLE_TRANSFORMS,
    RuleWrapper,
    StyleWrapper,
    TransformWrapper,
    apply_transforms,
)
from .vector import make_vec

__all__ = [
    "Grade",
    "VerdictEnum",
    "RewardTable",
    "strip_thinking",
    "strip_code_fence",
    "key_pattern",
    "find_key_value",
    "find_json_object",
    "TransformWrapper",
    "RuleWrapper",
    "StyleWrapper",
    "RULE_TRANSFORMS",
    "STYLE_TRANSFORMS",
    "apply_transforms",
    "make_vec",
]
