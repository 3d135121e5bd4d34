"""V-IRL navigation environments (text mode) after "SFT Memorizes, RL Generalizes" (Chu et al., 2025).

``gym.make("virl_env:VIRL-v0")`` works without importing this package first.

Registered ids:

* ``VIRL-v0``: absolute turn actions (compass words), New-York-like training city (in distribution).
* ``VIRL-RuleOOD-v0``: relative turn actions (left, right, slightly left, slightly right): the
  paper's rule out-of-distribution setting.
"""

from __future__ import annotations

import gymnasium

from virl_env.checker import Grade, ParsedReply, expected_action, grade_reply, parse_reply
from virl_env.city import City, Landmark, generate_city, get_city
from virl_env.env import VIRLEnv
from virl_env.routes import RailPoint, Route, build_rail, get_route, plan_route
from virl_env.rules import REWARD_TABLES, NavigationRules, RewardTable, Verdict, get_reward_table
from virl_env.styles import STYLE_NAMES, STYLES, TRAINING_STYLE, UNSEEN_STYLES, CityStyle, get_style
from virl_env.wrappers import BearingActions, DenseRail, RelativeActions, RuleWrapper

__all__ = [
    "BearingActions",
    "City",
    "CityStyle",
    "DenseRail",
    "ENV_IDS",
    "Grade",
    "Landmark",
    "MAX_EPISODE_STEPS",
    "NavigationRules",
    "ParsedReply",
    "REWARD_TABLES",
    "RailPoint",
    "RelativeActions",
    "RewardTable",
    "Route",
    "RuleWrapper",
    "STYLES",
    "STYLE_NAMES",
    "TRAINING_STYLE",
    "UNSEEN_STYLES",
    "VIRLEnv",
    "Verdict",
    "build_rail",
    "expected_action",
    "generate_city",
    "get_city",
    "get_reward_table",
    "get_route",
    "get_style",
    "grade_reply",
    "parse_reply",
    "plan_route",
]

MAX_EPISODE_STEPS = 400
"""Truncation limit of the registered ids (default rules end every episode well before it)."""

ENV_IDS: tuple[str, ...] = ("VIRL-v0", "VIRL-RuleOOD-v0")
"""Ids registered by this package."""

_REGISTRATIONS = {
    "VIRL-v0": {},
    "VIRL-RuleOOD-v0": {"rules": {"action_mode": "relative"}},
}

for _env_id, _kwargs in _REGISTRATIONS.items():
    if _env_id not in gymnasium.registry:
        gymnasium.register(id=_env_id, entry_point="virl_env.env:VIRLEnv", kwargs=_kwargs,
                           max_episode_steps=MAX_EPISODE_STEPS)
