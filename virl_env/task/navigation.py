"""The walk of one route as a pure object: where the agent is on its rail, what it must answer there, how its
replies are graded, counted and fed back, what the model reads, and when the route ends.

:class:`NavigationTask` takes plain data (the rail points, the instruction sentences, the rules, the reward table,
the protocol, whether prompts are the image mode's) and nothing of the world: no city, picture, dataset or random
generator. :class:`~virl_env.env.VIRLEnv` builds one at every reset from the episode its source drew and hands it
each reply (``env.step`` is :meth:`NavigationTask.step` plus the picture and the episode's origin); an episode
session builds one from a spec and plays the same replies to the same rewards, texts and ``info``.

>>> import json
>>> from virl_env.task.rules import NavigationRules, RewardTable
>>> from virl_env.world.routes import RailPoint
>>> start = RailPoint(position=(0.0, 0.0), heading=0.0, kind="start", observation="No landmarks nearby",
...                   landmarks=(), at_intersection=False, sentence=0, turn_to=90.0, turn_relative="right")
>>> end = RailPoint(position=(0.0, 50.0), heading=90.0, kind="destination", observation="Cafe Flore is on your left",
...                 landmarks=("Cafe Flore",), at_intersection=False, sentence=1, turn_to=None, turn_relative=None)
>>> task = NavigationTask([start, end], NavigationRules(), RewardTable(),
...                       sentences=["First, turn right to face east.", "Move forward until the destination."])
>>> step = task.step("turn_direction(east)")
>>> step.reward, step.terminated, task.index
(1.0, False, 1)
>>> again = NavigationTask.from_state(json.loads(json.dumps(task.to_state())))
>>> again.observation == task.observation, again.step("stop()").terminated, again.success
(True, True, True)
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sftrl_core.registry import DEFAULT_PROTOCOL
from virl_env.protocols import Protocol, get_protocol
from virl_env.task.checker import Grade, expected_action
from virl_env.task.rules import NavigationRules, RewardTable, Verdict
from virl_env.world.instructions import number_sentences
from virl_env.world.routes import RailPoint

__all__ = ["ENDED", "MAX_STORED_REPLY_CHARS", "MOVED_ON", "NavigationStep", "NavigationTask", "RAIL_POINT_KINDS",
           "RETRY", "SOLVED", "settle_reply", "stored_reply"]

MAX_STORED_REPLY_CHARS = 8192
"""Replies are kept (for ``info["messages"]``) cut to this many characters."""

RAIL_POINT_KINDS = ("start", "forward", "crossing", "turn", "destination")
"""The kinds of rail point (:attr:`~virl_env.world.routes.RailPoint.kind`)."""

_STATE_KEYS = frozenset({
    "protocol", "rules", "rewards", "image", "sentences", "rail", "max_steps", "index", "attempts_left", "finished",
    "step_correct", "points_solved", "verdict", "feedback", "shown_feedback", "arrival_feedback", "point_replies",
})


#: What a graded reply leads to at its point (:func:`settle_reply`): the point is solved; another attempt there; the
#: route ends; the walk moves on to the next point, the point failed.
SOLVED, RETRY, ENDED, MOVED_ON = "solved", "retry", "ended", "moved_on"


def settle_reply(protocol: Protocol, grade: Grade, attempts_left: int, rules: NavigationRules, point: RailPoint,
                 last: bool, expected: str) -> tuple[str, str]:
    """What a graded reply leads to at ``point`` (``attempts_left`` attempts there, this reply's included; ``last``:
    the route's last point), and the feedback it gets (``info["feedback"]``: the grader's message, plus what happens
    next in the protocol's words): ``(SOLVED | RETRY | ENDED | MOVED_ON, feedback)``. The one rule of
    :meth:`NavigationTask.step` and of grading a point from its spec."""
    if grade.success:
        return SOLVED, grade.feedback
    if attempts_left > 1:
        return RETRY, protocol.retry_feedback(grade.feedback, attempts_left - 1)
    if protocol.ends_route(rules, point, last):
        return ENDED, protocol.ended_feedback(grade.feedback)
    return MOVED_ON, protocol.moved_on_feedback(grade.feedback, expected)


def stored_reply(reply: object) -> str:
    """A failed reply as the history of its point keeps it (``info["messages"]``): its text, cut to
    :data:`MAX_STORED_REPLY_CHARS` characters."""
    text = reply if isinstance(reply, str) else reprlib.repr(reply)
    return text if len(text) <= MAX_STORED_REPLY_CHARS else text[:MAX_STORED_REPLY_CHARS] + " [cut]"


@dataclass(frozen=True)
class NavigationStep:
    """What one reply did (:meth:`NavigationTask.step`).

    Attributes:
        grade: the grader's verdict, reward and message on the reply (``grade.success``: it was right).
        reward: ``grade.reward`` as the float ``env.step`` returns.
        terminated: the route has ended (its last point solved, or attempts ran out where the route ends).
        truncated: the step limit (``max_steps``) is reached (as gymnasium's ``TimeLimit``: also when the route
            ends on that step).
        feedback: ``info["feedback"]``: the grader's message and, after a failed reply, what happens next in the
            protocol's words.
    """

    grade: Grade
    reward: float
    terminated: bool
    truncated: bool
    feedback: str


def rail_point_to_dict(point: RailPoint) -> dict[str, Any]:
    """A rail point as JSON-friendly fields (lists for the position and landmarks)."""
    return {**dataclasses.asdict(point), "position": list(point.position), "landmarks": list(point.landmarks)}


def rail_point_from_dict(fields: Mapping[str, Any]) -> RailPoint:
    """The rail point of :func:`rail_point_to_dict`'s fields.

    Raises:
        ValueError, TypeError: a missing or unknown field, or a value of the wrong kind.
    """
    if not isinstance(fields, Mapping):
        raise TypeError(f"a rail point is a mapping of its fields, got {type(fields).__name__}")
    values = dict(fields)
    position = values.get("position")
    if not isinstance(position, (list, tuple)) or len(position) != 2:
        raise ValueError(f"a rail point's position is [x, y], got {position!r}")
    values["position"] = tuple(float(v) for v in position)
    landmarks = values.get("landmarks")
    if not isinstance(landmarks, (list, tuple)) or not all(isinstance(v, str) for v in landmarks):
        raise ValueError(f"a rail point's landmarks are a list of names, got {landmarks!r}")
    values["landmarks"] = tuple(landmarks)
    point = RailPoint(**values)
    if point.kind not in RAIL_POINT_KINDS:
        raise ValueError(f"unknown rail point kind {point.kind!r}; known: {list(RAIL_POINT_KINDS)}")
    if not isinstance(point.observation, str):
        raise TypeError(f"a rail point's observation is a str, got {point.observation!r}")
    if isinstance(point.heading, bool) or not isinstance(point.heading, (int, float)):
        raise TypeError(f"a rail point's heading is a number, got {point.heading!r}")
    if not isinstance(point.at_intersection, bool):
        raise TypeError(f"a rail point's at_intersection is a bool, got {point.at_intersection!r}")
    if isinstance(point.sentence, bool) or not isinstance(point.sentence, int) or point.sentence < 0:
        raise TypeError(f"a rail point's sentence is an index (int >= 0), got {point.sentence!r}")
    return point


class NavigationTask:
    """The walk of one route: rail position, attempts, grading, feedback, rewards, the prompt, the end.

    Args:
        rail: The rail points of the route, in order (at least one); each carries its observation, the landmarks
            in view and what the expert does there.
        rules: The active rules (action mode, ``max_attempts``, ``on_exhausted``, observation grading).
        rewards: The reward table.
        protocol: A protocol name (``"suite"``, ``"paper"``) or a :class:`~virl_env.protocols.base.Protocol`: it
            grades, writes the prompt and the feedback, and says whether a route ends when attempts run out.
        sentences: The instruction's sentences (``RailPoint.sentence`` indexes them); the prompt and
            ``info["instruction"]`` show them numbered. Without them the prompt has an empty instruction (grading
            does not read it).
        image: Whether the prompts are the image mode's (the current observation is in the picture).
        max_steps: Truncate after this many graded replies (a registered id's ``max_episode_steps``), or None.

    Attributes:
        rail, rules, rewards, protocol, sentences, image, max_steps: As given (``protocol`` as the object).
        index: Index of the current rail point (stays on the last point once finished).
        attempts_left: Graded attempts left at the current point.
        finished: Whether the route has ended (terminated).
        step_correct: Whether each graded reply was correct, in order (per-step accuracy).
        points_solved: For each point left behind (or where the route ended), whether it was solved.
        verdict: The verdict of the last graded reply (None before the first).
        feedback: The feedback on the last graded reply, ``info["feedback"]`` ("" before the first).
        shown_feedback: The feedback the next prompt shows ("" after a correct reply).
        arrival_feedback: The feedback the prompt showed when the walk reached this point: ``""``, or the "moved
            on" paragraph when the previous point's attempts ran out; ``info["messages"]`` opens with that prompt.
        point_replies: ``(reply, feedback)`` of each failed attempt at the current point (the reply cut to
            :data:`MAX_STORED_REPLY_CHARS`): the model's own turns, which ``info["messages"]`` holds.

    Raises:
        ValueError: An empty rail, an unknown protocol name, or ``max_steps`` below 1.
    """

    def __init__(self, rail: Sequence[RailPoint], rules: NavigationRules, rewards: RewardTable,
                 protocol: str | Protocol = DEFAULT_PROTOCOL, *, sentences: Sequence[str] = (), image: bool = False,
                 max_steps: int | None = None) -> None:
        if len(rail) == 0:
            raise ValueError("a navigation task needs at least one rail point")
        if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int)
                                      or max_steps < 1):
            raise ValueError(f"max_steps must be an int >= 1 or None, got {max_steps!r}")
        self.protocol: Protocol = get_protocol(protocol)
        self.rail = rail
        self.rules = rules
        self.rewards = rewards
        self.sentences = tuple(sentences)
        self.image = bool(image)
        self.max_steps = max_steps
        self.index = 0
        self.attempts_left = rules.max_attempts
        self.finished = False
        self.step_correct: list[bool] = []
        self.points_solved: list[bool] = []
        self.verdict: Verdict | None = None
        self.feedback = ""
        self.shown_feedback = ""
        self.arrival_feedback = ""
        self.point_replies: list[tuple[str, str]] = []
        self._expected = expected_action(rail[0], rules.action_mode)
        self._history: list[tuple[str, str]] = []
        self._header: str | None = None
        self._prompt_memo: dict[tuple, str] = {}

    # ---- where the walk stands ------------------------------------------------------------------------------------
    @property
    def point(self) -> RailPoint:
        """The current rail point."""
        return self.rail[self.index]

    @property
    def expected_action(self) -> str:
        """The expected action at the current point, in the active action mode.

        Raises:
            RuntimeError: After the episode ended.
        """
        if self.finished:
            raise RuntimeError("the episode has ended; there is no expected action")
        return self._expected

    @property
    def success(self) -> bool:
        """Whether the route ended with every point solved (``info["is_success"]``)."""
        solved = self.points_solved
        return self.finished and len(solved) == len(self.rail) and all(solved)

    @property
    def truncated(self) -> bool:
        """Whether ``max_steps`` graded replies were given: as gymnasium's ``TimeLimit`` truncates, also on the reply
        that ends the route (a step is then both terminated and truncated)."""
        return self.max_steps is not None and len(self.step_correct) >= self.max_steps

    @property
    def history(self) -> list[tuple[str, str]]:
        """``(observation, expected action)`` of every point passed, in order: the prompt shows the expert's
        action for each, whatever the agent answered (read it; the walk writes it)."""
        return self._history

    @property
    def instruction(self) -> str:
        """The numbered instruction (``info["instruction"]``)."""
        return number_sentences(self.sentences)

    # ---- playing ----------------------------------------------------------------------------------------------------
    def step(self, reply: object) -> NavigationStep:
        """Grade ``reply`` at the current point, then move on when it is right or the attempts run out (or end
        the route where the protocol and rules end it). Any reply gets a verdict: text that says nothing, and
        a reply that is not text at all, are ``invalid``.

        Raises:
            RuntimeError: The route has ended, or was truncated.
        """
        if self.finished:
            raise RuntimeError("the episode has ended (terminated); call reset() before stepping again")
        if self.truncated:
            raise RuntimeError(f"the episode was truncated after {self.max_steps} steps; call reset() before "
                               "stepping again")
        point = self.point
        protocol = self.protocol
        grade = protocol.grade(reply, point, self.rules, self.rewards, expected=self._expected)
        outcome, self.feedback = settle_reply(protocol, grade, self.attempts_left, self.rules, point,
                                              self.index == len(self.rail) - 1, self._expected)
        self.step_correct.append(grade.success)
        self.verdict = grade.verdict
        if outcome == SOLVED:
            self.shown_feedback = ""
            self.points_solved.append(True)
            self._advance()
        else:
            self.attempts_left -= 1
            self.shown_feedback = self.feedback
            if outcome == RETRY:
                self.point_replies.append((stored_reply(reply), self.feedback))
            else:
                self.points_solved.append(False)
                if outcome == ENDED:
                    self.finished = True
                else:
                    self._advance()
        return NavigationStep(grade, float(grade.reward), self.finished, self.truncated, self.feedback)

    def grade(self, reply: object) -> Grade:
        """:meth:`step`, returning only the grade."""
        return self.step(reply).grade

    def _advance(self) -> None:
        self._history.append((self.point.observation, self._expected))
        self.attempts_left = self.rules.max_attempts
        self.point_replies = []
        if self.index + 1 >= len(self.rail):
            self.finished = True
            return
        self.index += 1
        self.arrival_feedback = self.shown_feedback  # the next point's first prompt shows it
        self._expected = expected_action(self.point, self.rules.action_mode)

    # ---- what the model reads -----------------------------------------------------------------------------------
    def prompt(self, feedback: str | None) -> str:
        """The prompt at the current point, with ``feedback`` (a failed reply's) or without (None)."""
        key = (len(self.step_correct), self.index, self.finished, feedback)
        memo = self._prompt_memo
        text = memo.get(key)
        if text is None:
            if self._header is None:
                self._header = self.protocol.header(self.sentences, self.rules.action_mode, self.image)
            if len(memo) > 4:
                memo.clear()
            text = memo[key] = self.protocol.prompt(self._header, self.history, self.point, image=self.image,
                                                    finished=self.finished, feedback=feedback)
        return text

    @property
    def observation(self) -> str:
        """The observation text now (``obs``, or ``obs["text"]`` in image mode): the prompt with the feedback of
        the last failed reply."""
        return self.prompt(self.shown_feedback or None)

    @property
    def messages(self) -> list[dict[str, str]]:
        """``info["messages"]``: the same as chat messages: the prompt, then each failed reply at this point and
        its feedback (the prompt alone after a correct reply)."""
        if not self.point_replies:
            return [{"role": "user", "content": self.observation}]
        # The point's first prompt as it was shown (with the "moved on" paragraph when the walk was moved here).
        messages = [{"role": "user", "content": self.prompt(self.arrival_feedback or None)}]
        for reply, feedback in self.point_replies:
            messages += [{"role": "assistant", "content": reply}, {"role": "user", "content": feedback}]
        return messages

    def info(self) -> dict[str, Any]:
        """The ``info`` fields that do not depend on the world (the env adds ``route``, ``city_seed`` and
        ``style`` before ``messages``)."""
        return {
            "instruction": self.instruction,
            "observation": self.point.observation,
            "step_index": self.index,
            "num_points": len(self.rail),
            "attempts_left": self.attempts_left if not self.finished else 0,
            "verdict": self.verdict,
            "feedback": self.feedback,
            "is_success": self.success,
            "step_correct": list(self.step_correct),
            "points_solved": list(self.points_solved),
            "action_mode": self.rules.action_mode,
            "messages": self.messages,
        }

    def expert_reply(self) -> str:
        """A full expert reply at the current point in the prompt's answer format (observation, the instruction
        sentence executed here, the expected action).

        Raises:
            RuntimeError: After the episode ended.
        """
        point = self.point
        sentence = self.sentences[point.sentence] if point.sentence < len(self.sentences) else ""
        return self.protocol.expert_reply(point.observation, sentence, self.expected_action)

    # ---- state as data ------------------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """Everything the walk is, as JSON-friendly data: :meth:`from_state` rebuilds it exactly (the same
        observation, messages and ``info`` now, and the same steps for the same replies).

        Keys: ``protocol`` (its name), ``rules``, ``rewards`` (every field), ``image``, ``sentences``, ``rail`` (the
        points' fields), ``max_steps``, and where the walk stands: ``index``, ``attempts_left``, ``finished``,
        ``step_correct``, ``points_solved``, ``verdict`` (its value or None), ``feedback``, ``shown_feedback``,
        ``arrival_feedback``,
        ``point_replies`` (``[reply, feedback]`` pairs).
        """
        return {
            "protocol": self.protocol.name,
            "rules": dataclasses.asdict(self.rules),
            "rewards": self.rewards.to_dict(),
            "image": self.image,
            "sentences": list(self.sentences),
            "rail": [rail_point_to_dict(point) for point in self.rail],
            "max_steps": self.max_steps,
            "index": self.index,
            "attempts_left": self.attempts_left,
            "finished": self.finished,
            "step_correct": list(self.step_correct),
            "points_solved": list(self.points_solved),
            "verdict": None if self.verdict is None else self.verdict.value,
            "feedback": self.feedback,
            "shown_feedback": self.shown_feedback,
            "arrival_feedback": self.arrival_feedback,
            "point_replies": [list(pair) for pair in self.point_replies],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> NavigationTask:
        """The walk :meth:`to_state` wrote (after a JSON round trip too), checked.

        Raises:
            ValueError, TypeError: a missing or unknown key, a value of the wrong kind, or a position the walk
                cannot be in (naming the key).
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"a navigation state is a mapping, got {type(state).__name__}")
        missing, unknown = _STATE_KEYS - set(state), set(state) - _STATE_KEYS
        if missing or unknown:
            raise ValueError(f"navigation state keys: missing {sorted(missing)}, unknown {sorted(map(str, unknown))}")

        def flags(key: str) -> list[bool]:
            value = state[key]
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, bool) for v in value):
                raise TypeError(f"navigation state {key!r} must be a list of bools, got {str(value)[:80]}")
            return list(value)

        def text(key: str) -> str:
            if not isinstance(state[key], str):
                raise TypeError(f"navigation state {key!r} must be a str, got {type(state[key]).__name__}")
            return state[key]

        # (Rules, reward table and rail points may also be given as the objects themselves, already checked: the
        # route specs keep them so, to start many walks from one validated spec.)
        rules = state["rules"]
        if not isinstance(rules, NavigationRules):
            if not isinstance(rules, Mapping):
                raise TypeError("navigation state 'rules' must be a mapping of NavigationRules fields")
            rules = NavigationRules(**rules)
        rewards = state["rewards"]
        if not isinstance(rewards, RewardTable):
            rewards = RewardTable.resolve(dict(rewards) if isinstance(rewards, Mapping) else rewards)
        rail = state["rail"]
        if not isinstance(rail, (list, tuple)) or not rail:
            raise ValueError("navigation state 'rail' must be a non-empty list of rail points")
        points = [point if type(point) is RailPoint else rail_point_from_dict(point) for point in rail]
        sentences = state["sentences"]
        if not isinstance(sentences, (list, tuple)) or not all(isinstance(s, str) for s in sentences):
            raise TypeError("navigation state 'sentences' must be a list of str")
        if not isinstance(state["image"], bool) or not isinstance(state["finished"], bool):
            raise TypeError("navigation state 'image' and 'finished' must be bools")
        task = cls(points, rules, rewards, state["protocol"], sentences=sentences, image=state["image"],
                   max_steps=state["max_steps"])
        index, attempts_left, finished = state["index"], state["attempts_left"], state["finished"]
        for key, value, high in (("index", index, len(points) - 1), ("attempts_left", attempts_left,
                                                                      rules.max_attempts)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
                raise ValueError(f"navigation state {key!r} must be an int in 0..{high}, got {value!r}")
        step_correct, points_solved = flags("step_correct"), flags("points_solved")
        if len(points_solved) != index + (1 if finished else 0):
            raise ValueError(f"navigation state 'points_solved' must have {index + (1 if finished else 0)} entries "
                             f"(index {index}, finished {finished}), got {len(points_solved)}")
        if not finished and attempts_left == 0:
            raise ValueError("navigation state 'attempts_left' is 0 at a point that still takes a reply")
        verdict = state["verdict"]
        if verdict is not None:
            try:
                verdict = Verdict(verdict)
            except ValueError:
                raise ValueError(f"navigation state 'verdict' must be one of {[v.value for v in Verdict]} or None, "
                                 f"got {verdict!r}") from None
        replies = state["point_replies"]
        if not isinstance(replies, (list, tuple)) or not all(
                isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(s, str) for s in pair)
                for pair in replies):
            raise TypeError("navigation state 'point_replies' must be a list of [reply, feedback] pairs of str")
        task.index, task.attempts_left, task.finished = index, attempts_left, finished
        task.step_correct, task.points_solved, task.verdict = step_correct, points_solved, verdict
        task.feedback, task.shown_feedback = text("feedback"), text("shown_feedback")
        task.arrival_feedback = text("arrival_feedback")
        task.point_replies = [(reply, feedback) for reply, feedback in replies]
        task._expected = expected_action(task.point, rules.action_mode)
        # The points passed: every point left behind, the last one too unless the route ended there unsolved.
        passed = len(points_solved) - (1 if finished and not points_solved[-1] else 0)
        task._history = [(point.observation, expected_action(point, rules.action_mode)) for point in points[:passed]]
        return task

    def __repr__(self) -> str:
        return (f"<NavigationTask {self.protocol.name!r} point {self.index + 1}/{len(self.rail)}, "
                f"{self.attempts_left} attempts left{', finished' if self.finished else ''}>")

