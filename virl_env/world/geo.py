"""Geographic conversion between (lat, lng) and local metres around an origin (x east, y north).

An equirectangular approximation: exact enough for street routes of a few kilometres, which is all
the released data holds (legs longer than 20 km are refused by the loader).
"""

from __future__ import annotations

import math

__all__ = ["EARTH_RADIUS", "to_geo", "to_local"]

EARTH_RADIUS = 6_371_008.8
"""Mean Earth radius in metres."""


def to_local(origin: tuple[float, float], geo: tuple[float, float]) -> tuple[float, float]:
    """``(x, y)`` metres of ``geo`` (lat, lng) from ``origin`` (lat, lng), x east and y north."""
    lat0 = math.radians(origin[0])
    return (EARTH_RADIUS * math.cos(lat0) * math.radians(geo[1] - origin[1]),
            EARTH_RADIUS * math.radians(geo[0] - origin[0]))


def to_geo(origin: tuple[float, float], xy: tuple[float, float]) -> tuple[float, float]:
    """Inverse of :func:`to_local`: ``(lat, lng)`` of the point ``xy`` metres from ``origin``."""
    lat0 = math.radians(origin[0])
    return (origin[0] + math.degrees(xy[1] / EARTH_RADIUS),
            origin[1] + math.degrees(xy[0] / (EARTH_RADIUS * max(math.cos(lat0), 1e-9))))
