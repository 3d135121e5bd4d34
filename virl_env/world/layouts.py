"""Street-network shapes (grid and radial) drawn from a :class:`~virl_env.world.styles.LayoutSpec`.

Pure functions: each takes the spec, the naming vocabulary and an explicit
``numpy.random.Generator`` and returns a :class:`StreetNetwork` (node positions in metres, x east,
y north; straight street segments between nodes, each with its street name). Boundary streets end
in short dead-end stubs so that every crossing has at least three streets.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from virl_env.world.styles import LayoutSpec, Naming

__all__ = ["StreetNetwork", "build_network", "grid_network", "radial_network", "street_names"]


@dataclass(frozen=True)
class StreetNetwork:
    """Nodes and straight street segments before landmarks are placed.

    Attributes:
        node_xy: ``(N, 2)`` float array of node positions in metres.
        edges: ``(E, 2)`` int array of node pairs.
        edge_names: Street name of each segment.
        edge_is_stub: True for dead-end stubs (no landmarks, never on a route's interior).
    """

    node_xy: np.ndarray
    edges: np.ndarray
    edge_names: tuple[str, ...]
    edge_is_stub: tuple[bool, ...]


def _ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def street_names(pattern: str, count: int, naming: Naming, rng: np.random.Generator,
                 taken: set[str]) -> list[str]:
    """Return ``count`` distinct street names from ``pattern`` (``{ordinal}`` or ``{word}``)."""
    names: list[str] = []
    if "{ordinal}" in pattern:
        for i in range(count):
            names.append(pattern.format(ordinal=_ordinal(naming.first_ordinal + i)))
    else:
        words = [naming.street_words[i] for i in rng.permutation(len(naming.street_words))]
        for i in range(count):
            word = words[i % len(words)]
            name = pattern.format(word=word)
            if name in taken or name in names:
                name = pattern.format(word=f"{word} {_ordinal(i // len(words) + 2)}")
            names.append(name)
    taken.update(names)
    return names


def _rotate(xy: np.ndarray, degrees: float) -> np.ndarray:
    # Rotate clockwise (a bearing rotation): x' = x cos + y sin, y' = -x sin + y cos.
    a = np.deg2rad(degrees)
    c, s = np.cos(a), np.sin(a)
    return np.stack([xy[:, 0] * c + xy[:, 1] * s, -xy[:, 0] * s + xy[:, 1] * c], axis=1)


def _gaps(count: int, spacing: float, variation: float, rng: np.random.Generator) -> np.ndarray:
    gaps = spacing * (1.0 + variation * rng.uniform(-1.0, 1.0, size=max(count - 1, 0)))
    coords = np.concatenate([[0.0], np.cumsum(gaps)])
    return coords - coords[-1] / 2.0


def _connected_without(n_nodes: int, adjacency: list[set[int]], u: int, v: int) -> bool:
    """True if ``u`` still reaches ``v`` once the segment u-v is removed."""
    seen = {u}
    queue = deque([u])
    while queue:
        a = queue.popleft()
        for b in adjacency[a]:
            if a == u and b == v:
                continue
            if b == v:
                return True
            if b not in seen:
                seen.add(b)
                queue.append(b)
    return False


def _remove_segments(n_nodes: int, edges: list[tuple[int, int]], removable: list[bool],
                     rate: float, rng: np.random.Generator) -> list[bool]:
    """Pick segments to remove; keep degrees >= 3 and the network connected. Returns a keep mask."""
    keep = [True] * len(edges)
    if rate <= 0.0:
        return keep
    adjacency: list[set[int]] = [set() for _ in range(n_nodes)]
    for a, b in edges:
        adjacency[a].add(b)
        adjacency[b].add(a)
    candidates = [i for i, ok in enumerate(removable) if ok]
    order = rng.permutation(len(candidates))
    target = int(round(rate * len(candidates)))
    removed = 0
    for j in order:
        if removed >= target:
            break
        i = candidates[int(j)]
        a, b = edges[i]
        if len(adjacency[a]) <= 3 or len(adjacency[b]) <= 3:
            continue
        if not _connected_without(n_nodes, adjacency, a, b):
            continue
        adjacency[a].discard(b)
        adjacency[b].discard(a)
        keep[i] = False
        removed += 1
    return keep


def grid_network(spec: LayoutSpec, naming: Naming, rng: np.random.Generator) -> StreetNetwork:
    """A lattice of ``rows x cols`` crossings (rows are streets, columns are avenues)."""
    rows, cols = spec.rows, spec.cols
    xs = _gaps(cols, spec.col_spacing, spec.spacing_variation, rng)
    ys = _gaps(rows, spec.row_spacing, spec.spacing_variation, rng)
    gx, gy = np.meshgrid(xs, ys)  # (rows, cols)
    xy = np.stack([gx.ravel(), gy.ravel()], axis=1)
    if spec.jitter > 0:
        xy = xy + np.clip(rng.normal(0.0, spec.jitter, size=xy.shape), -2 * spec.jitter, 2 * spec.jitter)
    rotation = spec.rotation + rng.uniform(-spec.rotation_jitter, spec.rotation_jitter)
    xy = _rotate(xy, rotation)
    taken: set[str] = set()
    row_names = street_names(naming.row_pattern, rows, naming, rng, taken)
    col_names = street_names(naming.col_pattern, cols, naming, rng, taken)

    def node(i: int, j: int) -> int:
        return i * cols + j

    edges: list[tuple[int, int]] = []
    names: list[str] = []
    removable: list[bool] = []
    for i in range(rows):
        for j in range(cols - 1):
            edges.append((node(i, j), node(i, j + 1)))
            names.append(row_names[i])
            removable.append(0 < i < rows - 1)
    for j in range(cols):
        for i in range(rows - 1):
            edges.append((node(i, j), node(i + 1, j)))
            names.append(col_names[j])
            removable.append(0 < j < cols - 1)
    points = [tuple(p) for p in xy]
    stub_edges: list[tuple[int, int]] = []
    stub_names: list[str] = []

    def add_stub(end: int, inner: int, name: str) -> None:
        direction = xy[end] - xy[inner]
        direction = direction / np.linalg.norm(direction)
        points.append(tuple(xy[end] + direction * spec.stub_length))
        stub_edges.append((end, len(points) - 1))
        stub_names.append(name)

    for i in range(rows):
        add_stub(node(i, 0), node(i, 1), row_names[i])
        add_stub(node(i, cols - 1), node(i, cols - 2), row_names[i])
    for j in range(cols):
        add_stub(node(0, j), node(1, j), col_names[j])
        add_stub(node(rows - 1, j), node(rows - 2, j), col_names[j])
    all_edges = edges + stub_edges
    keep = _remove_segments(len(points), all_edges, removable + [False] * len(stub_edges),
                            spec.removal_rate, rng)
    return _finish(points, all_edges, names + stub_names,
                   [False] * len(edges) + [True] * len(stub_edges), keep)


def radial_network(spec: LayoutSpec, naming: Naming, rng: np.random.Generator) -> StreetNetwork:
    """Concentric rings (straight chords between spokes) crossed by spokes from a central place."""
    rotation = rng.uniform(-spec.rotation_jitter, spec.rotation_jitter)
    primary = [360.0 * s / spec.spokes for s in range(spec.spokes)]
    spokes: list[tuple[float, int]] = [(a, 0) for a in primary]
    if spec.secondary_from_ring > 0:
        spokes += [(a + 180.0 / spec.spokes, spec.secondary_from_ring) for a in primary]
    spokes.sort()
    angles = np.array([a for a, _ in spokes]) + rotation
    angles = angles + rng.uniform(-3.0, 3.0, size=len(angles))
    starts = [r for _, r in spokes]
    radii = spec.ring_spacing * np.arange(1, spec.rings + 1, dtype=float)
    taken: set[str] = set()
    ring_names = street_names(naming.row_pattern, spec.rings, naming, rng, taken)
    spoke_names = street_names(naming.col_pattern, len(spokes), naming, rng, taken)
    points: list[tuple[float, float]] = [(0.0, 0.0)]
    index: dict[tuple[int, int], int] = {}
    for s, angle in enumerate(angles):
        a = np.deg2rad(angle)
        for k in range(starts[s], spec.rings):
            r = radii[k] + (rng.normal(0.0, spec.jitter) if spec.jitter > 0 else 0.0)
            index[(k, s)] = len(points)
            points.append((float(r * np.sin(a)), float(r * np.cos(a))))
    edges: list[tuple[int, int]] = []
    names: list[str] = []
    removable: list[bool] = []
    stub_flags: list[bool] = []
    for s in range(len(spokes)):
        if starts[s] == 0:
            edges.append((0, index[(0, s)]))
            names.append(spoke_names[s])
            removable.append(False)
            stub_flags.append(False)
        for k in range(starts[s], spec.rings - 1):
            edges.append((index[(k, s)], index[(k + 1, s)]))
            names.append(spoke_names[s])
            removable.append(k > starts[s])
            stub_flags.append(False)
    for k in range(spec.rings):
        on_ring = [s for s in range(len(spokes)) if starts[s] <= k]
        for m, s in enumerate(on_ring):
            t = on_ring[(m + 1) % len(on_ring)]
            edges.append((index[(k, s)], index[(k, t)]))
            names.append(ring_names[k])
            removable.append(0 < k < spec.rings - 1)
            stub_flags.append(False)
    for s, angle in enumerate(angles):
        end = index[(spec.rings - 1, s)]
        a = np.deg2rad(angle)
        x, y = points[end]
        points.append((x + spec.stub_length * float(np.sin(a)), y + spec.stub_length * float(np.cos(a))))
        edges.append((end, len(points) - 1))
        names.append(spoke_names[s])
        removable.append(False)
        stub_flags.append(True)
    keep = _remove_segments(len(points), edges, removable, spec.removal_rate, rng)
    return _finish(points, edges, names, stub_flags, keep)


def _finish(points: list[tuple[float, float]], edges: list[tuple[int, int]], names: list[str],
            stubs: list[bool], keep: list[bool]) -> StreetNetwork:
    kept = [i for i, k in enumerate(keep) if k]
    return StreetNetwork(
        node_xy=np.asarray(points, dtype=float),
        edges=np.asarray([edges[i] for i in kept], dtype=np.int64).reshape(-1, 2),
        edge_names=tuple(names[i] for i in kept),
        edge_is_stub=tuple(stubs[i] for i in kept),
    )


def build_network(spec: LayoutSpec, naming: Naming, rng: np.random.Generator) -> StreetNetwork:
    """Dispatch on ``spec.kind``.

    Raises:
        ValueError: For an unknown layout kind.
    """
    if spec.kind == "grid":
        return grid_network(spec, naming, rng)
    if spec.kind == "radial":
        return radial_network(spec, naming, rng)
    raise ValueError(f"unknown layout kind {spec.kind!r}; expected 'grid' or 'radial'")
