"""V-IRL metrics as the paper authors' evaluator computes them.

Their evaluator allows 2 graded replies per rail point. When both fail it asks the model once more,
does not grade that reply, logs it as a wrong action and ends the episode. Per-step accuracy is the
share of +1 replies among *all* step calls, the failed attempts and that extra call included. The
environments do not make the extra (wasted) model call; :func:`paper_step_accuracy` counts one wrong
call for every point whose attempts ran out, which gives their figure from our episodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

__all__ = ["StepCounts", "paper_step_accuracy", "step_counts"]


class StepCounts(NamedTuple):
    """+1 replies, and step calls as their evaluator counts them (graded replies plus one forced
    extra call per exhausted point)."""

    correct: int
    calls: int


def step_counts(episode: Mapping[str, Any]) -> StepCounts:
    """The counts of one finished episode.

    Args:
        episode: The episode's last ``info`` (``step_correct`` and ``points_solved``), or a record
            with ``step_correct`` and ``exhausted_points`` (the count of points whose attempts ran
            out; it takes precedence over ``points_solved``).

    Raises:
        ValueError: If the mapping lacks what is needed, or holds something else.
    """
    if not isinstance(episode, Mapping) or "step_correct" not in episode:
        raise ValueError("an episode needs 'step_correct' (info or harness record) to count its steps")
    graded = episode["step_correct"]
    if isinstance(graded, (str, bytes)) or not isinstance(graded, Iterable):
        raise ValueError(f"'step_correct' must be a list of bools, got {type(graded).__name__}")
    graded = list(graded)
    if not all(isinstance(x, bool) for x in graded):
        raise ValueError("'step_correct' must hold bools only")
    if "exhausted_points" in episode:
        exhausted = episode["exhausted_points"]
        if isinstance(exhausted, bool) or not isinstance(exhausted, int) or exhausted < 0:
            raise ValueError(f"'exhausted_points' must be a non-negative int, got {exhausted!r}")
    elif "points_solved" in episode:
        solved = list(episode["points_solved"])
        if not all(isinstance(x, bool) for x in solved):
            raise ValueError("'points_solved' must hold bools only")
        exhausted = solved.count(False)
    else:
        raise ValueError("an episode needs 'points_solved' (info) or 'exhausted_points' (record)")
    return StepCounts(sum(graded), len(graded) + exhausted)


def paper_step_accuracy(episodes: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> float | None:
    """Per-step accuracy as the authors' evaluator computes it, pooled over episodes:
    (+1 replies) / (all step calls, failed attempts included, plus one call counted wrong for each
    point whose attempts ran out).

    Args:
        episodes: One episode or several (see :func:`step_counts`).

    Returns:
        The ratio, or None when there was no call at all.

    Raises:
        ValueError: As :func:`step_counts`.

    >>> paper_step_accuracy({"step_correct": [True, False, True, False, False],
    ...                      "points_solved": [True, True, False]})
    0.3333333333333333
    """
    items = [episodes] if isinstance(episodes, Mapping) else list(episodes)
    correct = calls = 0
    for episode in items:
        counts = step_counts(episode)
        correct += counts.correct
        calls += counts.calls
    return None if calls == 0 else correct / calls
