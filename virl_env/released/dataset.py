"""The paper authors' released V-IRL routes: parsing ``route_infos.json`` and the dataset directory.

A dataset directory holds:

* ``route_infos.json``: the authors' file, ``[routes, count]`` (a bare list of routes is accepted
  too). Each route has ``start_place.relocated_geocode`` ``[lat, lng]``, ``init_heading`` (degrees;
  0 or missing means "draw one at reset", as in the authors' environment),
  ``milestone_info`` (one ``{...}`` block per leg with ``"to_next_intersection_heading": "177
  (south)"`` and optionally ``"landmarks": "X is on your left"``), ``route_results.geocode_list``
  (``[lat, lng]`` of the end of each leg: the turning intersections, then the destination) and
  ``dest_place`` (optional ``name``).
* ``street_views/<pano_id>.jpg``: equirectangular panoramas, each with
  ``street_views/<pano_id>.metadata.json`` holding its ``rotation`` in degrees (read by
  :mod:`virl_env.released.panoramas`).
* ``pano_mapping.json``: the (lat, lng) -> panorama id mapping in JSON form (see
  :mod:`virl_env.released.panoramas`). The authors ship it as a pickle, and unpickling runs code chosen by
  whoever wrote the file, so this loader never reads pickles; convert theirs once with
  ``python -m virl_env.released.convert MAPPING.pkl DIR/pano_mapping.json --trust-pickle``.

Everything read is untrusted (see :mod:`virl_env.released.files`); problems raise
:class:`~virl_env.released.files.DatasetError` naming the file and the field.

The suite's rail of a dataset route (:func:`build_episode`) follows the authors' construction (start,
``forward_points`` points evenly spaced on each leg, a turn at every intersection of ``geocode_list``, the
destination), with this package's fixes: turns are worded with angle wrap-around, interpolated points never
coincide with an intersection, text is folded to ASCII and bounded. The authors' own rail on their data, and their
texts, are the paper protocol's (:func:`virl_env.protocols.paper.build_paper_episode`); this module replays their
evaluator's random stream (:func:`paper_evaluation_draws`).
"""

from __future__ import annotations

import math
import os
from random import Random  # a private instance replays the authors' stream; never the global one
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from virl_env.released.files import MAX_JSON_BYTES, MAX_TEXT, DatasetError, clean_text, geocode, number, read_json
from virl_env.world.geo import to_geo, to_local
from virl_env.world.instructions import (
    COMPASS_DIRECTIONS,
    compass_name,
    number_sentences,
    relative_turn,
    turn_sentence,
    wrap_angle,
)
from virl_env.released.panoramas import MAPPING_FILE, PanoIndex, load_pano_mapping, load_panorama, panorama_grid
from virl_env.world.routes import RailPoint

__all__ = [
    "DatasetRoute",
    "EpisodeRoute",
    "MAX_LEGS",
    "PAPER_EVAL_EPISODES",
    "PAPER_EVAL_SEED",
    "PAPER_MIN_LEG",
    "PAPER_VISUAL_OOD_EPISODES",
    "PaperDraws",
    "ROUTE_FILE",
    "RouteDataset",
    "STREET_VIEW_DIR",
    "build_episode",
    "landmark_names",
    "leg_lengths",
    "paper_evaluation_draws",
    "read_landmark",
]

ROUTE_FILE = "route_infos.json"
STREET_VIEW_DIR = "street_views"
MAX_LEGS = 16
"""Most legs (``milestone_info`` blocks) a released route may have."""
_HEADING = re.compile(r"\s*(-?\d{1,4}(?:\.\d{1,6})?)\s*\(\s*([A-Za-z ]{1,20})\s*\)\s*")
_LANDMARK_NAME = re.compile(r"^\s*(.+?)\s+is\s+(?:on your|in front of|behind)\b", re.IGNORECASE)


def _parse_milestones(text: object, where: str) -> list[dict[str, str]]:
    """The ``{...}`` blocks of ``milestone_info``, each as a dict of strings (never evaluated)."""
    if not isinstance(text, str):
        raise DatasetError(f"{where} must be a string of {{...}} blocks, got {type(text).__name__}")
    if len(text) > 200_000:
        raise DatasetError(f"{where} is {len(text)} characters; the limit is 200000")
    blocks = []
    for raw in text.split("}"):
        body = raw.strip().lstrip("{").strip()
        if not body:
            continue
        block: dict[str, str] = {}
        for line in body.splitlines():
            line = line.strip().rstrip(",").strip()
            if ":" not in line:
                continue
            key, value = (part.strip().strip("\"'").strip() for part in line.split(":", 1))
            block[key] = value
        blocks.append(block)
    return blocks


def _heading(text: str, where: str) -> tuple[float, str]:
    m = _HEADING.fullmatch(text)
    if m is None:
        raise DatasetError(f"{where} must look like '177 (south)', got {text[:60]!r}")
    word = m.group(2).strip().lower().replace(" ", "")
    if word not in COMPASS_DIRECTIONS:
        raise DatasetError(f"{where}: {m.group(2)!r} is not one of {list(COMPASS_DIRECTIONS)}")
    degrees = number(float(m.group(1)), where, -360.0, 720.0) % 360.0
    # The word is what the instruction says; keep the angle inside its 45-degree sector.
    center = 45.0 * COMPASS_DIRECTIONS.index(word)
    degrees = (center + max(-22.4, min(22.4, wrap_angle(degrees - center)))) % 360.0
    return degrees, word


# ---- routes -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetRoute:
    """A route of the released data, validated.

    Attributes:
        index: Position in ``route_infos.json``.
        start: ``(lat, lng)`` of the start.
        init_heading: Initial heading, or None to draw one at reset.
        headings: Heading of each leg (degrees, inside its compass word's sector).
        landmarks: Landmark text at the end of each leg (``"X is on your left"``) as written in the file (its
            first ``4 * MAX_TEXT`` characters), or None when the block has none; each protocol reads it in its own
            form (:func:`read_landmark`).
        geocodes: ``(lat, lng)`` of the end of each leg.
        destination: Destination name, or None.
    """

    index: int
    start: tuple[float, float]
    init_heading: float | None
    headings: tuple[float, ...]
    landmarks: tuple[str | None, ...]
    geocodes: tuple[tuple[float, float], ...]
    destination: str | None


@dataclass(frozen=True)
class EpisodeRoute:
    """What an episode needs of a dataset route: its index, instruction sentences, local key
    points (metres, x east, y north, from the start) and the geographic origin."""

    index: int
    sentences: tuple[str, ...]
    points: tuple[tuple[float, float], ...]
    origin: tuple[float, float]

    @property
    def instruction(self) -> str:
        """The numbered instruction text."""
        return number_sentences(self.sentences)


def _parse_route(raw: object, index: int, file: Path) -> DatasetRoute:
    where = f"{file}: routes[{index}]"
    if not isinstance(raw, dict):
        raise DatasetError(f"{where} must be an object, got {type(raw).__name__}")
    start_place = raw.get("start_place")
    if not isinstance(start_place, dict) or "relocated_geocode" not in start_place:
        raise DatasetError(f"{where}.start_place.relocated_geocode is missing")
    start = geocode(start_place["relocated_geocode"], f"{where}.start_place.relocated_geocode")
    init = raw.get("init_heading", 0)
    init_heading = number(init, f"{where}.init_heading", -360.0, 720.0) if init is not None else 0.0
    blocks = _parse_milestones(raw.get("milestone_info"), f"{where}.milestone_info")
    if not 1 <= len(blocks) <= MAX_LEGS:
        raise DatasetError(f"{where}.milestone_info has {len(blocks)} blocks; expected 1 to {MAX_LEGS}")
    headings, landmarks = [], []
    for k, block in enumerate(blocks):
        field = f"{where}.milestone_info block {k}"
        if "to_next_intersection_heading" not in block:
            raise DatasetError(f"{field}: to_next_intersection_heading is missing")
        h, _word = _heading(block["to_next_intersection_heading"], f"{field}.to_next_intersection_heading")
        headings.append(h)
        written = block.get("landmarks", "")[: 4 * MAX_TEXT]
        landmarks.append(written if written.strip() else None)
    results = raw.get("route_results")
    if not isinstance(results, dict) or not isinstance(results.get("geocode_list"), list):
        raise DatasetError(f"{where}.route_results.geocode_list is missing or not a list")
    geo_list = results["geocode_list"]
    if len(geo_list) != len(blocks):
        raise DatasetError(f"{where}.route_results.geocode_list has {len(geo_list)} points but "
                           f"milestone_info has {len(blocks)} blocks (one per leg)")
    geocodes = tuple(geocode(g, f"{where}.route_results.geocode_list[{k}]") for k, g in enumerate(geo_list))
    for k, (a, b) in enumerate(zip((start,) + geocodes[:-1], geocodes)):
        dist = math.hypot(*to_local(a, b))
        if dist > 20_000:
            raise DatasetError(f"{where}.route_results.geocode_list[{k}] is {dist:.0f} m from the previous "
                               "point; legs longer than 20 km are not street routes")
    dest = raw.get("dest_place")
    name = dest.get("name") if isinstance(dest, dict) else None
    return DatasetRoute(index=index, start=start, init_heading=None if init_heading % 360.0 == 0 else init_heading % 360.0,
                        headings=tuple(headings), landmarks=tuple(landmarks), geocodes=geocodes,
                        destination=clean_text(name) or None if isinstance(name, str) else None)


def read_landmark(written: str | None, form: Callable[[str], str]) -> str | None:
    """The landmark text of a leg in one protocol's form (``form``: :func:`~virl_env.released.files.clean_text`
    for the suite, :func:`~virl_env.released.files.written_text` for the paper), or None when there is none
    (nothing written, or the authors' ``No landmark...``)."""
    text = form(written) if written else ""
    return None if not text or text.lower().startswith("no landmark") else text


def landmark_names(text: str | None) -> tuple[str, ...]:
    """The names in a landmark text (``"Cafe Test is on your left"`` -> ``("Cafe Test",)``)."""
    if not text:
        return ()
    names = []
    for part in text.split(";"):
        m = _LANDMARK_NAME.match(part)
        if m:
            names.append(m.group(1).strip())
    return tuple(names)


def build_episode(route: DatasetRoute, forward_points: int, rng: np.random.Generator
                  ) -> tuple[EpisodeRoute, tuple[RailPoint, ...]]:
    """Instruction and rail of a dataset route (the initial heading is drawn from ``rng`` when the
    data leaves it open, at least 15 degrees away from the first leg)."""
    if isinstance(forward_points, bool) or not isinstance(forward_points, int) or not 0 <= forward_points <= 8:
        raise ValueError(f"forward_points must be an int in [0, 8], got {forward_points!r}")
    heads = route.headings
    landmarks = [read_landmark(text, clean_text) for text in route.landmarks]
    if route.init_heading is None:
        options = [h for h in range(360) if abs(wrap_angle(h - heads[0])) >= 15.0]
        init = float(options[int(rng.integers(len(options)))])
    else:
        init = route.init_heading
    origin = route.start
    keys = [(0.0, 0.0)] + [to_local(origin, g) for g in route.geocodes]
    legs = len(heads)
    sentences: list[str] = []
    prev = init
    for k in range(legs):
        sentences.append(turn_sentence(k == 0, relative_turn(prev, heads[k]), compass_name(heads[k])))
        prev = heads[k]
        lm = landmarks[k]
        if k < legs - 1:
            sentences.append(f"Move forward until you reach the next intersection where {lm}." if lm
                             else "Move forward until you reach the next intersection.")
        elif lm:
            sentences.append(f"Move forward until you reach the destination where {lm}.")
        elif route.destination:
            sentences.append(f"Move forward until you reach the destination {route.destination}.")
        else:
            sentences.append("Move forward until you reach the destination.")
    rail = [RailPoint(position=keys[0], heading=init, kind="start", observation="No landmarks nearby",
                      landmarks=(), at_intersection=False, sentence=0, turn_to=heads[0],
                      turn_relative=relative_turn(init, heads[0]))]
    for k in range(legs):
        (px, py), (qx, qy) = keys[k], keys[k + 1]
        if math.hypot(qx - px, qy - py) > 5.0:
            for i in range(1, forward_points + 1):
                f = i / (forward_points + 1)
                rail.append(RailPoint(position=(px + (qx - px) * f, py + (qy - py) * f), heading=heads[k],
                                      kind="forward", observation="No landmarks nearby", landmarks=(),
                                      at_intersection=False, sentence=2 * k + 1, turn_to=None, turn_relative=None))
        seen = landmarks[k] or "No landmarks nearby"
        if k == legs - 1:
            rail.append(RailPoint(position=keys[k + 1], heading=heads[k], kind="destination", observation=seen,
                                  landmarks=landmark_names(landmarks[k]), at_intersection=False,
                                  sentence=2 * k + 1, turn_to=None, turn_relative=None))
        else:
            rail.append(RailPoint(position=keys[k + 1], heading=heads[k], kind="turn",
                                  observation=f"{seen}; You observe an intersection",
                                  landmarks=landmark_names(landmarks[k]), at_intersection=True,
                                  sentence=2 * (k + 1), turn_to=heads[k + 1],
                                  turn_relative=relative_turn(heads[k], heads[k + 1])))
    episode = EpisodeRoute(index=route.index, sentences=tuple(sentences), points=tuple(keys), origin=origin)
    return episode, tuple(rail)


# ---- the authors' evaluator ----------------------------------------------------------------------------
PAPER_MIN_LEG = 5.0
"""Legs of at most this many metres (geodesic) get no interpolated points and no draws, as in the authors' code."""

PAPER_EVAL_SEED = 12
"""The seed of the authors' evaluator (``random.seed(12)``)."""

PAPER_EVAL_EPISODES = 48
"""Episodes of the authors' ID and rule-OOD evaluation (routes drawn with replacement)."""

PAPER_VISUAL_OOD_EPISODES = 18
"""Episodes of their visual-OOD evaluation (``route_list[0..17]`` in file order)."""


@dataclass(frozen=True)
class PaperDraws:
    """The random draws of one episode of the authors' evaluation, for an exact replay.

    Attributes:
        route: The route index (``reset(options={"route": ...})``).
        init_heading: The drawn start heading (``randint(0, 359)``), or None when the data gives one.
        rail_draws: The uniform draws of the rail, ``forward_points`` per leg longer than
            :data:`PAPER_MIN_LEG`, leg by leg.
    """

    route: int
    init_heading: int | None
    rail_draws: tuple[float, ...]

    def reset_options(self) -> dict[str, object]:
        """The reset options that replay this episode under ``protocol="paper"``."""
        return {"route": self.route,
                "paper_draws": {"init_heading": self.init_heading, "rail_draws": list(self.rail_draws)}}


def leg_lengths(route: DatasetRoute) -> list[float]:
    """The geodesic length of each leg of ``route`` in metres."""
    keys = (route.start,) + route.geocodes
    return [math.hypot(*to_local(a, b)) for a, b in zip(keys[:-1], keys[1:])]


def paper_evaluation_draws(routes: Sequence[DatasetRoute] | RouteDataset, *, visual_ood: bool = False,
                           episodes: int | None = None, forward_points: int = 5,
                           seed: int = PAPER_EVAL_SEED) -> tuple[PaperDraws, ...]:
    """Replay the authors' evaluator's random stream: which routes it plays and the draws of each.

    After ``random.seed(12)`` their evaluator, at each reset, picks ``random.choice(route_list)``
    (with replacement; in file order for visual OOD), draws ``random.randint(0, 359)`` when the
    route has no start heading, then ``random.random()`` ``forward_points`` times for each leg
    longer than 5 m. This replays that stream on a private ``random.Random(seed)`` (never the global
    one). Model steps draw nothing, so the list is the same for text and image, ID and rule OOD.

    Args:
        routes: The loaded dataset (or its routes) in file order.
        visual_ood: Routes ``0..17`` in order instead of random choices.
        episodes: How many episodes (default 48, or 18 for visual OOD).
        forward_points: Draws per leg (the paper's ``straight_line_length``, 5).
        seed: The evaluator's seed (12).

    Raises:
        ValueError: No routes, or visual OOD asking for more episodes than there are routes.
    """
    routes = routes.routes if isinstance(routes, RouteDataset) else tuple(routes)
    if not routes:
        raise ValueError("paper_evaluation_draws needs at least one route")
    count = episodes if episodes is not None else (PAPER_VISUAL_OOD_EPISODES if visual_ood else PAPER_EVAL_EPISODES)
    if visual_ood and count > len(routes):
        raise ValueError(f"visual OOD plays routes 0..{count - 1} in order but there are {len(routes)} routes")
    rng = Random(seed)
    out = []
    for episode in range(count):
        index = episode if visual_ood else rng.choice(range(len(routes)))
        route = routes[index]
        heading = rng.randint(0, 359) if route.init_heading is None else None
        draws = [rng.random() for length in leg_lengths(route) if length > PAPER_MIN_LEG
                 for _ in range(forward_points)]
        out.append(PaperDraws(index, heading, tuple(draws)))
    return tuple(out)


class RouteDataset:
    """A validated dataset directory (see the module docstring).

    Routes and the mapping are checked at load; panoramas when first used (or all at once with
    :meth:`check_panoramas`).
    """

    def __init__(self, root: Path, routes: tuple[DatasetRoute, ...], mapping: PanoIndex) -> None:
        self.root = root
        self.routes = routes
        self.mapping = mapping
        self.street_views = root / STREET_VIEW_DIR

    @classmethod
    def load(cls, root: str | os.PathLike[str], mapping_file: str | os.PathLike[str] | None = None) -> RouteDataset:
        """Load and validate ``root``.

        Raises:
            DatasetError: For a missing or malformed file (named, with the field).
        """
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"{root}: dataset directory not found")
        file = root / ROUTE_FILE
        data = read_json(file, MAX_JSON_BYTES)
        if isinstance(data, list) and len(data) == 2 and isinstance(data[0], list) and isinstance(data[1], int):
            raw_routes = data[0]  # the authors' [routes, count]
        elif isinstance(data, list):
            raw_routes = data
        else:
            raise DatasetError(f"{file}: expected [routes, count] or a list of routes, got {type(data).__name__}")
        if not raw_routes:
            raise DatasetError(f"{file}: no routes")
        routes = tuple(_parse_route(r, i, file) for i, r in enumerate(raw_routes))
        if not (root / STREET_VIEW_DIR).is_dir():
            raise DatasetError(f"{root / STREET_VIEW_DIR}: street view directory not found")
        mapping_path = Path(mapping_file) if mapping_file is not None else root / MAPPING_FILE
        if not mapping_path.exists() and any(root.glob("*.pkl")):
            raise DatasetError(f"{mapping_path}: not found; convert the authors' pickle first: python -m "
                               f"virl_env.released.convert {next(root.glob('*.pkl'))} {mapping_path} --trust-pickle")
        return cls(root, routes, load_pano_mapping(mapping_path))

    def __len__(self) -> int:
        return len(self.routes)

    def __repr__(self) -> str:
        return f"RouteDataset({str(self.root)!r}, {len(self.routes)} routes, {len(self.mapping)} panoramas)"

    def episode(self, index: int, forward_points: int, rng: np.random.Generator
                ) -> tuple[EpisodeRoute, tuple[RailPoint, ...]]:
        """Instruction and rail of route ``index`` (see :func:`build_episode`)."""
        return build_episode(self.routes[index], forward_points, rng)

    def landmark_texts(self) -> tuple[str, ...]:
        """Every landmark text of the routes as written (what a protocol that keeps them shows)."""
        return tuple(text for route in self.routes for text in route.landmarks if text)

    def panorama_at(self, route: EpisodeRoute, point: RailPoint) -> str:
        """The panorama id used at a rail point (nearest within :data:`MAPPING_RADIUS`)."""
        return self.mapping.nearest(to_geo(route.origin, point.position))[0]

    def grid(self, route: EpisodeRoute, point: RailPoint, size: int) -> np.ndarray:
        """The 2x2 grid (front, right / back, left) cut from the panorama at a rail point (cached)."""
        return panorama_grid(self.street_views, self.panorama_at(route, point), point.heading, size)

    def check_panoramas(self) -> int:
        """Decode every panorama of the mapping (raising :class:`DatasetError` on the first bad
        one); returns how many were checked."""
        for _lat, _lng, pano in self.mapping.entries:
            load_panorama(self.street_views, pano)
        return len(self.mapping)
