"""Evaluation protocols: the suite's own (``"suite"``, the default) and the paper authors' (``"paper"``).

A protocol is everything about an episode that a benchmark's numbers depend on besides the rules of the game:
how hands are dealt, the prompt, how a reply is read and graded, the feedback text, the picture and the answer
format of a demonstration. :class:`GeneralPointsEnv` takes ``protocol="suite"`` or ``protocol="paper"`` and
asks the selected :class:`Protocol` for each of these; :mod:`gpoints_env.specs` does the same from a spec.

``"suite"`` is the suite's behaviour (modules :mod:`~gpoints_env.cards`, :mod:`~gpoints_env.prompts`,
:mod:`~gpoints_env.checker`), unchanged. ``"paper"`` reproduces the evaluation in the authors' released code
(LeslieTrue/SFTvsRL @5a6ea55; ``docs/PAPER_PROTOCOL.md`` section 1 describes it), with the templates and
messages verbatim and the few deliberate differences listed in the README's table "paper protocol vs the
authors' code":

* the prompt: ``Q_GeneralPoint_EQN_L`` / ``Q_GeneralPoint_EQN_VL`` (:data:`PAPER_TEXT_TEMPLATE`,
  :data:`PAPER_IMAGE_TEMPLATE`), one user turn; after a failure the user turn ``You failed this trial because
  <message>`` (:data:`PAPER_FEEDBACK_TEMPLATE`) is added to the same conversation;
* reading a reply (:func:`paper_read_field`): ``json.loads`` of the whole reply, else their regular expressions;
  the formula is cut at its first ``=``; the card list is parsed as their ``robust_str_to_list`` does;
* grading (:func:`paper_grade`): their order, messages and rewards (penalties add up), the ``+1`` partial
  solution and the prefix walk against their answer key (:func:`paper_answer_key`);
* dealing (:func:`paper_deal`): ranks drawn with replacement (rule OOD: three from A..K and one from J..K,
  shuffled), suits drawn independently per card, redealt until their solver finds the target, all from the
  env's seeded generator;
* the picture: 1,200 pixels, table colour ``#35654d``, cards 270 x 378 at x = 5, 302, 599, 896, y = 411.

The paper's parts live beside the suite's, one place for each rule: its templates and prompt in
:mod:`~gpoints_env.prompts`, its reply reading and grading in :mod:`~gpoints_env.paper_checker`, its arithmetic,
answer key and SFT answer in :mod:`~gpoints_env.paper_solver`, its dealing in :mod:`~gpoints_env.cards`; every
public name stays importable from here.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import numpy as np

from sftrl_core import registry
from sftrl_core.registry import ProtocolInfo

from .cards import Card, deal_hand, hand_from_ranks, paper_deal
from .checker import PAPER_REWARDS, Grade, RewardTable, grade_reply
from .paper_checker import (
    PAPER_MAX_FORMULA_CHARS,
    PAPER_REWARD_FN,
    PaperCheckResult,  # noqa: F401  (old name of PaperGrade, kept for one release; not in __all__)
    PaperGrade,
    paper_card_list,
    paper_grade,
    paper_read_field,
)
from .paper_solver import paper_answer_key, paper_expert_reply
from .prompts import (
    PAPER_FEEDBACK_TEMPLATE,
    PAPER_IMAGE_TEMPLATE,
    PAPER_RESPONSE_TEMPLATE,
    PAPER_TEXT_TEMPLATE,
    _check_paper_rules,
    build_prompt,
    feedback_message,
    paper_face_card_msg,
    paper_prompt,
)
from .render import render_hand, render_hand_paper
from .rules import Rules
from .solver import find_solution
from .style import DEFAULT_STYLE, CardStyle

# Private helpers the paper tests reach from here (their home is paper_checker / paper_solver).
from .paper_checker import _search  # noqa: F401
from .paper_solver import _SHAPES, _EvalFailure, _python_arithmetic  # noqa: F401

__all__ = [
    "PROTOCOLS",
    "Protocol",
    "SuiteProtocol",
    "PaperProtocol",
    "get_protocol",
    "PaperGrade",
    "PAPER_REWARD_FN",
    "PAPER_TEXT_TEMPLATE",
    "PAPER_IMAGE_TEMPLATE",
    "PAPER_RESPONSE_TEMPLATE",
    "PAPER_FEEDBACK_TEMPLATE",
    "PAPER_TABLE_COLOUR",
    "PAPER_STYLE",
    "PAPER_MAX_FORMULA_CHARS",
    "PAPER_EVAL_SETTINGS",
    "paper_face_card_msg",
    "paper_prompt",
    "paper_read_field",
    "paper_card_list",
    "paper_answer_key",
    "paper_grade",
    "paper_deal",
    "paper_expert_reply",
    "paper_eval_hands",
    "paper_eval_hands_version",
    "expert_reply",
]

#: The authors' table colour (``'#35654d'``).
PAPER_TABLE_COLOUR = (0x35, 0x65, 0x4D)
#: The paper's picture: 1,200 x 1,200 pixels on the authors' table colour (our own card art).
PAPER_STYLE = DEFAULT_STYLE.replace(resolution=1200, background=PAPER_TABLE_COLOUR)

#: Each paper evaluation setting and the env id that plays it (``gym.make(env_id, protocol="paper")``).
PAPER_EVAL_SETTINGS: dict[str, str] = {
    "GP-L": "GeneralPoints-v0",
    "GP-L-RuleOOD": "GeneralPoints-RuleOOD-v0",
    "GP-VL": "GeneralPoints-VL-v0",
    "GP-VL-RuleOOD": "GeneralPoints-VL-RuleOOD-v0",
    "GP-VL-VisualOOD": "GeneralPoints-VL-VisualOOD-v0",
}


# --------------------------------------------------------------------------------------------------------------
# Demonstrations.
# --------------------------------------------------------------------------------------------------------------


def _suite_expert_reply(rules: Rules, ranks: Sequence[str], image: bool) -> str:
    formula = find_solution(rules.values(list(ranks)), rules.target, rules.operators)
    answer: dict[str, Any] = {"cards": list(ranks)} if image else {}
    answer["formula"] = formula
    return json.dumps(answer)


# --------------------------------------------------------------------------------------------------------------
# The evaluation lists.
# --------------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _eval_hands_file() -> dict[str, Any]:
    text = resources.files("gpoints_env").joinpath("data", "gp_eval_hands.json").read_text(encoding="utf-8")
    return json.loads(text)


def paper_eval_hands(setting: str) -> list[dict[str, list[str]]]:
    """The 234 hands the authors' evaluator deals for a setting, in order, as reset options.

    ``env.reset(options=hand)`` replays each hand exactly (ranks and suits, duplicates included). The lists were
    rebuilt by replaying their evaluation path (``random.seed(42)``, one discarded hand, 234 resets); they are
    right only if nothing else drew from Python's ``random`` module between the seeding and the dealing (see the
    data file's ``_about`` and ``version``).

    Args:
        setting: ``"GP-L"``, ``"GP-L-RuleOOD"``, ``"GP-VL"``, ``"GP-VL-RuleOOD"``, ``"GP-VL-VisualOOD"``, or the
            env id that plays it (:data:`PAPER_EVAL_SETTINGS`).

    Returns:
        A fresh list of ``{"cards": [...], "suits": [...]}`` dicts.

    Raises:
        ValueError: an unknown setting.
    """
    by_id = {env_id: name for name, env_id in PAPER_EVAL_SETTINGS.items()}
    name = by_id.get(setting.split(":")[-1], setting) if isinstance(setting, str) else setting
    if name not in PAPER_EVAL_SETTINGS:
        raise ValueError(f"unknown paper setting {setting!r}; known: {', '.join(PAPER_EVAL_SETTINGS)} "
                         "(or their env ids)")
    return [{"cards": list(hand["ranks"]), "suits": list(hand["suits"])} for hand in _eval_hands_file()[name]]


def paper_eval_hands_version() -> int:
    """The version of the shipped evaluation lists (the data file's ``version`` field)."""
    return int(_eval_hands_file()["version"])


# --------------------------------------------------------------------------------------------------------------
# The protocols.
# --------------------------------------------------------------------------------------------------------------


class Protocol:
    """What an episode's numbers depend on besides the rules: dealing, prompt, grading, feedback, picture, what
    ``info`` adds and the format of an expert's answer. :class:`SuiteProtocol` and :class:`PaperProtocol` are the
    two instances, one per protocol of :data:`sftrl_core.registry.PROTOCOLS`."""

    #: The protocol as the suite's registry describes it (its name is the ``protocol=`` value).
    info: ProtocolInfo

    @property
    def name(self) -> str:
        """The value of ``protocol=`` that selects this protocol (the registry's name)."""
        return self.info.name

    def check(self, rules: Rules, style: CardStyle, rewards: RewardTable) -> None:
        """Raise ValueError if this protocol cannot play an episode under ``rules``, ``style`` and ``rewards``."""
        self.check_rules(rules)
        self.check_rewards(rewards)

    def check_rules(self, rules: Rules) -> None:
        """Raise ValueError if this protocol cannot grade under ``rules`` (an env's, or a spec's)."""

    def check_rewards(self, rewards: RewardTable) -> None:
        """Raise ValueError if this protocol cannot grade with ``rewards`` (an env's, or a spec's)."""

    def default_style(self) -> CardStyle:
        """The card style when the env is given none."""
        return DEFAULT_STYLE

    def deal(self, rules: Rules, rng: np.random.Generator) -> list[Card]:
        raise NotImplementedError

    def fixed_hand(self, labels: Sequence[object], suits: Sequence[str] | None, rules: Rules,
                   rng: np.random.Generator) -> list[Card]:
        """The hand of ``reset(options={"cards": ..., "suits": ...})`` (suits drawn from ``rng`` when not given)."""
        raise NotImplementedError

    def prompt(self, rules: Rules, ranks: Sequence[str] | None) -> str:
        """The task prompt (``ranks=None`` in image mode)."""
        raise NotImplementedError

    def grade(self, reply: object, ranks: Sequence[str], rules: Rules, rewards: RewardTable,
              image: bool) -> Grade:
        raise NotImplementedError

    def after_attempt(self, prompt: str, result: Grade, attempt: int, max_attempts: int) -> tuple[str, str]:
        """``(observation text, user turn)`` after graded attempt number ``attempt`` (the user turn is added to the
        conversation when the episode goes on)."""
        raise NotImplementedError

    def step_info(self, last: Grade | None) -> dict[str, Any]:
        """What this protocol adds to ``info`` after reset (``last=None``) and after each step."""
        return {}

    def render(self, hand: Sequence[Card], style: CardStyle, rng: np.random.Generator | None) -> np.ndarray:
        raise NotImplementedError

    def expert_reply(self, rules: Rules, ranks: Sequence[str], image: bool) -> str:
        """A correct reply in the answer format this protocol's prompt asks for (SFT demonstrations, oracles)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class SuiteProtocol(Protocol):
    """The suite's own protocol (the default): :mod:`~gpoints_env.cards`, :mod:`~gpoints_env.prompts`,
    :mod:`~gpoints_env.checker` and :mod:`~gpoints_env.render` as they are."""

    info = registry.SUITE

    def deal(self, rules: Rules, rng: np.random.Generator) -> list[Card]:
        return deal_hand(rules, rng)

    def fixed_hand(self, labels, suits, rules, rng):
        return hand_from_ranks(labels, rules, rng, suits)

    def prompt(self, rules, ranks):
        return build_prompt(rules, ranks)

    def grade(self, reply, ranks, rules, rewards, image):
        return grade_reply(reply, list(ranks), rules, rewards, check_cards=image)

    def after_attempt(self, prompt, result, attempt, max_attempts):
        turn = feedback_message(result.feedback, attempt, max_attempts, result.success)
        return f"{prompt}\n\n{turn}", turn

    def render(self, hand, style, rng):
        return render_hand(hand, style, rng)

    def expert_reply(self, rules, ranks, image):
        return _suite_expert_reply(rules, ranks, image)


class PaperProtocol(Protocol):
    """The authors' protocol (see the module docstring). Observations after a step hold only the new user turn
    (``You failed this trial because ...``); ``info["messages"]`` holds the whole conversation, prompt once, and
    ``info["paper_label"]`` names the reward as their logs do."""

    info = registry.PAPER

    def check(self, rules, style, rewards):
        super().check(rules, style, rewards)
        if style.jitter_degrees or style.jitter_offset:
            raise ValueError("protocol='paper' draws the authors' fixed card layout; it has no jitter")

    def check_rules(self, rules):
        _check_paper_rules(rules)

    def check_rewards(self, rewards):
        if rewards is not PAPER_REWARDS and rewards != PAPER_REWARDS:
            raise ValueError("protocol='paper' uses the authors' rewards (penalties add up); leave rewards='paper' "
                             "(use info['is_success'] for a 0/1 signal)")

    def default_style(self):
        return PAPER_STYLE

    def deal(self, rules, rng):
        return paper_deal(rules, rng)

    def fixed_hand(self, labels, suits, rules, rng):
        hand = hand_from_ranks(labels, rules, rng, suits, distinct=False, solvable=False)
        if not paper_answer_key(rules.values([card.rank for card in hand]), rules.target):
            raise ValueError(f"the hand {[card.rank for card in hand]} cannot make {rules.target} under {rules}")
        return hand

    def prompt(self, rules, ranks):
        return paper_prompt(rules, ranks)

    def grade(self, reply, ranks, rules, rewards, image):
        return paper_grade(reply, ranks, rules, image)

    def after_attempt(self, prompt, result, attempt, max_attempts):
        turn = result.feedback if result.success else PAPER_FEEDBACK_TEMPLATE.format(message=result.feedback)
        return turn, turn

    def step_info(self, last):
        return {"paper_label": None if last is None else last.label}

    def render(self, hand, style, rng):
        return render_hand_paper(hand, style)

    def expert_reply(self, rules, ranks, image):
        return paper_expert_reply(rules, ranks)


SUITE = SuiteProtocol()
PAPER = PaperProtocol()
#: The protocols by the registry's names (:data:`sftrl_core.registry.PROTOCOL_NAMES`, in its order).
PROTOCOLS: Mapping[str, Protocol] = MappingProxyType(
    {name: {p.name: p for p in (SUITE, PAPER)}[name] for name in registry.PROTOCOL_NAMES})


def get_protocol(name: str | ProtocolInfo | Protocol) -> Protocol:
    """The protocol named ``name`` (a name or entry of :mod:`sftrl_core.registry`), or ``name`` itself if it is one.

    Raises:
        ValueError: an unknown name.
    """
    if isinstance(name, Protocol):
        return name
    return PROTOCOLS[registry.check_protocol(name)]


def expert_reply(rules: Rules, ranks: Sequence[str], image: bool = False,
                 protocol: str | Protocol = registry.DEFAULT_PROTOCOL) -> str:
    """A correct reply to a hand in the answer format ``protocol``'s prompt asks for: under ``"suite"`` a JSON
    object with a witness ``formula`` (image mode: the ``cards`` first), under ``"paper"`` the authors' SFT answer
    (``ResponseEqn``: ``cards``, ``number``, ``formula``). For SFT demonstrations and oracles."""
    return get_protocol(protocol).expert_reply(rules, ranks, image)
