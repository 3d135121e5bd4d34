"""Convert the authors' pickled (lat, lng) -> panorama id mapping to the JSON form the loader reads.

Usage::

    python -m virl_env.released.convert MAPPING.pkl DATASET_DIR/pano_mapping.json --trust-pickle

Unpickling a file can run any code its author chose, which is why :mod:`virl_env.released.dataset` never
reads pickles and why this one-off conversion requires ``--trust-pickle``: pass it only for a file
whose origin you trust (e.g. downloaded from the authors' release yourself).

As a second line of defence the file is read by a restricted unpickler that accepts only what the
authors' mapping holds: one dict whose keys are ``(lat, lng)`` pairs of plain or numpy float
coordinates and whose values are string ids. No numpy object is ever built from the file: a numpy
float scalar is decoded from its bytes by this module, and every other numpy scalar (str,
datetime, complex, a structured dtype...) becomes a refusal naming the entry. Containers may not
nest beyond ``{(lat, lng): id}``, so no input can make hashing or printing a value explode, and
the file size and entry count are bounded. The mapping's entries are read into a list, never into a dict keyed
by the file's values: Python's hash of numbers is not randomised, so keys crafted to collide would make filling
such a dict quadratic (40,000 keys: 22 s). Repeated coordinates are merged afterwards, keyed by their bytes
(whose hash is randomised), as a dict would merge them. Every problem is a
:class:`~virl_env.released.files.DatasetError` naming the file (and the entry where there is one).
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import struct
import sys
from pathlib import Path

from virl_env.released.files import DatasetError, check_size, number, pano_id
from virl_env.released.panoramas import write_pano_mapping

__all__ = ["MAX_PICKLE_BYTES", "MAX_PICKLE_ENTRIES", "convert_pickle_mapping", "main"]

MAX_PICKLE_BYTES = 64 * 2**20
"""Largest mapping pickle read (the authors' mapping is a few megabytes)."""
MAX_PICKLE_ENTRIES = 2_000_000
"""Most entries a mapping pickle may hold."""

_SCALAR_GLOBALS = {("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")}
_FLOAT_DTYPE = re.compile(r"[<>=|]?f([248])")
_FLOAT_FORMATS = {"2": "e", "4": "f", "8": "d"}
_BYTE_ORDERS = {"<": "<", ">": ">", "=": "=", "|": "="}
_DTYPE_KINDS = {"U": "a numpy str", "S": "a numpy bytes", "M": "a numpy datetime", "m": "a numpy timedelta",
                "c": "a numpy complex", "V": "a numpy structured", "O": "a numpy object", "b": "a numpy bool",
                "i": "a numpy int", "u": "a numpy unsigned int"}


class _Refused:
    """Stands in for a value the mapping can never hold (decided when the entry is checked)."""

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what


class _DType:
    """What the pickle says about a numpy dtype; never turned into a real ``numpy.dtype``."""

    __slots__ = ("name", "byte_order", "plain")

    def __init__(self, name: object = None, align: object = False, copy: object = True) -> None:
        self.name = name[:32] if isinstance(name, str) else ""
        self.byte_order = "="
        self.plain = True

    def __setstate__(self, state: object) -> None:
        # numpy's state: (version, byte order, subarray, names, fields, itemsize, alignment, flags).
        if (not isinstance(state, tuple) or len(state) < 5 or state[1] not in _BYTE_ORDERS
                or any(part is not None for part in state[2:5])):
            self.plain = False  # a subarray or structured dtype: its fields could point anywhere
            return
        self.byte_order = _BYTE_ORDERS[state[1]]


def _scalar(dtype: object, data: object = b"") -> float | _Refused:
    """A numpy scalar from its dtype and bytes: floats decoded here, everything else refused."""
    if not isinstance(dtype, _DType) or not isinstance(data, bytes):
        return _Refused("a numpy scalar of an unknown form")
    if not dtype.plain:
        return _Refused("a numpy scalar of a structured dtype")
    m = _FLOAT_DTYPE.fullmatch(dtype.name)
    if m is None:
        kind = dtype.name.lstrip("<>=|")[:1]
        return _Refused(f"{_DTYPE_KINDS.get(kind, 'a numpy')} scalar (dtype {dtype.name[:12]!r})")
    fmt = dtype.byte_order + _FLOAT_FORMATS[m.group(1)]
    if len(data) != struct.calcsize(fmt):
        return _Refused(f"a numpy float scalar with {len(data)} bytes of data")
    return float(struct.unpack(fmt, data)[0])


def _latin1_bytes(text: object, encoding: object = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for a numpy scalar's bytes (short latin-1 only)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1") or len(text) > 64:
        raise pickle.UnpicklingError("_codecs.encode is allowed only for the few bytes of a numpy scalar")
    return text.encode("latin-1")


def _is_atom(value: object) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, bytes, _Refused))


def _describe(value: object) -> str:
    """A short, bounded description of a value from the file (never ``str`` of a container)."""
    if isinstance(value, _Refused):
        return value.what
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, float):
        return f"the float {value!r}"
    if isinstance(value, int):
        return "an int" if value.bit_length() > 64 else f"the int {value}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}" + ("..." if len(value) > 40 else "")
    return f"a {type(value).__name__}"


class _Entries(list):
    """The mapping dict of the file as its ``(key, value)`` items in file order (see the module docstring)."""

    __slots__ = ()


#: Most items a dict other than the mapping may hold (numpy's pickles use none; refused beyond this).
_MAX_OTHER_DICT_ITEMS = 64


class _MappingUnpickler(pickle._Unpickler):  # the pure-Python unpickler: each opcode can be checked
    """Builds only ``{(lat, lng): id}``: a whitelist of three globals, flat containers, no objects."""

    _mapping: _Entries | None = None
    dispatch = dict(pickle._Unpickler.dispatch)

    def find_class(self, module: str, name: str):  # type: ignore[override]
        if (module, name) in _SCALAR_GLOBALS:
            return _scalar
        if (module, name) == ("numpy", "dtype"):
            return _DType
        if (module, name) == ("_codecs", "encode"):
            return _latin1_bytes
        raise pickle.UnpicklingError(f"the pickle refers to {module[:60]}.{name[:60]}, which a mapping of "
                                     "coordinates to ids never needs; refusing to load it")

    def _new_dict(self) -> _Entries | dict:
        if self._mapping is None:
            self._mapping = _Entries()  # the first dict is the mapping (the authors' file holds one dict)
            return self._mapping
        return {}

    def _insert(self, target: object, items: list) -> None:
        if not isinstance(target, (dict, _Entries)):
            raise pickle.UnpicklingError(f"only the mapping dict may receive items, not a {type(target).__name__}")
        if target is not self._mapping and len(target) + len(items) // 2 > _MAX_OTHER_DICT_ITEMS:
            raise pickle.UnpicklingError("a second dict holds many items; the mapping never needs one")
        for i in range(0, len(items) - 1, 2):
            key, value = items[i], items[i + 1]
            # Check the shape before the dict hashes the key: a deep or shared tuple would take
            # exponential time to hash.
            flat_key = _is_atom(key) or (isinstance(key, tuple) and len(key) <= 4 and all(map(_is_atom, key)))
            if not flat_key or not _is_atom(value):
                if target is not self._mapping:
                    raise pickle.UnpicklingError("a second dict holds containers or objects (such as the fields "
                                                 "of a structured numpy dtype); the mapping never needs one")
                raise pickle.UnpicklingError(f"entry {len(target)} is not a (lat, lng) pair mapped to an id "
                                             "(the mapping never nests containers)")
            if len(target) >= MAX_PICKLE_ENTRIES:
                raise pickle.UnpicklingError(f"more than {MAX_PICKLE_ENTRIES} entries")
            if isinstance(target, _Entries):
                target.append((key, value))
            else:
                target[key] = value

    def load_setitem(self) -> None:
        value = self.stack.pop()
        key = self.stack.pop()
        self._insert(self.stack[-1], [key, value])

    def load_setitems(self) -> None:
        items = self.pop_mark()
        self._insert(self.stack[-1], items)

    def load_dict(self) -> None:
        items = self.pop_mark()
        target = self._new_dict()
        self._insert(target, items)
        self.append(target)

    def load_empty_dictionary(self) -> None:
        self.append(self._new_dict())

    def load_build(self) -> None:
        state = self.stack.pop()
        if not isinstance(self.stack[-1], _DType):
            raise pickle.UnpicklingError("the pickle sets the state of an object; a mapping has none")
        self.stack[-1].__setstate__(state)

    def _refuse(self) -> None:
        raise pickle.UnpicklingError("the pickle builds sets or objects; a mapping of coordinates to ids has none")

    dispatch[pickle.BUILD[0]] = load_build
    dispatch[pickle.SETITEM[0]] = load_setitem
    dispatch[pickle.SETITEMS[0]] = load_setitems
    dispatch[pickle.DICT[0]] = load_dict
    dispatch[pickle.EMPTY_DICT[0]] = load_empty_dictionary
    for _code in (pickle.EMPTY_SET, pickle.ADDITEMS, pickle.FROZENSET, pickle.INST, pickle.OBJ, pickle.NEWOBJ,
                  pickle.NEWOBJ_EX):
        dispatch[_code[0]] = _refuse
    del _code


def _read_mapping(src: Path) -> _Entries:
    check_size(src, MAX_PICKLE_BYTES)
    try:
        with open(src, "rb") as fh:
            mapping = _MappingUnpickler(fh).load()
    except OSError as exc:
        raise DatasetError(f"{src}: cannot read the file ({exc.strerror or exc})") from None
    except Exception as exc:  # noqa: BLE001  the restricted unpickler's own refusals and any malformed opcode
        raise DatasetError(f"{src}: not a readable mapping pickle ({str(exc)[:200]})") from None
    if not isinstance(mapping, _Entries):
        raise DatasetError(f"{src}: expected a dict {{(lat, lng): pano_id}}, got {_describe(mapping)}")
    return mapping


def _coordinate(value: object, where: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DatasetError(f"{where} must be a plain or numpy float, got {_describe(value)}")
    if isinstance(value, int) and value.bit_length() > 64:
        raise DatasetError(f"{where} must be a finite number in [{lo}, {hi}], got {_describe(value)}")
    return number(value, where, lo, hi)


def convert_pickle_mapping(src: str | os.PathLike[str], dst: str | os.PathLike[str], *,
                           trust_pickle: bool = False) -> int:
    """Convert the authors' pickled (lat, lng) -> panorama id mapping to the JSON form.

    Args:
        src: The pickle.
        dst: Where to write the JSON.
        trust_pickle: Must be True: unpickling can run code chosen by the file's author, so only
            convert a pickle whose origin you trust. (As a second line of defence the unpickler
            builds nothing but the mapping itself; see the module docstring.)

    Returns:
        The number of entries written.

    Raises:
        PermissionError: Without ``trust_pickle``.
        DatasetError: If the file is not a mapping of ``(lat, lng)`` float pairs to panorama ids
            (the message names the file and the entry).
    """
    if trust_pickle is not True:
        raise PermissionError("reading a pickle can run arbitrary code; pass trust_pickle=True (CLI: "
                              "--trust-pickle) only for a file whose origin you trust")
    src = Path(src)
    entries: list[tuple[float, float, str]] = []
    position: dict[bytes, int] = {}  # a coordinate pair's bytes -> its place in ``entries``
    for i, (geo, pano) in enumerate(_read_mapping(src)):
        where = f"{src}: entry {i}"
        if not isinstance(geo, tuple) or len(geo) != 2:
            raise DatasetError(f"{where}: the key must be a (lat, lng) pair, got {_describe(geo)}")
        lat = _coordinate(geo[0], f"{where}: lat", -90.0, 90.0)
        lng = _coordinate(geo[1], f"{where}: lng", -180.0, 180.0)
        if type(pano) is not str:
            raise DatasetError(f"{where} ({lat:.6f}, {lng:.6f}): the panorama id must be a string, got "
                               f"{_describe(pano)}")
        entry = (lat, lng, pano_id(pano, f"{where} ({lat:.6f}, {lng:.6f}): the panorama id"))
        # A repeated pair keeps its first place and takes the last id, as the pickled dict did (+ 0.0: -0.0 == 0.0).
        key = struct.pack("<dd", float(lat) + 0.0, float(lng) + 0.0)
        if key in position:
            entries[position[key]] = entry
        else:
            position[key] = len(entries)
            entries.append(entry)
    return write_pano_mapping(entries, dst)


def main(argv: list[str] | None = None) -> int:
    """Run the converter; returns the exit status (0 on success)."""
    parser = argparse.ArgumentParser(
        prog="python -m virl_env.released.convert",
        description="Convert the V-IRL authors' pickled (lat, lng) -> panorama id mapping to JSON.")
    parser.add_argument("pickle", help="the authors' mapping pickle")
    parser.add_argument("output", help="where to write the JSON mapping (normally DATASET_DIR/pano_mapping.json)")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="required: reading a pickle can execute arbitrary code chosen by whoever wrote "
                             "the file, so confirm you trust its origin")
    args = parser.parse_args(argv)
    if not args.trust_pickle:
        parser.error("refusing to read a pickle without --trust-pickle (unpickling can run arbitrary code; "
                     "pass the flag only for a file whose origin you trust)")
    try:
        count = convert_pickle_mapping(args.pickle, args.output, trust_pickle=True)
    except (DatasetError, OSError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    sys.stdout.write(f"wrote {count} panorama entries to {args.output}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
