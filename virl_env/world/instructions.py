"""Words for directions and the numbered instruction sentences of a route.

Angles are compass bearings in degrees, clockwise from north (x east, y north). All angle
differences are wrapped into ``[-180, 180)`` before they are turned into words, so a turn from
heading 350 to heading 10 is ``slightly right`` (+20) and from 40 to 358 is ``slightly left`` (-42).
The authors' implementation subtracted headings without wrapping (350 -> 10 became -340: "left").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "COMPASS_DIRECTIONS",
    "RELATIVE_DIRECTIONS",
    "SIDES",
    "bearing",
    "compass_index",
    "compass_name",
    "move_sentence",
    "number_sentences",
    "ordinal",
    "relative_turn",
    "side_name",
    "side_phrase",
    "turn_sentence",
    "wrap_angle",
]

COMPASS_DIRECTIONS: tuple[str, ...] = (
    "north", "northeast", "east", "southeast", "south", "southwest", "west", "northwest",
)
"""The eight compass headings, in bearing order (index * 45 degrees)."""

RELATIVE_DIRECTIONS: tuple[str, ...] = ("left", "right", "slightly left", "slightly right")
"""The relative turn words of the paper's rule variant."""

SIDES: tuple[str, ...] = (
    "front", "right front", "right", "right behind", "behind", "left behind", "left", "left front",
)
"""Eight sides of a landmark relative to a heading, clockwise from straight ahead (45-degree sectors)."""

SLIGHT_TURN_LIMIT = 45.0
"""Turns of at most this many degrees (either way) are 'slightly left/right' (paper's threshold)."""


def wrap_angle(degrees: float) -> float:
    """Wrap an angle difference into ``[-180, 180)``."""
    return (degrees + 180.0) % 360.0 - 180.0


def bearing(dx: float, dy: float) -> float:
    """Compass bearing in ``[0, 360)`` of the vector (dx east, dy north)."""
    return math.degrees(math.atan2(dx, dy)) % 360.0


def compass_index(heading: float) -> int:
    """Index in :data:`COMPASS_DIRECTIONS` of the nearest compass heading."""
    return int(math.floor((heading % 360.0) / 45.0 + 0.5)) % 8


def compass_name(heading: float) -> str:
    """Nearest of the eight compass words, e.g. ``compass_name(29) == "northeast"``."""
    return COMPASS_DIRECTIONS[compass_index(heading)]


def relative_turn(from_heading: float, to_heading: float) -> str:
    """Relative turn word from one heading to another, with wrap-around.

    ``d = wrap_angle(to - from)``; ``0 < d <= 45`` is slightly right, ``d > 45`` right,
    ``-45 <= d < 0`` slightly left, ``d < -45`` left. ``d == 0`` (no turn) counts as slightly right
    and ``d == -180`` (a U-turn) as left; routes avoid both.
    """
    d = wrap_angle(to_heading - from_heading)
    if d >= 0.0:
        return "slightly right" if d <= SLIGHT_TURN_LIMIT else "right"
    return "slightly left" if d >= -SLIGHT_TURN_LIMIT else "left"


def side_name(heading: float, bearing_to_target: float) -> str:
    """Side (one of :data:`SIDES`) on which a target at ``bearing_to_target`` lies for ``heading``."""
    d = wrap_angle(bearing_to_target - heading)
    return SIDES[int(math.floor(d / 45.0 + 0.5)) % 8]


def side_phrase(side: str) -> str:
    """How a side reads after "is": ``"on your right front"``, ``"in front of you"``, ``"behind you"``."""
    if side == "front":
        return "in front of you"
    if side == "behind":
        return "behind you"
    return f"on your {side}"


def ordinal(n: int) -> str:
    """``1 -> "1st"``, ``2 -> "2nd"``, ``11 -> "11th"``."""
    if 10 <= n % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def turn_sentence(first: bool, relative: str, compass: str) -> str:
    """``"First, turn left to face east."`` or ``"Turn right to face north."`` (paper's wording)."""
    return f"{'First, turn' if first else 'Turn'} {relative} to face {compass}."


def move_sentence(*, destination: str | None, destination_side: str | None,
                  landmark: str | None, landmark_side: str | None, crossings: int) -> str:
    """The 'move forward' sentence of a leg.

    Args:
        destination: Destination name if the leg ends at the destination.
        destination_side: Its side on arrival.
        landmark: Name of the landmark at the intersection that ends the leg (or None).
        landmark_side: Its side relative to the arrival heading.
        crossings: Intersections passed straight through before the one that ends the leg; the
            sentence then names the ordinal of the turning intersection so it is unambiguous.
    """
    if destination is not None:
        return f"Move forward until the destination {destination} is {side_phrase(destination_side or '')}."
    target = "the next intersection" if crossings == 0 else f"the {ordinal(crossings + 1)} intersection"
    if landmark is None:
        return f"Move forward until you reach {target}."
    return f"Move forward until you reach {target} where {landmark} is {side_phrase(landmark_side or '')}."


def number_sentences(sentences: Sequence[str]) -> str:
    """Join sentences as a numbered list, one per line."""
    return "\n".join(f"{i}. {s}" for i, s in enumerate(sentences, start=1))
