"""The paper authors' released V-IRL routes: loading, checking, rails and panorama views.

A dataset directory holds:

* ``route_infos.json``: the authors' file, ``[routes, count]`` (a bare list of routes is accepted
  too). Each route has ``start_place.relocated_geocode`` ``[lat, lng]``, ``init_heading`` (degrees;
  0 or missing means "draw one at reset", as in the authors' environment),
  ``milestone_info`` (one ``{...}`` block per leg with ``"to_next_intersection_heading": "177
  (south)"`` and optionally ``"landmarks": "X is on your left"``), ``route_results.geocode_list``
  (``[lat, lng]`` of the end of each leg: the turning intersections, then the destination) and
  ``dest_place`` (optional ``name``).
* ``street_views/<pano_id>.jpg``: equirectangular panoramas, each with
  ``street_views/<pano_id>.metadata.json`` holding its ``rotation`` in degrees.
* ``pano_mapping.json``: the (lat, lng) -> panorama id mapping in JSON form
  (``{"format": "virl_env.pano_mapping", "version": 1, "entries": [[lat, lng, "pano_id"], ...]}``).
  The authors ship it as a pickle, and unpickling runs code chosen by whoever wrote the file, so
  this loader never reads pickles; convert theirs once with
  ``python -m virl_env.convert MAPPING.pkl DIR/pano_mapping.json --trust-pickle``.

Everything read is untrusted: files are size-bounded, JSON is parsed (never evaluated), numbers must
be finite and in range, panorama ids must match ``[A-Za-z0-9_-]{1,128}`` (no paths), images are
bounded in size and truncated files are reported. Problems raise :class:`DatasetError` naming the
file and the field.

The rail of a dataset route follows the authors' construction (start, ``forward_points`` points
evenly spaced on each leg, a turn at every intersection of ``geocode_list``, the destination), with
this package's fixes: turns are worded with angle wrap-around, interpolated points never coincide
with an intersection, text is ASCII-sanitised and bounded.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from virl_env.instructions import (
    COMPASS_DIRECTIONS,
    compass_name,
    number_sentences,
    relative_turn,
    turn_sentence,
    wrap_angle,
)
from virl_env.prompts import OBS_CHARSET
from virl_env.routes import RailPoint

__all__ = [
    "DatasetError",
    "DatasetRoute",
    "EpisodeRoute",
    "MAPPING_FILE",
    "MAPPING_FORMAT",
    "PanoIndex",
    "ROUTE_FILE",
    "RouteDataset",
    "build_episode",
    "STREET_VIEW_DIR",
    "convert_pickle_mapping",
    "load_pano_mapping",
    "render_route_map",
    "write_pano_mapping",
]

ROUTE_FILE = "route_infos.json"
STREET_VIEW_DIR = "street_views"
MAPPING_FILE = "pano_mapping.json"
MAPPING_FORMAT = "virl_env.pano_mapping"
MAX_JSON_BYTES = 256 * 2**20
MAX_METADATA_BYTES = 2**20
MAX_IMAGE_BYTES = 64 * 2**20
MAX_PANORAMA_PIXELS = 8192 * 4096
MAX_LEGS = 16
MAX_TEXT = 200
MAPPING_RADIUS = 50.0
"""A rail point uses the nearest panorama within this many metres."""
EARTH_RADIUS = 6_371_008.8
_PANO_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_HEADING = re.compile(r"\s*(-?\d{1,4}(?:\.\d{1,6})?)\s*\(\s*([A-Za-z ]{1,20})\s*\)\s*")
_LANDMARK_NAME = re.compile(r"^\s*(.+?)\s+is\s+(?:on your|in front of|behind)\b", re.IGNORECASE)
_CHARS = frozenset(OBS_CHARSET)


class DatasetError(ValueError):
    """A dataset file is missing or malformed; the message names the file and the field."""


# ---- small readers ------------------------------------------------------------------------------
def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _read_json(path: Path, limit: int) -> object:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if size > limit:
        raise DatasetError(f"{path}: file is {size} bytes; the limit is {limit}")
    try:
        with open(path, "rb") as fh:
            return json.loads(fh.read(limit + 1), parse_constant=_reject_constant)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not valid JSON ({str(exc)[:200]})") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the file ({exc.strerror or exc})") from None


def _number(value: object, where: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DatasetError(f"{where} must be a number, got {type(value).__name__}")
    x = float(value) if not isinstance(value, int) or abs(value) < 10**18 else math.inf
    if not math.isfinite(x) or not lo <= x <= hi:
        raise DatasetError(f"{where} must be a finite number in [{lo}, {hi}], got {str(value)[:40]}")
    return x


def _geocode(value: object, where: str) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise DatasetError(f"{where} must be [lat, lng], got {str(value)[:60]}")
    return _number(value[0], f"{where}[0] (lat)", -90.0, 90.0), _number(value[1], f"{where}[1] (lng)", -180.0, 180.0)


def _clean(text: str, limit: int = MAX_TEXT) -> str:
    """ASCII form of a text from the data, within the prompt's charset, one line, bounded."""
    ascii_text = unicodedata.normalize("NFKD", text[: limit * 4]).encode("ascii", "ignore").decode("ascii")
    ascii_text = " ".join("".join(c if c in _CHARS and c != "\n" else " " for c in ascii_text).split())
    return ascii_text[:limit].rstrip()


def _pano_id(value: object, where: str) -> str:
    if not isinstance(value, str) or not _PANO_ID.fullmatch(value):
        raise DatasetError(f"{where} must be a panorama id of 1-128 letters, digits, '-' or '_', "
                           f"got {str(value)[:60]!r}")
    return value


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
    degrees = _number(float(m.group(1)), where, -360.0, 720.0) % 360.0
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
        landmarks: Landmark text at the end of each leg (``"X is on your left"``) or None.
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


def _to_local(origin: tuple[float, float], geo: tuple[float, float]) -> tuple[float, float]:
    lat0 = math.radians(origin[0])
    return (EARTH_RADIUS * math.cos(lat0) * math.radians(geo[1] - origin[1]),
            EARTH_RADIUS * math.radians(geo[0] - origin[0]))


def _to_geo(origin: tuple[float, float], xy: tuple[float, float]) -> tuple[float, float]:
    lat0 = math.radians(origin[0])
    return (origin[0] + math.degrees(xy[1] / EARTH_RADIUS),
            origin[1] + math.degrees(xy[0] / (EARTH_RADIUS * max(math.cos(lat0), 1e-9))))


def _parse_route(raw: object, index: int, file: Path) -> DatasetRoute:
    where = f"{file}: routes[{index}]"
    if not isinstance(raw, dict):
        raise DatasetError(f"{where} must be an object, got {type(raw).__name__}")
    start_place = raw.get("start_place")
    if not isinstance(start_place, dict) or "relocated_geocode" not in start_place:
        raise DatasetError(f"{where}.start_place.relocated_geocode is missing")
    start = _geocode(start_place["relocated_geocode"], f"{where}.start_place.relocated_geocode")
    init = raw.get("init_heading", 0)
    init_heading = _number(init, f"{where}.init_heading", -360.0, 720.0) if init is not None else 0.0
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
        text = _clean(block.get("landmarks", ""))
        landmarks.append(None if not text or text.lower().startswith("no landmark") else text)
    results = raw.get("route_results")
    if not isinstance(results, dict) or not isinstance(results.get("geocode_list"), list):
        raise DatasetError(f"{where}.route_results.geocode_list is missing or not a list")
    geo_list = results["geocode_list"]
    if len(geo_list) != len(blocks):
        raise DatasetError(f"{where}.route_results.geocode_list has {len(geo_list)} points but "
                           f"milestone_info has {len(blocks)} blocks (one per leg)")
    geocodes = tuple(_geocode(g, f"{where}.route_results.geocode_list[{k}]") for k, g in enumerate(geo_list))
    for k, (a, b) in enumerate(zip((start,) + geocodes[:-1], geocodes)):
        dist = math.hypot(*_to_local(a, b))
        if dist > 20_000:
            raise DatasetError(f"{where}.route_results.geocode_list[{k}] is {dist:.0f} m from the previous "
                               "point; legs longer than 20 km are not street routes")
    dest = raw.get("dest_place")
    name = dest.get("name") if isinstance(dest, dict) else None
    return DatasetRoute(index=index, start=start, init_heading=None if init_heading % 360.0 == 0 else init_heading % 360.0,
                        headings=tuple(headings), landmarks=tuple(landmarks), geocodes=geocodes,
                        destination=_clean(name) or None if isinstance(name, str) else None)


def _landmark_names(text: str | None) -> tuple[str, ...]:
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
    if route.init_heading is None:
        options = [h for h in range(360) if abs(wrap_angle(h - heads[0])) >= 15.0]
        init = float(options[int(rng.integers(len(options)))])
    else:
        init = route.init_heading
    origin = route.start
    keys = [(0.0, 0.0)] + [_to_local(origin, g) for g in route.geocodes]
    legs = len(heads)
    sentences: list[str] = []
    prev = init
    for k in range(legs):
        sentences.append(turn_sentence(k == 0, relative_turn(prev, heads[k]), compass_name(heads[k])))
        prev = heads[k]
        lm = route.landmarks[k]
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
        seen = route.landmarks[k] or "No landmarks nearby"
        if k == legs - 1:
            rail.append(RailPoint(position=keys[k + 1], heading=heads[k], kind="destination", observation=seen,
                                  landmarks=_landmark_names(route.landmarks[k]), at_intersection=False,
                                  sentence=2 * k + 1, turn_to=None, turn_relative=None))
        else:
            rail.append(RailPoint(position=keys[k + 1], heading=heads[k], kind="turn",
                                  observation=f"{seen}; You observe an intersection",
                                  landmarks=_landmark_names(route.landmarks[k]), at_intersection=True,
                                  sentence=2 * (k + 1), turn_to=heads[k + 1],
                                  turn_relative=relative_turn(heads[k], heads[k + 1])))
    episode = EpisodeRoute(index=route.index, sentences=tuple(sentences), points=tuple(keys), origin=origin)
    return episode, tuple(rail)


# ---- panorama mapping ----------------------------------------------------------------------------
class PanoIndex:
    """(lat, lng) -> panorama id, with nearest-panorama lookup within a radius (grid hash)."""

    _CELL = 50.0

    def __init__(self, entries: Sequence[tuple[float, float, str]], source: str = "mapping") -> None:
        if not entries:
            raise DatasetError(f"{source}: the mapping has no entries")
        self.source = source
        self.entries = tuple(entries)
        self._origin = (entries[0][0], entries[0][1])
        self._cells: dict[tuple[int, int], list[int]] = {}
        for i, (lat, lng, _) in enumerate(self.entries):
            x, y = _to_local(self._origin, (lat, lng))
            self._cells.setdefault((math.floor(x / self._CELL), math.floor(y / self._CELL)), []).append(i)

    def __len__(self) -> int:
        return len(self.entries)

    def nearest(self, geo: tuple[float, float], radius: float = MAPPING_RADIUS) -> tuple[str, float]:
        """``(pano_id, distance in metres)`` of the nearest panorama within ``radius``.

        Raises:
            DatasetError: If there is none.
        """
        x, y = _to_local(self._origin, geo)
        reach = int(math.ceil(radius / self._CELL))
        cx, cy = math.floor(x / self._CELL), math.floor(y / self._CELL)
        best: tuple[float, int] | None = None
        for gx in range(cx - reach, cx + reach + 1):
            for gy in range(cy - reach, cy + reach + 1):
                for i in self._cells.get((gx, gy), ()):
                    lat, lng, _ = self.entries[i]
                    d = math.hypot(*_to_local(geo, (lat, lng)))
                    if best is None or d < best[0]:
                        best = (d, i)
        if best is None or best[0] > radius:
            raise DatasetError(f"{self.source}: no panorama within {radius:g} m of ({geo[0]:.6f}, {geo[1]:.6f})")
        return self.entries[best[1]][2], best[0]


def load_pano_mapping(path: str | os.PathLike[str]) -> PanoIndex:
    """Read the JSON form of the (lat, lng) -> panorama id mapping.

    Raises:
        DatasetError: Missing file, malformed JSON, wrong format or version, a bad entry (named).
    """
    path = Path(path)
    data = _read_json(path, MAX_JSON_BYTES)
    if not isinstance(data, dict) or data.get("format") != MAPPING_FORMAT:
        raise DatasetError(f"{path}: format must be {MAPPING_FORMAT!r} (convert the authors' pickle with "
                           "python -m virl_env.convert)")
    if data.get("version") != 1:
        raise DatasetError(f"{path}: version must be 1, got {str(data.get('version'))[:20]}")
    raw = data.get("entries")
    if not isinstance(raw, list):
        raise DatasetError(f"{path}: entries must be a list of [lat, lng, pano_id]")
    entries = []
    for i, entry in enumerate(raw):
        where = f"{path}: entries[{i}]"
        if not isinstance(entry, list) or len(entry) != 3:
            raise DatasetError(f"{where} must be [lat, lng, pano_id], got {str(entry)[:60]}")
        lat, lng = _geocode(entry[:2], where)
        entries.append((lat, lng, _pano_id(entry[2], f"{where}[2]")))
    return PanoIndex(entries, source=str(path))


def write_pano_mapping(mapping: dict | Sequence, path: str | os.PathLike[str]) -> int:
    """Write a mapping (``{(lat, lng): pano_id}`` or ``[(lat, lng, pano_id)]``) in the JSON form,
    validating every entry. Returns the number of entries."""
    items = mapping.items() if isinstance(mapping, dict) else ((tuple(e[:2]), e[2]) for e in mapping)
    entries = []
    for i, (geo, pano) in enumerate(items):
        lat, lng = _geocode(list(geo) if isinstance(geo, (list, tuple)) else geo, f"mapping entry {i}")
        entries.append([lat, lng, _pano_id(pano, f"mapping entry {i} pano id")])
    Path(path).write_text(json.dumps({"format": MAPPING_FORMAT, "version": 1, "entries": entries}))
    return len(entries)


class _MappingUnpickler(pickle.Unpickler):
    """Unpickler for the authors' mapping: plain containers, numbers and strings, plus numpy
    scalars; any other global (the way a pickle runs code) is refused."""

    _ALLOWED = {("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):  # type: ignore[override]
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"the mapping pickle refers to {module}.{name}, which a mapping of "
                                     "numbers to strings never needs; refusing to load it")


def convert_pickle_mapping(src: str | os.PathLike[str], dst: str | os.PathLike[str], *,
                           trust_pickle: bool = False) -> int:
    """Convert the authors' pickled (lat, lng) -> panorama id mapping to the JSON form.

    Args:
        src: The pickle.
        dst: Where to write the JSON.
        trust_pickle: Must be True: unpickling can run code chosen by the file's author, so only
            convert a pickle whose origin you trust. (As a second line of defence the unpickler
            refuses every global but numpy scalars.)

    Returns:
        The number of entries written.

    Raises:
        PermissionError: Without ``trust_pickle``.
        DatasetError: If the pickle is not a mapping of ``(lat, lng)`` to panorama ids.
    """
    if trust_pickle is not True:
        raise PermissionError("reading a pickle can run arbitrary code; pass trust_pickle=True (CLI: "
                              "--trust-pickle) only for a file whose origin you trust")
    src = Path(src)
    if src.stat().st_size > MAX_JSON_BYTES:
        raise DatasetError(f"{src}: file is larger than {MAX_JSON_BYTES} bytes")
    try:
        with open(src, "rb") as fh:
            mapping = _MappingUnpickler(fh).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError,
            IndexError, KeyError, RecursionError) as exc:
        raise DatasetError(f"{src}: not a readable mapping pickle ({str(exc)[:200]})") from None
    if not isinstance(mapping, dict):
        raise DatasetError(f"{src}: expected a dict {{(lat, lng): pano_id}}, got {type(mapping).__name__}")
    clean = {}
    for i, (geo, pano) in enumerate(mapping.items()):
        if not isinstance(geo, (tuple, list)) or len(geo) != 2:
            raise DatasetError(f"{src}: key {i} must be a (lat, lng) pair, got {str(geo)[:60]}")
        geo = tuple(float(v) if isinstance(v, np.generic) else v for v in geo)
        clean[geo] = pano
    try:
        return write_pano_mapping(clean, dst)
    except DatasetError as exc:
        raise DatasetError(f"{src}: {exc}") from None


# ---- panoramas -----------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _load_panorama(folder: str, pano: str) -> tuple[np.ndarray, float]:
    """Decoded panorama and its rotation (8 most recent per process)."""
    base = Path(folder)
    image_path = (base / f"{pano}.jpg")
    meta_path = (base / f"{pano}.metadata.json")
    root = base.resolve()
    for p in (image_path, meta_path):
        if p.resolve().parent != root:
            raise DatasetError(f"{p}: resolves outside {root}")
    meta = _read_json(meta_path, MAX_METADATA_BYTES)
    if not isinstance(meta, dict) or "rotation" not in meta:
        raise DatasetError(f"{meta_path}: rotation is missing")
    rotation = _number(meta["rotation"], f"{meta_path}: rotation", -3600.0, 3600.0) % 360.0
    try:
        size = image_path.stat().st_size
    except OSError:
        raise DatasetError(f"{image_path}: panorama image is missing") from None
    if size > MAX_IMAGE_BYTES:
        raise DatasetError(f"{image_path}: file is {size} bytes; the limit is {MAX_IMAGE_BYTES}")
    try:
        with Image.open(image_path) as img:
            if img.format not in ("JPEG", "PNG"):
                raise DatasetError(f"{image_path}: expected a JPEG panorama, got {img.format}")
            w, h = img.size
            if w * h > MAX_PANORAMA_PIXELS:
                raise DatasetError(f"{image_path}: {w}x{h} pixels; the limit is {MAX_PANORAMA_PIXELS}")
            if not 1.5 <= w / max(h, 1) <= 2.5 or h < 8:
                raise DatasetError(f"{image_path}: {w}x{h} is not an equirectangular panorama (about 2:1)")
            pixels = np.asarray(img.convert("RGB"))
    except DatasetError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DatasetError(f"{image_path}: cannot decode the panorama ({str(exc)[:160]})") from None
    pixels.setflags(write=False)
    return pixels, rotation


@lru_cache(maxsize=256)
def _grid(folder: str, pano: str, heading: float, size: int) -> np.ndarray:
    from virl_env.streetview import VIEW_OFFSETS, compose_grid, project_panorama

    pixels, rotation = _load_panorama(folder, pano)
    grid = compose_grid([project_panorama(pixels, heading + off, rotation, size) for off in VIEW_OFFSETS])
    grid.setflags(write=False)
    return grid


# ---- the dataset ----------------------------------------------------------------------------------
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
        data = _read_json(file, MAX_JSON_BYTES)
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
                               f"virl_env.convert {next(root.glob('*.pkl'))} {mapping_path} --trust-pickle")
        return cls(root, routes, load_pano_mapping(mapping_path))

    def __len__(self) -> int:
        return len(self.routes)

    def __repr__(self) -> str:
        return f"RouteDataset({str(self.root)!r}, {len(self.routes)} routes, {len(self.mapping)} panoramas)"

    def episode(self, index: int, forward_points: int, rng: np.random.Generator
                ) -> tuple[EpisodeRoute, tuple[RailPoint, ...]]:
        """Instruction and rail of route ``index`` (see :func:`build_episode`)."""
        return build_episode(self.routes[index], forward_points, rng)

    def panorama_at(self, route: EpisodeRoute, point: RailPoint) -> str:
        """The panorama id used at a rail point (nearest within :data:`MAPPING_RADIUS`)."""
        return self.mapping.nearest(_to_geo(route.origin, point.position))[0]

    def grid(self, route: EpisodeRoute, point: RailPoint, size: int) -> np.ndarray:
        """The 2x2 grid (front, right / back, left) cut from the panorama at a rail point (cached)."""
        pano = self.panorama_at(route, point)
        return _grid(str(self.street_views), pano, round(float(point.heading) % 360.0, 4), int(size))

    def check_panoramas(self) -> int:
        """Decode every panorama of the mapping (raising :class:`DatasetError` on the first bad
        one); returns how many were checked."""
        for _lat, _lng, pano in self.mapping.entries:
            _load_panorama(str(self.street_views), pano)
        return len(self.mapping)


# ---- map -------------------------------------------------------------------------------------------
def render_route_map(route: EpisodeRoute, rail: Sequence[RailPoint], index: int, size: int = 768) -> np.ndarray:
    """A plain top-down picture of a dataset route: legs, rail points and the agent (HWC uint8)."""
    img = Image.new("RGB", (size, size), (236, 232, 224))
    draw = ImageDraw.Draw(img)
    pts = np.asarray(route.points + tuple(p.position for p in rail))
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    span = max(float((hi - lo).max()), 50.0)
    scale = size * 0.84 / span
    mid = (lo + hi) / 2

    def px(p: tuple[float, float]) -> tuple[float, float]:
        return size / 2 + (p[0] - mid[0]) * scale, size / 2 - (p[1] - mid[1]) * scale

    draw.line([px(p) for p in route.points], fill=(30, 110, 230), width=max(3, size // 150))
    r = max(3, size // 200)
    for k, p in enumerate(rail):
        x, y = px(p.position)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(30, 110, 230) if k < index else (255, 255, 255),
                     outline=(30, 110, 230))
    here = rail[min(index, len(rail) - 1)]
    x, y = px(here.position)
    h = math.radians(here.heading)
    tip = size / 40
    fx, fy = math.sin(h), -math.cos(h)
    draw.polygon([(x + fx * tip, y + fy * tip), (x - fx * tip * 0.6 - fy * tip * 0.5, y - fy * tip * 0.6 + fx * tip * 0.5),
                  (x - fx * tip * 0.6 + fy * tip * 0.5, y - fy * tip * 0.6 - fx * tip * 0.5)], fill=(255, 150, 0))
    draw.text((10, 10), f"dataset route {route.index}: {len(route.points) - 1} legs", fill=(20, 20, 20))
    return np.asarray(img, dtype=np.uint8)
