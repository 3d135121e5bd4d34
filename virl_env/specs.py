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
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from sftrl_core.specs import SpecError, SpecStep, dump_spec, load_spec, spec_header, spec_object, spec_protocol

from .task.checker import Grade, expected_action
from .protocols.prompts import expert_reply_text
from .world.routes import RailPoint
from .protocols import PROTOCOLS
from .task.rules import NavigationRules, RewardTable
from .task.navigation import NavigationTask, rail_point_to_dict

__all__ = ["GAME", "PRESENTATION_FIELDS", "MAX_RAIL_POINTS", "episode_spec", "route_spec", "point_spec",
           "is_route_spec", "walk_of", "route_spec_of", "grade", "advance", "expert_reply"]

#: The ``"game"`` field of every V-IRL spec.
GAME = "V-IRL"
#: Spec fields that describe the point but play no part in grading (two specs that differ only here grade alike).
PRESENTATION_FIELDS = ("env_id", "episode", "instruction", "sentence", "history", "replies", "point_index",
                       "num_points")
#: A route spec's rail has at most this many points (generated routes have well under 100).
MAX_RAIL_POINTS = 2_000


@dataclass(frozen=True)
class _Point:
    """A validated spec, ready to grade with."""

    rules: NavigationRules
    rewards: RewardTable
    point: RailPoint
    last: bool
    attempts_left: int
    protocol: str


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
    episode = base.episode
    point = task.point
    return {
        **spec_header(GAME, base),
        "observation_mode": "image" if base._image_mode else "text",
        "episode": episode.describe(),
        "instruction": episode.route.instruction,
        "rules": dataclasses.asdict(task.rules),
        "rewards": task.rewards.to_dict(),
        "point_index": task.index,
        "num_points": len(task.rail),
        "last_point": task.index == len(task.rail) - 1,
        "point": _point_fields(point),
        "sentence": episode.route.sentences[point.sentence],
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
        ``rewards``, ``sentences``, ``rail`` (every rail point's fields, in order), ``max_steps``, and where the walk
        stands: ``point_index``, ``attempts_left``, ``step_correct``, ``points_solved``, ``verdict``, ``feedback``,
        ``shown_feedback`` (what the next prompt shows), ``arrival_feedback`` (what this point's first prompt
        showed) and ``point_replies`` (``[reply, feedback]`` of the failed attempts at this point).

    Raises:
        RuntimeError: before the first reset, or once the episode is over.
    """
    base = env.unwrapped
    task: NavigationTask | None = base._task
    if task is None:
        raise RuntimeError("call reset() before episode_spec(): there is no episode yet")
    if task.finished:
        raise RuntimeError("this episode is over; episode_spec() describes a route that still takes a reply")
    state = task.to_state()
    state["point_index"] = state.pop("index")
    for key in ("protocol", "image", "finished"):  # in the header, the observation mode, and always false
        del state[key]
    return {
        **spec_header(GAME, base),
        "observation_mode": "image" if base._image_mode else "text",
        "episode": base.episode.describe(),
        "instruction": base.episode.route.instruction,
        "num_points": len(task.rail),
        **state,
    }


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


def _field(spec: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in spec:
        raise SpecError(f"V-IRL spec has no {name!r} field")
    value = spec[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise SpecError(f"V-IRL spec field {name!r} has the wrong type: {value!r}")
    return value


_POINT_KINDS = ("start", "forward", "crossing", "turn", "destination")


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _rail_point(raw: Any) -> RailPoint:
    if not isinstance(raw, Mapping):
        raise TypeError(f"a rail point is an object of fields, got {type(raw).__name__}")
    values = dict(raw)
    position = values.get("position")
    if not isinstance(position, list) or len(position) != 2:
        raise ValueError("position must be a list of two numbers")
    values["position"] = tuple(_number(v, "position") for v in position)
    values["heading"] = _number(values.get("heading"), "heading")
    landmarks = values.get("landmarks")
    if not isinstance(landmarks, list) or not all(isinstance(v, str) for v in landmarks):
        raise ValueError("landmarks must be a list of names")
    values["landmarks"] = tuple(landmarks)
    point = RailPoint(**values)  # TypeError for a missing or unknown field
    if point.kind not in _POINT_KINDS:
        raise ValueError(f"unknown kind {point.kind!r}")
    if not isinstance(point.observation, str) or not isinstance(point.at_intersection, bool):
        raise ValueError("observation must be a string and at_intersection true or false")
    if isinstance(point.sentence, bool) or not isinstance(point.sentence, int) or point.sentence < 0:
        raise ValueError(f"sentence must be a non-negative integer, got {point.sentence!r}")
    if point.turn_to is not None:
        _number(point.turn_to, "turn_to")
    if point.turn_relative is not None and not isinstance(point.turn_relative, str):
        raise ValueError(f"turn_relative must be a string or null, got {point.turn_relative!r}")
    return point


@lru_cache(maxsize=4096)
def _load_text(text: str) -> _Point:
    spec = load_spec(text, GAME)
    protocol = spec_protocol(spec, PROTOCOLS)
    rules = spec_object(spec, "rules", lambda fields: NavigationRules(**fields))
    rewards = spec_object(spec, "rewards", RewardTable.resolve)
    point = spec_object(spec, "point", _rail_point)
    try:
        expected_action(point, rules.action_mode)  # a turn point must carry its turn for the action mode
    except (TypeError, ValueError, IndexError) as error:
        raise SpecError(f"spec field 'point' does not give an action in {rules.action_mode!r} mode: {error}") \
            from None
    attempts_left = _field(spec, "attempts_left", int)
    if not 1 <= attempts_left <= rules.max_attempts:
        raise SpecError(f"spec attempts_left must be in 1..{rules.max_attempts}, got {attempts_left}")
    return _Point(rules, rewards, point, _field(spec, "last_point", bool), attempts_left, protocol)


def _load(spec: str | Mapping[str, Any]) -> _Point:
    return _load_text(spec if isinstance(spec, str) else dump_spec(load_spec(spec, GAME)))


#: The route spec fields that are the navigation task's state (:meth:`NavigationTask.to_state`), besides
#: ``protocol``, ``point_index`` (its ``index``) and ``observation_mode`` (its ``image``).
_WALK_FIELDS = ("rules", "rewards", "sentences", "rail", "max_steps", "attempts_left", "step_correct",
                "points_solved", "verdict", "feedback", "shown_feedback", "arrival_feedback", "point_replies")


@lru_cache(maxsize=1024)
def _walk_state_text(text: str) -> str:
    """The navigation state of a route spec's JSON text, checked by building the task once (the state, as JSON
    text, is what a session starts from: each gets its own task)."""
    spec = load_spec(text, GAME)
    protocol = spec_protocol(spec, PROTOCOLS)
    mode = _field(spec, "observation_mode", str)
    if mode not in ("text", "image"):
        raise SpecError(f"V-IRL spec field 'observation_mode' must be 'text' or 'image', got {mode!r}")
    missing = [name for name in ("point_index", *_WALK_FIELDS) if name not in spec]
    if missing:
        raise SpecError(f"V-IRL route spec has no {missing[0]!r} field")
    rail = spec["rail"]
    if not isinstance(rail, list) or not 1 <= len(rail) <= MAX_RAIL_POINTS:
        raise SpecError(f"V-IRL spec field 'rail' must list 1 to {MAX_RAIL_POINTS} rail points")
    state = {name: spec[name] for name in _WALK_FIELDS}
    state.update(protocol=protocol, image=mode == "image", index=spec["point_index"], finished=False)
    try:
        task = NavigationTask.from_state(state)
    except (TypeError, ValueError, KeyError, IndexError, OverflowError) as error:
        named = str(error).replace("navigation state 'index'", "spec field 'point_index'")
        raise SpecError(f"V-IRL route spec is not valid: {named[:300]}") from None
    for number, point in enumerate(task.rail):
        if not 0 <= point.sentence < len(task.sentences):
            raise SpecError(f"V-IRL spec field 'rail', point {number}: its sentence {point.sentence} is not one of "
                            f"the {len(task.sentences)} sentences")
        if point.kind == "destination" and number != len(task.rail) - 1:
            raise SpecError("V-IRL spec field 'rail': only the last point may be the destination")
    return dump_spec(state)


def walk_of(spec: str | Mapping[str, Any]) -> NavigationTask:
    """A fresh navigation task standing where the route spec's walk stands (validated, cached by the spec's text).

    Raises:
        SpecError: the spec is malformed, not a V-IRL route spec, or of a route that is over (naming the field).
    """
    text = spec if isinstance(spec, str) else dump_spec(load_spec(spec, GAME))
    return NavigationTask.from_state(json.loads(_walk_state_text(text)))


def _task(point: _Point) -> NavigationTask:
    """A navigation task standing at the spec's point: the env's own grading, attempts and feedback rules. A
    point that is not the last gets a successor (the same point) so that moving on does not end the task."""
    rail = (point.point,) if point.last else (point.point, point.point)
    task = NavigationTask(rail, point.rules, point.rewards, point.protocol)
    task.attempts_left = point.attempts_left
    return task


def _play(reply: object, spec: str | Mapping[str, Any]) -> tuple[Grade, NavigationTask]:
    task = _task(_load(spec))
    # env.step refuses a non-string; a reward function grades it as the empty reply (no action: invalid).
    result = task.grade(reply if isinstance(reply, str) else "")
    # info["feedback"] is the task's message (the checker's, plus what happens next at this point).
    return dataclasses.replace(result, feedback=task.feedback), task


def route_spec_of(spec: str | Mapping[str, Any], task: NavigationTask) -> dict[str, Any] | None:
    """The route spec of ``spec``'s route with the walk where ``task`` (a :func:`walk_of` it, moved on) now stands,
    or ``None`` once the route is over."""
    if task.finished or task.truncated:
        return None
    state = task.to_state()
    state["point_index"] = state.pop("index")
    for key in ("protocol", "image", "finished"):  # in the header, the observation mode, and always false
        del state[key]
    return {**load_spec(spec, GAME), **state}


def _route_step(reply: object, spec: str | Mapping[str, Any]) -> tuple[Grade, NavigationTask, str]:
    task = walk_of(spec)
    # env.step refuses a non-string; a reward function grades it as the empty reply (no action: invalid).
    step = task.step(reply if isinstance(reply, str) else "")
    # info["feedback"] is the task's message (the grader's, plus what happens next at this point).
    return dataclasses.replace(step.grade, feedback=step.feedback), task, step.feedback


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
    if is_route_spec(spec):
        return _route_step(reply, spec)[0]
    return _play(reply, spec)[0]


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
    if is_route_spec(spec):
        result, task, feedback = _route_step(reply, spec)
        following = route_spec_of(spec, task)
        message = feedback if following is None else (task.shown_feedback or result.feedback)
        return SpecStep(result, following is None, message, following)
    result, task = _play(reply, spec)
    terminated = task.index > 0 or task.finished
    next_spec = None
    if not terminated:
        previous = load_spec(spec, GAME)
        reply_text = task.point_replies[-1][0] if task.point_replies else str(reply)
        next_spec = {**previous, "attempts_left": task.attempts_left,
                     "replies": [*previous.get("replies", []), [reply_text, task.shown_feedback]]}
    return SpecStep(result, terminated, task.shown_feedback or result.feedback, next_spec)


def expert_reply(spec: str | Mapping[str, Any]) -> str:
    """An expert's reply at the spec's point in the prompt's answer format (the observation, the instruction
    sentence and the expected action), for SFT demonstrations.

    Raises:
        SpecError: as :func:`grade`.
    """
    if is_route_spec(spec):
        return walk_of(spec).expert_reply()
    point = _load(spec)
    sentence = load_spec(spec, GAME).get("sentence", "")
    return expert_reply_text(point.point.observation, str(sentence),
                             expected_action(point.point, point.rules.action_mode))
