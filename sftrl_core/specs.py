"""Episode specs: one episode (or V-IRL rail point) as a small JSON object, graded without a live env.

Each game's ``specs`` module builds a spec from a reset env (``episode_spec(env)``) and grades a reply
against it (``grade(reply, spec)``) exactly as ``env.step`` would. What the two games share lives here: reading
a spec given as a dict or as its JSON text (the form dataset columns hold; strict JSON, bounded in length), checking
that it belongs to the game and version, writing it canonically, :class:`SpecStep` (the outcome of one attempt in a
multi-turn loop) and :class:`BoundedCache`, the byte-bounded cache every spec cache uses.

A spec is untrusted input: each game validates every field before grading and refuses a bad one with a
:class:`SpecError` naming it; nothing is filled in with a default.
"""

from __future__ import annotations

import json
import math
import re
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass, fields, is_dataclass
from collections.abc import Mapping
from typing import Any, Callable, Generic, Hashable, Sequence, TypeVar

import gymnasium

from .grading import Grade
from .registry import DEFAULT_PROTOCOL, PROTOCOL_NAMES

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

__all__ = ["SPEC_VERSION", "MAX_SPEC_CHARS", "SpecError", "SpecStep", "BoundedCache", "deep_sizeof", "dump_spec",
           "load_spec", "parse_spec_text", "parse_json_strict", "describe_value", "spec_game", "spec_protocol",
           "spec_object", "spec_header", "time_limit"]

#: Version of the spec layout; a spec of another version is refused rather than misread.
SPEC_VERSION = 1

#: A spec's JSON text longer than this is refused (a real one is well under 10,000 characters). A game may set a
#: lower limit (``load_spec(..., max_chars=...)``).
MAX_SPEC_CHARS = 1_000_000


class SpecError(ValueError):
    """A spec that is malformed, of another game or version, or describes an episode that is over. The message
    names the field at fault."""


@dataclass(frozen=True)
class SpecStep:
    """The outcome of one reply at one spec, as ``env.step`` would give it.

    Attributes:
        grade: the game's grade of the reply (verdict, reward, feedback, success).
        terminated: whether this spec's attempts are over: the reply was correct or it used the last attempt
            (for V-IRL: the rail point is done, whether the env then moves on or ends the route).
        message: the text the env shows after this attempt (its ``[Feedback]`` section), which a multi-turn
            loop sends as the next user turn when the attempts are not over.
        next_spec: the spec of the next attempt at the same episode or point, or ``None`` when ``terminated``.
    """

    grade: Grade
    terminated: bool
    message: str
    next_spec: dict[str, Any] | None


# ----------------------------------------------------------------------------------------------------------------
# A cache bounded in bytes.
# ----------------------------------------------------------------------------------------------------------------


def deep_sizeof(value: Any, seen: set[int] | None = None) -> int:
    """Bytes held by ``value`` and everything it refers to (each object counted once): ``sys.getsizeof`` summed
    over dicts, lists, tuples, sets, and the attributes of objects (dataclass fields, instance dicts, slots). A fair
    measure for what spec caches keep (parsed JSON, small frozen dataclasses); an object reachable from several
    entries is counted in each. Classes and what they refer to are not counted.

    >>> deep_sizeof("ab") == sys.getsizeof("ab")
    True
    """
    seen = set() if seen is None else seen
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        kind = type(item)
        if kind in (str, int, float, bool, bytes) or item is None:
            continue
        if isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
        elif not isinstance(item, type):
            if is_dataclass(item):
                stack.extend(getattr(item, f.name) for f in fields(item))
            if hasattr(item, "__dict__"):
                stack.append(vars(item))
            for klass in kind.__mro__:
                slots = getattr(klass, "__slots__", ())
                for name in (slots,) if isinstance(slots, str) else slots:
                    if name not in ("__dict__", "__weakref__") and hasattr(item, name):
                        stack.append(getattr(item, name))
    return total


class BoundedCache(Generic[K, V]):
    """A least-recently-used cache that holds at most ``max_bytes`` bytes, for values built from spec text.

    Each entry is charged ``entry_bytes(key, value)`` (by default :func:`deep_sizeof` of the key and of the
    value) plus :attr:`ENTRY_OVERHEAD` for the cache's own bookkeeping; the least recently used entries are
    dropped until the total is at most ``max_bytes``. A value that alone costs more than ``max_bytes`` is built
    and returned but not kept. A build that raises stores nothing. Safe to share between threads (two threads that
    miss the same key may both build it; one result is kept).

    >>> cache = BoundedCache(10_000)
    >>> cache.get_or_build('{"a": [1, 2]}', json.loads)
    {'a': [1, 2]}
    >>> len(cache), 0 < cache.bytes <= cache.max_bytes
    (1, True)

    Args:
        max_bytes: the most bytes the entries may cost together.
        entry_bytes: ``(key, value) -> bytes`` an entry costs, for values whose size is known more cheaply or
            more exactly (e.g. objects shared between entries counted once); it must not raise.
    """

    #: Bytes charged per entry on top of ``entry_bytes``: the ordered map's node and table slot, the stored pair.
    ENTRY_OVERHEAD = 200

    def __init__(self, max_bytes: int, entry_bytes: Callable[[K, V], int] | None = None):
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"max_bytes must be a non-negative integer, got {max_bytes!r}")
        self.max_bytes = max_bytes
        self._entry_bytes = entry_bytes if entry_bytes is not None else _default_entry_bytes
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int:
        """Bytes the entries cost now (at most :attr:`max_bytes`)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get_or_build(self, key: K, build: Callable[[K], V]) -> V:
        """The value cached for ``key``, or ``build(key)``, kept if it fits.

        Raises:
            whatever ``build`` raises (nothing is stored then).
        """
        entries = self._entries
        entry = entries.get(key)
        if entry is not None:
            try:
                entries.move_to_end(key)
            except KeyError:  # another thread dropped it meanwhile (each OrderedDict call is atomic)
                pass
            return entry[0]
        value = build(key)
        cost = self._entry_bytes(key, value) + self.ENTRY_OVERHEAD
        if cost > self.max_bytes:
            return value
        with self._lock:
            previous = entries.pop(key, None)
            if previous is not None:
                self._bytes -= previous[1]
            entries[key] = (value, cost)
            self._bytes += cost
            while self._bytes > self.max_bytes:
                self._bytes -= entries.popitem(last=False)[1][1]
        return value

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __repr__(self) -> str:
        return f"<BoundedCache {len(self)} entries, {self._bytes:,} of {self.max_bytes:,} bytes>"


def _default_entry_bytes(key: Any, value: Any) -> int:
    seen: set[int] = set()
    return deep_sizeof(key, seen) + deep_sizeof(value, seen)


# ----------------------------------------------------------------------------------------------------------------
# Reading specs.
# ----------------------------------------------------------------------------------------------------------------


def dump_spec(spec: Mapping[str, Any]) -> str:
    """The canonical JSON text of a spec (sorted keys, no spaces): equal specs give equal text."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _refuse_constant(name: str) -> Any:
    raise SpecError(f"a spec holds only finite numbers; this text has the JSON extension {name}")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise SpecError(f"spec field {describe_value(key)} appears twice in one object; a spec's JSON "
                                "text names each field once")
            seen.add(key)
    return value


# Strict JSON: NaN, Infinity and -Infinity (which json.loads accepts) and duplicate keys (which it resolves by
# keeping the last, unlike other readers) are refused.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)


def parse_json_strict(text: str, max_chars: int = MAX_SPEC_CHARS) -> Any:
    """Parse JSON text strictly (no NaN or Infinity, no key twice in one object) into new Python values.

    Raises:
        SpecError: text longer than ``max_chars``, text that is not strict JSON, nests too deeply or holds an
            integer of more than 4,300 digits.
    """
    if len(text) > max_chars:
        raise SpecError(f"a spec is at most {max_chars:,} characters of JSON, got {len(text):,}")
    try:
        return _DECODER.decode(text)
    except SpecError:
        raise
    except ValueError as error:  # json.JSONDecodeError, and integers past Python's int-from-text digit limit
        raise SpecError(f"a spec must be a JSON object; this text is not JSON ({str(error)[:200]})") from None
    except RecursionError:
        raise SpecError("a spec must be a JSON object; this text nests too deeply") from None


def parse_spec_text(text: str, max_chars: int = MAX_SPEC_CHARS) -> dict[str, Any]:
    """Parse a spec's JSON text (strict JSON: :func:`parse_json_strict`) into a new dict.

    Raises:
        SpecError: as :func:`parse_json_strict`, or the text is not a JSON object.
    """
    value = parse_json_strict(text, max_chars)
    if type(value) is not dict:
        raise SpecError(f"a spec must be a JSON object, got JSON {type(value).__name__}")
    return value


def _as_dict(spec: str | Mapping[str, Any], max_chars: int = MAX_SPEC_CHARS) -> dict[str, Any]:
    if isinstance(spec, str):
        return parse_spec_text(spec, max_chars)
    if isinstance(spec, Mapping):
        return dict(spec)
    raise TypeError(f"a spec must be a dict or its JSON text, got {type(spec).__name__}")


# After the one '"game"' of a text without backslashes: the key's colon and its string value.
_GAME_VALUE = re.compile(r'[ \t\n\r]*:[ \t\n\r]*"([^"]{1,100})"')


def spec_game(spec: str | Mapping[str, Any]) -> str:
    """The game a spec belongs to (its ``"game"`` field), e.g. to pick the grader, which then reads the spec.

    Text is not parsed in full where the name can be read exactly without: text with no backslash (so every ``"``
    delimits a string) and ``"game"`` once, followed by a colon (so it is a key) and a string. If that key is the
    spec's, this is its game; if not, the spec has no top-level game and the grader refuses it. Any other text is
    parsed in full.

    Raises:
        SpecError: for text that is not a JSON object, or a spec without a game name (text read in full; otherwise the
            grader raises it).
        TypeError: for anything but a ``str`` or a mapping.
    """
    if isinstance(spec, str) and len(spec) <= MAX_SPEC_CHARS and "\\" not in spec:
        at = spec.find('"game"')
        if at >= 0 and spec.find('"game"', at + 6) < 0:
            found = _GAME_VALUE.match(spec, at + 6)
            if found is not None:
                return found.group(1)
    game = _as_dict(spec).get("game")
    if type(game) is not str:
        raise SpecError(f"a spec names its game in a 'game' field (a string); this one has {describe_value(game)}")
    return game


def load_spec(spec: str | Mapping[str, Any], game: str, max_chars: int = MAX_SPEC_CHARS) -> dict[str, Any]:
    """Read a spec given as a dict or as JSON text, and check that it is one of ``game``'s, of this version.

    Args:
        spec: the spec (as ``episode_spec`` returns it, or its JSON text, e.g. a dataset column).
        game: the game it must belong to (its ``"game"`` field).
        max_chars: the longest JSON text accepted.

    Returns:
        A new dict (a shallow copy of a mapping; its values are the caller's).

    Raises:
        SpecError: for text that is not a JSON object, a spec of another game or version.
        TypeError: for anything but a ``str`` or a mapping.
    """
    value = _as_dict(spec, max_chars)
    named = value.get("game")
    if type(named) is not str or named != game:
        raise SpecError(f"spec field 'game': this spec is for game {describe_value(named)}, not {game!r}")
    version = value.get("version")
    if type(version) is not int or version != SPEC_VERSION:
        raise SpecError(f"spec field 'version': {describe_value(version)} is not supported (this suite reads version "
                        f"{SPEC_VERSION}, an integer)")
    return value


def spec_protocol(spec: Mapping[str, Any], known: Sequence[str] | Mapping[str, Any] = PROTOCOL_NAMES) -> str:
    """The spec's ``protocol`` field, which must name one of ``known`` (the protocol names of
    :mod:`sftrl_core.registry` by default).

    Raises:
        SpecError: no ``protocol`` field, or one that is not a known name.
    """
    if "protocol" not in spec:
        raise SpecError(f"spec has no 'protocol' field (one of {', '.join(known)}); it decides the grading")
    protocol = spec["protocol"]
    if type(protocol) is not str or protocol not in known:
        raise SpecError(f"spec field 'protocol': {describe_value(protocol)} is not a protocol this version grades "
                        f"({', '.join(known)})")
    return protocol


def spec_object(spec: Mapping[str, Any], name: str, build: Callable[[Any], T]) -> T:
    """``build(spec[name])``: a game object (rules, reward table...) from a spec field.

    Raises:
        SpecError: naming the field, when it is missing or ``build`` refuses it (``TypeError``, ``ValueError``,
            ``KeyError``, ``OverflowError``, ``RecursionError``).
    """
    if name not in spec:
        raise SpecError(f"{spec.get('game', 'this')} spec has no {name!r} field")
    try:
        return build(spec[name])
    except SpecError:
        raise
    except (TypeError, ValueError, KeyError, OverflowError, RecursionError) as error:
        raise SpecError(f"spec field {name!r} is not valid: {str(error)[:300]}") from None


def describe_value(value: Any, limit: int = 60) -> str:
    """A short description of a (possibly hostile) spec value for an error message, in bounded time and length:
    strings, numbers, booleans and ``None`` by their ``repr`` (cut to ``limit`` characters; huge integers by their
    size), containers by their type and length only (never a repr of a deep or 10 MB structure).

    >>> describe_value(["A", "2"]), describe_value(10**400), describe_value("x" * 100, 5)
    ('a list of 2 items', 'an integer of about 401 digits', "'xxxxx'... (100 characters)")
    """
    kind = type(value)
    if kind is str:
        return repr(value) if len(value) <= limit else f"{value[:limit]!r}... ({len(value):,} characters)"
    if kind is int and not -10**limit < value < 10**limit:
        return f"an integer of about {math.floor(math.log10(abs(value))) + 1} digits"
    if value is None or kind in (bool, int, float):
        return repr(value)
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        return f"a {kind.__name__} of {len(value):,} items"
    return f"a {kind.__name__}"


def spec_header(game: str, env: Any) -> dict[str, Any]:
    """The fields every spec starts with: ``game``, ``version``, ``env_id`` (the registered id of the unwrapped
    ``env``, or ``None``) and ``protocol`` (the env's, the registry's default when it has none)."""
    return {"game": game, "version": SPEC_VERSION, "env_id": None if env.spec is None else env.spec.id,
            "protocol": getattr(env, "protocol", DEFAULT_PROTOCOL)}


def time_limit(env: Any) -> int | None:
    """The step limit a ``TimeLimit`` wrapper puts on ``env`` (gym.make's ``max_episode_steps``), or ``None``.

    The games' envs have no step limit of their own: the wrapper truncates them (and sets ``truncated`` on the step
    that reaches the limit, even one that ends the episode). A wrapped env is read through its wrappers (the
    smallest limit, where several are stacked); the env itself (``env.unwrapped``, as ``episode_spec()`` is called)
    knows only its registered id, whose limit is then taken: gym.make's default. A limit given to gym.make is read
    through the wrapped env (``<game>.specs.episode_spec(env)``, as ``sftrl_train.rl_rows`` calls it).
    """
    if env is env.unwrapped:
        registered = None if env.spec is None else gymnasium.registry.get(env.spec.id)
        return None if registered is None else registered.max_episode_steps
    limits = []
    while isinstance(env, gymnasium.Wrapper):
        if isinstance(env, gymnasium.wrappers.TimeLimit):
            limits.append(env._max_episode_steps)  # (its spec holds it only for an env that gym.make built)
        env = env.env
    return min(limits, default=None)
