"""The navigation task of one episode: where the agent is on its rail, what it must answer there, and
how its replies are graded, counted and fed back.

:class:`NavigationTask` is plain logic: it knows nothing of cities, datasets, street views or Gymnasium.
The environment builds one at every reset from the episode's rail and the active rules, hands it each
reply, and reads its state to build the observation and ``info``. The expected action of a point is
worked out once, when the agent arrives there.
"""

from __future__ import annotations

from collections.abc import Sequence

from virl_env.task.checker import Grade, expected_action, grade_paper_reply, grade_reply
from virl_env.protocols.prompts import ended_feedback, moved_on_feedback, paper_failure_feedback, retry_feedback
from virl_env.world.routes import RailPoint
from virl_env.task.rules import NavigationRules, RewardTable, Verdict, check_protocol

__all__ = ["MAX_STORED_REPLY_CHARS", "NavigationTask"]

MAX_STORED_REPLY_CHARS = 8192
"""Replies are kept (for ``info["messages"]``) cut to this many characters."""


class NavigationTask:
    """Rail position, attempts, grading, success and history of one episode.

    Args:
        rail: The rail points of the episode, in order (at least one).
        rules: The active rules of the episode.
        rewards: The reward table.
        protocol: ``suite`` (this package's grading and feedback) or ``paper`` (the authors' exact
            grading, and their feedback ``You failed this trial because ...`` after every failure).

    Attributes:
        index: Index of the current rail point (stays on the last point once finished).
        attempts_left: Graded attempts left at the current point.
        finished: Whether the episode has ended.
        history: ``(observation, expected action)`` of every point passed, in order; the prompt
            shows the expert's action for each, whatever the agent answered.
        step_correct: Whether each graded reply was correct, in order.
        points_solved: For each finished point, whether it was solved.
        verdict: The verdict of the last graded reply (None before the first).
        feedback: The feedback on the last graded reply ("" before the first).
        shown_feedback: The feedback the next prompt shows ("" after a correct reply).
        point_replies: ``(reply, feedback)`` of each failed attempt at the current point (the
            reply cut to :data:`MAX_STORED_REPLY_CHARS`).
    """

    def __init__(self, rail: Sequence[RailPoint], rules: NavigationRules, rewards: RewardTable,
                 protocol: str = "suite") -> None:
        if len(rail) == 0:
            raise ValueError("a navigation task needs at least one rail point")
        self.protocol = check_protocol(protocol)
        self._paper = protocol == "paper"
        self.rail = rail
        self.rules = rules
        self.rewards = rewards
        self.index = 0
        self.attempts_left = rules.max_attempts
        self.finished = False
        self.history: list[tuple[str, str]] = []
        self.step_correct: list[bool] = []
        self.points_solved: list[bool] = []
        self.verdict: Verdict | None = None
        self.feedback = ""
        self.shown_feedback = ""
        self.point_replies: list[tuple[str, str]] = []
        self._expected = expected_action(rail[0], rules.action_mode)

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
    def is_success(self) -> bool:
        """Whether the episode ended with every point solved."""
        solved = self.points_solved
        return self.finished and len(solved) == len(self.rail) and all(solved)

    def grade(self, reply: str) -> Grade:
        """Grade ``reply`` at the current point, then move on when it is right or the attempts run out.

        Raises:
            RuntimeError: If the episode has ended.
            TypeError: If ``reply`` is not a string.
        """
        if self.finished:
            raise RuntimeError("the episode has ended (terminated); call reset() before stepping again")
        if not isinstance(reply, str):
            raise TypeError(f"action must be the model's reply as a str, got {type(reply).__name__}")
        point = self.point
        grader = grade_paper_reply if self._paper else grade_reply
        grade = grader(reply, point, self.rules, self.rewards, expected=self._expected)
        correct = grade.verdict is Verdict.CORRECT
        self.step_correct.append(correct)
        self.verdict = grade.verdict
        if correct:
            self.feedback = grade.feedback
            self.shown_feedback = ""
            self.points_solved.append(True)
            self._advance()
            return grade
        self.attempts_left -= 1
        if self.attempts_left > 0:
            self.feedback = self.shown_feedback = self._failure_text(
                grade.feedback, retry_feedback(grade.feedback, self.attempts_left))
            stored = reply if len(reply) <= MAX_STORED_REPLY_CHARS else reply[:MAX_STORED_REPLY_CHARS] + " [cut]"
            self.point_replies.append((stored, self.feedback))
            return grade
        self.points_solved.append(False)
        if self.rules.on_exhausted == "terminate" or point.kind == "destination":
            self.feedback = self.shown_feedback = self._failure_text(grade.feedback,
                                                                       ended_feedback(grade.feedback))
            self.finished = True
        else:
            self.feedback = self.shown_feedback = self._failure_text(
                grade.feedback, moved_on_feedback(grade.feedback, self._expected))
            self._advance()
        return grade

    def _failure_text(self, message: str, suite_text: str) -> str:
        """The feedback after a failed reply: the authors' single form under the paper protocol
        (what happens next is not said), else the suite's text."""
        return paper_failure_feedback(message) if self._paper else suite_text

    def _advance(self) -> None:
        self.history.append((self.point.observation, self._expected))
        self.attempts_left = self.rules.max_attempts
        self.point_replies = []
        if self.index + 1 >= len(self.rail):
            self.finished = True
            return
        self.index += 1
        self._expected = expected_action(self.point, self.rules.action_mode)
