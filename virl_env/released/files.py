"""Bounded readers for the untrusted files of a dataset directory, and the error they raise.

Files are size-bounded before they are read, JSON is parsed (never evaluated) with the non-standard
constants ``NaN``/``Infinity`` refused, numbers must be finite and in range, panorama ids must match
``[A-Za-z0-9_-]{1,128}`` (so they can never name a path), and text is read in one of two forms: folded to the
ASCII of the suite's prompts (:func:`clean_text`) or kept as written (:func:`written_text`, the paper protocol's).
Every problem is a :class:`DatasetError` naming the file and the field.
"""

from __future__ import annotations

import json
import math
import re
import string
import unicodedata
from pathlib import Path

__all__ = [
    "DatasetError",
    "MAX_JSON_BYTES",
    "MAX_TEXT",
    "check_size",
    "clean_text",
    "geocode",
    "number",
    "pano_id",
    "read_json",
    "written_text",
]

MAX_JSON_BYTES = 256 * 2**20
"""Largest JSON file (routes, mapping) read."""
MAX_TEXT = 200
"""Longest text taken from the data (landmark phrases, names), in characters."""
_PANO_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
# One line of the suite's prompt charset (virl_env.protocols.prompts.OBS_CHARSET without the newline).
_CHARS = frozenset(string.ascii_letters + string.digits + string.punctuation + " ")


class DatasetError(ValueError):
    """A dataset file is missing or malformed; the message names the file and the field."""


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def check_size(path: Path, limit: int) -> int:
    """The size of the file at ``path`` in bytes, checked before anything reads it.

    Raises:
        DatasetError: Missing or unreadable file, or larger than ``limit`` bytes.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if size > limit:
        raise DatasetError(f"{path}: file is {size} bytes; the limit is {limit}")
    return size


def read_json(path: Path, limit: int) -> object:
    """Parse the JSON file at ``path`` if it is at most ``limit`` bytes.

    Raises:
        DatasetError: Missing or unreadable file, too large, or not valid JSON.
    """
    check_size(path, limit)
    try:
        with open(path, "rb") as fh:
            return json.loads(fh.read(limit + 1), parse_constant=_reject_constant)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not valid JSON ({str(exc)[:200]})") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the file ({exc.strerror or exc})") from None


def number(value: object, where: str, lo: float, hi: float) -> float:
    """``value`` as a float in ``[lo, hi]``.

    Raises:
        DatasetError: Not an int or float (bools refused), not finite, or out of range.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DatasetError(f"{where} must be a number, got {type(value).__name__}")
    x = float(value) if not isinstance(value, int) or abs(value) < 10**18 else math.inf
    if not math.isfinite(x) or not lo <= x <= hi:
        raise DatasetError(f"{where} must be a finite number in [{lo}, {hi}], got {str(value)[:40]}")
    return x


def geocode(value: object, where: str) -> tuple[float, float]:
    """``value`` as a ``(lat, lng)`` pair of finite degrees.

    Raises:
        DatasetError: Not a pair of numbers in range.
    """
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise DatasetError(f"{where} must be [lat, lng], got {str(value)[:60]}")
    return number(value[0], f"{where}[0] (lat)", -90.0, 90.0), number(value[1], f"{where}[1] (lng)", -180.0, 180.0)


def pano_id(value: object, where: str) -> str:
    """``value`` as a panorama id (1 to 128 letters, digits, ``-`` or ``_``; never a path).

    Raises:
        DatasetError: Anything else.
    """
    if not isinstance(value, str) or not _PANO_ID.fullmatch(value):
        raise DatasetError(f"{where} must be a panorama id of 1-128 letters, digits, '-' or '_', "
                           f"got {str(value)[:60]!r}")
    return value


def clean_text(text: str, limit: int = MAX_TEXT) -> str:
    """ASCII form of a text from the data, within the suite's prompt charset, one line, bounded
    (``"Caf\u00e9"`` -> ``"Cafe"``)."""
    ascii_text = unicodedata.normalize("NFKD", text[: limit * 4]).encode("ascii", "ignore").decode("ascii")
    ascii_text = " ".join("".join(c if c in _CHARS else " " for c in ascii_text).split())
    return ascii_text[:limit].rstrip()


def written_text(text: str, limit: int = MAX_TEXT) -> str:
    """A text from the data as written (``"Caf\u00e9"`` stays), on one line and bounded: control, format and
    unassigned characters become spaces, runs of blanks one space."""
    kept = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in text[: limit * 4])
    return " ".join(kept.split())[:limit].rstrip()
