"""The rules of the navigation task and the reward table, each in one small frozen object.

:class:`NavigationRules` is what a rule-variant wrapper transforms (see :mod:`virl_env.wrappers`);
the environment reads only its *active* rules, computed at every reset. :class:`RewardTable` holds
the reward of each verdict; ``"paper"`` is the paper's table, ``"binary"`` a 1/0 table for GRPO-style
trainers.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "ACTION_MODES",
    "ON_EXHAUSTED",
    "REWARD_TABLES",
    "NavigationRules",
    "RewardTable",
    "Verdict",
    "get_reward_table",
]

ACTION_MODES: tuple[str, ...] = ("absolute", "relative", "bearing")
"""``absolute``: turn to a compass word (paper, in distribution). ``relative``: left, right,
slightly left, slightly right (paper's rule OOD). ``bearing``: a compass bearing in degrees."""

ON_EXHAUSTED: tuple[str, ...] = ("advance", "terminate")
"""What happens when the attempts at a point run out: move the agent on, or end the episode."""


class Verdict(str, Enum):
    """Verdict on one reply (a ``str`` so ``info["verdict"]`` is plain JSON)."""

    CORRECT = "correct"
    """The action is the expected one."""
    WRONG_ACTION = "wrong_action"
    """A valid action of the action space, but not the expected one."""
    WRONG_OBSERVATION = "wrong_observation"
    """A wrong action whose reply also reported the surroundings wrongly (see the checker)."""
    INVALID = "invalid"
    """No action could be read, it was ambiguous, or it is outside the active action space."""


@dataclass(frozen=True)
class RewardTable:
    """Reward for each verdict (named constants in one place)."""

    correct: float = 1.0
    wrong_action: float = -1.0
    wrong_observation: float = -1.5
    invalid: float = -1.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise TypeError(f"reward {f.name} must be a finite number, got {value!r}")

    def reward(self, verdict: Verdict) -> float:
        """Reward for ``verdict``."""
        return float(getattr(self, Verdict(verdict).value))


REWARD_TABLES: dict[str, RewardTable] = {
    "paper": RewardTable(),
    "binary": RewardTable(correct=1.0, wrong_action=0.0, wrong_observation=0.0, invalid=0.0),
}
"""Named reward tables: ``paper`` (+1 correct, -1 wrong action, -1.5 wrong observation, -1
invalid) and ``binary`` (1 correct, else 0)."""


def get_reward_table(rewards: str | RewardTable) -> RewardTable:
    """Return a reward table from a name in :data:`REWARD_TABLES` or a table.

    Raises:
        ValueError: Unknown name. TypeError: Neither a name nor a table.
    """
    if isinstance(rewards, RewardTable):
        return rewards
    if not isinstance(rewards, str):
        raise TypeError(f"rewards must be a name or a RewardTable, got {type(rewards).__name__}")
    try:
        return REWARD_TABLES[rewards]
    except KeyError:
        raise ValueError(f"unknown reward table {rewards!r}; known: {sorted(REWARD_TABLES)}") from None


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
    def from_value(cls, value: NavigationRules | dict | None) -> NavigationRules:
        """Rules from an instance, a dict of field values (as in registration ``kwargs``) or None.

        Raises:
            TypeError: For another type or an unknown field name.
        """
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            known = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(value) - known)
            if unknown:
                raise TypeError(f"unknown NavigationRules fields {unknown}; known: {sorted(known)}")
            return cls(**value)
        raise TypeError(f"rules must be NavigationRules, a dict or None, got {type(value).__name__}")
