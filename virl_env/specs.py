"""V-IRL episodes as data: a JSON spec per rail point, and grading a reply there from the spec alone.

A route is 10 to 19 separate prompts, one per rail point, so the unit of data is the point. Its spec embeds what
grading needs there, so grading never regenerates a city nor replays the route: the rail point itself (its kind,
heading, turn, observation and landmarks in view), whether it is the route's last point, the active rules, the
reward table and the attempts left. It also names the episode it comes from (``episode``: style, city seed, route
or dataset entry), the instruction sentence being executed, the history shown in the prompt and the failed replies
at this point, so the spec fully determines the point's prompt.

>>> import gymnasium as gym, virl_env
>>> env = gym.make("VIRL-v0"); _ = env.reset(seed=0)
>>> spec = env.unwrapped.episode_spec()
>>> virl_env.grade(env.unwrapped.expert_reply(), spec).verdict
<Verdict.CORRECT: 'correct'>
>>> step = advance("forward()", spec)
>>> step.terminated, step.next_spec["attempts_left"]
(False, 1)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from sftrl_core.specs import SpecError, SpecStep, dump_spec, load_spec, spec_header, spec_object, spec_protocol

from .task.checker import Grade, expected_action
from .protocols.prompts import expert_reply_text
from .world.routes import RailPoint
from .protocols import PROTOCOLS
from .task.rules import NavigationRules, RewardTable
from .task.navigation import NavigationTask

__all__ = ["GAME", "PRESENTATION_FIELDS", "episode_spec", "grade", "advance", "expert_reply"]

#: The ``"game"`` field of every V-IRL spec.
GAME = "V-IRL"
#: Spec fields that describe the point but play no part in grading (two specs that differ only here grade alike).
PRESENTATION_FIELDS = ("env_id", "episode", "instruction", "sentence", "history", "replies", "point_index",
                       "num_points")


@dataclass(frozen=True)
class _Point:
    """A validated spec, ready to grade with."""

    rules: NavigationRules
    rewards: RewardTable
    point: RailPoint
    last: bool
    attempts_left: int
    protocol: str


def episode_spec(env: Any) -> dict[str, Any]:
    """The spec of the rail point ``env`` is at, with the attempts left there.

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
        raise RuntimeError("call reset() before episode_spec(): there is no episode yet")
    if task.finished:
        raise RuntimeError("this episode is over; episode_spec() describes a point that still takes a reply")
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
        "point": {**dataclasses.asdict(point), "position": list(point.position), "landmarks": list(point.landmarks)},
        "sentence": episode.route.sentences[point.sentence],
        "attempts_left": task.attempts_left,
        "history": [list(step) for step in task.history],
        "replies": [list(reply) for reply in task.point_replies],
    }


def _field(spec: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in spec:
        raise SpecError(f"V-IRL spec has no {name!r} field")
    value = spec[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise SpecError(f"V-IRL spec field {name!r} has the wrong type: {value!r}")
    return value


def _rail_point(raw: Any) -> RailPoint:
    values = dict(raw)
    values["position"] = tuple(float(v) for v in values["position"])
    values["landmarks"] = tuple(str(v) for v in values["landmarks"])
    point = RailPoint(**values)
    if point.kind not in ("start", "forward", "crossing", "turn", "destination"):
        raise ValueError(f"unknown kind {point.kind!r}")
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


def grade(reply: object, spec: str | Mapping[str, Any]) -> Grade:
    """Grade ``reply`` as ``env.step`` grades it at the rail point ``spec`` describes.

    Args:
        reply: the model's raw reply (a non-string is graded as the empty reply, where ``env.step`` raises).
        spec: the point's spec (from :func:`episode_spec`, or its JSON text).

    Returns:
        A :class:`~virl_env.task.checker.Grade`: ``verdict`` and ``reward`` as ``env.step`` gives them, ``feedback``
        equal to ``info["feedback"]``, ``success`` (the reply was the expected action) and the ``action`` read.

    Raises:
        SpecError: the spec is malformed, not a V-IRL spec, or of a point with no attempt left.
    """
    return _play(reply, spec)[0]


def advance(reply: object, spec: str | Mapping[str, Any]) -> SpecStep:
    """Grade ``reply`` at ``spec`` and say what the env does next at this point (for multi-turn loops).

    Returns:
        A :class:`~sftrl_core.specs.SpecStep`: the grade; ``terminated`` when the point is done (a correct reply,
        or its last attempt: the env then moves on or ends the route); ``message``, the feedback the next prompt
        shows (the user turn ``info["messages"]`` adds on a retry); the spec of the next attempt at this point.

    Raises:
        SpecError: as :func:`grade`.
    """
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
    point = _load(spec)
    sentence = load_spec(spec, GAME).get("sentence", "")
    return expert_reply_text(point.point.observation, str(sentence),
                             expected_action(point.point, point.rules.action_mode))
