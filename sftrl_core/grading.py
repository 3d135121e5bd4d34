"""The verdict and grade of one reply, shared by both games.

Each game declares its verdicts as members of a :class:`VerdictEnum` subclass, and its result type as a
subclass of :class:`Grade` that adds what the game knows (the formula, the action...):

>>> class Verdict(VerdictEnum):
...     CORRECT = "correct"
...     WRONG = "wrong"
>>> Verdict.CORRECT == "correct", str(Verdict.WRONG), f"{Verdict.WRONG}"
(True, 'wrong', 'wrong')
>>> Grade(Verdict.CORRECT, 1.0, "Correct.").success
True
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["VerdictEnum", "Grade", "CORRECT"]

#: The value of the success verdict; every game names its success verdict so.
CORRECT = "correct"


class VerdictEnum(str, Enum):
    """Base of the games' verdict enums: a ``str`` equal to its value, so it serialises to JSON as the value
    and compares equal to it (``Verdict.CORRECT == "correct"``). Subclasses declare the members."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, format_spec: str) -> str:
        return format(self.value, format_spec)

    @property
    def is_success(self) -> bool:
        """Whether this is the success verdict (value ``"correct"``)."""
        return self.value == CORRECT


@dataclass(frozen=True)
class Grade:
    """The grade of one reply: its verdict, the reward the verdict earns, and feedback a model can act on.

    Attributes:
        verdict: the game's verdict (a :class:`VerdictEnum` member).
        reward: the reward from the game's reward table.
        feedback: what was right or wrong, in words a model can act on.
    """

    verdict: VerdictEnum
    reward: float
    feedback: str

    @property
    def success(self) -> bool:
        """Whether the reply was correct."""
        return self.verdict == CORRECT

    @property
    def message(self) -> str:
        """Alias of :attr:`feedback` (V-IRL's earlier name)."""
        return self.feedback
