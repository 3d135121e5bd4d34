"""The paper authors' protocol (``protocol="paper"``): the evaluation in their released code (LeslieTrue/SFTvsRL
@5a6ea55; ``docs/PAPER_PROTOCOL.md`` section 2), with only the deliberate differences of the README's table
"paper protocol vs the authors' code" (angle wrap-around, the view order the prompt states, no crashes, seeded
determinism).

What is theirs, and where it lives:

* their texts, verbatim: the templates ``Q_VIRL_L`` / ``Q_VIRL_VL``, the action-space block, the instruction,
  observation and history lines, the three failure messages (:data:`~virl_env.protocols.prompts.PAPER_FEEDBACK`,
  each ending ``...}}.``) and ``You failed this trial because ...``: in :mod:`virl_env.protocols.prompts`;
* their reading and grading (:func:`paper_grade`): the action string must equal the expected one exactly, the
  -1.5 rule reads the landmark part of the point's observation;
* their turn words (:func:`paper_relative_turn`): a heading change of exactly 0 is ``slightly left``;
* their rail (:func:`build_paper_rail` on a generated city, :func:`build_paper_episode` on released routes):
  milestones only where the route turns, ``forward_points`` (5) interpolated points per leg dropped with
  probability ``drop_rate`` (0.5) and kept only clear of the leg's ends, landmark texts as written;
* their episode end: 2 attempts per point and the route ends when they run out
  (:data:`~virl_env.task.rules.PAPER_RULES`), the same failure line whatever happens next;
* the replay of their evaluator's draws (the ``paper_draws`` reset option, :func:`paper_draws_option`; the draws
  themselves come from :func:`virl_env.released.dataset.paper_evaluation_draws`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from sftrl_core import registry
from virl_env.protocols.base import Protocol
from virl_env.protocols.prompts import (
    OBS_CHARSET,
    PAPER_FEEDBACK,
    paper_failure_feedback,
    paper_header,
    paper_history,
    paper_image_observation,
    paper_landmark_text,
    paper_observation,
    paper_prompt_end,
    paper_sentences,
)
from virl_env.released.dataset import (
    PAPER_MIN_LEG,
    DatasetRoute,
    EpisodeRoute,
    PaperDraws,
    RouteDataset,
    landmark_names,
    leg_lengths,
    read_landmark,
)
from virl_env.released.files import DatasetError, written_text
from virl_env.released.panoramas import PanoIndex
from virl_env.task.checker import MAX_REPLY_CHARS, Grade, expected_action
from virl_env.task.rules import PAPER_RULES, NavigationRules, RewardTable, Verdict
from virl_env.world.city import City
from virl_env.world.geo import to_geo, to_local
from virl_env.world.instructions import SLIGHT_TURN_LIMIT, bearing, compass_name, wrap_angle
from virl_env.world.routes import RailPoint, Route, landmarks_in_view, stretch_edges

__all__ = [
    "PAPER_END_CLEARANCE",
    "PAPER_SNAP_RADIUS",
    "PaperProtocol",
    "build_paper_episode",
    "build_paper_rail",
    "paper_dataset_episode",
    "paper_draws_option",
    "paper_grade",
    "paper_leg_fractions",
    "paper_relative_turn",
    "parse_paper_reply",
]

PAPER_END_CLEARANCE = 8.0
"""An interpolated point is kept only if it is more than this many metres from both ends of its leg."""

PAPER_SNAP_RADIUS = 20.0
"""On released routes an interpolated point moves to the nearest panorama within this many metres, or is skipped."""


# ---- turn words -------------------------------------------------------------------------------------------------
def paper_relative_turn(from_heading: float, to_heading: float) -> str:
    """The authors' relative turn word, with angle wrap-around (their code has none; the suite's fix).

    ``d = wrap_angle(to - from)``: ``d < -45`` left, ``d > 45`` right, ``-45 <= d <= 0`` slightly left, else
    slightly right. Unlike the suite's :func:`~virl_env.world.instructions.relative_turn`, no turn at all
    (``d == 0``, a milestone passed straight on in their data) is ``slightly left``, as in theirs.
    """
    d = wrap_angle(to_heading - from_heading)
    if d < -SLIGHT_TURN_LIMIT:
        return "left"
    if d > SLIGHT_TURN_LIMIT:
        return "right"
    return "slightly left" if d <= 0.0 else "slightly right"


# ---- reading and grading a reply -----------------------------------------------------------------------------------
_PAPER_ACTION_RE = re.compile(r'"action": "(.*?)"')
_PAPER_OBSERVATION_RE = re.compile(r'"current observation": "(.*?)"')


def parse_paper_reply(reply: object) -> tuple[str | None, str | None]:
    """The action and reported observation as the authors read them: ``json.loads`` of the whole
    reply first, then the regular expressions ``"action": "(.*?)"`` and ``"current observation":
    "(.*?)"`` on the raw text. Nothing is normalised (no case folding, no think-block stripping).

    Returns:
        ``(action, observation)``, each None when not found (or not a string). Replies longer than
        :data:`~virl_env.task.checker.MAX_REPLY_CHARS` are not read at all (their code would read them; ours
        bounds the work), nor are replies that are not strings (theirs would crash).
    """
    if not isinstance(reply, str) or len(reply) > MAX_REPLY_CHARS:
        return None, None
    try:
        obj = json.loads(reply)
    except (ValueError, RecursionError):
        obj = None
    found: dict[str, str | None] = {}
    for key, pattern in (("action", _PAPER_ACTION_RE), ("current observation", _PAPER_OBSERVATION_RE)):
        if isinstance(obj, dict) and key in obj:
            value = obj[key]
            found[key] = value if isinstance(value, str) else None
        else:
            match = pattern.search(reply)
            found[key] = match.group(1) if match else None
    return found["action"], found["current observation"]


def paper_grade(reply: object, point: RailPoint, rules: NavigationRules, rewards: RewardTable,
                expected: str | None = None) -> Grade:
    """Grade a reply with the authors' rules.

    The action string must equal the expected action exactly (``correct``, +1). Otherwise, when
    ``rules.grade_observation`` is on and the reported observation contains ``intersection`` while
    the point's landmark-only observation does not (or the reverse), the verdict is
    ``wrong_observation`` (-1.5 in the paper's table); else ``wrong_action`` (-1), or ``invalid``
    (-1) when no action string was found. Feedback is the authors' message, verbatim. A reply that is not a string
    (their code crashes on one) is ``invalid`` with a message that says so.

    Args:
        reply: The model's raw reply.
        point: The rail point (built by the paper's rail builders).
        rules: The active rules (action mode, observation grading).
        rewards: The reward table.
        expected: The expected action, when the caller has it.
    """
    if not isinstance(reply, str):
        return Grade(Verdict.INVALID, rewards.reward(Verdict.INVALID),
                     f"the reply must be text, not {type(reply).__name__}.", None)
    action, observation = parse_paper_reply(reply)
    if expected is None:
        expected = expected_action(point, rules.action_mode)
    if action == expected:
        return Grade(Verdict.CORRECT, rewards.reward(Verdict.CORRECT), "Correct action.", action)
    if rules.grade_observation:
        claims = "intersection" in (observation or "")
        truth = "intersection" in paper_landmark_text(point.observation)
        if claims != truth:
            key = "not_at_intersection" if claims else "at_intersection"
            return Grade(Verdict.WRONG_OBSERVATION, rewards.reward(Verdict.WRONG_OBSERVATION),
                         PAPER_FEEDBACK[key], action)
    verdict = Verdict.INVALID if action is None else Verdict.WRONG_ACTION
    return Grade(verdict, rewards.reward(verdict), PAPER_FEEDBACK["wrong_action"], action)


#: The grader's name before ``paper_grade`` (one vocabulary with GeneralPoints); kept for one release.
grade_paper_reply = paper_grade


# ---- the rail --------------------------------------------------------------------------------------------------
def paper_leg_fractions(count: int, drop_rate: float, uniform: Callable[[], float]) -> list[float]:
    """The authors' interpolation of one leg: fractions ``i / count`` for ``i = 1..count``, each
    dropped when its draw is below ``drop_rate``; always draws ``count`` numbers, in order.

    The last fraction is the leg's end, so the clearance rule (:data:`PAPER_END_CLEARANCE`) always
    removes it, as in their code.
    """
    return [i / count for i in range(1, count + 1) if uniform() >= drop_rate]


def _along(points: Sequence[tuple[float, float]], distance: float) -> tuple[tuple[float, float], int]:
    """The point ``distance`` metres along a polyline and the index of the segment it lies on."""
    for k, (p, q) in enumerate(zip(points[:-1], points[1:])):
        length = math.hypot(q[0] - p[0], q[1] - p[1])
        if distance <= length or k == len(points) - 2:
            f = 0.0 if length == 0.0 else min(distance / length, 1.0)
            return (p[0] + (q[0] - p[0]) * f, p[1] + (q[1] - p[1]) * f), k
        distance -= length
    raise ValueError("a polyline needs at least two points")


def build_paper_rail(city: City, route: Route, forward_points: int, drop_rate: float,
                     uniform: Callable[[], float]) -> tuple[tuple[RailPoint, ...], tuple[str, ...]]:
    """The authors' rail on a generated city's route, and their instruction sentences for it.

    Milestones are the intersections where the route turns (crossings passed straight through are
    not milestones). Each leg gets ``forward_points`` interpolated points at fractions ``i / n`` of
    its street length (:func:`paper_leg_fractions`; the street path stands in for their snapping to
    the nearest panorama), kept only when more than :data:`PAPER_END_CLEARANCE` metres from both
    ends. Observations are the paper's (:func:`virl_env.protocols.prompts.paper_observation`): no landmarks
    at the start and interpolated points, the landmarks in view (as the suite names them) at
    milestones and the destination. Turns are worded by :func:`paper_relative_turn`.

    Args:
        city: The city.
        route: A route of ``city``.
        forward_points: Interpolated points per leg (paper: 5).
        drop_rate: Probability of dropping each (paper: 0.5).
        uniform: Draws a float in ``[0, 1)`` (the environment's generator); called ``forward_points``
            times per leg longer than :data:`~virl_env.released.dataset.PAPER_MIN_LEG`, leg by leg.
    """
    pts, kinds = route.points, route.kinds
    seg = [bearing(q[0] - p[0], q[1] - p[1]) for p, q in zip(pts[:-1], pts[1:])]
    edges = stretch_edges(city, route)
    turns = [paper_relative_turn(leg.turned_from, leg.heading) for leg in route.legs]
    first = route.legs[0]
    rail = [RailPoint(position=pts[0], heading=route.initial_heading, kind="start",
                      observation=paper_observation(None, "start"), landmarks=(), at_intersection=False,
                      sentence=0, turn_to=first.heading, turn_relative=turns[0])]
    texts: list[str | None] = []
    begin = 0
    ends = [i for i, kind in enumerate(kinds) if kind in ("turn", "destination")]
    for leg, end in enumerate(ends):
        path = pts[begin:end + 1]
        total = sum(math.hypot(q[0] - p[0], q[1] - p[1]) for p, q in zip(path[:-1], path[1:]))
        if total > PAPER_MIN_LEG:
            for f in paper_leg_fractions(forward_points, drop_rate, uniform):
                position, k = _along(path, f * total)
                if min(math.dist(position, path[0]), math.dist(position, path[-1])) > PAPER_END_CLEARANCE:
                    rail.append(RailPoint(position=position, heading=seg[begin + k], kind="forward",
                                          observation=paper_observation(None, "forward"), landmarks=(),
                                          at_intersection=False, sentence=2 * leg + 1, turn_to=None,
                                          turn_relative=None))
        arrival = seg[end - 1]
        parts, names = landmarks_in_view(city, pts[end], arrival, edges[end - 1])
        text = "; ".join(parts) or None
        texts.append(text)
        if kinds[end] == "turn":
            nxt = route.legs[leg + 1]
            rail.append(RailPoint(position=pts[end], heading=arrival, kind="turn",
                                  observation=paper_observation(text, "turn"), landmarks=tuple(names),
                                  at_intersection=True, sentence=2 * (leg + 1), turn_to=nxt.heading,
                                  turn_relative=turns[leg + 1]))
        else:
            rail.append(RailPoint(position=pts[end], heading=arrival, kind="destination",
                                  observation=paper_observation(text, "destination"), landmarks=tuple(names),
                                  at_intersection=False, sentence=2 * leg + 1, turn_to=None, turn_relative=None))
        begin = end
    sentences = paper_sentences([(turn, leg.compass, text) for turn, leg, text in zip(turns, route.legs, texts)])
    return tuple(rail), sentences


def build_paper_episode(route: DatasetRoute, forward_points: int, drop_rate: float, init_heading: float | None,
                        uniform: Callable[[], float], mapping: PanoIndex | None = None
                        ) -> tuple[EpisodeRoute, tuple[RailPoint, ...]]:
    """The authors' instruction and rail of a released route.

    Positions: the start, then for each ``geocode_list`` point its kept interpolated points (fractions
    ``i / forward_points``, :func:`paper_leg_fractions`), moved to the nearest panorama within
    :data:`PAPER_SNAP_RADIUS` (skipped if none; same panorama twice is possible, as in their code) and kept if
    more than :data:`PAPER_END_CLEARANCE` m from both ends of the leg, then the point itself (a milestone, the last
    one the destination). Observations and sentences are the authors', landmark texts as written in the data
    (:func:`~virl_env.released.files.written_text`: ``Caf\\u00e9`` stays ``Caf\\u00e9``), turns worded by
    :func:`paper_relative_turn`.

    Args:
        route: The route.
        forward_points: Interpolated points per leg (paper: 5).
        drop_rate: Probability of dropping each (paper: 0.5).
        init_heading: The start heading drawn for a route without one (ignored when it has one).
        uniform: Draws a float in ``[0, 1)`` (``forward_points`` per leg longer than
            :data:`~virl_env.released.dataset.PAPER_MIN_LEG`).
        mapping: The panoramas to snap to (None: positions stay on the straight leg).
    """
    heads = route.headings
    init = route.init_heading if route.init_heading is not None else float(init_heading or 0.0) % 360.0
    origin = route.start
    keys = [(0.0, 0.0)] + [to_local(origin, g) for g in route.geocodes]
    texts = [read_landmark(text, written_text) for text in route.landmarks]
    legs = len(heads)
    blocks = []
    previous = init
    for k in range(legs):
        blocks.append((paper_relative_turn(previous, heads[k]), compass_name(heads[k]), texts[k]))
        previous = heads[k]
    rail = [RailPoint(position=keys[0], heading=init, kind="start", observation=paper_observation(None, "start"),
                      landmarks=(), at_intersection=False, sentence=0, turn_to=heads[0],
                      turn_relative=blocks[0][0])]
    for k, length in enumerate(leg_lengths(route)):
        (px, py), (qx, qy) = keys[k], keys[k + 1]
        if length > PAPER_MIN_LEG:
            for f in paper_leg_fractions(forward_points, drop_rate, uniform):
                position = (px + (qx - px) * f, py + (qy - py) * f)
                if mapping is not None:
                    try:
                        lat, lng, _pano, _d = mapping.nearest_entry(to_geo(origin, position), PAPER_SNAP_RADIUS)
                    except DatasetError:
                        continue
                    position = to_local(origin, (lat, lng))
                if min(math.dist(position, keys[k]), math.dist(position, keys[k + 1])) > PAPER_END_CLEARANCE:
                    rail.append(RailPoint(position=position, heading=heads[k], kind="forward",
                                          observation=paper_observation(None, "forward"), landmarks=(),
                                          at_intersection=False, sentence=2 * k + 1, turn_to=None,
                                          turn_relative=None))
        text = texts[k]
        if k == legs - 1:
            rail.append(RailPoint(position=keys[k + 1], heading=heads[k], kind="destination",
                                  observation=paper_observation(text, "destination"), landmarks=landmark_names(text),
                                  at_intersection=False, sentence=2 * k + 1, turn_to=None, turn_relative=None))
        else:
            rail.append(RailPoint(position=keys[k + 1], heading=heads[k], kind="turn",
                                  observation=paper_observation(text, "turn"), landmarks=landmark_names(text),
                                  at_intersection=True, sentence=2 * (k + 1), turn_to=heads[k + 1],
                                  turn_relative=blocks[k + 1][0]))
    episode = EpisodeRoute(index=route.index, sentences=paper_sentences(blocks), points=tuple(keys), origin=origin)
    return episode, tuple(rail)


def paper_dataset_episode(dataset: RouteDataset, index: int, forward_points: int, drop_rate: float,
                          rng: np.random.Generator | None, draws: PaperDraws | None = None
                          ) -> tuple[EpisodeRoute, tuple[RailPoint, ...]]:
    """The authors' instruction and rail of route ``index`` of a released dataset (:func:`build_paper_episode`,
    snapped to its panoramas): the start heading (when the data has none, ``randint(0, 359)``) and the rail draws
    come from ``rng``, or from ``draws`` to replay their evaluator
    (:func:`~virl_env.released.dataset.paper_evaluation_draws`).

    Raises:
        ValueError: If ``draws`` lacks a heading the route needs, or has too few rail draws.
    """
    route = dataset.routes[index]
    if draws is None:
        heading = int(rng.integers(360)) if route.init_heading is None else None
        uniform: Callable[[], float] = lambda: float(rng.random())  # noqa: E731
    else:
        if route.init_heading is None and draws.init_heading is None:
            raise ValueError(f"route {index} has no start heading; the replayed draws must give one")
        heading = draws.init_heading
        stream = iter(draws.rail_draws)

        def uniform() -> float:
            try:
                return float(next(stream))
            except StopIteration:
                raise ValueError(f"too few rail draws ({len(draws.rail_draws)}) for route {index}") from None
    return build_paper_episode(route, forward_points, drop_rate, heading, uniform, dataset.mapping)


def paper_draws_option(value: object) -> PaperDraws:
    """The ``paper_draws`` reset option (``{"init_heading": int | None, "rail_draws": [float, ...]}``,
    as :meth:`~virl_env.released.dataset.PaperDraws.reset_options` writes it) checked; the route comes from the
    ``route`` option, so the result's ``route`` is -1.

    Raises:
        TypeError, ValueError: For anything else (named).
    """
    if isinstance(value, PaperDraws):
        return value
    if not isinstance(value, dict) or set(value) != {"init_heading", "rail_draws"}:
        raise ValueError("paper_draws must be a dict with keys 'init_heading' and 'rail_draws', got "
                         f"{str(value)[:80]}")
    heading = value["init_heading"]
    if heading is not None:
        if isinstance(heading, bool) or not isinstance(heading, (int, np.integer)):
            raise TypeError(f"paper_draws init_heading must be an int, got {type(heading).__name__}")
        if not 0 <= heading <= 359:
            raise ValueError(f"paper_draws init_heading must be in 0..359, got {heading}")
        heading = int(heading)
    draws = value["rail_draws"]
    if isinstance(draws, (str, bytes)) or not isinstance(draws, Sequence):
        raise TypeError(f"paper_draws rail_draws must be a list of floats, got {type(draws).__name__}")
    out = []
    for u in draws:
        if isinstance(u, bool) or not isinstance(u, (int, float, np.floating)) or not 0.0 <= float(u) < 1.0:
            raise ValueError(f"paper_draws rail_draws must be floats in [0, 1), got {u!r}")
        out.append(float(u))
    return PaperDraws(-1, heading, tuple(out))


# ---- the protocol --------------------------------------------------------------------------------------------------
class PaperProtocol(Protocol):
    """The authors' protocol (see the module docstring): their rules (:data:`~virl_env.task.rules.PAPER_RULES`),
    absolute and relative actions only, their prompt (one string: the prompt, then ``\\n`` and the latest
    ``You failed this trial because ...``; ``info["messages"]`` holds the conversation), :func:`paper_grade`, their
    rails, and released landmark names as written (the observation charset admits their characters)."""

    name = registry.PAPER.name
    base_rules = PAPER_RULES
    action_modes = ("absolute", "relative")
    replays_evaluator_draws = True

    def relative_turn(self, from_heading: float, to_heading: float) -> str:
        return paper_relative_turn(from_heading, to_heading)

    def city_rail(self, city: City, route: Route, rules: NavigationRules,
                  rng: np.random.Generator) -> tuple[Route, Sequence[RailPoint]]:
        rail, sentences = build_paper_rail(city, route, rules.forward_points, rules.drop_rate,
                                           lambda: float(rng.random()))
        return dataclasses.replace(route, sentences=sentences), rail

    def dataset_rail(self, dataset: RouteDataset, index: int, rules: NavigationRules, rng: np.random.Generator,
                     options: Mapping[str, Any]) -> tuple[EpisodeRoute, Sequence[RailPoint]]:
        draws = options.get("paper_draws")
        return paper_dataset_episode(dataset, index, rules.forward_points, rules.drop_rate, rng,
                                     None if draws is None else paper_draws_option(draws))

    def observation_charset(self, texts: Iterable[str] = ()) -> str:
        extra = {c for text in texts for c in written_text(text)} - set(OBS_CHARSET)
        return OBS_CHARSET + "".join(sorted(extra))

    def header(self, sentences: Sequence[str], action_mode: str, image: bool) -> str:
        return paper_header(sentences, action_mode, image)

    def prompt(self, header: str, history: Sequence[tuple[str, str]], point: RailPoint, *, image: bool,
               finished: bool, feedback: str | None) -> str:
        if finished:
            observation = None
        elif image:
            observation = paper_image_observation(point.at_intersection)
        else:
            observation = point.observation
        text = header + paper_history(history, observation) + paper_prompt_end(image)
        return f"{text}\n{feedback}" if feedback else text

    def retry_feedback(self, message: str, attempts_left: int) -> str:
        return paper_failure_feedback(message)

    def ended_feedback(self, message: str) -> str:
        return paper_failure_feedback(message)

    def moved_on_feedback(self, message: str, expected: str) -> str:
        return paper_failure_feedback(message)

    def grade(self, reply: object, point: RailPoint, rules: NavigationRules, rewards: RewardTable,
              expected: str | None = None) -> Grade:
        return paper_grade(reply, point, rules, rewards, expected=expected)

