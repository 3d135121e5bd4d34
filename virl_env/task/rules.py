"""The rules of the navigation task and the reward table, each in one small frozen object.

:class:`NavigationRules` is what a rule-variant wrapper transforms (see :mod:`virl_env.wrappers`);
the environment reads only its *active* rules, computed at every reset. :class:`RewardTable` holds
the reward of each verdict; ``"paper"`` is the paper's table, ``"binary"`` a 1/0 table for GRPO-style
trainers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from sftrl_core.grading import VerdictEnum
from sftrl_core.rewards import RewardTable as CoreRewardTable

__all__ = [
    "ACTION_MODES",
    "ON_EXHAUSTED",
    "PAPER_RULES",
    "REWARD_TABLES",
    "NavigationRules",
    "RewardTable",
    "Verdict",
    "get_reward_table",
    "with_action_mode",
]

ACTION_MODES: tuple[str, ...] = ("absolute", "relative", "bearing")
"""``absolute``: turn to a compass word (paper, in distribution). ``relative``: left, right,
slightly left, slightly right (paper's rule OOD). ``bearing``: a compass bearing in degrees."""

ON_EXHAUSTED: tuple[str, ...] = ("advance", "terminate")
"""What happens when the attempts at a point run out: move the agent on, or end the episode."""


class Verdict(VerdictEnum):
    """Verdict on one reply (a ``str`` enum: ``Verdict.CORRECT == "correct"``, JSON-friendly)."""

    CORRECT = "correct"
    """The action is the expected one."""
    WRONG_ACTION = "wrong_action"
    """A valid action of the action space, but not the expected one."""
    WRONG_OBSERVATION = "wrong_observation"
    """A wrong action whose reply also reported the surroundings wrongly (see the checker)."""
    INVALID = "invalid"
    """No action could be read where the prompt asks for it, or it is outside the active action space."""


@dataclass(frozen=True)
class RewardTable(CoreRewardTable):
    """Reward for each verdict (named constants in one place); ``table[verdict]`` or
    ``table.reward(verdict)``. :meth:`resolve` takes a scheme name of :data:`REWARD_TABLES`, a table,
    or a mapping of field overrides on the paper's table."""

    correct: float = 1.0
    wrong_action: float = -1.0
    wrong_observation: float = -1.5
    invalid: float = -1.0


REWARD_TABLES: dict[str, RewardTable] = {
    "paper": RewardTable(),
    "binary": RewardTable(correct=1.0, wrong_action=0.0, wrong_observation=0.0, invalid=0.0),
}
"""Named reward tables: ``paper`` (+1 correct, -1 wrong action, -1.5 wrong observation, -1
invalid) and ``binary`` (1 correct, else 0)."""
RewardTable.SCHEMES = REWARD_TABLES


def get_reward_table(rewards: str | RewardTable | Mapping[str, float]) -> RewardTable:
    """Old name of :meth:`RewardTable.resolve`: a table from a name in :data:`REWARD_TABLES`, a
    table, or a mapping of field overrides.

    Raises:
        ValueError: Unknown name or field. TypeError: Another type, or a non-number reward.
    """
    return RewardTable.resolve(rewards)


@dataclass(frozen=True)
class NavigationRules:
    """Rules of the navigation task (not of the world).

    Attributes:
        action_mode: How turns are expressed, one of :data:`ACTION_MODES` (paper: ``absolute`` in
            distribution, ``relative`` for the rule-OOD test).
        max_attempts: Graded attempts per rail point (paper: 2).
        on_exhausted: ``advance`` (the point counts as failed and the agent is moved on, as
            SPEC.md asks) or ``terminate`` (the episode ends, as in the paper's training).
        forward_points: Interpolated points on each stretch between key points (the paper's
            "straight road length"); 0 to 8.
        drop_rate: Probability of dropping each interpolated point at reset, in ``[0, 1)``.
        grade_observation: Whether a wrong action whose reply reports a wrong observation gets
            the ``wrong_observation`` verdict (paper's -1.5) instead of ``wrong_action``.
    """

    action_mode: str = "absolute"
    max_attempts: int = 2
    on_exhausted: str = "advance"
    forward_points: int = 2
    drop_rate: float = 0.0
    grade_observation: bool = True

    def __post_init__(self) -> None:
        if self.action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode must be one of {ACTION_MODES}, got {self.action_mode!r}")
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise TypeError(f"max_attempts must be an int, got {self.max_attempts!r}")
        if not 1 <= self.max_attempts <= 100:
            raise ValueError(f"max_attempts must be in [1, 100], got {self.max_attempts}")
        if self.on_exhausted not in ON_EXHAUSTED:
            raise ValueError(f"on_exhausted must be one of {ON_EXHAUSTED}, got {self.on_exhausted!r}")
        if isinstance(self.forward_points, bool) or not isinstance(self.forward_points, int):
            raise TypeError(f"forward_points must be an int, got {self.forward_points!r}")
        if not 0 <= self.forward_points <= 8:
            raise ValueError(f"forward_points must be in [0, 8], got {self.forward_points}")
        if isinstance(self.drop_rate, bool) or not isinstance(self.drop_rate, (int, float)):
            raise TypeError(f"drop_rate must be a number, got {self.drop_rate!r}")
        if not 0.0 <= self.drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), got {self.drop_rate}")
        if not isinstance(self.grade_observation, bool):
            raise TypeError(f"grade_observation must be a bool, got {self.grade_observation!r}")

    def replace(self, **changes: object) -> NavigationRules:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_value(cls, value: NavigationRules | dict | None,
                   base: NavigationRules | None = None) -> NavigationRules:
        """Rules from an instance, a dict of field values (as in registration ``kwargs``) or None.

        Args:
            value: The rules, a dict of the fields to set, or None.
            base: The rules a dict or None starts from (default: the class defaults; each protocol gives
                its own, :attr:`virl_env.protocols.base.Protocol.base_rules`).

        Raises:
            TypeError: For another type or an unknown field name.
        """
        if value is None:
            return cls() if base is None else base
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            known = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(value) - known)
            if unknown:
                raise TypeError(f"unknown NavigationRules fields {unknown}; known: {sorted(known)}")
            return cls(**value) if base is None else base.replace(**value)
        raise TypeError(f"rules must be NavigationRules, a dict or None, got {type(value).__name__}")


PAPER_RULES = NavigationRules(max_attempts=2, on_exhausted="terminate", forward_points=5, drop_rate=0.5)
"""The authors' evaluation settings (``verify_iter 2``, the episode ends when a point's attempts run
out, ``straight_line_length 5``, ``drop_rate 0.5``): the base rules of ``protocol="paper"``
(:attr:`virl_env.protocols.paper.PaperProtocol.base_rules`)."""


def with_action_mode(rules: NavigationRules | dict | None, action_mode: str | None,
                     base: NavigationRules | None = None) -> NavigationRules:
    """``rules`` (as :meth:`NavigationRules.from_value` reads them) with the action mode an id fixes.

    The registered rule-OOD ids fix ``action_mode="relative"``; whatever else ``rules`` sets is kept,
    so ``gym.make("VIRL-RuleOOD-v0", rules={"max_attempts": 3})`` plays relative actions with three
    attempts. A dict that names another action mode, or a ``NavigationRules`` whose action mode is
    neither the default nor ``action_mode``, conflicts with the id and is refused.

    Raises:
        ValueError: On a conflicting action mode (or an unknown one). TypeError: As ``from_value``.

    ``base`` is the rules a dict or None starts from (see :meth:`NavigationRules.from_value`).
    """
    resolved = NavigationRules.from_value(rules, base)
    if action_mode is None:
        return resolved
    if action_mode not in ACTION_MODES:
        raise ValueError(f"action_mode must be one of {ACTION_MODES} or None, got {action_mode!r}")
    if isinstance(rules, dict):
        asked = rules.get("action_mode", action_mode)
    else:
        default = NavigationRules.action_mode
        asked = action_mode if resolved.action_mode == default else resolved.action_mode
    if asked != action_mode:
        raise ValueError(f"rules ask for action_mode={asked!r} but this environment plays "
                         f"action_mode={action_mode!r}; drop action_mode from the rules, or make "
                         f"another id (e.g. VIRL-v0) with the rules you want")
    return resolved.replace(action_mode=action_mode)
