"""Episode specs: one episode (or V-IRL rail point) as a small JSON object, graded without a live env.

Each game's ``specs`` module builds a spec from a reset env (``episode_spec(env)``) and grades a reply
against it (``grade(reply, spec)``) exactly as ``env.step`` would. What the two games share lives here: reading
a spec given as a dict or as its JSON text (the form dataset columns hold), checking that it belongs to the
game, writing it canonically, and :class:`SpecStep`, the outcome of one attempt in a multi-turn loop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Mapping, Sequence, TypeVar

from .grading import Grade

T = TypeVar("T")

__all__ = ["SPEC_VERSION", "SpecError", "SpecStep", "dump_spec", "load_spec", "spec_game", "spec_protocol",
           "spec_object", "spec_header"]

#: Version of the spec layout; a spec of another version is refused rather than misread.
SPEC_VERSION = 1

#: A spec's JSON text longer than this is refused (a real one is well under 10,000 characters).
MAX_SPEC_CHARS = 1_000_000


class SpecError(ValueError):
    """A spec that is malformed, of another game or version, or describes an episode that is over."""


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


def dump_spec(spec: Mapping[str, Any]) -> str:
    """The canonical JSON text of a spec (sorted keys, no spaces): equal specs give equal text."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


@lru_cache(maxsize=4096)
def _parse_text(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as error:  # json.JSONDecodeError
        raise SpecError(f"a spec must be a JSON object; this text is not JSON ({error})") from None
    except RecursionError:
        raise SpecError("a spec must be a JSON object; this text nests too deeply") from None
    if not isinstance(value, dict):
        raise SpecError(f"a spec must be a JSON object, got JSON {type(value).__name__}")
    return value


def _as_dict(spec: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(spec, str):
        if len(spec) > MAX_SPEC_CHARS:
            raise SpecError(f"a spec is at most {MAX_SPEC_CHARS:,} characters of JSON, got {len(spec):,}")
        return _parse_text(spec)
    if isinstance(spec, Mapping):
        return dict(spec)
    raise TypeError(f"a spec must be a dict or its JSON text, got {type(spec).__name__}")


def spec_game(spec: str | Mapping[str, Any]) -> str:
    """The game a spec belongs to (its ``"game"`` field), e.g. to pick the grader.

    Raises:
        SpecError: for text that is not a JSON object, or a spec without a game name.
        TypeError: for anything but a ``str`` or a mapping.
    """
    game = _as_dict(spec).get("game")
    if not isinstance(game, str):
        raise SpecError(f"a spec names its game in a 'game' field; this one has {game!r}")
    return game


def load_spec(spec: str | Mapping[str, Any], game: str) -> dict[str, Any]:
    """Read a spec given as a dict or as JSON text, and check that it is one of ``game``'s.

    Args:
        spec: the spec (as ``episode_spec`` returns it, or its JSON text, e.g. a dataset column).
        game: the game it must belong to (its ``"game"`` field).

    Returns:
        The spec as a dict. The caller must not modify it (parsed JSON text is cached).

    Raises:
        SpecError: for text that is not a JSON object, a spec of another game or version.
        TypeError: for anything but a ``str`` or a mapping.
    """
    value = _as_dict(spec)
    if value.get("game") != game:
        raise SpecError(f"this spec is for game {value.get('game')!r}, not {game!r}")
    if value.get("version") != SPEC_VERSION:
        raise SpecError(f"spec version {value.get('version')!r} is not supported (this suite reads version "
                        f"{SPEC_VERSION})")
    return value


def spec_protocol(spec: Mapping[str, Any], known: Sequence[str]) -> str:
    """The spec's ``protocol`` (``"suite"`` when absent).

    Raises:
        SpecError: a protocol not in ``known``.
    """
    protocol = spec.get("protocol", "suite")
    if protocol not in known:
        raise SpecError(f"spec protocol {protocol!r} is not one this version grades ({', '.join(known)})")
    return protocol


def spec_object(spec: Mapping[str, Any], name: str, build: Callable[[Any], T]) -> T:
    """``build(spec[name])``: a game object (rules, reward table...) from a spec field.

    Raises:
        SpecError: naming the field, when it is missing or ``build`` refuses it (``TypeError``, ``ValueError``,
            ``KeyError``).
    """
    if name not in spec:
        raise SpecError(f"{spec.get('game', 'this')} spec has no {name!r} field")
    try:
        return build(spec[name])
    except (TypeError, ValueError, KeyError) as error:
        raise SpecError(f"spec field {name!r} is not valid: {error}") from None


def spec_header(game: str, env: Any) -> dict[str, Any]:
    """The fields every spec starts with: ``game``, ``version``, ``env_id`` (the registered id of the unwrapped
    ``env``, or ``None``) and ``protocol`` (the env's, ``"suite"`` when it has none)."""
    return {"game": game, "version": SPEC_VERSION, "env_id": None if env.spec is None else env.spec.id,
            "protocol": getattr(env, "protocol", "suite")}
