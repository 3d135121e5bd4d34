"""The reward per verdict, shared by both games.

A game subclasses :class:`RewardTable` with one ``float`` field per verdict (named as the verdict's value) and
names its schemes in ``SCHEMES``; :meth:`RewardTable.resolve` then turns what a user passes (a scheme name, a
table, or a mapping of field overrides on the default table) into a table:

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Rewards(RewardTable):
...     correct: float = 1.0
...     wrong: float = -1.0
>>> Rewards.SCHEMES = {"paper": Rewards(), "binary": Rewards(correct=1.0, wrong=0.0)}
>>> Rewards.resolve("binary")["wrong"], Rewards.resolve({"wrong": -2}).reward("wrong")
(0.0, -2.0)
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, Mapping

__all__ = ["RewardTable"]


def _field_name(verdict: Any) -> Any:
    return verdict.value if isinstance(verdict, Enum) else verdict


@functools.cache
def _field_names(table_type: type) -> frozenset[str]:
    # Cached: a reward is looked up on every graded step, and dataclasses.fields() rebuilds its tuple each call.
    return frozenset(f.name for f in dataclasses.fields(table_type))


@dataclass(frozen=True)
class RewardTable:
    """Base of the games' reward tables: one ``float`` field per verdict, each a finite number.

    ``table[verdict]`` and ``table.reward(verdict)`` both give the reward for a verdict (a member of the
    game's verdict enum, or its value). Values are stored as ``float``.

    Raises:
        TypeError: a field is not a real number.
        ValueError: a field is not finite.
    """

    #: Named tables of the game (``"paper"``, ``"binary"``...), set by each subclass after its definition.
    SCHEMES: ClassVar[Mapping[str, RewardTable]] = {}

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"reward {f.name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"reward {f.name} must be a finite number, got {value!r}")
            object.__setattr__(self, f.name, float(value))

    def reward(self, verdict: Any) -> float:
        """The reward for ``verdict``.

        Raises:
            ValueError: ``verdict`` is not a verdict of this table.
        """
        name = _field_name(verdict)
        names = _field_names(type(self))
        if not isinstance(name, str) or name not in names:
            raise ValueError(f"{verdict!r} is not a verdict of {type(self).__name__}; known: {sorted(names)}")
        return getattr(self, name)

    __getitem__ = reward

    def to_dict(self) -> dict[str, float]:
        """The table as ``{verdict value: reward}``, e.g. for logging."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def resolve(cls, spec: str | RewardTable | Mapping[Any, float]) -> RewardTable:
        """A table from a scheme name in ``SCHEMES``, a table of this class, or a mapping of field overrides on
        the default table (e.g. ``{"illegal_formula": -1}``; keys may be verdicts).

        Raises:
            ValueError: an unknown scheme name or field, or a value that is not finite.
            TypeError: a value that is not a number, or a ``spec`` of another type.
        """
        if isinstance(spec, cls):
            return spec
        if isinstance(spec, str):
            if spec not in cls.SCHEMES:
                raise ValueError(f"unknown reward scheme {spec!r}; choose one of {sorted(cls.SCHEMES)} "
                                 f"or a {cls.__name__}")
            return cls.SCHEMES[spec]
        if isinstance(spec, Mapping):
            overrides = {_field_name(k): v for k, v in spec.items()}
            unknown = set(overrides) - _field_names(cls)
            if unknown:
                raise ValueError(f"unknown reward fields {sorted(map(str, unknown))}; known: {sorted(_field_names(cls))}")
            return dataclasses.replace(cls(), **overrides)
        raise TypeError(f"rewards must be a scheme name, a {cls.__name__} or a mapping, got {type(spec).__name__}")
