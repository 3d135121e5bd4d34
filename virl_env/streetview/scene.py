"""The street-view scene of a city: its geometry prepared for drawing, in small named dataclasses.

:func:`build_scene` turns a :class:`~virl_env.world.city.City` and a
:class:`~virl_env.world.styles.StreetLook` into a :class:`Scene`:

* :class:`Camera`: the camera height and field of view of the city's views, drawn from the look's
  ranges;
* :class:`Facades`: every wall segment (building fronts along each street side, and the side walls
  exposed by setbacks, gaps and height steps), one array row per wall;
* :class:`GroundPolygons`: curbs, roadways, junctions, centre lines and zebra crossings;
* :class:`Props`: street trees, lamps and parked cars (camera-facing billboards);
* :class:`SignAnchor`: where each landmark's sign hangs.

Every random draw comes from ``numpy.random.default_rng([city seed, style key, stream, part])``,
so a scene is the same in every process; a look with the default geometry (the training city)
draws exactly what it always drew. The scene only changes pictures: streets, landmarks, routes and
texts come from the city and are never touched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from virl_env.world.city import City, style_key
from virl_env.streetview.signs import sign_color
from virl_env.world.styles import StreetLook

__all__ = [
    "GROUND_FLOOR",
    "SCENE_RADIUS",
    "Camera",
    "Facades",
    "GroundPolygons",
    "Props",
    "Scene",
    "SignAnchor",
    "build_scene",
    "get_scene",
]

SCENE_RADIUS = 170.0
"""Metres beyond which streets and buildings are not drawn (the haze has swallowed them)."""

GROUND_FLOOR = 4.2          # metres: shop floor under the first storey
SIGN_OUT = 0.8              # metres a sign stands in front of its facade
SIDE_WALL_DEPTH = 11.0      # metres a side wall runs back into the block
_STREAM = 7                 # separates street-view draws from city and route seeds
_PARTS = {"camera": 1, "ground": 2, "props": 3}

# Facade pixel classes (indices into a facade's palette).
FACADE, GLASS, LIT, TRIM, FASCIA, SHOP = range(6)

# Prop kinds.
TREE, LAMP, CAR = range(3)


@dataclass(frozen=True)
class Camera:
    """The camera of a city's views: height above the street in metres and horizontal (and, views
    being square, vertical) field of view in degrees."""

    eye_height: float
    fov: float

    def focal(self, size: int) -> float:
        """Focal length in pixels of a ``size``-pixel view."""
        return (size / 2) / math.tan(math.radians(self.fov / 2))


@dataclass(frozen=True, eq=False)
class Facades:
    """Wall segments, one row per wall (all arrays have the same first dimension ``N``).

    Attributes:
        x0, y0, x1, y1: End points in metres (the wall's outside faces the viewer on its left).
        length: Segment length.
        height: Wall height at its ends; ``gable``: extra height at its middle (pointed gables).
        bay: Width of one window bay in metres.
        seed: Per-building integer that picks its lit windows.
        palette: ``(N, 6, 3)`` float32 colours of the pixel classes (facade, glass, lit window,
            trim, shop fascia, shop window), already lit by the sun and the look's light.
        shop: Whether the wall is a landmark's shop front (storefront and coloured fascia).
    """

    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    length: np.ndarray
    height: np.ndarray
    gable: np.ndarray
    bay: np.ndarray
    seed: np.ndarray
    palette: np.ndarray
    shop: np.ndarray

    def __len__(self) -> int:
        return len(self.x0)


@dataclass(frozen=True, eq=False)
class GroundPolygons:
    """Flat ground polygons drawn in order (later ones cover earlier ones).

    Attributes:
        verts: ``(M, 2)`` vertices of all polygons, concatenated.
        start: ``(P,)`` index of each polygon's first vertex.
        color_index: ``(P,)`` palette index of each polygon (1..K; 0 means "no polygon").
        palette32: ``(K + 1,)`` RGBA colours as uint32 words.
        center, radius: Bounding circle of each polygon.
        reach: Metres within which each polygon is worth drawing (small marks fade out early).
    """

    verts: np.ndarray
    start: np.ndarray
    color_index: np.ndarray
    palette32: np.ndarray
    center: np.ndarray
    radius: np.ndarray
    reach: np.ndarray


@dataclass(frozen=True, eq=False)
class Props:
    """Camera-facing billboards standing on the ground: trees, lamps and parked cars.

    Attributes:
        x, y: Foot positions in metres.
        kind: :data:`TREE`, :data:`LAMP` or :data:`CAR`.
        width, height: Size in metres.
        color: ``(N, 3)`` main colour (canopy, lamp post, car body).
    """

    x: np.ndarray
    y: np.ndarray
    kind: np.ndarray
    width: np.ndarray
    height: np.ndarray
    color: np.ndarray

    def __len__(self) -> int:
        return len(self.x)


@dataclass(frozen=True)
class SignAnchor:
    """Where a landmark's sign hangs: just in front of its shop front, in metres."""

    x: float
    y: float


@dataclass(frozen=True, eq=False)
class Scene:
    """Everything the street-view renderer draws of one city in one look."""

    look: StreetLook
    camera: Camera
    facades: Facades
    ground: GroundPolygons
    props: Props
    signs: tuple[SignAnchor, ...]   # by landmark index


@dataclass
class _Wall:
    """One wall while the scene is being built (becomes a row of :class:`Facades`)."""

    start: np.ndarray
    end: np.ndarray
    height: float
    gable: float
    bay: float
    seed: int
    color: np.ndarray
    normal: np.ndarray     # unit vector the wall faces
    fascia: tuple[int, int, int] | None   # shop sign colour of a landmark's shop front


@dataclass
class _Prop:
    """One tree, lamp or parked car while the scene is being built (becomes a row of :class:`Props`)."""

    x: float
    y: float
    kind: int
    width: float
    height: float
    color: tuple[int, int, int]


@dataclass
class _Building:
    """One building of a street side while the scene is being built."""

    t0: float
    t1: float
    back: float      # extra setback behind the building line
    height: float
    seed: int
    color: np.ndarray


def _scale(color, factor: float) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, round(c * factor)))) for c in color)  # type: ignore[return-value]


def _uniform(rng: np.random.Generator, span: tuple[float, float]) -> float:
    lo, hi = span
    return float(lo) if hi <= lo else float(rng.uniform(lo, hi))


def _clearance(city: City, node: int, leaving: float, side: int, setback: float, limit: float) -> float:
    """Distance along a street from ``node`` at which its facade on ``side`` (+1 right, -1 left,
    walking away from the node) meets the facade of the neighbouring street."""
    others = [b for _nb, _e, b, _len in city.node_streets[node] if abs(((b - leaving) + 180) % 360 - 180) > 1e-6]
    if not others:
        return 0.0  # dead end: the facade runs to the end of the street
    gaps = [((b - leaving) * side) % 360.0 for b in others]
    alpha = min(gaps)
    if alpha >= 179.0:
        return 0.0 if alpha < 181.0 else max(-setback, setback / math.tan(math.radians(alpha / 2)))
    return min(limit, setback / math.tan(math.radians(alpha / 2)))


def _street_side_buildings(look: StreetLook, rng: np.random.Generator, t0: float, t1: float,
                           shop_offsets: list[float]) -> list[_Building]:
    """The buildings of one street side between ``t0`` and ``t1`` metres along the street.

    The draws of the training look's plain canyon (width, storeys, colour, shade, seed) come first
    and in the same order as ever; the geometry options draw only when the look enables them."""
    out: list[_Building] = []
    wmin = look.building_width[0]
    t = t0
    while t < t1 - 1e-6:
        width = float(rng.uniform(*look.building_width))
        if t1 - (t + width) < wmin * 0.6:
            width = t1 - t
        floors = int(rng.integers(look.floors[0], look.floors[1] + 1))
        color = np.asarray(look.facades[int(rng.integers(len(look.facades)))], dtype=np.float32)
        color = color * float(rng.uniform(0.92, 1.06))
        seed = int(rng.integers(1 << 30))
        if look.tower_chance > 0 and rng.random() < look.tower_chance:
            floors = int(rng.integers(look.tower_floors[0], look.tower_floors[1] + 1))
        back = _uniform(rng, look.building_setback) if look.building_setback[1] > 0 else 0.0
        height = GROUND_FLOOR + (floors - 1) * look.floor_height + 0.8
        out.append(_Building(t, t + width, back, height, seed, color))
        t += width
        if look.building_gap > 0 and rng.random() < look.building_gap:
            gap = float(rng.uniform(3.0, 8.0))
            # Never open a gap where a landmark's shop stands, nor leave a sliver at the end.
            if t + gap < t1 - wmin and not any(t - 1.0 <= off <= t + gap + 1.0 for off in shop_offsets):
                t += gap
    return out


def _street_side_walls(look: StreetLook, buildings: list[_Building], base: np.ndarray, along: np.ndarray,
                       inward: np.ndarray, shops: list[tuple[float, str]]) -> list[_Wall]:
    """Front walls of a street side's buildings, plus the side walls their setbacks, gaps and
    height steps expose (so that a tall building seen edge-on is a block, not a one-pixel spike)."""
    walls: list[_Wall] = []
    facing = -inward
    gable_ratio = 0.42 if look.roof == "gable" else 0.0
    for k, b in enumerate(buildings):
        width = b.t1 - b.t0
        kinds = [kind for off, kind in shops if b.t0 - 1e-6 <= off <= b.t1 + 1e-6]
        bays = max(1, int(round(width / 3.2)))
        front0 = base + along * b.t0 + inward * b.back
        front1 = base + along * b.t1 + inward * b.back
        walls.append(_Wall(front0, front1, b.height, gable_ratio * width, width / bays, b.seed, b.color, facing,
                           sign_color(look, kinds[0]) if kinds else None))
        for end, neighbour, out_dir in ((b.t0, buildings[k - 1] if k else None, -along),
                                        (b.t1, buildings[k + 1] if k + 1 < len(buildings) else None, along)):
            if neighbour is None:
                continue  # a street corner: the neighbouring street's facade meets this one
            touching = abs((neighbour.t0 if out_dir is along else neighbour.t1) - end) < 1e-6
            if touching:
                steps_back = neighbour.back > b.back + 0.3
                taller = b.height > neighbour.height + 1.5 * look.floor_height
                if not (steps_back or taller):
                    continue
                depth = (neighbour.back - b.back) if steps_back and not taller else SIDE_WALL_DEPTH
            else:
                depth = SIDE_WALL_DEPTH
            p0 = base + along * end + inward * b.back
            p1 = p0 + inward * depth
            walls.append(_Wall(p0, p1, b.height, 0.0, 3.2, b.seed, b.color, out_dir, None))
    return walls


def _facades(city: City, look: StreetLook, rng: np.random.Generator) -> Facades:
    setback = float(city.style.setback)
    pts = city.node_xy
    shops: dict[tuple[int, int], list[tuple[float, str]]] = {}
    for lm in city.landmarks:
        shops.setdefault((lm.edge, 1 if lm.side == "right" else -1), []).append((lm.offset, lm.kind))
    walls: list[_Wall] = []
    for e, (a, b) in enumerate(city.edges.tolist()):
        p, q = pts[a], pts[b]
        length = float(math.hypot(*(q - p)))
        d = (q - p) / length
        right = np.array([d[1], -d[0]])
        theta = math.degrees(math.atan2(d[0], d[1])) % 360.0
        for side in (1, -1):
            t0 = _clearance(city, a, theta, side, setback, length / 2)
            t1 = length - _clearance(city, b, (theta + 180.0) % 360.0, -side, setback, length / 2)
            if t1 - t0 < 2.0:
                continue
            side_shops = shops.get((e, side), [])
            buildings = _street_side_buildings(look, rng, t0, t1, [off for off, _ in side_shops])
            walls += _street_side_walls(look, buildings, p + right * side * setback, d, right * side,
                                        side_shops)
    n = len(walls)
    start = np.asarray([w.start for w in walls], dtype=np.float64).reshape(n, 2)
    end = np.asarray([w.end for w in walls], dtype=np.float64).reshape(n, 2)
    sun = math.radians(look.sun_azimuth)
    light = look.light
    palette = np.zeros((n, 6, 3), dtype=np.float32)
    glass = np.asarray(look.window, dtype=np.float32) * min(1.0, light * 1.1)
    shop_window = (np.asarray(look.window_lit) * 0.55 + 60) if light < 0.7 else \
        np.asarray(look.window, dtype=np.float32) * 0.8 + 40
    for i, w in enumerate(walls):
        shade = 0.80 + 0.20 * max(0.0, math.cos(math.atan2(w.normal[0], w.normal[1]) - sun))
        palette[i, FACADE] = np.clip(w.color * shade * light, 0, 255)
        palette[i, GLASS] = glass
        palette[i, LIT] = look.window_lit
        palette[i, TRIM] = np.clip(np.asarray(look.trim, dtype=np.float32) * shade * light, 0, 255)
        palette[i, FASCIA] = w.fascia if w.fascia is not None else palette[i, TRIM]
        palette[i, SHOP] = shop_window
    return Facades(
        x0=start[:, 0].copy(), y0=start[:, 1].copy(), x1=end[:, 0].copy(), y1=end[:, 1].copy(),
        length=np.hypot(*(end - start).T), height=np.asarray([w.height for w in walls], dtype=np.float64),
        gable=np.asarray([w.gable for w in walls], dtype=np.float64),
        bay=np.asarray([w.bay for w in walls], dtype=np.float64),
        seed=np.asarray([w.seed for w in walls], dtype=np.int64), palette=palette,
        shop=np.asarray([w.fascia is not None for w in walls], dtype=bool))


def _street_half_widths(city: City, look: StreetLook, rng: np.random.Generator) -> np.ndarray:
    """Roadway half width of each street segment (a whole street shares one width)."""
    limit = float(city.style.setback) - 1.5
    base = min(look.road_half_width, limit)
    v = look.road_width_variation
    if v <= 0:
        return np.full(len(city.edges), base)
    names = sorted(set(city.edge_names))
    factor = dict(zip(names, rng.uniform(1 - v, 1 + v, size=len(names)).tolist()))
    return np.asarray([min(limit, max(2.5, base * factor[n])) for n in city.edge_names])


def _ground(city: City, look: StreetLook, half_widths: np.ndarray) -> GroundPolygons:
    pts = city.node_xy
    polys: list[np.ndarray] = []
    colors: list[tuple[int, int, int]] = []
    reach: list[float] = []
    light = look.light
    road = _scale(look.road, light)
    curb = _scale(look.curb, light)
    mark = _scale(look.marking, max(light, 0.75))
    edge_vec = []
    for a, b in city.edges.tolist():
        p, q = pts[a], pts[b]
        length = float(math.hypot(*(q - p)))
        d = (q - p) / length
        edge_vec.append((p, q, d, np.array([d[1], -d[0]]), length))
    for extra, c in ((0.35, curb), (0.0, road)):
        for (p, q, _d, n_, _), w in zip(edge_vec, half_widths):
            hw = w + extra
            polys.append(np.array([p + n_ * hw, q + n_ * hw, q - n_ * hw, p - n_ * hw]))
            colors.append(c)
            reach.append(SCENE_RADIUS)
    angles = np.linspace(0, 2 * np.pi, 13)[:-1]
    ring = np.stack([np.sin(angles), np.cos(angles)], axis=1)
    for node in np.flatnonzero(city.node_degree >= 2).tolist():
        widest = max(half_widths[e] for _nb, e in city.neighbors[node])
        polys.append(pts[node] + ring * (widest * 1.05))
        colors.append(road)
        reach.append(SCENE_RADIUS)
    if look.marking_style != "none":
        for (p, q, d, n_, length), w in zip(edge_vec, half_widths):
            s0, s1 = w + 1.0, length - (w + 1.0)
            if s1 - s0 < 2.0:
                continue
            if look.marking_style == "dashed":
                pieces = [(s, min(s + 3.0, s1)) for s in np.arange(s0, s1, 9.0)]
                offsets = [(0.0, 0.08)]
            elif look.marking_style == "double":
                pieces, offsets = [(s0, s1)], [(-0.18, 0.07), (0.18, 0.07)]
            else:
                pieces, offsets = [(s0, s1)], [(0.0, 0.09)]
            for u0, u1 in pieces:
                for off, half in offsets:
                    a_, b_ = p + d * u0 + n_ * off, p + d * u1 + n_ * off
                    polys.append(np.array([a_ + n_ * half, b_ + n_ * half, b_ - n_ * half, a_ - n_ * half]))
                    colors.append(mark)
                    reach.append(90.0 if len(pieces) > 1 else SCENE_RADIUS)
    if look.crosswalks:
        zebra = _scale((236, 236, 232), max(light, 0.7))
        for node in city.intersections.tolist():
            for _nb, e, bear, length in city.node_streets[node]:
                w = float(half_widths[e])
                if length < 3 * w + 6:
                    continue
                rad = math.radians(bear)
                d = np.array([math.sin(rad), math.cos(rad)])
                n_ = np.array([d[1], -d[0]])
                u0, u1 = w + 1.2, w + 4.2
                stripes = max(3, int(round(2 * w / 1.2)))
                for k in range(stripes):
                    c = -w + (k + 0.5) * (2 * w / stripes)
                    half = 0.3 * (2 * w / stripes)
                    polys.append(np.array([pts[node] + d * u0 + n_ * (c - half), pts[node] + d * u1 + n_ * (c - half),
                                           pts[node] + d * u1 + n_ * (c + half), pts[node] + d * u0 + n_ * (c + half)]))
                    colors.append(zebra)
                    reach.append(70.0)
    starts = np.cumsum([0] + [len(p) for p in polys[:-1]])
    distinct = list(dict.fromkeys(colors))
    pal4 = np.full((len(distinct) + 1, 4), 255, dtype=np.uint8)
    pal4[0] = 0
    pal4[1:, :3] = distinct
    centers = np.asarray([p.mean(axis=0) for p in polys])
    return GroundPolygons(
        verts=np.concatenate(polys).astype(np.float64), start=starts.astype(np.int64),
        color_index=np.asarray([distinct.index(c) + 1 for c in colors], dtype=np.uint8),
        palette32=pal4.view(np.uint32).ravel().copy(), center=centers,
        radius=np.asarray([float(np.max(np.hypot(*(p - c).T))) for p, c in zip(polys, centers)]),
        reach=np.asarray(reach))


def _props(city: City, look: StreetLook, half_widths: np.ndarray, rng: np.random.Generator) -> Props:
    """Trees and lamps along the sidewalks, cars parked along the curbs, away from the junctions."""
    setback = float(city.style.setback)
    pts = city.node_xy
    rows: list[_Prop] = []
    tree = _scale(look.tree_color, look.light)
    lamp = _scale(look.lamp_color, look.light)
    for e, (a, b) in enumerate(city.edges.tolist()):
        p, q = pts[a], pts[b]
        length = float(math.hypot(*(q - p)))
        d = (q - p) / length
        right = np.array([d[1], -d[0]])
        w = float(half_widths[e])
        ends = [max((half_widths[e2] for _nb, e2 in city.neighbors[n] if e2 != e), default=0.0) for n in (a, b)]
        lo, hi = ends[0] + 5.0, length - ends[1] - 5.0
        sidewalk = setback - w
        for side in (1, -1):
            if look.tree_spacing > 0 and sidewalk >= 2.5:
                for t in np.arange(lo + rng.uniform(0, look.tree_spacing), hi, look.tree_spacing):
                    h = _uniform(rng, look.tree_height)
                    x, y = p + d * t + right * side * (w + min(1.6, sidewalk / 2))
                    rows.append(_Prop(float(x), float(y), TREE, h * 0.55, h, _scale(tree, rng.uniform(0.85, 1.1))))
            if look.lamp_spacing > 0:
                for t in np.arange(lo + rng.uniform(0, look.lamp_spacing), hi, look.lamp_spacing):
                    x, y = p + d * t + right * side * (w + 0.5)
                    rows.append(_Prop(float(x), float(y), LAMP, 0.35, 6.0, lamp))
            if look.parked_cars > 0 and w >= 4.0:
                for t in np.arange(lo + 3.0, hi - 3.0, 6.0):
                    if rng.random() < look.parked_cars:
                        color = look.car_colors[int(rng.integers(len(look.car_colors)))]
                        x, y = p + d * t + right * side * (w - 1.1)
                        rows.append(_Prop(float(x), float(y), CAR, 1.8, 1.45, _scale(color, look.light)))
    return Props(x=np.asarray([r.x for r in rows], dtype=np.float64),
                 y=np.asarray([r.y for r in rows], dtype=np.float64),
                 kind=np.asarray([r.kind for r in rows], dtype=np.int64),
                 width=np.asarray([r.width for r in rows], dtype=np.float64),
                 height=np.asarray([r.height for r in rows], dtype=np.float64),
                 color=np.asarray([r.color for r in rows], dtype=np.float32).reshape(-1, 3))


def build_scene(city: City, look: StreetLook) -> Scene:
    """Build the scene of ``city`` drawn in ``look`` (whose geometry ranges shape it)."""
    key = style_key(city.style)

    def stream(part: str) -> np.random.Generator:
        return np.random.default_rng([city.seed, key, _STREAM, _PARTS[part]])

    cam_rng = stream("camera")
    camera = Camera(eye_height=_uniform(cam_rng, look.eye_height), fov=_uniform(cam_rng, look.fov))
    facades = _facades(city, look, np.random.default_rng([city.seed, key, _STREAM]))
    half_widths = _street_half_widths(city, look, stream("ground"))
    signs = []
    for lm in city.landmarks:
        toward = np.asarray(lm.street_point) - np.asarray(lm.position)
        toward = toward / max(float(np.hypot(*toward)), 1e-9)
        x, y = np.asarray(lm.position) + toward * SIGN_OUT
        signs.append(SignAnchor(float(x), float(y)))
    return Scene(look=look, camera=camera, facades=facades, ground=_ground(city, look, half_widths),
                 props=_props(city, look, half_widths, stream("props")), signs=tuple(signs))


@lru_cache(maxsize=16)
def get_scene(city: City, look: StreetLook) -> Scene:
    """:func:`build_scene` through a small per-process cache (16 most recent scenes)."""
    return build_scene(city, look)
