"""Routes (start landmark -> intersections -> destination landmark) and their ground-truth rails.

A :class:`Route` is planned on a :class:`~virl_env.world.city.City`: a start and a destination landmark,
a shortest street path between them (straightest among equal-length paths), legs split at the
intersections where the path turns, and the numbered instruction sentences. Route ``k`` of a city is
a pure function of ``(style, city seed, k)``, so ``reset(options={"route": k})`` replays it exactly.

A :class:`RailPoint` sequence ("the rail") is what the agent walks: the start, ``forward_points``
evenly spaced points on every stretch between key points, every intersection on the path (those
passed straight through and those where the route turns), and the destination. Each point carries
the observation text and what the expert does there. Interpolated points can be dropped at random
with :func:`drop_points` (using the environment's generator). This is the suite's rail; the paper authors'
(milestones only where the route turns, their interpolation) is :func:`virl_env.protocols.paper.build_paper_rail`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from virl_env.world.city import VIEW_RADIUS, City, get_city, style_key
from virl_env.world.instructions import (
    bearing,
    compass_name,
    move_sentence,
    number_sentences,
    SIDES,
    relative_turn,
    side_name,
    side_phrase,
    turn_sentence,
    wrap_angle,
)
from virl_env.world.styles import CityStyle

__all__ = [
    "MAX_LEGS",
    "MAX_ROUTE_LENGTH",
    "MIN_ROUTE_LENGTH",
    "Rail",
    "Leg",
    "RailPoint",
    "Route",
    "build_rail",
    "drop_points",
    "get_rail",
    "get_route",
    "landmarks_in_view",
    "make_rail",
    "observation_text",
    "plan_route",
    "stretch_edges",
]

MIN_ROUTE_LENGTH = 100.0
MAX_ROUTE_LENGTH = 800.0
MAX_LEGS = 4
MAX_PATH_NODES = 24
STRAIGHT_LIMIT = 30.0
"""A path bending by less than this at an intersection goes straight on (no turn instruction)."""
MIN_POINT_SPACING = 10.0
"""Interpolated points are never closer than this to a key point."""
MAX_FORWARD_POINTS = 8
VIEW_LIMIT = 3
"""At most this many landmarks (the nearest) are named in an observation."""
_SIDE_PHRASES = {side: side_phrase(side) for side in SIDES}
MAX_ROUTE_ATTEMPTS = 200
_ROUTE_STREAM = 1  # separates route seeds from city seeds in the SeedSequence


@dataclass(frozen=True)
class Leg:
    """One straight-ahead part of a route, begun by a turn.

    Attributes:
        heading: Bearing (degrees) the agent turns to at the leg's start.
        compass: That heading as a compass word.
        relative: The turn as a relative word (from the heading the agent faced before).
        turned_from: The heading faced before the turn.
        crossings: Intersections passed straight through before the leg ends.
        landmark: Landmark named where the leg ends (intersection landmark or destination).
        landmark_side: Its side relative to the arrival heading.
    """

    heading: float
    compass: str
    relative: str
    turned_from: float
    crossings: int
    landmark: str | None
    landmark_side: str | None


@dataclass(frozen=True)
class Route:
    """A planned route with its instruction.

    Attributes:
        index: Route number in its city's route set.
        style: Style name of the city.
        city_seed: Seed of the city.
        start, destination: Landmark indices.
        initial_heading: Heading the agent faces at the start (integer degrees).
        nodes: Intersections on the path, in order.
        points: ``(x, y)`` key points: start, each node, destination.
        kinds: Kind of each key point: ``start``, ``crossing`` (straight on), ``turn``, ``destination``.
        legs: The legs (1 to :data:`MAX_LEGS`).
        length: Path length in metres.
        sentences: The instruction sentences (turn and move for each leg).
    """

    index: int
    style: str
    city_seed: int
    start: int
    destination: int
    initial_heading: float
    nodes: tuple[int, ...]
    points: tuple[tuple[float, float], ...]
    kinds: tuple[str, ...]
    legs: tuple[Leg, ...]
    length: float
    sentences: tuple[str, ...]

    @property
    def instruction(self) -> str:
        """The numbered instruction text."""
        return number_sentences(self.sentences)


@dataclass(frozen=True)
class RailPoint:
    """A point of the ground-truth rail.

    Attributes:
        position: ``(x, y)``.
        heading: Heading the agent faces while observing here.
        kind: ``start``, ``forward`` (interpolated), ``crossing``, ``turn`` or ``destination``.
        observation: Observation text, e.g. ``"Cafe Flore is on your left; You observe an intersection"``.
        landmarks: Names of the landmarks in view (nearest first).
        at_intersection: Whether the point is an intersection.
        sentence: 0-based index of the instruction sentence being executed here.
        turn_to: Heading the expert turns to here (start and turn points), else None.
        turn_relative: That turn as a relative word, else None.
    """

    position: tuple[float, float]
    heading: float
    kind: str
    observation: str
    landmarks: tuple[str, ...]
    at_intersection: bool
    sentence: int
    turn_to: float | None
    turn_relative: str | None


# ---- planning ---------------------------------------------------------------------------------
@lru_cache(maxsize=16)
def _landmark_arrays(city: City) -> tuple[np.ndarray, ...]:
    edges = city.edges
    e = np.asarray([lm.edge for lm in city.landmarks], dtype=np.int64)
    off = np.asarray([lm.offset for lm in city.landmarks], dtype=float)
    length = city.edge_length[e]
    return e, edges[e, 0], edges[e, 1], off, length


def _distances_from(city: City, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Street distance from landmark ``s`` to every landmark, with the exit and entry nodes used.

    Exit/entry are -1 for the direct walk along a shared street segment.
    """
    e, u, v, off, length = _landmark_arrays(city)
    D = city.distances
    a, b = int(u[s]), int(v[s])
    to_a, to_b = float(off[s]), float(length[s] - off[s])
    back = length - off
    # Rows: (exit a, entry u), (exit a, entry v), (exit b, entry u), (exit b, entry v), direct.
    totals = np.empty((5, len(e)))
    totals[0] = D[a, u] + off + to_a
    totals[1] = D[a, v] + back + to_a
    totals[2] = D[b, u] + off + to_b
    totals[3] = D[b, v] + back + to_b
    totals[4] = np.where(e == e[s], np.abs(off - off[s]), np.inf)
    best = totals.argmin(axis=0)
    exit_nodes = np.array([a, a, b, b, -1])[best]
    entry_nodes = np.stack([u, v, u, v, np.full_like(u, -1)])[best, np.arange(len(e))]
    return totals[best, np.arange(len(e))], exit_nodes, entry_nodes


def _path_nodes(city: City, x: int, y: int, heading: float) -> list[int]:
    path = [x]
    node, h = x, heading
    while node != y:
        node, h = city._next_on_shortest(node, y, h)
        path.append(node)
    return path


def _turn_landmark(city: City, node: int, arrival: float, exclude: set[int]) -> tuple[str | None, str | None]:
    p = city.node_points[node]
    for i in city.landmarks_within(p, VIEW_RADIUS):
        if i not in exclude:
            lm = city.landmarks[i]
            return lm.name, city.side_of(p, arrival, lm.position)
    return None, None


def _build_route(city: City, index: int, s: int, d: int, exit_node: int, entry_node: int,
                 length: float, rng: np.random.Generator) -> Route | None:
    """Assemble a route; None if it breaks a rule (too many legs, ambiguous forward or turn)."""
    start_lm, dest_lm = city.landmarks[s], city.landmarks[d]
    start_pt, dest_pt = start_lm.street_point, dest_lm.street_point
    if exit_node < 0:
        nodes: list[int] = []
    else:
        ex, ey = city.node_points[exit_node]
        first = bearing(ex - start_pt[0], ey - start_pt[1])
        nodes = _path_nodes(city, exit_node, entry_node, first)
    if len(nodes) > MAX_PATH_NODES:
        return None
    node_pts = city.node_points
    points = [start_pt] + [node_pts[n] for n in nodes] + [dest_pt]
    seg = [bearing(q[0] - p[0], q[1] - p[1]) for p, q in zip(points[:-1], points[1:])]
    kinds = ["start"]
    for i, n in enumerate(nodes):
        arrival, departure = seg[i], seg[i + 1]
        others = [b for _nb, _e, b, _len in city.node_streets[n]]
        back = (arrival + 180.0) % 360.0
        others = [b for b in others if abs(wrap_angle(b - back)) > 1.0 and abs(wrap_angle(b - departure)) > 1.0]
        if abs(wrap_angle(departure - arrival)) < STRAIGHT_LIMIT:
            # Going straight on must be unambiguous: no other street nearly straight ahead.
            if any(abs(wrap_angle(b - arrival)) < 45.0 for b in others):
                return None
            kinds.append("crossing")
        else:
            # The turn must change the compass word and name a street no other street shares.
            if compass_name(arrival) == compass_name(departure):
                return None
            if any(compass_name(b) == compass_name(departure) for b in others):
                return None
            kinds.append("turn")
    kinds.append("destination")
    n_legs = 1 + kinds.count("turn")
    if n_legs > MAX_LEGS:
        return None
    # Initial heading: a random integer bearing at least 15 degrees away from the first leg's.
    initial = float(int(round(seg[0] + rng.uniform(15.0, 345.0))) % 360)
    if abs(wrap_angle(seg[0] - initial)) < 15.0:
        return None
    legs: list[Leg] = []
    sentences: list[str] = []
    heading_before = initial
    crossings = 0
    exclude = {d}
    for i in range(1, len(points)):
        if kinds[i] == "crossing":
            crossings += 1
            continue
        leg_heading = seg[_leg_start(kinds, i)]
        arrival = seg[i - 1]
        if kinds[i] == "destination":
            name, side = dest_lm.name, city.side_of(dest_pt, arrival, dest_lm.position)
        else:
            name, side = _turn_landmark(city, nodes[i - 1], arrival, exclude)
        leg = Leg(heading=leg_heading, compass=compass_name(leg_heading),
                  relative=relative_turn(heading_before, leg_heading), turned_from=heading_before,
                  crossings=crossings, landmark=name, landmark_side=side)
        legs.append(leg)
        sentences.append(turn_sentence(len(legs) == 1, leg.relative, leg.compass))
        sentences.append(move_sentence(
            destination=name if kinds[i] == "destination" else None,
            destination_side=side if kinds[i] == "destination" else None,
            landmark=None if kinds[i] == "destination" else name,
            landmark_side=None if kinds[i] == "destination" else side,
            crossings=crossings))
        heading_before = arrival
        crossings = 0
    return Route(index=index, style=city.style.name, city_seed=city.seed, start=s, destination=d,
                 initial_heading=initial, nodes=tuple(nodes), points=tuple(points),
                 kinds=tuple(kinds), legs=tuple(legs), length=float(length),
                 sentences=tuple(sentences))


def _leg_start(kinds: list[str], i: int) -> int:
    """Index of the segment that starts the leg ending at key point ``i``."""
    j = i - 1
    while j > 0 and kinds[j] == "crossing":
        j -= 1
    return j


def plan_route(city: City, index: int) -> Route:
    """Route ``index`` of ``city``: deterministic in ``(style, city seed, index)``.

    Draws a start landmark, then a destination whose street distance is within
    ``[MIN_ROUTE_LENGTH, MAX_ROUTE_LENGTH]``, builds the route, and retries (bounded) if it has more
    than :data:`MAX_LEGS` legs or an ambiguous step.

    Raises:
        ValueError: For a negative index.
        RuntimeError: If no valid route was found within the attempt bound.
    """
    if index < 0:
        raise ValueError(f"route index must be non-negative, got {index}")
    if len(city.landmarks) < 2:
        raise RuntimeError(f"city {city.style.name!r} seed {city.seed} has fewer than two landmarks")
    rng = np.random.default_rng([city.seed, style_key(city.style), _ROUTE_STREAM, index])
    for _ in range(MAX_ROUTE_ATTEMPTS):
        s = int(rng.integers(len(city.landmarks)))
        dist, exit_nodes, entry_nodes = _distances_from(city, s)
        ok = np.flatnonzero((dist >= MIN_ROUTE_LENGTH) & (dist <= MAX_ROUTE_LENGTH))
        if len(ok) == 0:
            continue
        d = int(ok[rng.integers(len(ok))])
        route = _build_route(city, index, s, d, int(exit_nodes[d]), int(entry_nodes[d]),
                             float(dist[d]), rng)
        if route is not None:
            return route
    raise RuntimeError(f"no valid route {index} in {city.style.name!r} city seed {city.seed} "
                       f"after {MAX_ROUTE_ATTEMPTS} attempts")


@lru_cache(maxsize=4096)
def _cached_route(style: CityStyle, seed: int, index: int) -> Route:
    return plan_route(get_city(style, seed), index)


def get_route(city: City, index: int) -> Route:
    """:func:`plan_route` through a per-process cache."""
    return _cached_route(city.style, city.seed, int(index))


# ---- rail -------------------------------------------------------------------------------------
def observation_text(city: City, position: tuple[float, float], heading: float,
                     at_intersection: bool) -> tuple[str, tuple[str, ...]]:
    """Observation at a point: landmarks in view with their sides, and the intersection flag.

    Returns:
        The text (e.g. ``"Hotel Astor is on your right behind; You observe an intersection"`` or
        ``"No landmarks nearby"``) and the visible landmark names, nearest first.
    """
    seen = city.visible_landmarks(position, heading, VIEW_RADIUS, VIEW_LIMIT)
    parts = [f"{lm.name} is {side_phrase(side)}" for lm, side in seen] or ["No landmarks nearby"]
    if at_intersection:
        parts.append("You observe an intersection")
    return "; ".join(parts), tuple(lm.name for lm, _ in seen)


_SkeletonPoint = tuple  # (position, heading, kind, sentence, turn_to, turn_relative, edge)


def stretch_edges(city: City, route: Route) -> list[int]:
    """The street segment under each stretch between key points (every rail point lies on one)."""
    landmarks = city.landmarks
    edges = [landmarks[route.start].edge]
    for a, b in zip(route.nodes, route.nodes[1:]):
        edges.append(city.edge_index[(a, b)])
    if route.nodes:
        edges.append(landmarks[route.destination].edge)
    return edges


def _skeleton(city: City, route: Route, forward_points: int) -> tuple[_SkeletonPoint, ...]:
    """Rail geometry and actions without observations (cheap)."""
    if isinstance(forward_points, bool) or not isinstance(forward_points, int):
        raise TypeError(f"forward_points must be an int, got {forward_points!r}")
    if not 0 <= forward_points <= MAX_FORWARD_POINTS:
        raise ValueError(f"forward_points must be in [0, {MAX_FORWARD_POINTS}], got {forward_points}")
    pts = route.points
    seg = [bearing(q[0] - p[0], q[1] - p[1]) for p, q in zip(pts[:-1], pts[1:])]
    edges = stretch_edges(city, route)
    first = route.legs[0]
    out: list[_SkeletonPoint] = [(pts[0], route.initial_heading, "start", 0, first.heading, first.relative,
                                  edges[0])]
    leg = 0  # turn sentences are even (2 * leg), move sentences odd (2 * leg + 1)
    for i in range(1, len(pts)):
        edge = edges[i - 1]
        (px, py), (qx, qy) = pts[i - 1], pts[i]
        length = math.hypot(qx - px, qy - py)
        count = min(forward_points, max(int(length // MIN_POINT_SPACING) - 1, 0))
        for k in range(1, count + 1):
            f = k / (count + 1)
            out.append(((px + (qx - px) * f, py + (qy - py) * f), seg[i - 1], "forward", 2 * leg + 1,
                        None, None, edge))
        kind = route.kinds[i]
        if kind == "turn":
            leg += 1
            nxt = route.legs[leg]
            out.append((pts[i], seg[i - 1], "turn", 2 * leg, nxt.heading, nxt.relative, edge))
        else:
            out.append((pts[i], seg[i - 1], kind, 2 * leg + 1, None, None, edge))
    return tuple(out)


def landmarks_in_view(city: City, position: tuple[float, float], heading: float,
                       edge: int) -> tuple[list[str], list[str]]:
    """``"<name> is <side>"`` phrases and names of the (at most :data:`VIEW_LIMIT`) nearest landmarks
    within :data:`VIEW_RADIUS` of a point on segment ``edge``."""
    px, py = position
    r2 = VIEW_RADIUS * VIEW_RADIUS
    found = []
    # Any point on a segment sees only that segment's candidate landmarks (a dozen, not the city).
    for i, x, y in city.edge_landmarks[edge]:
        d2 = (x - px) ** 2 + (y - py) ** 2
        if d2 <= r2:
            found.append((d2, i))
    found.sort()
    parts, names = [], []
    for _, i in found[:VIEW_LIMIT]:
        lm = city.landmarks[i]
        lx, ly = lm.position
        parts.append(f"{lm.name} is {_SIDE_PHRASES[side_name(heading, bearing(lx - px, ly - py))]}")
        names.append(lm.name)
    return parts, names


def _materialize(city: City, entry: _SkeletonPoint) -> RailPoint:
    position, heading, kind, sentence, turn_to, turn_relative, edge = entry
    at_node = kind in ("crossing", "turn")
    parts, names = landmarks_in_view(city, position, heading, edge)
    if not parts:
        parts.append("No landmarks nearby")
    if at_node:
        parts.append("You observe an intersection")
    return RailPoint(position=position, heading=heading, kind=kind, observation="; ".join(parts),
                     landmarks=tuple(names), at_intersection=at_node, sentence=sentence,
                     turn_to=turn_to, turn_relative=turn_relative)


class Rail(Sequence[RailPoint]):
    """A rail whose points are built on first access (geometry and actions are known up front;
    the observation text of a point is computed when the point is first read, then memoised).

    Behaves as a read-only sequence of :class:`RailPoint`. Rails that differ only by dropped
    points share their memo, so a cached route's observations are computed once per process.
    """

    __slots__ = ("_city", "_entries", "_memo")

    def __init__(self, city: City, entries: tuple[_SkeletonPoint, ...],
                 memo: dict[_SkeletonPoint, RailPoint] | None = None) -> None:
        self._city = city
        self._entries = entries
        self._memo = {} if memo is None else memo

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        entry = self._entries[index]
        point = self._memo.get(entry)
        if point is None:
            point = self._memo[entry] = _materialize(self._city, entry)
        return point

    @property
    def kinds(self) -> tuple[str, ...]:
        """Kind of every point, without building the points."""
        return tuple(e[2] for e in self._entries)

    def drop(self, drop_rate: float, rng: np.random.Generator) -> Rail:
        """Like :func:`drop_points`: drop each ``forward`` point with probability ``drop_rate``."""
        if drop_rate <= 0.0:
            return self
        draws = rng.random(len(self._entries))
        kept = tuple(e for e, u in zip(self._entries, draws) if e[2] != "forward" or u >= drop_rate)
        return Rail(self._city, kept, self._memo)


def make_rail(city: City, route: Route, forward_points: int) -> Rail:
    """The lazily built rail of ``route`` (see :class:`Rail`)."""
    return Rail(city, _skeleton(city, route, forward_points))


def build_rail(city: City, route: Route, forward_points: int) -> tuple[RailPoint, ...]:
    """The full rail of ``route`` with ``forward_points`` interpolated points per stretch.

    Raises:
        ValueError: If ``forward_points`` is outside ``[0, MAX_FORWARD_POINTS]``.
    """
    return tuple(make_rail(city, route, forward_points))


@lru_cache(maxsize=4096)
def _cached_rail(style: CityStyle, seed: int, index: int, forward_points: int) -> Rail:
    city = get_city(style, seed)
    return make_rail(city, _cached_route(style, seed, index), forward_points)


def get_rail(city: City, route: Route, forward_points: int) -> Rail:
    """:func:`make_rail` through a per-process cache (points are shared and memoised)."""
    if route.style != city.style.name or route.city_seed != city.seed:
        return make_rail(city, route, forward_points)
    return _cached_rail(city.style, city.seed, route.index, int(forward_points))


def drop_points(rail: tuple[RailPoint, ...], drop_rate: float, rng: np.random.Generator) -> tuple[RailPoint, ...]:
    """Drop each interpolated (``forward``) point with probability ``drop_rate``; keep key points."""
    if drop_rate <= 0.0:
        return rail
    draws = rng.random(len(rail))
    return tuple(p for p, u in zip(rail, draws) if p.kind != "forward" or u >= drop_rate)
