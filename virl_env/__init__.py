"""V-IRL navigation environments (text and image mode) after "SFT Memorizes, RL Generalizes"
(Chu et al., 2025).

``gym.make("virl_env:VIRL-v0")`` works without importing this package first.

Registered ids:

* ``VIRL-v0``: absolute turn actions (compass words), New-York-like training city (in distribution).
* ``VIRL-RuleOOD-v0``: relative turn actions (left, right, slightly left, slightly right): the
  paper's rule out-of-distribution setting.
* ``VIRL-VL-v0``, ``VIRL-VL-RuleOOD-v0``: the same with a 2x2 grid of street views.
* ``VIRL-VL-VisualOOD-v0``: street views of cities in unseen styles, a fixed benchmark of 18 routes
  (2 in each of 9 cities).

``ENV_IDS`` maps every id to its registration kwargs; ``make_vec`` is ``gym.make_vec`` that works
with the text observations (async vector envs without shared memory).

Every id also plays the paper authors' released routes: ``gym.make(id, dataset_dir=DIR)``
(see :mod:`virl_env.released.dataset`), and every id takes ``protocol="paper"`` for the authors' evaluation
protocol (``protocol="suite"``, this package's, is the default; :data:`PROTOCOLS` holds both, as the strategy
objects of :mod:`virl_env.protocols`); :func:`paper_evaluation_draws` replays their evaluation route list and
:func:`paper_step_accuracy` computes their per-step accuracy.
"""

from __future__ import annotations

import gymnasium

from virl_env.task.checker import Grade, ParsedReply, expected_action, grade_reply, parse_reply
from virl_env.world.city import City, Landmark, generate_city, get_city
from virl_env.released.files import DatasetError
from virl_env.released.dataset import PaperDraws, RouteDataset, paper_evaluation_draws
from virl_env.env import VIRLEnv, VIRLVisionEnv
from virl_env.sources import VISUAL_OOD_ROUTES, VISUAL_OOD_STYLES
from virl_env.world.routes import RailPoint, Route, build_rail, get_route, plan_route
from virl_env.numeric import DiscreteNavigation, encode_navigation_state, navigation_actions
from virl_env.protocols import PROTOCOLS
from virl_env.task.metrics import paper_step_accuracy
from virl_env.task.rules import (
    PAPER_RULES,
    REWARD_TABLES,
    NavigationRules,
    RewardTable,
    Verdict,
    get_reward_table,
)
from virl_env.specs import grade
from virl_env.world.styles import (
    STYLE_NAMES,
    STYLES,
    TRAINING_STYLE,
    UNSEEN_STYLES,
    CityStyle,
    StreetLook,
    get_style,
    register_style,
)
from virl_env.wrappers import (
    BearingActions,
    CityLook,
    DenseRail,
    Fog,
    NightCity,
    RelativeActions,
    RuleWrapper,
    StyleWrapper,
)
from sftrl_core.vector import make_vec

__all__ = [
    "ALL_ENV_IDS",
    "BearingActions",
    "City",
    "CityLook",
    "CityStyle",
    "DatasetError",
    "DenseRail",
    "DiscreteNavigation",
    "ENV_IDS",
    "Fog",
    "Grade",
    "Landmark",
    "MAX_EPISODE_STEPS",
    "NavigationRules",
    "NightCity",
    "PAPER_RULES",
    "PROTOCOLS",
    "PaperDraws",
    "ParsedReply",
    "REWARD_TABLES",
    "RailPoint",
    "RelativeActions",
    "RewardTable",
    "Route",
    "RouteDataset",
    "RuleWrapper",
    "STYLES",
    "STYLE_NAMES",
    "StreetLook",
    "StyleWrapper",
    "TEXT_ENV_IDS",
    "TRAINING_STYLE",
    "UNSEEN_STYLES",
    "VIRLEnv",
    "VIRLVisionEnv",
    "VISUAL_OOD_ROUTES",
    "VISUAL_OOD_STYLES",
    "VL_ENV_IDS",
    "Verdict",
    "build_rail",
    "encode_navigation_state",
    "navigation_actions",
    "expected_action",
    "paper_evaluation_draws",
    "paper_step_accuracy",
    "generate_city",
    "get_city",
    "get_reward_table",
    "get_route",
    "get_style",
    "grade",
    "grade_reply",
    "make_vec",
    "parse_reply",
    "plan_route",
    "register_style",
]

MAX_EPISODE_STEPS = 400
"""Truncation limit of the registered ids (default rules end every episode well before it)."""

_ENTRY_POINTS = {
    "VIRL-v0": "VIRLEnv",
    "VIRL-RuleOOD-v0": "VIRLEnv",
    "VIRL-VL-v0": "VIRLVisionEnv",
    "VIRL-VL-RuleOOD-v0": "VIRLVisionEnv",
    "VIRL-VL-VisualOOD-v0": "VIRLVisionEnv",
}

ENV_IDS: dict[str, dict] = {
    "VIRL-v0": {},
    "VIRL-RuleOOD-v0": {"action_mode": "relative"},
    "VIRL-VL-v0": {},
    "VIRL-VL-RuleOOD-v0": {"action_mode": "relative"},
    "VIRL-VL-VisualOOD-v0": {"benchmark": "visual_ood"},
}
"""Every id registered by this package -> its registration kwargs (``gym.make(id, **overrides)``
merges overrides over them; the rule-OOD ids fix ``action_mode``, which a ``rules=`` argument
cannot undo)."""

TEXT_ENV_IDS: tuple[str, ...] = ("VIRL-v0", "VIRL-RuleOOD-v0")
"""Text-mode ids (observations are ``str``)."""

VL_ENV_IDS: tuple[str, ...] = ("VIRL-VL-v0", "VIRL-VL-RuleOOD-v0", "VIRL-VL-VisualOOD-v0")
"""Image-mode ids (observations are ``{"image": uint8 array, "text": str}``)."""

ALL_ENV_IDS: tuple[str, ...] = TEXT_ENV_IDS + VL_ENV_IDS
"""Every id registered by this package, text ids first."""

for _env_id, _kwargs in ENV_IDS.items():
    if _env_id not in gymnasium.registry:
        gymnasium.register(id=_env_id, entry_point=f"virl_env.env:{_ENTRY_POINTS[_env_id]}", kwargs=dict(_kwargs),
                           max_episode_steps=MAX_EPISODE_STEPS)
