"""The panoramas of a released dataset: the (lat, lng) -> panorama id index and the street-view
grid cut from a panorama.

``pano_mapping.json`` holds the mapping in JSON form:
``{"format": "virl_env.pano_mapping", "version": 1, "entries": [[lat, lng, "pano_id"], ...]}``
(:func:`write_pano_mapping` writes it; :mod:`virl_env.released.convert` converts the authors' pickle).
A rail point uses the nearest panorama within :data:`MAPPING_RADIUS` metres. Panorama files are
size-bounded, checked to be roughly 2:1 and must stay inside the street-view folder.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from virl_env.released.files import MAX_JSON_BYTES, DatasetError, geocode, number, pano_id, read_json
from virl_env.world.geo import to_local

__all__ = [
    "MAPPING_FILE",
    "MAPPING_FORMAT",
    "MAPPING_RADIUS",
    "PanoIndex",
    "load_pano_mapping",
    "load_panorama",
    "panorama_grid",
    "write_pano_mapping",
]

MAPPING_FILE = "pano_mapping.json"
MAPPING_FORMAT = "virl_env.pano_mapping"
MAX_METADATA_BYTES = 2**20
MAX_IMAGE_BYTES = 64 * 2**20
MAX_PANORAMA_PIXELS = 8192 * 4096
MAPPING_RADIUS = 50.0
"""A rail point uses the nearest panorama within this many metres."""


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
            x, y = to_local(self._origin, (lat, lng))
            self._cells.setdefault((math.floor(x / self._CELL), math.floor(y / self._CELL)), []).append(i)

    def __len__(self) -> int:
        return len(self.entries)

    def nearest(self, geo: tuple[float, float], radius: float = MAPPING_RADIUS) -> tuple[str, float]:
        """``(pano_id, distance in metres)`` of the nearest panorama within ``radius``.

        Raises:
            DatasetError: If there is none.
        """
        _lat, _lng, pano, distance = self.nearest_entry(geo, radius)
        return pano, distance

    def nearest_entry(self, geo: tuple[float, float], radius: float = MAPPING_RADIUS
                      ) -> tuple[float, float, str, float]:
        """``(lat, lng, pano_id, distance in metres)`` of the nearest panorama within ``radius``.

        Raises:
            DatasetError: If there is none.
        """
        x, y = to_local(self._origin, geo)
        reach = int(math.ceil(radius / self._CELL))
        cx, cy = math.floor(x / self._CELL), math.floor(y / self._CELL)
        best: tuple[float, int] | None = None
        for gx in range(cx - reach, cx + reach + 1):
            for gy in range(cy - reach, cy + reach + 1):
                for i in self._cells.get((gx, gy), ()):
                    lat, lng, _ = self.entries[i]
                    d = math.hypot(*to_local(geo, (lat, lng)))
                    if best is None or d < best[0]:
                        best = (d, i)
        if best is None or best[0] > radius:
            raise DatasetError(f"{self.source}: no panorama within {radius:g} m of ({geo[0]:.6f}, {geo[1]:.6f})")
        lat, lng, pano = self.entries[best[1]]
        return lat, lng, pano, best[0]


def load_pano_mapping(path: str | os.PathLike[str]) -> PanoIndex:
    """Read the JSON form of the (lat, lng) -> panorama id mapping.

    Raises:
        DatasetError: Missing file, malformed JSON, wrong format or version, a bad entry (named).
    """
    path = Path(path)
    data = read_json(path, MAX_JSON_BYTES)
    if not isinstance(data, dict) or data.get("format") != MAPPING_FORMAT:
        raise DatasetError(f"{path}: format must be {MAPPING_FORMAT!r} (convert the authors' pickle with "
                           "python -m virl_env.released.convert)")
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
        lat, lng = geocode(entry[:2], where)
        entries.append((lat, lng, pano_id(entry[2], f"{where}[2]")))
    return PanoIndex(entries, source=str(path))


def write_pano_mapping(mapping: dict | Sequence, path: str | os.PathLike[str]) -> int:
    """Write a mapping (``{(lat, lng): pano_id}`` or ``[(lat, lng, pano_id)]``) in the JSON form,
    validating every entry. Returns the number of entries."""
    items = mapping.items() if isinstance(mapping, dict) else ((tuple(e[:2]), e[2]) for e in mapping)
    entries = []
    for i, (geo, pano) in enumerate(items):
        lat, lng = geocode(list(geo) if isinstance(geo, (list, tuple)) else geo, f"mapping entry {i}")
        entries.append([lat, lng, pano_id(pano, f"mapping entry {i} pano id")])
    Path(path).write_text(json.dumps({"format": MAPPING_FORMAT, "version": 1, "entries": entries}))
    return len(entries)


def load_panorama(folder: str | os.PathLike[str], pano: str) -> tuple[np.ndarray, float]:
    """The decoded panorama ``pano`` of ``folder`` (read-only HWC ``uint8``) and its rotation in
    degrees, through a per-process cache of the 8 most recent.

    Raises:
        DatasetError: Missing, oversized, undecodable or non-equirectangular image; bad metadata.
    """
    return _load_panorama(str(folder), pano)


def panorama_grid(folder: str | os.PathLike[str], pano: str, heading: float, size: int) -> np.ndarray:
    """The 2x2 grid of views (front, right / back, left) at ``heading`` cut from panorama ``pano``
    of ``folder``, ``size`` pixels per view (read-only, cached per process)."""
    return _grid(str(folder), pano, round(float(heading) % 360.0, 4), int(size))


@lru_cache(maxsize=8)
def _load_panorama(folder: str, pano: str) -> tuple[np.ndarray, float]:
    base = Path(folder)
    image_path = (base / f"{pano}.jpg")
    meta_path = (base / f"{pano}.metadata.json")
    root = base.resolve()
    for p in (image_path, meta_path):
        if p.resolve().parent != root:
            raise DatasetError(f"{p}: resolves outside {root}")
    meta = read_json(meta_path, MAX_METADATA_BYTES)
    if not isinstance(meta, dict) or "rotation" not in meta:
        raise DatasetError(f"{meta_path}: rotation is missing")
    rotation = number(meta["rotation"], f"{meta_path}: rotation", -3600.0, 3600.0) % 360.0
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
    from virl_env.streetview.views import VIEW_OFFSETS, compose_grid, project_panorama

    pixels, rotation = _load_panorama(folder, pano)
    grid = compose_grid([project_panorama(pixels, heading + off, rotation, size) for off in VIEW_OFFSETS])
    grid.setflags(write=False)
    return grid
