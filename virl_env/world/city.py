"""The city model: streets, intersections and landmarks in a local metric frame, and its generator.

Coordinates are metres, x east, y north. A :class:`City` is a planar street graph whose nodes are
intersections (three or more streets) or dead ends (one street), whose segments are straight shapely
``LineString`` objects, and whose named landmarks stand beside the streets at a fixed setback.

:func:`generate_city` is deterministic in ``(style, seed)``: every random draw comes from
``numpy.random.default_rng([seed, style_key, attempt])`` (never Python's ``hash``), so a city is the
same in every process. It generates, then verifies (planar, connected, no two-street nodes, no short
blocks, no near-parallel streets at a node) and retries a bounded number of times.
:func:`get_city` caches recent cities so that environment resets never regenerate one.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np
import shapely

from virl_env.world.instructions import bearing, side_name, wrap_angle
from virl_env.world.layouts import StreetNetwork, build_network
from virl_env.world.styles import STYLE_NAMES, CityStyle, get_style

__all__ = [
    "City",
    "Landmark",
    "LANDMARK_MARGIN",
    "MIN_BLOCK_LENGTH",
    "MIN_STREET_ANGLE",
    "VIEW_RADIUS",
    "generate_city",
    "get_city",
    "style_key",
]

VIEW_RADIUS = 30.0
"""Metres within which a landmark is observed (and may name an intersection)."""

LANDMARK_MARGIN = 15.0
"""Landmarks stand at least this far along a street from either end node."""

MIN_BLOCK_LENGTH = 45.0
"""Shortest allowed street segment between two intersections, in metres."""

MIN_STREET_ANGLE = 30.0
"""Smallest allowed angle between two streets leaving the same node, in degrees."""

LANDMARK_SLOT = 25.0
"""Spacing in metres between candidate landmark positions along a street."""

MAX_GENERATION_ATTEMPTS = 25
_GRID_CELL = 30.0  # metres; spatial hash cell for landmark queries


@dataclass(frozen=True)
class Landmark:
    """A named place beside a street.

    Attributes:
        index: Position in :attr:`City.landmarks`.
        name: Unique name in the city (ASCII).
        kind: What it is (``"cafe"``, ``"bank"``...).
        position: Where it stands ``(x, y)``.
        street_point: The point on its street in front of it.
        edge: Index of its street segment.
        offset: Metres from the segment's first node to ``street_point``.
        side: ``"left"`` or ``"right"`` of the segment's direction (first node to second).
    """

    index: int
    name: str
    kind: str
    position: tuple[float, float]
    street_point: tuple[float, float]
    edge: int
    offset: float
    side: str


@dataclass(frozen=True, eq=False)
class City:
    """A generated city. Treat as immutable (arrays are read-only).

    Attributes:
        style: The :class:`~virl_env.world.styles.CityStyle` it was generated in.
        seed: The seed it was generated from.
        node_xy: ``(N, 2)`` node positions.
        edges: ``(E, 2)`` node pairs of the straight street segments.
        edge_names: Street name of each segment.
        edge_is_stub: True for dead-end stubs at the city's edge.
        landmarks: The landmarks, unique names.
        distances: ``(N, N)`` shortest street distances between nodes.
    """

    style: CityStyle
    seed: int
    node_xy: np.ndarray
    edges: np.ndarray
    edge_names: tuple[str, ...]
    edge_is_stub: tuple[bool, ...]
    landmarks: tuple[Landmark, ...]
    distances: np.ndarray = field(repr=False)

    # ---- derived data -------------------------------------------------------------------
    @cached_property
    def edge_length(self) -> np.ndarray:
        """Length in metres of each segment."""
        d = self.node_xy[self.edges[:, 1]] - self.node_xy[self.edges[:, 0]]
        return np.hypot(d[:, 0], d[:, 1])

    @cached_property
    def node_degree(self) -> np.ndarray:
        """Number of street segments at each node."""
        return np.bincount(self.edges.ravel(), minlength=len(self.node_xy))

    @cached_property
    def neighbors(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        """For each node, ``(neighbour node, segment index)`` pairs."""
        out: list[list[tuple[int, int]]] = [[] for _ in range(len(self.node_xy))]
        for e, (a, b) in enumerate(self.edges.tolist()):
            out[a].append((b, e))
            out[b].append((a, e))
        return tuple(tuple(x) for x in out)

    @cached_property
    def edge_index(self) -> dict[tuple[int, int], int]:
        """Segment index by node pair (both orders)."""
        out: dict[tuple[int, int], int] = {}
        for e, (a, b) in enumerate(self.edges.tolist()):
            out[(a, b)] = e
            out[(b, a)] = e
        return out

    @cached_property
    def intersections(self) -> np.ndarray:
        """Indices of nodes where three or more streets meet."""
        return np.flatnonzero(self.node_degree >= 3)

    @cached_property
    def landmark_xy(self) -> np.ndarray:
        """``(L, 2)`` landmark positions."""
        return np.asarray([lm.position for lm in self.landmarks], dtype=float).reshape(-1, 2)

    @cached_property
    def landmark_by_name(self) -> dict[str, Landmark]:
        """Landmarks by name."""
        return {lm.name: lm for lm in self.landmarks}

    @cached_property
    def edge_lines(self) -> tuple[shapely.LineString, ...]:
        """Each segment as a shapely ``LineString``."""
        return tuple(shapely.linestrings(np.stack([self.node_xy[self.edges[:, 0]],
                                                    self.node_xy[self.edges[:, 1]]], axis=1)))

    @cached_property
    def street_network(self) -> shapely.MultiLineString:
        """All streets as one ``MultiLineString``."""
        return shapely.MultiLineString(list(self.edge_lines))

    @cached_property
    def street_tree(self) -> shapely.STRtree:
        """Spatial index over :attr:`edge_lines`."""
        return shapely.STRtree(list(self.edge_lines))

    @cached_property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(min_x, min_y, max_x, max_y)`` of streets and landmarks."""
        pts = np.concatenate([self.node_xy, self.landmark_xy]) if self.landmarks else self.node_xy
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])

    @cached_property
    def node_points(self) -> tuple[tuple[float, float], ...]:
        """Node positions as Python tuples (fast scalar access)."""
        return tuple((float(x), float(y)) for x, y in self.node_xy.tolist())

    @cached_property
    def node_streets(self) -> tuple[tuple[tuple[int, int, float, float], ...], ...]:
        """For each node, ``(neighbour, segment, bearing, length)`` of every street leaving it."""
        pts = self.node_points
        out = []
        for node, nbs in enumerate(self.neighbors):
            x, y = pts[node]
            out.append(tuple((nb, e, bearing(pts[nb][0] - x, pts[nb][1] - y), float(self.edge_length[e]))
                             for nb, e in nbs))
        return tuple(out)

    @cached_property
    def _landmark_grid(self) -> dict[tuple[int, int], list[tuple[int, float, float]]]:
        grid: dict[tuple[int, int], list[tuple[int, float, float]]] = {}
        for lm in self.landmarks:
            x, y = lm.position
            grid.setdefault((math.floor(x / _GRID_CELL), math.floor(y / _GRID_CELL)), []).append((lm.index, x, y))
        return grid

    @cached_property
    def edge_landmarks(self) -> tuple[tuple[tuple[int, float, float], ...], ...]:
        """For each segment, ``(index, x, y)`` of the landmarks within :data:`VIEW_RADIUS` of it.

        Any point on a segment sees only landmarks from its list, so rails scan a dozen candidates
        instead of the whole city.
        """
        if not self.landmarks:
            return tuple(() for _ in range(len(self.edges)))
        a = self.node_xy[self.edges[:, 0]][:, None, :]          # (E, 1, 2)
        ab = self.node_xy[self.edges[:, 1]][:, None, :] - a     # (E, 1, 2)
        ap = self.landmark_xy[None, :, :] - a                   # (E, L, 2)
        t = np.clip((ap * ab).sum(-1) / (ab * ab).sum(-1), 0.0, 1.0)
        d2 = ((ap - t[..., None] * ab) ** 2).sum(-1)
        xy = self.landmark_xy.tolist()
        return tuple(tuple((int(i), xy[i][0], xy[i][1]) for i in np.flatnonzero(row <= VIEW_RADIUS**2 + 1e-6))
                     for row in d2)

    # ---- queries ------------------------------------------------------------------------
    def nearest_intersection(self, point: tuple[float, float]) -> int:
        """Index of the intersection nearest to ``point``."""
        xy = self.node_xy[self.intersections]
        d2 = (xy[:, 0] - point[0]) ** 2 + (xy[:, 1] - point[1]) ** 2
        return int(self.intersections[int(np.argmin(d2))])

    def nearest_street(self, point: tuple[float, float]) -> tuple[int, float]:
        """``(segment index, distance)`` of the street segment nearest to ``point``."""
        p = shapely.Point(point)
        e = int(self.street_tree.nearest(p))
        return e, float(self.edge_lines[e].distance(p))

    def landmarks_within(self, point: tuple[float, float], radius: float) -> list[int]:
        """Indices of landmarks within ``radius`` metres of ``point``, nearest first (ties by index)."""
        px, py = float(point[0]), float(point[1])
        r2 = radius * radius
        reach = int(math.ceil(radius / _GRID_CELL))
        cx, cy = math.floor(px / _GRID_CELL), math.floor(py / _GRID_CELL)
        grid = self._landmark_grid
        found = []
        for gx in range(cx - reach, cx + reach + 1):
            for gy in range(cy - reach, cy + reach + 1):
                for i, x, y in grid.get((gx, gy), ()):
                    d2 = (x - px) ** 2 + (y - py) ** 2
                    if d2 <= r2:
                        found.append((d2, i))
        found.sort()
        return [i for _, i in found]

    def side_of(self, point: tuple[float, float], heading: float, target: tuple[float, float]) -> str:
        """Side (``"front"``, ``"right front"``... ``"left front"``) of ``target`` seen from
        ``point`` facing ``heading``."""
        return side_name(heading, bearing(target[0] - point[0], target[1] - point[1]))

    def visible_landmarks(self, point: tuple[float, float], heading: float,
                          radius: float = VIEW_RADIUS, limit: int = 3) -> list[tuple[Landmark, str]]:
        """The ``limit`` nearest landmarks within ``radius``, each with its side."""
        out = []
        for i in self.landmarks_within(point, radius)[:limit]:
            lm = self.landmarks[i]
            out.append((lm, self.side_of(point, heading, lm.position)))
        return out

    def shortest_path(self, start: int, goal: int) -> list[int]:
        """Node sequence of a shortest street path (preferring to go straight on ties).

        Raises:
            ValueError: If the nodes are not connected (never the case for generated cities).
        """
        if not math.isfinite(self.distances[start, goal]):
            raise ValueError(f"nodes {start} and {goal} are not connected")
        path = [start]
        prev_bearing: float | None = None
        node = start
        while node != goal:
            node, prev_bearing = self._next_on_shortest(node, goal, prev_bearing)
            path.append(node)
        return path

    def _next_on_shortest(self, node: int, goal: int, heading: float | None) -> tuple[int, float]:
        """Next node from ``node`` on a shortest path to ``goal``, the straightest among ties."""
        best: tuple[float, int, float] | None = None
        dist = self.distances
        remaining = float(dist[node, goal])
        for nb, _e, b, length in self.node_streets[node]:
            if length + float(dist[nb, goal]) > remaining + 1e-6:
                continue
            turn = 0.0 if heading is None else abs(wrap_angle(b - heading))
            if best is None or turn < best[0]:
                best = (turn, nb, b)
        if best is None:  # cannot happen: distances come from this graph
            raise RuntimeError(f"inconsistent distances at node {node}")
        return best[1], best[2]


def style_key(style: CityStyle) -> int:
    """Stable integer identifying a style in seeds: its built-in index, else a CRC of its name."""
    if style.name in STYLE_NAMES:
        return STYLE_NAMES.index(style.name)
    return 1000 + zlib.crc32(style.name.encode("utf-8"))


def _network_problem(net: StreetNetwork) -> str | None:
    """Why a street network is unusable, or None if it passes every invariant."""
    n = len(net.node_xy)
    if len(net.edges) == 0:
        return "no streets"
    degree = np.bincount(net.edges.ravel(), minlength=n)
    if np.any(degree == 2):
        return "a node joins exactly two streets"
    if np.any(degree == 0):
        return "an isolated node"
    d = net.node_xy[net.edges[:, 1]] - net.node_xy[net.edges[:, 0]]
    length = np.hypot(d[:, 0], d[:, 1])
    inner = ~np.asarray(net.edge_is_stub)
    if np.any(length[inner] < MIN_BLOCK_LENGTH):
        return f"a block shorter than {MIN_BLOCK_LENGTH} m"
    bearings: list[list[float]] = [[] for _ in range(n)]
    for (a, b), (dx, dy) in zip(net.edges.tolist(), d.tolist()):
        bearings[a].append(bearing(dx, dy))
        bearings[b].append(bearing(-dx, -dy))
    for bs in bearings:
        bs.sort()
        for i in range(len(bs)):
            gap = (bs[(i + 1) % len(bs)] - bs[i]) % 360.0 if len(bs) > 1 else 360.0
            if gap < MIN_STREET_ANGLE:
                return f"two streets leave a node less than {MIN_STREET_ANGLE} degrees apart"
    lines = shapely.linestrings(np.stack([net.node_xy[net.edges[:, 0]], net.node_xy[net.edges[:, 1]]], axis=1))
    pairs = shapely.STRtree(lines).query(lines, predicate="intersects")
    for i, j in pairs.T.tolist():
        if i < j and not set(net.edges[i].tolist()) & set(net.edges[j].tolist()):
            return "two streets cross away from an intersection"
    seen = {0}
    stack = [0]
    adjacency: list[list[int]] = [[] for _ in range(n)]
    for a, b in net.edges.tolist():
        adjacency[a].append(b)
        adjacency[b].append(a)
    while stack:
        for b in adjacency[stack.pop()]:
            if b not in seen:
                seen.add(b)
                stack.append(b)
    if len(seen) != n:
        return "the street graph is not connected"
    return None


def _landmark_names(style: CityStyle, rng: np.random.Generator) -> list[tuple[str, str]]:
    """All ``(kind, name)`` combinations of the style's vocabulary, in a random order."""
    combos = [(kind, template.format(word=word))
              for kind, templates in style.naming.landmark_kinds
              for template in templates
              for word in style.naming.landmark_words]
    unique = list(dict.fromkeys(combos))
    return [unique[int(i)] for i in rng.permutation(len(unique))]


def _slot_position(net: StreetNetwork, e: int, offset: float, side: str,
                   setback: float) -> tuple[np.ndarray, np.ndarray]:
    a, b = net.edges[e].tolist()
    p, q = net.node_xy[a], net.node_xy[b]
    direction = (q - p) / float(np.hypot(*(q - p)))
    right = np.array([direction[1], -direction[0]])
    street_point = p + direction * offset
    return street_point, street_point + (1.0 if side == "right" else -1.0) * setback * right


def _clear_slots(net: StreetNetwork, slots: list[tuple[int, float, str]],
                 setback: float) -> list[tuple[int, float, str]]:
    """Keep slots whose landmark is no nearer to any street than to its own (so it never stands
    across or beside another street, e.g. inside an acute corner) and at least 8 m from the others."""
    if not slots:
        return slots
    positions = np.asarray([_slot_position(net, e, off, side, setback)[1] for e, off, side in slots])
    lines = shapely.linestrings(np.stack([net.node_xy[net.edges[:, 0]], net.node_xy[net.edges[:, 1]]], axis=1))
    clearance = shapely.distance(shapely.MultiLineString(list(lines)), shapely.points(positions))
    kept: list[int] = []
    cells: dict[tuple[int, int], list[int]] = {}
    for i in np.flatnonzero(clearance >= setback - 1e-6).tolist():
        x, y = positions[i]
        cx, cy = math.floor(x / 8.0), math.floor(y / 8.0)
        near = [j for gx in (cx - 1, cx, cx + 1) for gy in (cy - 1, cy, cy + 1) for j in cells.get((gx, gy), ())]
        if all((x - positions[j, 0]) ** 2 + (y - positions[j, 1]) ** 2 >= 64.0 for j in near):
            kept.append(i)
            cells.setdefault((cx, cy), []).append(i)
    return [slots[i] for i in kept]


def _place_landmarks(net: StreetNetwork, style: CityStyle, rng: np.random.Generator) -> tuple[Landmark, ...]:
    names = _landmark_names(style, rng)
    slots: list[tuple[int, float, str]] = []
    for e, ((a, b), stub) in enumerate(zip(net.edges.tolist(), net.edge_is_stub)):
        if stub:
            continue
        length = float(np.hypot(*(net.node_xy[b] - net.node_xy[a])))
        usable = length - 2 * LANDMARK_MARGIN
        count = int(usable // LANDMARK_SLOT) + 1
        offsets = [LANDMARK_MARGIN + usable / 2] if count == 1 else \
            [LANDMARK_MARGIN + k * usable / (count - 1) for k in range(count)]
        for offset in offsets:
            for side in ("right", "left"):
                if rng.random() < style.landmark_density:
                    slots.append((e, offset, side))
    slots = _clear_slots(net, slots, style.setback)
    if len(slots) > len(names):
        # More slots than names: keep a uniform random subset so no part of the city is left bare.
        keep = np.sort(rng.choice(len(slots), size=len(names), replace=False))
        slots = [slots[int(i)] for i in keep]
    out: list[Landmark] = []
    for (e, offset, side), (kind, name) in zip(slots, names):
        street_point, position = _slot_position(net, e, offset, side, style.setback)
        out.append(Landmark(
            index=len(out), name=name, kind=kind,
            position=(float(position[0]), float(position[1])),
            street_point=(float(street_point[0]), float(street_point[1])),
            edge=e, offset=float(offset), side=side,
        ))
    return tuple(out)


def _all_pairs(n: int, edges: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Floyd-Warshall shortest street distances (vectorised; cities have a few hundred nodes)."""
    dist = np.full((n, n), np.inf)
    np.fill_diagonal(dist, 0.0)
    dist[edges[:, 0], edges[:, 1]] = length
    dist[edges[:, 1], edges[:, 0]] = length
    for k in range(n):
        np.minimum(dist, dist[:, k:k + 1] + dist[k:k + 1, :], out=dist)
    return dist


def generate_city(style: str | CityStyle, seed: int) -> City:
    """Generate the city of ``style`` for ``seed`` (deterministic, same in every process).

    Args:
        style: A style name (see :data:`virl_env.world.styles.STYLE_NAMES`) or a :class:`CityStyle`.
        seed: A non-negative integer.

    Raises:
        TypeError, ValueError: For a bad style or seed.
        RuntimeError: If no valid network was found within the attempt bound (the message names
            the style, the seed and the last problem).
    """
    st = get_style(style)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"city seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"city seed must be non-negative, got {seed}")
    seed = int(seed)
    key = style_key(st)
    problem = "not generated"
    for attempt in range(MAX_GENERATION_ATTEMPTS):
        rng = np.random.default_rng([seed, key, attempt])
        net = build_network(st.layout, st.naming, rng)
        problem = _network_problem(net)
        if problem is None:
            break
    else:
        raise RuntimeError(f"could not generate a valid {st.name!r} city for seed {seed} in "
                           f"{MAX_GENERATION_ATTEMPTS} attempts (last problem: {problem})")
    landmarks = _place_landmarks(net, st, rng)
    node_xy = net.node_xy.copy()
    edges = net.edges.copy()
    d = node_xy[edges[:, 1]] - node_xy[edges[:, 0]]
    distances = _all_pairs(len(node_xy), edges, np.hypot(d[:, 0], d[:, 1]))
    for arr in (node_xy, edges, distances):
        arr.setflags(write=False)
    return City(style=st, seed=seed, node_xy=node_xy, edges=edges, edge_names=net.edge_names,
                edge_is_stub=net.edge_is_stub, landmarks=landmarks, distances=distances)


@lru_cache(maxsize=16)
def _cached_city(style: CityStyle, seed: int) -> City:
    return generate_city(style, seed)


def get_city(style: str | CityStyle, seed: int) -> City:
    """:func:`generate_city` through a small per-process cache (16 most recent cities)."""
    return _cached_city(get_style(style), int(seed) if isinstance(seed, np.integer) else seed)
