"""GeneralPoints: make a target number from playing cards, answering in free text (Gymnasium environments).

Importing this package registers the environments, so ``gym.make("gpoints_env:GeneralPoints-v0")`` works
without an explicit import:

================================  =========================================================================
id                                rules
================================  =========================================================================
``GeneralPoints-v0``              paper in-distribution: J/Q/K count 10, target 24, 5 attempts
``GeneralPoints-RuleOOD-v0``      paper rule OOD: J/Q/K count 11/12/13, every hand holds a face card
``GeneralPoints-VL-v0``           image mode, in distribution: J/Q/K count 10, black suits
``GeneralPoints-VL-RuleOOD-v0``   image mode, rule OOD: J/Q/K count 11/12/13, a face card, black suits
``GeneralPoints-VL-VisualOOD-v0`` image mode, visual OOD: J/Q/K count 10, red suits
================================  =========================================================================

Every id takes ``protocol="suite"`` (default, this suite's prompt and lenient grading) or ``protocol="paper"``
(the paper authors' prompt, parsing, grading, dealing and picture; see :mod:`gpoints_env.protocols`).
"""

from __future__ import annotations

from gymnasium.envs.registration import register, registry

from .cards import DECK, SUITS, Card, NoSolvableHandError, deal_hand, hand_from_ranks
from .checker import CheckResult  # noqa: F401  (old name of Grade, kept for one release; not in __all__)
from .checker import (
    BINARY_REWARDS,
    grade_reply,
    PAPER_REWARDS,
    FormulaError,
    Grade,
    RewardTable,
    Verdict,
    check_answer,
    extract_formula,
    formula_to_sympy,
    parse_formula,
)
from .env import GeneralPointsEnv
from .render import render_hand
from .rules import ID_RULES, RANKS, RULE_OOD_RULES, Rules
from .style import DEFAULT_STYLE, CardStyle
from .numeric import FormulaBuilder, FormulaTokens, formula_to_tokens
from .paper_checker import PaperGrade
from .protocols import PAPER_EVAL_SETTINGS, PROTOCOLS, paper_eval_hands
from .solver import canonical_form, find_solution, is_solvable, solvable_rank_hands, solve
from .specs import grade
from .vector import make_vec
from .wrappers import (
    AceValue,
    AllowedOperators,
    CardColours,
    DealSuits,
    FaceCardValues,
    GaussianBlur,
    ImageNoise,
    Jitter,
    RequireFaceCard,
    Resolution,
    RuleWrapper,
    StyleWrapper,
    SuitColours,
    TargetPoints,
)

__version__ = "0.1.0"

__all__ = [
    "GeneralPointsEnv",
    "Rules",
    "ID_RULES",
    "RULE_OOD_RULES",
    "RANKS",
    "SUITS",
    "DECK",
    "Card",
    "deal_hand",
    "hand_from_ranks",
    "NoSolvableHandError",
    "Verdict",
    "RewardTable",
    "PAPER_REWARDS",
    "BINARY_REWARDS",
    "Grade",
    "FormulaError",
    "check_answer",
    "grade_reply",
    "CardStyle",
    "DEFAULT_STYLE",
    "render_hand",
    "extract_formula",
    "parse_formula",
    "formula_to_sympy",
    "solve",
    "canonical_form",
    "make_vec",
    "find_solution",
    "is_solvable",
    "solvable_rank_hands",
    "RuleWrapper",
    "FaceCardValues",
    "AceValue",
    "TargetPoints",
    "RequireFaceCard",
    "AllowedOperators",
    "DealSuits",
    "StyleWrapper",
    "SuitColours",
    "CardColours",
    "Jitter",
    "Resolution",
    "GaussianBlur",
    "ImageNoise",
    "FormulaTokens",
    "FormulaBuilder",
    "formula_to_tokens",
    "ENV_IDS",
    "grade",
    "PROTOCOLS",
    "PaperGrade",
    "PAPER_EVAL_SETTINGS",
    "paper_eval_hands",
]

_ENTRY_POINT = "gpoints_env.env:GeneralPointsEnv"
_RULE_OOD = {"face_values": RULE_OOD_RULES.face_values, "require_face_card": True}

_IMAGE = {"observation_mode": "image"}

#: Every environment id this package registers, with its keyword arguments.
ENV_IDS: dict[str, dict] = {
    "GeneralPoints-v0": {},
    "GeneralPoints-RuleOOD-v0": _RULE_OOD,
    "GeneralPoints-VL-v0": {**_IMAGE, "suit_colour": "black"},
    "GeneralPoints-VL-RuleOOD-v0": {**_IMAGE, **_RULE_OOD, "suit_colour": "black"},
    "GeneralPoints-VL-VisualOOD-v0": {**_IMAGE, "suit_colour": "red"},
}

for _env_id, _kwargs in ENV_IDS.items():
    if _env_id not in registry:  # re-importing (e.g. importlib.reload) must not warn about overriding
        register(id=_env_id, entry_point=_ENTRY_POINT, kwargs=dict(_kwargs))
