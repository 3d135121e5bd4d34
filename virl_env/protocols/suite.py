"""The suite's protocol (``protocol="suite"``, the default): self-contained prompts, lenient and exact reading of
replies, feedback that says what was wrong and what happens next, rails of every intersection on the path.

Its parts, each where its concern lives: the prompt and feedback texts in :mod:`virl_env.protocols.prompts`
(:func:`~virl_env.protocols.prompts.prompt_header`, :func:`~virl_env.protocols.prompts.prompt_text`...), the
checker in :mod:`virl_env.task.checker` (:func:`~virl_env.task.checker.grade_reply`), turn words in
:mod:`virl_env.world.instructions`, rails in :mod:`virl_env.world.routes` (generated cities) and
:mod:`virl_env.released.dataset` (released routes, text folded to ASCII).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sftrl_core import registry
from virl_env.protocols.base import Protocol
from virl_env.protocols.prompts import (
    ended_feedback,
    format_history,
    image_observation_text,
    moved_on_feedback,
    prompt_header,
    prompt_text,
    retry_feedback,
)
from virl_env.released.dataset import EpisodeRoute, RouteDataset
from virl_env.task.checker import Grade, grade_reply
from virl_env.task.rules import NavigationRules, RewardTable
from virl_env.world.city import City
from virl_env.world.instructions import number_sentences, relative_turn
from virl_env.world.routes import RailPoint, Route, drop_points, get_rail

__all__ = ["SuiteProtocol"]


class SuiteProtocol(Protocol):
    """The suite's own protocol: every action mode, the suite's prompt (``[Feedback]`` section after a failed
    reply), :func:`~virl_env.task.checker.grade_reply`, and points that move on when their attempts run out
    (``on_exhausted="advance"``, the default rules)."""

    name = registry.SUITE.name

    def relative_turn(self, from_heading: float, to_heading: float) -> str:
        return relative_turn(from_heading, to_heading)

    def city_rail(self, city: City, route: Route, rules: NavigationRules,
                  rng: np.random.Generator) -> tuple[Route, Sequence[RailPoint]]:
        return route, get_rail(city, route, rules.forward_points).drop(rules.drop_rate, rng)

    def dataset_rail(self, dataset: RouteDataset, index: int, rules: NavigationRules, rng: np.random.Generator,
                     options: Mapping[str, Any]) -> tuple[EpisodeRoute, Sequence[RailPoint]]:
        route, full_rail = dataset.episode(index, rules.forward_points, rng)
        return route, drop_points(full_rail, rules.drop_rate, rng)

    def header(self, sentences: Sequence[str], action_mode: str, image: bool) -> str:
        return prompt_header(number_sentences(sentences), action_mode, image=image)

    def prompt(self, header: str, history: Sequence[tuple[str, str]], point: RailPoint, *, image: bool,
               finished: bool, feedback: str | None) -> str:
        observation = image_observation_text(point.at_intersection) if image else point.observation
        return prompt_text(header, format_history(history), len(history) + 1, observation, feedback,
                           finished=finished)

    def retry_feedback(self, message: str, attempts_left: int) -> str:
        return retry_feedback(message, attempts_left)

    def ended_feedback(self, message: str) -> str:
        return ended_feedback(message)

    def moved_on_feedback(self, message: str, expected: str) -> str:
        return moved_on_feedback(message, expected)

    def grade(self, reply: object, point: RailPoint, rules: NavigationRules, rewards: RewardTable,
              expected: str | None = None) -> Grade:
        return grade_reply(reply, point, rules, rewards, expected=expected)
