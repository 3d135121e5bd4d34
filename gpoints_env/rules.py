"""The rules of one GeneralPoints game: card values, target, hand size, operators, dealing constraints.

A :class:`Rules` object is the single place every rule lives. The environment reads its active rules on each
``reset`` (after applying any rule-variant wrappers, see :mod:`gpoints_env.wrappers`); the dealer, the solver,
the checker and the prompt all take their parameters from it. When an episode ends is :func:`episode_over`, which
the environment and the episode specs (:mod:`gpoints_env.specs`) both ask.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sftrl_core.grading import Grade

__all__ = [
    "RANKS",
    "FACE_RANKS",
    "OPERATORS",
    "SUIT_COLOURS",
    "Rules",
    "ID_RULES",
    "RULE_OOD_RULES",
    "parse_rank",
    "MAX_ATTEMPTS",
    "check_max_attempts",
    "episode_over",
]

#: Rank labels in deck order. ``10`` is written with two characters, as on the cards.
RANKS: tuple[str, ...] = ("A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K")
FACE_RANKS: tuple[str, ...] = ("J", "Q", "K")
#: The binary operators a formula may use (parentheses are always allowed).
OPERATORS: str = "+-*/"
#: Which suits a colour setting deals from.
SUIT_COLOURS: dict[str, tuple[str, ...]] = {
    "any": ("spades", "hearts", "diamonds", "clubs"),
    "black": ("spades", "clubs"),
    "red": ("hearts", "diamonds"),
}

# Bounds that keep prompts, tables and arithmetic small whatever a variant asks for.
MAX_CARD_VALUE = 1000
MAX_ABS_TARGET = 1_000_000
MIN_HAND_SIZE, MAX_HAND_SIZE = 1, 5
#: Most answer attempts an episode may allow (the paper: 5).
MAX_ATTEMPTS = 1_000_000

_RANK_ALIASES = {"T": "10", "1": "A", "ACE": "A", "JACK": "J", "QUEEN": "Q", "KING": "K"}


def parse_rank(label: Any) -> str:
    """Return the canonical rank label (``A``, ``2``..``10``, ``J``, ``Q``, ``K``) for a user-given label.

    Accepts the labels themselves in any case, ``T`` for ten, ``1`` for ace, and integers 1..10.

    Raises:
        ValueError: if ``label`` names no rank.
    """
    if isinstance(label, bool) or not isinstance(label, (str, int)):
        raise ValueError(f"card label must be a string such as 'A', '7', '10' or 'K', got {label!r}")
    text = str(label).strip().upper()
    text = _RANK_ALIASES.get(text, text)
    if text not in RANKS:
        raise ValueError(f"unknown card rank {label!r}; expected one of {', '.join(RANKS)}")
    return text


@dataclass(frozen=True)
class Rules:
    """Everything that defines one GeneralPoints game.

    Attributes:
        face_values: values of J, Q and K (paper in-distribution: 10, 10, 10; rule OOD: 11, 12, 13).
        ace_value: value of an ace (paper: 1).
        target: the number the formula must reach (paper: 24).
        hand_size: number of cards dealt (paper: 4; 1 to 5). The first hand under a new rule set builds its
            solvability table: about 0.3 s for 4 cards, a few seconds for 5.
        operators: allowed binary operators, a subset of ``"+-*/"`` (parentheses are always allowed).
        suit_colour: suits the dealer uses: ``"any"``, ``"black"`` (spades, clubs) or ``"red"``.
        require_face_card: deal only hands holding at least one J, Q or K (paper rule OOD).
    """

    face_values: tuple[int, int, int] = (10, 10, 10)
    ace_value: int = 1
    target: int = 24
    hand_size: int = 4
    operators: str = OPERATORS
    suit_colour: str = "any"
    require_face_card: bool = False
    _rank_values: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        face = tuple(self.face_values)
        if len(face) != 3:
            raise ValueError(f"face_values must give 3 values (J, Q, K), got {self.face_values!r}")
        for name, value in (("J", face[0]), ("Q", face[1]), ("K", face[2]), ("ace_value", self.ace_value)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CARD_VALUE:
                raise ValueError(f"card value for {name} must be an integer in 0..{MAX_CARD_VALUE}, got {value!r}")
        if isinstance(self.target, bool) or not isinstance(self.target, int) or abs(self.target) > MAX_ABS_TARGET:
            raise ValueError(f"target must be an integer with |target| <= {MAX_ABS_TARGET}, got {self.target!r}")
        if (
            isinstance(self.hand_size, bool)
            or not isinstance(self.hand_size, int)
            or not MIN_HAND_SIZE <= self.hand_size <= MAX_HAND_SIZE
        ):
            raise ValueError(f"hand_size must be an integer in {MIN_HAND_SIZE}..{MAX_HAND_SIZE}, got {self.hand_size!r}")
        if (
            not isinstance(self.operators, str)
            or not self.operators
            or any(op not in OPERATORS for op in self.operators)
            or len(set(self.operators)) != len(self.operators)
        ):
            raise ValueError(f"operators must be distinct characters from {OPERATORS!r}, got {self.operators!r}")
        if self.suit_colour not in SUIT_COLOURS:
            raise ValueError(f"suit_colour must be one of {sorted(SUIT_COLOURS)}, got {self.suit_colour!r}")
        if not isinstance(self.require_face_card, bool):
            raise ValueError(f"require_face_card must be a bool, got {self.require_face_card!r}")
        # Canonical operator order so equal rule sets compare and hash equal.
        object.__setattr__(self, "operators", "".join(op for op in OPERATORS if op in self.operators))
        object.__setattr__(self, "face_values", face)
        object.__setattr__(self, "_rank_values", (self.ace_value, *range(2, 11), *face))

    @property
    def suits(self) -> tuple[str, ...]:
        """The suits cards are dealt from."""
        return SUIT_COLOURS[self.suit_colour]

    @property
    def rank_values(self) -> tuple[int, ...]:
        """Value of each rank, in :data:`RANKS` order."""
        return self._rank_values

    def value(self, rank: str) -> int:
        """Value of one rank label under these rules."""
        return self._rank_values[RANKS.index(rank)]

    def values(self, ranks: tuple[str, ...] | list[str]) -> list[int]:
        """Values of rank labels under these rules, in the same order."""
        return [self._rank_values[RANKS.index(rank)] for rank in ranks]

    def replace(self, **changes: Any) -> Rules:
        """A copy with some fields changed (validated like the constructor)."""
        return replace(self, **changes)


#: The paper's in-distribution rules: J/Q/K count 10, target 24, four cards.
ID_RULES = Rules()
#: The paper's rule out-of-distribution rules: J/Q/K count 11/12/13 and every hand holds a face card.
RULE_OOD_RULES = Rules(face_values=(11, 12, 13), require_face_card=True)


def check_max_attempts(value: Any) -> int:
    """``value`` if it is a valid attempt budget: an ``int`` (not a ``bool``) in ``1..MAX_ATTEMPTS``.

    Raises:
        ValueError: naming the value.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ATTEMPTS:
        shown = "a huge integer" if isinstance(value, int) and abs(value) > 10**9 else repr(value)
        raise ValueError(f"max_attempts must be a positive integer of at most {MAX_ATTEMPTS:,}, got {shown}")
    return value


def episode_over(grade: Grade, attempts_used: int, max_attempts: int) -> bool:
    """The end of an episode: after a correct answer, or once ``max_attempts`` answers have been graded.

    The single statement of the rule: :meth:`GeneralPointsEnv.step <gpoints_env.env.GeneralPointsEnv.step>` and
    :func:`gpoints_env.specs.advance` both call it (``terminated`` in Gymnasium's terms: a rule of the game).

    Args:
        grade: the grade of the answer just given.
        attempts_used: answers graded so far, this one included.
        max_attempts: the episode's attempt budget.
    """
    return grade.success or attempts_used >= max_attempts
