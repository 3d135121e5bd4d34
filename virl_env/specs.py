"""V-IRL episodes as data: a JSON spec per route (or per rail point), and grading replies from the spec alone.

Two kinds of spec, both graded without regenerating a city or replaying anything:

* A **route spec** (:func:`route_spec`, what ``env.unwrapped.episode_spec()`` gives) holds the whole episode: the
  rail (every point's kind, heading, turn, observation and landmarks in view), the instruction and its sentences,
  the active rules, the reward table, and where the walk stands, as the navigation task states it
  (:meth:`~virl_env.task.navigation.NavigationTask.to_state`: ``point_index``, ``attempts_left``, the failed
  ``point_replies`` at this point, the ``shown_feedback`` the next prompt shows, ``step_correct`` and
  ``points_solved`` so far). :class:`virl_env.session.RouteSession` walks it turn by turn exactly as the env does;
  :func:`advance` moves it on by one reply.
* A **point spec** (:func:`point_spec`) holds one rail point with the history shown in its prompt (the expert's
  actions at the points passed), for per-step datasets: grading a reply there equals ``env.step`` at that point.

Both name the episode they come from (``episode``: style, city seed, route or dataset entry), so they are traceable.

A spec is untrusted input, checked completely before anything is graded: every field present and no other, of its
exact JSON type and in range; a bad one raises :class:`~sftrl_core.specs.SpecError` naming the field, and nothing is
filled in with a default. Spec text is read once and its checked form kept in a cache bounded in bytes
(:data:`SPEC_CACHE_BYTES`), so the completions of one prompt grade against it without reading it again. Canonical
point spec text (``dump_spec``'s, what dataset columns hold) is read by one regular expression rather than the JSON
parser, and a route's rail in one tight pass; ``benchmarks/bench_specs.py`` measures both against ``env.step``.

>>> import gymnasium as gym, virl_env
>>> env = gym.make("VIRL-v0"); _ = env.reset(seed=0)
>>> spec = point_spec(env)
>>> virl_env.grade(env.unwrapped.expert_reply(), spec).verdict
<Verdict.CORRECT: 'correct'>
>>> step = advance("forward()", spec)
>>> step.terminated, step.next_spec["attempts_left"]
(False, 1)
>>> route = env.unwrapped.episode_spec()
>>> len(route["rail"]) == env.unwrapped.task.rail.__len__(), route["point_index"]
(True, 0)
>>> advance(env.unwrapped.expert_reply(), route).next_spec["point_index"]
1
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple

from sftrl_core.specs import (MAX_SPEC_CHARS, BoundedCache, SpecError, SpecStep, describe_value, dump_spec, load_spec,
                               parse_json_strict, spec_header, spec_protocol, time_limit)

from .task.checker import Grade, expected_action
from .protocols.prompts import expert_reply_text
from .world.routes import RailPoint
from .protocols import PROTOCOLS
from .task.rules import NavigationRules, RewardTable
from .world.instructions import RELATIVE_DIRECTIONS
from .task.navigation import RETRY, NavigationTask, rail_point_to_dict, settle_reply, stored_reply

__all__ = ["GAME", "PRESENTATION_FIELDS", "MAX_RAIL_POINTS", "episode_spec", "route_spec", "point_spec",
           "is_route_spec", "walk_of", "route_spec_of", "grade", "advance", "expert_reply", "clear_spec_caches",
           "forget_spec_texts", "SPEC_CACHE_BYTES"]

#: The ``"game"`` field of every V-IRL spec.
GAME = "V-IRL"
#: Spec fields that describe the point but play no part in grading (two specs that differ only here grade alike).
PRESENTATION_FIELDS = ("env_id", "episode", "instruction", "sentence", "history", "replies", "point_index",
                       "num_points")
#: A route spec's rail has at most this many points (generated routes have well under 100).
MAX_RAIL_POINTS = 2_000
#: Bounds on a spec's numbers (far beyond any real route; they keep arithmetic on hostile values finite).
_MAX_NUMBER = 1e300
_MAX_COORDINATE = 1e9
_MAX_SENTENCES = 10_000
_MAX_STEPS = 10**6
_MAX_TEXT = 1_000_000
_POINT_KINDS = ("start", "forward", "crossing", "turn", "destination")
_RAIL_FIELDS = ("position", "heading", "kind", "observation", "landmarks", "at_intersection", "sentence", "turn_to",
                "turn_relative")
_RULE_FIELDS = ("action_mode", "max_attempts", "on_exhausted", "forward_points", "drop_rate", "grade_observation")
_REWARD_FIELDS = ("correct", "wrong_action", "wrong_observation", "invalid")
_POINT_SPEC_FIELDS = ("game", "version", "env_id", "protocol", "observation_mode", "episode", "instruction", "rules",
                      "rewards", "point_index", "num_points", "last_point", "point", "sentence", "attempts_left",
                      "history", "replies")


def _episode_header(base: Any) -> dict[str, Any]:
    """The fields every spec of ``base``'s episode opens with: game, version, env id, protocol, observation mode,
    where the route comes from, and its instruction."""
    return {
        **spec_header(GAME, base),
        "observation_mode": "image" if base._image_mode else "text",
        "episode": base.episode.describe(),
        "instruction": base.episode.route.instruction,
    }


def point_spec(env: Any) -> dict[str, Any]:
    """The spec of the rail point ``env`` is at, with the attempts left there (for per-step datasets).

    Args:
        env: a reset V-IRL env (wrapped or not).

    Returns:
        A JSON-serialisable dict: ``game``, ``version``, ``env_id``, ``protocol``, ``observation_mode``,
        ``episode`` (where the route comes from), ``instruction``, ``rules``, ``rewards``, ``point_index``,
        ``num_points``, ``last_point``, ``point`` (the rail point's fields), ``sentence`` (the instruction
        sentence executed there), ``attempts_left``, ``history`` (``[observation, action]`` of the points passed,
        as the prompt shows them) and ``replies`` (``[reply, feedback]`` of the failed attempts at this point).

    Raises:
        RuntimeError: before the first reset, or once the episode is over.
    """
    base = env.unwrapped
    task: NavigationTask | None = base._task
    if task is None:
        raise RuntimeError("call reset() before point_spec(): there is no episode yet")
    if task.finished:
        raise RuntimeError("this episode is over; point_spec() describes a point that still takes a reply")
    point = task.point
    return {
        **_episode_header(base),
        "rules": dataclasses.asdict(task.rules),
        "rewards": task.rewards.to_dict(),
        "point_index": task.index,
        "num_points": len(task.rail),
        "last_point": task.index == len(task.rail) - 1,
        "point": _point_fields(point),
        "sentence": base.episode.route.sentences[point.sentence],
        "attempts_left": task.attempts_left,
        "history": [list(step) for step in task.history],
        "replies": [list(reply) for reply in task.point_replies],
    }


def route_spec(env: Any) -> dict[str, Any]:
    """The spec of the whole route ``env`` is walking, at the point and attempt it stands at.

    Taken at reset, it describes the episode from its first point: :class:`virl_env.session.RouteSession` plays it
    turn by turn as the env would, whatever the replies.

    Args:
        env: a reset V-IRL env (wrapped or not).

    Returns:
        A JSON-serialisable dict: ``game``, ``version``, ``env_id``, ``protocol``, ``observation_mode``,
        ``episode`` (where the route comes from), ``instruction``, ``num_points``, and the walk of the route as the
        navigation task states it (:meth:`~virl_env.task.navigation.NavigationTask.to_state`): ``rules``,
        ``rewards``, ``sentences``, ``rail`` (every rail point's fields, in order), ``max_steps`` (the step limit:
        the env's time limit, ``max_episode_steps``: :func:`sftrl_core.specs.time_limit`), and where the walk
        stands: ``point_index``, ``attempts_left``, ``step_correct``, ``points_solved``, ``verdict``, ``feedback``,
        ``shown_feedback`` (what the next prompt shows), ``arrival_feedback`` (what this point's first prompt
        showed) and ``point_replies`` (``[reply, feedback]`` of the failed attempts at this point).

    Raises:
        RuntimeError: before the first reset, or once the episode is over (ended, or truncated at its time limit).
    """
    base = env.unwrapped
    task: NavigationTask | None = base._task
    if task is None:
        raise RuntimeError("call reset() before episode_spec(): there is no episode yet")
    if task.finished:
        raise RuntimeError("this episode is over; episode_spec() describes a route that still takes a reply")
    # The env's task has no step limit: the TimeLimit wrapper truncates the env. The spec states it as the walk's,
    # so that a session from the spec truncates where the env does.
    limit = time_limit(env)
    if limit is not None and len(task.step_correct) >= limit:
        raise RuntimeError(f"this episode was truncated at its time limit ({limit} steps); episode_spec() describes "
                           "a route that still takes a reply")
    return {**_episode_header(base), "num_points": len(task.rail), **_walk_fields(task), "max_steps": limit}


def _walk_fields(task: NavigationTask) -> dict[str, Any]:
    """A route spec's walk fields: the task's state, its ``index`` as ``point_index``, without what the header
    holds (``protocol``, ``image`` as the observation mode) and ``finished`` (always false in a spec)."""
    state = task.to_state()
    state["point_index"] = state.pop("index")
    for key in ("protocol", "image", "finished"):
        del state[key]
    return state


def episode_spec(env: Any) -> dict[str, Any]:
    """The spec of the episode ``env`` is playing: its :func:`route_spec` (``env.unwrapped.episode_spec()``).

    Per-step datasets take :func:`point_spec` instead.
    """
    return route_spec(env)


def is_route_spec(spec: str | Mapping[str, Any]) -> bool:
    """Whether ``spec`` is a route spec (it has a ``rail``) rather than a point spec.

    Raises:
        SpecError: the spec is not a V-IRL spec.
    """
    return "rail" in load_spec(spec, GAME)


def _point_fields(point: RailPoint) -> dict[str, Any]:
    return rail_point_to_dict(point)


def _fail(name: str, problem: str) -> SpecError:
    return SpecError(f"V-IRL spec field {name!r} {problem}")


def _field(spec: Mapping[str, Any], name: str, kind: type | tuple[type, ...], prefix: str = "") -> Any:
    """``spec[name]``, of type ``kind`` (an ``int`` is never a bool); a SpecError naming ``prefix + name``."""
    if name not in spec:
        raise SpecError(f"V-IRL spec has no {prefix + name!r} field")
    value = spec[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple)
                                                                                  else (kind,))):
        raise _fail(prefix + name, f"has the wrong type: {describe_value(value)}")
    if isinstance(value, str) and len(value) > _MAX_TEXT:
        raise _fail(prefix + name, f"is a string of {len(value):,} characters, over {_MAX_TEXT:,}")
    return value


def _plain(value: Any, name: str, depth: int = 0) -> None:
    """A JSON-plain value (strings, finite numbers, true/false/null, lists and string-keyed objects) of bounded
    depth and size, for fields that only describe (``episode``)."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        if len(value) > _MAX_TEXT:
            raise _fail(name, f"holds a string of {len(value):,} characters, over {_MAX_TEXT:,}")
        return
    if isinstance(value, (int, float)):
        _finite(value, name)
        return
    if depth >= 4 or not isinstance(value, (list, dict)):
        raise _fail(name, f"must be plain JSON (at most 4 levels deep), got {describe_value(value)}")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise _fail(name, f"has a key that is not a string: {describe_value(key)}")
            _plain(item, name, depth + 1)
    else:
        for item in value:
            _plain(item, name, depth + 1)


def _int(spec: Mapping[str, Any], name: str, low: int, high: int, prefix: str = "") -> int:
    value = _field(spec, name, int, prefix)
    if not low <= value <= high:
        raise _fail(prefix + name, f"must be in {low}..{high}, got {describe_value(value)}")
    return value


def _finite(value: Any, name: str, bound: float = _MAX_NUMBER) -> float:
    """A number (int or float, not bool) that is finite and within ``bound``, as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(name, f"must be a number, got {describe_value(value)}")
    if isinstance(value, int) and not -bound <= value <= bound:  # before float(): no OverflowError
        raise _fail(name, f"must be a finite number within {bound:g}, got {describe_value(value)}")
    number = float(value)
    if not (math.isfinite(number) and -bound <= number <= bound):
        raise _fail(name, f"must be a finite number within {bound:g}, got {describe_value(value)}")
    return number


def _exact_keys(raw: Mapping[str, Any], known: tuple[str, ...], name: str) -> None:
    unknown = [key for key in raw if key not in known]
    if unknown:
        label = unknown[0] if isinstance(unknown[0], str) else describe_value(unknown[0])  # (named once quoted)
        raise _fail(f"{name}.{label}" if name else label,
                    f"is not a field of {'a V-IRL spec' if not name else repr(name)} (unknown fields "
                    f"{', '.join(describe_value(key) for key in unknown[:5])})")
    for key in known:
        if key not in raw:
            raise SpecError(f"V-IRL spec has no {(name + '.' if name else '') + key!r} field")


def _mapping(spec: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    return _field(spec, name, dict)


def _rules(spec: Mapping[str, Any]) -> NavigationRules:
    """The spec's rules: every field stated, of its type and range (no default fills a missing one)."""
    raw = _mapping(spec, "rules")
    _exact_keys(raw, _RULE_FIELDS, "rules")
    for key in ("action_mode", "on_exhausted"):
        _field(raw, key, str, "rules.")
    _field(raw, "grade_observation", bool, "rules.")
    _int(raw, "max_attempts", 1, 100, "rules.")
    _int(raw, "forward_points", 0, 8, "rules.")
    _finite(_field(raw, "drop_rate", (int, float), "rules."), "rules.drop_rate")
    try:
        return NavigationRules(**raw)
    except (TypeError, ValueError) as error:
        raise SpecError(f"V-IRL spec field 'rules' is not valid: {str(error)[:300]}") from None


def _rewards(spec: Mapping[str, Any]) -> RewardTable:
    """The spec's reward table: every verdict's reward stated, each a finite number."""
    raw = _mapping(spec, "rewards")
    _exact_keys(raw, _REWARD_FIELDS, "rewards")
    values = {key: _finite(raw[key], f"rewards.{key}") for key in _REWARD_FIELDS}
    try:
        return RewardTable(**values)
    except (TypeError, ValueError) as error:
        raise SpecError(f"V-IRL spec field 'rewards' is not valid: {str(error)[:300]}") from None


def _rail_point(raw: Any, name: str) -> RailPoint:
    """A rail point's fields, each checked (``name`` is the field, e.g. ``'point'`` or ``'rail[3]'``)."""
    if not isinstance(raw, dict):
        raise _fail(name, f"must be an object of rail point fields, got {describe_value(raw)}")
    _exact_keys(raw, _RAIL_FIELDS, name)
    prefix = name + "."
    position = _field(raw, "position", list, prefix)
    if len(position) != 2:
        raise _fail(prefix + "position", f"must be [x, y], got {describe_value(position)}")
    xy = (_finite(position[0], prefix + "position", _MAX_COORDINATE),
          _finite(position[1], prefix + "position", _MAX_COORDINATE))
    heading = _finite(_field(raw, "heading", (int, float), prefix), prefix + "heading", _MAX_COORDINATE)
    kind = _field(raw, "kind", str, prefix)
    if kind not in _POINT_KINDS:
        raise _fail(prefix + "kind", f"must be one of {list(_POINT_KINDS)}, got {describe_value(kind)}")
    observation = _field(raw, "observation", str, prefix)
    landmarks = _field(raw, "landmarks", list, prefix)
    if not all(isinstance(item, str) and len(item) <= _MAX_TEXT for item in landmarks):
        raise _fail(prefix + "landmarks", "must be a list of names (strings)")
    at_intersection = _field(raw, "at_intersection", bool, prefix)
    sentence = _int(raw, "sentence", 0, _MAX_SENTENCES - 1, prefix)
    turn_to = raw["turn_to"]
    turn_relative = raw["turn_relative"]
    if turn_to is not None:
        turn_to = _finite(turn_to, prefix + "turn_to", _MAX_COORDINATE)
        if not isinstance(turn_relative, str) or turn_relative not in RELATIVE_DIRECTIONS:
            raise _fail(prefix + "turn_relative", f"must be one of {list(RELATIVE_DIRECTIONS)} at a point with a "
                        f"turn_to, got {describe_value(turn_relative)}")
    elif turn_relative is not None:
        raise _fail(prefix + "turn_relative", f"must be null at a point with no turn_to, got "
                    f"{describe_value(turn_relative)}")
    return RailPoint(xy, heading, kind, observation, tuple(landmarks), at_intersection, sentence, turn_to,
                     turn_relative)


def _observation_mode(spec: Mapping[str, Any]) -> str:
    mode = _field(spec, "observation_mode", str)
    if mode not in ("text", "image"):
        raise _fail("observation_mode", f"must be 'text' or 'image', got {describe_value(mode)}")
    return mode


def _pairs(spec: Mapping[str, Any], name: str) -> None:
    value = _field(spec, name, list)
    for item in value:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], str)
                and len(item[0]) <= _MAX_TEXT and len(item[1]) <= _MAX_TEXT):
            raise _fail(name, f"must be a list of [text, text] pairs, got an item {describe_value(item)}")


def _presentation(spec: Mapping[str, Any]) -> None:
    """The fields that describe the point but do not grade: still of their types."""
    _field(spec, "env_id", (str, type(None)))
    _plain(_field(spec, "episode", dict), "episode")
    _field(spec, "instruction", str)
    _int(spec, "num_points", 1, MAX_RAIL_POINTS)


# ----------------------------------------------------------------------------------------------------------------
# Rail points, fast. A route spec holds tens of rail points, each of nine fields: checked one by one with the helpers
# above, they cost more than the env's whole step. So a rail is first read in one tight pass that accepts only points
# whose every field is plainly right (the exact key set, exact JSON types, values in range) and builds them; at the
# first point that is not, it gives up, and the field-by-field check runs from the start to name the field at fault.
# The fast pass accepts a subset of what the full check accepts and builds the same points (a test holds them equal).
# ----------------------------------------------------------------------------------------------------------------

_RAIL_KEYS = frozenset(_RAIL_FIELDS)
_KINDS = frozenset(_POINT_KINDS)
_RELATIVE = frozenset(RELATIVE_DIRECTIONS)
_NUMBER = (int, float)


def _rail_fast(rail: list[Any], sentence_count: int) -> list[RailPoint] | None:
    """The rail's points if every one is plainly well-formed, with a sentence index below ``sentence_count`` and the
    destination last at most; ``None`` otherwise (the full check then names the fault)."""
    points = []
    last = len(rail) - 1
    bound = _MAX_COORDINATE
    for number, raw in enumerate(rail):
        if type(raw) is not dict or raw.keys() != _RAIL_KEYS:
            return None
        position, heading, kind = raw["position"], raw["heading"], raw["kind"]
        observation, landmarks, sentence = raw["observation"], raw["landmarks"], raw["sentence"]
        turn_to, relative, at_intersection = raw["turn_to"], raw["turn_relative"], raw["at_intersection"]
        if not (type(position) is list and len(position) == 2 and type(position[0]) in _NUMBER
                and type(position[1]) in _NUMBER and -bound <= position[0] <= bound and -bound <= position[1] <= bound
                and type(heading) in _NUMBER and -bound <= heading <= bound
                and type(kind) is str and kind in _KINDS and (kind != "destination" or number == last)
                and type(observation) is str and len(observation) <= _MAX_TEXT
                and type(landmarks) is list and type(at_intersection) is bool
                and type(sentence) is int and 0 <= sentence < sentence_count and sentence < _MAX_SENTENCES):
            return None
        for name in landmarks:
            if type(name) is not str or len(name) > _MAX_TEXT:
                return None
        if turn_to is None:
            if relative is not None:
                return None
        elif not (type(turn_to) in _NUMBER and -bound <= turn_to <= bound and type(relative) is str
                  and relative in _RELATIVE):
            return None
        else:
            turn_to = float(turn_to)
        points.append(RailPoint((float(position[0]), float(position[1])), float(heading), kind, observation,
                                tuple(landmarks), at_intersection, sentence, turn_to, relative))
    return points


def _rail(spec: Mapping[str, Any], sentences: list[str]) -> list[RailPoint]:
    """The route spec's rail, every point checked (the fast pass, else field by field, naming the fault)."""
    rail = _field(spec, "rail", list)
    if not 1 <= len(rail) <= MAX_RAIL_POINTS:
        raise _fail("rail", f"must list 1 to {MAX_RAIL_POINTS} rail points, got {len(rail)}")
    points = _rail_fast(rail, len(sentences))
    if points is not None:
        return points
    points = [_rail_point(raw, f"rail[{number}]") for number, raw in enumerate(rail)]
    for number, point in enumerate(points):
        if point.sentence >= len(sentences):
            raise SpecError(f"V-IRL spec field 'rail', point {number}: its sentence {point.sentence} is not one of "
                            f"the {len(sentences)} sentences")
        if point.kind == "destination" and number != len(points) - 1:
            raise SpecError("V-IRL spec field 'rail': only the last point may be the destination")
    return points


# ----------------------------------------------------------------------------------------------------------------
# Checking a spec, once per text.
# ----------------------------------------------------------------------------------------------------------------


class _Point(NamedTuple):
    """A validated point spec, ready to grade with (a tuple: the fastest to build, once per new spec text)."""

    rules: NavigationRules
    rewards: RewardTable
    point: RailPoint
    last: bool
    attempts_left: int
    protocol: str
    sentence: str


@dataclass(frozen=True)
class _Walk:
    """A validated route spec: the navigation state to start walks from (rules, reward table and rail points as the
    objects, shared by every walk; the rest copied by :meth:`NavigationTask.from_state`)."""

    state: Mapping[str, Any]


def _check_point(spec: Mapping[str, Any]) -> _Point:
    _exact_keys(spec, _POINT_SPEC_FIELDS, "")
    protocol = spec_protocol(spec, PROTOCOLS)
    _observation_mode(spec)
    _presentation(spec)
    rules = _rules(spec)
    rewards = _rewards(spec)
    point = _rail_point(spec["point"], "point")
    sentence = _field(spec, "sentence", str)
    _pairs(spec, "history")
    _pairs(spec, "replies")
    num_points = spec["num_points"]
    index = _int(spec, "point_index", 0, num_points - 1)
    last = _field(spec, "last_point", bool)
    if last != (index == num_points - 1):
        raise _fail("last_point", f"is {last} at point_index {index} of num_points {num_points}")
    attempts_left = _field(spec, "attempts_left", int)
    if not 1 <= attempts_left <= rules.max_attempts:
        raise _fail("attempts_left", f"must be in 1..{rules.max_attempts}, got {describe_value(attempts_left)}")
    if point.kind == "destination" and not last:
        raise _fail("point.kind", "may be 'destination' only at the last point")
    return _Point(rules, rewards, point, last, attempts_left, protocol, sentence)


#: The route spec fields that are the navigation task's state (:meth:`NavigationTask.to_state`), besides
#: ``protocol``, ``point_index`` (its ``index``) and ``observation_mode`` (its ``image``).
_WALK_FIELDS = ("rules", "rewards", "sentences", "rail", "max_steps", "attempts_left", "step_correct",
                "points_solved", "verdict", "feedback", "shown_feedback", "arrival_feedback", "point_replies")
_ROUTE_SPEC_FIELDS = ("game", "version", "env_id", "protocol", "observation_mode", "episode", "instruction",
                      "num_points", "point_index", *_WALK_FIELDS)


def _check_walk(spec: Mapping[str, Any]) -> _Walk:
    """A route spec's walk, checked by starting the navigation task from it once."""
    _exact_keys(spec, _ROUTE_SPEC_FIELDS, "")
    protocol = spec_protocol(spec, PROTOCOLS)
    mode = _observation_mode(spec)
    _presentation(spec)
    rules = _rules(spec)
    rewards = _rewards(spec)
    sentences = _field(spec, "sentences", list)
    for item in sentences:
        if not isinstance(item, str) or len(item) > _MAX_TEXT:
            raise _fail("sentences", "must be a list of strings")
    points = _rail(spec, sentences)
    if spec["num_points"] != len(points):
        raise _fail("num_points", f"is {spec['num_points']}, but the rail has {len(points)} points")
    max_steps = _field(spec, "max_steps", (int, type(None)))
    if max_steps is not None and not 1 <= max_steps <= _MAX_STEPS:
        raise _fail("max_steps", f"must be null or in 1..{_MAX_STEPS}, got {describe_value(max_steps)}")
    index = _int(spec, "point_index", 0, len(points) - 1)
    _int(spec, "attempts_left", 1, rules.max_attempts)
    for name in ("step_correct", "points_solved"):
        flags = _field(spec, name, list)
        for item in flags:
            if type(item) is not bool:
                raise _fail(name, "must be a list of true/false")
    if len(spec["step_correct"]) > _MAX_STEPS:
        raise _fail("step_correct", f"must list at most {_MAX_STEPS} steps")
    for name in ("feedback", "shown_feedback", "arrival_feedback"):
        _field(spec, name, str)
    _field(spec, "verdict", (str, type(None)))
    _pairs(spec, "point_replies")
    state = {name: spec[name] for name in _WALK_FIELDS}
    state.update(rules=rules, rewards=rewards, rail=tuple(points), sentences=tuple(sentences), protocol=protocol,
                 image=mode == "image", index=index, finished=False)
    try:
        task = NavigationTask.from_state(state)
    except (TypeError, ValueError, KeyError, IndexError, OverflowError) as error:
        named = str(error).replace("navigation state 'index'", "spec field 'point_index'")
        raise SpecError(f"V-IRL route spec is not valid: {named[:300]}") from None
    if task.truncated:  # (the task's own rule: max_steps replies graded)
        raise _fail("max_steps", f"is {max_steps} and the walk has graded {len(task.step_correct)} replies "
                    "(step_correct): the route was truncated, and a spec describes a route that still takes a reply")
    return _Walk(state)


def _check(spec: Mapping[str, Any]) -> _Point | _Walk:
    return _check_walk(spec) if "rail" in spec else _check_point(spec)


# ----------------------------------------------------------------------------------------------------------------
# Point spec text, fast. A dataset column holds a point spec as its canonical text (dump_spec: sorted keys, no
# blanks), and a reward function grades each new one once per completion. Parsing it as JSON and then checking every
# field costs more than the env's whole step, so canonical text is read by one regular expression instead: it admits
# exactly that layout, every value of its JSON type (strings as JSON strings of printable ASCII, as dump_spec writes
# them, integers of at most six digits, JSON numbers, the episode as one flat object). What the expression cannot say
# is checked as the full check says it: the rules, reward table and protocol (checked by the full check once per
# distinct text of theirs, then kept), the episode (parsed strictly and checked as plain JSON), ranges and the rules
# between fields. Any text that does not read so (another layout, a fault) is read by the JSON parser and the full
# check, which names the fault. The reader accepts a subset of what the full check accepts and gives the same point (a
# test holds them equal on every hostile text of tests/test_specs_hostile.py).
# ----------------------------------------------------------------------------------------------------------------

# (Possessive repeats: a token read is never read again another way, and the matcher keeps no state to try one. A
# string's characters are one class of ranges, printable ASCII but the quote and the backslash: the matcher tests
# such a class in one lookup, and a negated list of characters one by one, about twice as slow.)
_STRING = r'"[ !#-\[\]-~]*+(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[ !#-\[\]-~]*+)*+"'
_SMALL_INT = r"(?:0|[1-9][0-9]{0,5})"
# (Not the bare integer -0: the JSON parser reads it as the integer 0, float() as -0.0.)
_NUMBER_TEXT = r"(?!-0(?![.eE]))-?(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?(?:[eE][-+]?[0-9]++)?"
_TEXT_PAIRS = rf"\[(?:\[{_STRING},{_STRING}\](?:,\[{_STRING},{_STRING}\])*+)?\]"
# The episode: a flat object of strings, integers of at most 15 digits, true, false and null (what the full check
# finds wrong in such an object is only a key twice: checked after the match).
_FLAT_VALUE = rf"(?:{_STRING}|-?(?:0|[1-9][0-9]{{0,14}})|true|false|null)"
_EPISODE_KEY = re.compile(r'"([^"]*)":')
_POINT_TEXT = re.compile(
    rf'\{{"attempts_left":({_SMALL_INT}),"env_id":(?:null|{_STRING}),'
    rf'"episode":(\{{(?:{_STRING}:{_FLAT_VALUE}(?:,{_STRING}:{_FLAT_VALUE})*)?\}}),"game":"V-IRL",'
    rf'"history":{_TEXT_PAIRS},"instruction":{_STRING},"last_point":(true|false),"num_points":({_SMALL_INT}),'
    rf'"observation_mode":"(?:text|image)","point":\{{"at_intersection":(true|false),"heading":({_NUMBER_TEXT}),'
    rf'"kind":"(start|forward|crossing|turn|destination)","landmarks":(\[(?:{_STRING}(?:,{_STRING})*)?\]),'
    rf'"observation":({_STRING}),"position":\[({_NUMBER_TEXT}),({_NUMBER_TEXT})\],"sentence":({_SMALL_INT}),'
    rf'"turn_relative":(?:null,"turn_to":null|"(left|right|slightly left|slightly right)","turn_to":({_NUMBER_TEXT}))'
    rf'\}},'
    rf'"point_index":({_SMALL_INT}),"protocol":({_STRING}),"replies":{_TEXT_PAIRS},"rewards":(\{{[^{{}}]*\}}),'
    rf'"rules":(\{{[^{{}}]*\}}),"sentence":({_STRING}),"version":1\}}')


def _frame(texts: tuple[str, str, str]) -> tuple[str, NavigationRules, RewardTable] | None:
    """The protocol, rules and reward table of a point spec text's tokens for them, checked by the full check
    (``None``: not valid)."""
    protocol, rules, rewards = texts
    try:
        spec = {"protocol": json.loads(protocol), "rules": parse_json_strict(rules),
                "rewards": parse_json_strict(rewards)}
        return spec_protocol(spec, PROTOCOLS), _rules(spec), _rewards(spec)
    except SpecError:
        return None


#: The checked frames (protocol, rules and reward table) of point spec texts, by their texts.
_FRAMES: BoundedCache[tuple[str, str, str], tuple[str, NavigationRules, RewardTable] | None] = BoundedCache(
    2**20, lambda key, frame: 3 * sys.getsizeof(key[1]) + 3 * sys.getsizeof(key[2]) + 2_000)


def _point_from_text(text: str) -> _Point | None:
    """The checked point of a canonical point spec text, or ``None`` when it is not one (then read in full)."""
    match = _POINT_TEXT.fullmatch(text) if len(text) <= MAX_SPEC_CHARS else None
    if match is None:
        return None
    (attempts_left, episode, last, num_points, at_intersection, heading, kind, landmarks, observation, x, y,
     sentence, turn_relative, turn_to, index, protocol, rewards, rules, sentence_text) = match.groups()
    frame = _FRAMES.get_or_build((protocol, rules, rewards), _frame)
    if frame is None:
        return None
    protocol_name, navigation_rules, reward_table = frame
    # (A number token reads as the full check reads it; one past the coordinate bound, or inf, is left to it.)
    heading_value, x_value, y_value = float(heading), float(x), float(y)
    turn_value = None if turn_to is None else float(turn_to)
    attempts, points, at, sentence_index = int(attempts_left), int(num_points), int(index), int(sentence)
    last_point = last == "true"
    bound = _MAX_COORDINATE
    if (abs(heading_value) > bound or abs(x_value) > bound or abs(y_value) > bound
            or (turn_value is not None and abs(turn_value) > bound)
            or not 1 <= points <= MAX_RAIL_POINTS or not at < points or last_point != (at == points - 1)
            or sentence_index >= _MAX_SENTENCES or not 1 <= attempts <= navigation_rules.max_attempts
            or (kind == "destination" and not last_point)):
        return None
    if "\\" in episode:  # (without escapes, every '"' delimits a string, and a string before a ':' is a key)
        try:
            _plain(parse_json_strict(episode), "episode")
        except SpecError:
            return None
    else:
        keys = _EPISODE_KEY.findall(episode)
        if len(set(keys)) != len(keys):
            return None
    # (A string token with no escape stands for the text between its quotes.)
    names = (() if landmarks == "[]" else tuple(landmarks[2:-2].split('","')) if "\\" not in landmarks
             else tuple(json.loads(landmarks)))
    point = RailPoint((x_value, y_value), heading_value, kind,
                      json.loads(observation) if "\\" in observation else observation[1:-1], names,
                      at_intersection == "true", sentence_index, turn_value, turn_relative)
    return _Point(navigation_rules, reward_table, point, last_point, attempts, protocol_name,
                  json.loads(sentence_text) if "\\" in sentence_text else sentence_text[1:-1])


#: Bytes the cache of checked specs may hold (keyed by their JSON text). Each entry is charged for its text and a
#: bound on what it keeps, :data:`CHECKED_BYTES_PER_CHAR` per character of text plus :data:`CHECKED_ENTRY_BYTES`:
#: everything a checked spec keeps is built from its text, at most that many bytes per character (a test holds it
#: for real specs and for the most object-dense hostile ones). A bound, not a measure: measuring each entry would
#: cost more than checking it.
SPEC_CACHE_BYTES = 32 * 2**20
CHECKED_BYTES_PER_CHAR = 24
CHECKED_ENTRY_BYTES = 4_096


def _checked_bytes(text: str, checked: _Point | _Walk) -> int:
    return sys.getsizeof(text) + CHECKED_BYTES_PER_CHAR * len(text) + CHECKED_ENTRY_BYTES


_CHECKED: BoundedCache[str, _Point | _Walk] = BoundedCache(SPEC_CACHE_BYTES, _checked_bytes)


def forget_spec_texts() -> None:
    """Forget every checked spec text; the checked rules and reward tables of point spec texts stay, as in a
    trainer's process (e.g. to grade a text again as if new)."""
    _CHECKED.clear()


def clear_spec_caches() -> None:
    """Forget every checked spec text, rule set and reward table (no state kept between specs at all)."""
    forget_spec_texts()
    _FRAMES.clear()


def _load(spec: str | Mapping[str, Any]) -> _Point | _Walk:
    """A spec, read once and validated (its text's validation is cached; a mapping is validated as it is)."""
    if isinstance(spec, str):
        # Canonical point spec text is read faster than the cache is searched (it is not kept).
        point = _point_from_text(spec) if spec.startswith('{"attempts_left":') else None
        if point is not None:
            return point
        return _CHECKED.get_or_build(spec, lambda text: _check(load_spec(text, GAME)))
    return _check(load_spec(spec, GAME))


def walk_of(spec: str | Mapping[str, Any]) -> NavigationTask:
    """A fresh navigation task standing where the route spec's walk stands (validated, cached by the spec's text).

    Raises:
        SpecError: the spec is malformed, not a V-IRL route spec, or of a route that is over (naming the field).
    """
    checked = _load(spec)
    if not isinstance(checked, _Walk):
        raise SpecError("this V-IRL spec is a point spec (it has no 'rail'); walking a route takes its route spec, "
                        "env.unwrapped.episode_spec()")
    return NavigationTask.from_state(checked.state)


def route_spec_of(spec: str | Mapping[str, Any], task: NavigationTask) -> dict[str, Any] | None:
    """The route spec of ``spec``'s route with the walk where ``task`` (a :func:`walk_of` it, moved on) now stands,
    or ``None`` once the route is over."""
    if task.finished or task.truncated:
        return None
    return {**load_spec(spec, GAME), **_walk_fields(task)}


def _grade_point(reply: str, point: _Point) -> tuple[Grade, str, str]:
    """Grade ``reply`` at a point spec's point as the env's task grades it there: the grade, what it leads to
    (:func:`~virl_env.task.navigation.settle_reply`) and the feedback."""
    protocol = PROTOCOLS[point.protocol]
    expected = expected_action(point.point, point.rules.action_mode)
    result = protocol.grade(reply, point.point, point.rules, point.rewards, expected=expected)
    outcome, feedback = settle_reply(protocol, result, point.attempts_left, point.rules, point.point, point.last,
                                     expected)
    return result.with_feedback(feedback), outcome, feedback


def grade(reply: object, spec: str | Mapping[str, Any]) -> Grade:
    """Grade ``reply`` as ``env.step`` grades it at the rail point ``spec`` describes (a route spec: at the point
    and attempt its walk stands at).

    Args:
        reply: the model's raw reply (a non-string is graded as the empty reply, where ``env.step`` raises).
        spec: a point spec (:func:`point_spec`) or a route spec (:func:`route_spec`), or its JSON text.

    Returns:
        A :class:`~virl_env.task.checker.Grade`: ``verdict`` and ``reward`` as ``env.step`` gives them, ``feedback``
        equal to ``info["feedback"]``, ``success`` (the reply was the expected action) and the ``action`` read.

    Raises:
        SpecError: the spec is malformed, not a V-IRL spec, or of a point with no attempt left.
    """
    checked = _load(spec)
    # env.step refuses a non-string; a reward function grades it as the empty reply (no action: invalid).
    reply_text = reply if isinstance(reply, str) else ""
    if isinstance(checked, _Point):
        return _grade_point(reply_text, checked)[0]
    step = NavigationTask.from_state(checked.state).step(reply_text)
    return step.grade.with_feedback(step.feedback)


def advance(reply: object, spec: str | Mapping[str, Any]) -> SpecStep:
    """Grade ``reply`` at ``spec`` and say what the env does next (for multi-turn loops).

    Returns:
        A :class:`~sftrl_core.specs.SpecStep`: the grade; ``message``, the feedback the next prompt shows (the user
        turn ``info["messages"]`` adds on a retry); for a point spec, ``terminated`` when the point is done (a
        correct reply, or its last attempt: the env then moves on or ends the route) and the spec of the next
        attempt at this point; for a route spec, ``terminated`` when the route is over and the route spec of the
        next reply, wherever the walk then stands.

    Raises:
        SpecError: as :func:`grade`.
    """
    checked = _load(spec)
    reply_text = reply if isinstance(reply, str) else ""
    if isinstance(checked, _Walk):
        task = NavigationTask.from_state(checked.state)
        step = task.step(reply_text)
        result = step.grade.with_feedback(step.feedback)
        following = route_spec_of(spec, task)
        # (The feedback the next prompt shows is the step's: a retry's, or what moving on or ending said.)
        return SpecStep(result, following is None, result.feedback, following)
    result, outcome, feedback = _grade_point(reply_text, checked)
    next_spec = None
    if outcome == RETRY:
        previous = load_spec(spec, GAME)
        next_spec = {**previous, "attempts_left": checked.attempts_left - 1,
                     "replies": [*previous.get("replies", []), [stored_reply(reply_text), feedback]]}
    return SpecStep(result, outcome != RETRY, feedback, next_spec)


def expert_reply(spec: str | Mapping[str, Any]) -> str:
    """An expert's reply at the spec's point in the prompt's answer format (the observation, the instruction
    sentence and the expected action), for SFT demonstrations.

    Raises:
        SpecError: as :func:`grade`.
    """
    checked = _load(spec)
    if isinstance(checked, _Walk):
        return NavigationTask.from_state(checked.state).expert_reply()
    return expert_reply_text(checked.point.observation, checked.sentence,
                             expected_action(checked.point, checked.rules.action_mode))
