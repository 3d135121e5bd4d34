"""The strategy interface of an evaluation protocol: everything about a V-IRL episode that a benchmark's numbers
depend on besides the world, asked of one object chosen once.

An environment, an episode source and the navigation task never test a protocol's name: they hold a
:class:`Protocol` (``get_protocol(name)``, :mod:`virl_env.protocols`) and ask it

* for the rules an episode starts from and the action modes it allows (:attr:`~Protocol.base_rules`,
  :meth:`~Protocol.resolve_rules`, :meth:`~Protocol.check_rules`);
* for the rail of a route and its instruction sentences (:meth:`~Protocol.city_rail` on a generated city,
  :meth:`~Protocol.dataset_rail` on the authors' released routes), with the turn words it uses
  (:meth:`~Protocol.relative_turn`);
* for every text the model reads: the prompt (:meth:`~Protocol.header`, :meth:`~Protocol.prompt`), the feedback after
  a failed reply (:meth:`~Protocol.retry_feedback`, :meth:`~Protocol.ended_feedback`,
  :meth:`~Protocol.moved_on_feedback`), the expert's reply (:meth:`~Protocol.expert_reply`) and the characters all
  of these may hold (:meth:`~Protocol.observation_charset`);
* to grade a reply (:meth:`~Protocol.grade`), and whether the route ends when a point's attempts run out
  (:meth:`~Protocol.ends_route`).

:class:`~virl_env.protocols.suite.SuiteProtocol` and :class:`~virl_env.protocols.paper.PaperProtocol` are the two
protocols of :data:`sftrl_core.registry.PROTOCOLS`; a variant of either is a subclass that overrides what it
changes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from sftrl_core.registry import ProtocolInfo, get_protocol_info
from virl_env.protocols.prompts import OBS_CHARSET, expert_reply_text
from virl_env.released.dataset import EpisodeRoute, RouteDataset
from virl_env.task.checker import Grade
from virl_env.task.rules import ACTION_MODES, NavigationRules, RewardTable, with_action_mode
from virl_env.world.city import City
from virl_env.world.routes import RailPoint, Route

__all__ = ["Protocol"]


class Protocol(ABC):
    """One evaluation protocol of V-IRL (see the module docstring for what it decides).

    Attributes:
        name: the protocol's name in :data:`sftrl_core.registry.PROTOCOLS` (``gym.make(id, protocol=name)``).
        base_rules: the rules an episode starts from when ``rules`` leaves a field unset.
        action_modes: the action modes an episode may use (:data:`~virl_env.task.rules.ACTION_MODES` or fewer).
        replays_evaluator_draws: whether released-data episodes accept the ``paper_draws`` reset option (the start
            heading and rail draws of one episode of the authors' evaluator).
    """

    name: str = ""
    base_rules: NavigationRules = NavigationRules()
    action_modes: tuple[str, ...] = ACTION_MODES
    replays_evaluator_draws: bool = False

    @property
    def info(self) -> ProtocolInfo:
        """The registry's entry of this protocol (``info.reproduces_paper``...)."""
        return get_protocol_info(self.name)

    # ---- rules ---------------------------------------------------------------------------------------------
    def resolve_rules(self, rules: NavigationRules | dict | None, action_mode: str | None) -> NavigationRules:
        """``rules`` read on :attr:`base_rules` (a dict sets fields, None keeps them), under the action mode an id
        fixes (see :func:`~virl_env.task.rules.with_action_mode`).

        Raises:
            ValueError, TypeError: as :func:`~virl_env.task.rules.with_action_mode`.
        """
        return with_action_mode(rules, action_mode, self.base_rules)

    def check_rules(self, rules: NavigationRules) -> None:
        """Refuse rules this protocol cannot play.

        Raises:
            ValueError: the action mode is not one of :attr:`action_modes`.
        """
        if rules.action_mode not in self.action_modes:
            raise ValueError(f"protocol={self.name!r} has {' and '.join(self.action_modes)} actions only, got "
                             f"action_mode={rules.action_mode!r}")

    # ---- the world's side: rails and turn words -----------------------------------------------------------------
    @abstractmethod
    def relative_turn(self, from_heading: float, to_heading: float) -> str:
        """The relative turn word (``left``, ``right``, ``slightly left``, ``slightly right``) from one heading to
        another, in degrees."""

    @abstractmethod
    def city_rail(self, city: City, route: Route, rules: NavigationRules,
                  rng: np.random.Generator) -> tuple[Route, Sequence[RailPoint]]:
        """The rail of a generated city's route, and the route as the episode shows it (its ``sentences`` are
        the instruction).

        Args:
            city: the route's city.
            route: the planned route.
            rules: the active rules (``forward_points``, ``drop_rate``).
            rng: the environment's generator; every draw of the rail comes from it.
        """

    @abstractmethod
    def dataset_rail(self, dataset: RouteDataset, index: int, rules: NavigationRules, rng: np.random.Generator,
                     options: Mapping[str, Any]) -> tuple[EpisodeRoute, Sequence[RailPoint]]:
        """The rail and instruction of route ``index`` of a released dataset.

        Args:
            dataset: the loaded dataset.
            index: the route's index in it.
            rules: the active rules.
            rng: the environment's generator.
            options: the reset options (``paper_draws`` where :attr:`replays_evaluator_draws`).

        Raises:
            ValueError, TypeError: an option this protocol cannot use.
        """

    # ---- text ----------------------------------------------------------------------------------------------------
    def observation_charset(self, texts: Iterable[str] = ()) -> str:
        """Every character an observation may hold, given the texts of the data the episodes show (released
        landmark texts as written); the suite's ASCII charset unless a protocol shows data as written."""
        return OBS_CHARSET

    @abstractmethod
    def header(self, sentences: Sequence[str], action_mode: str, image: bool) -> str:
        """The part of every prompt of an episode that comes before the observations and actions (fixed for the
        episode): the task, the instruction (``sentences``), the action space."""

    @abstractmethod
    def prompt(self, header: str, history: Sequence[tuple[str, str]], point: RailPoint, *, image: bool,
               finished: bool, feedback: str | None) -> str:
        """The prompt at ``point``.

        Args:
            header: :meth:`header` of the episode.
            history: ``(observation, expected action)`` of every point passed.
            point: the current rail point (the last one once ``finished``).
            image: whether the prompt is the image mode's (street views beside the text).
            finished: whether the episode has ended (the prompt then asks for nothing).
            feedback: the feedback on the last failed reply, or None.
        """

    @abstractmethod
    def retry_feedback(self, message: str, attempts_left: int) -> str:
        """The feedback after a failed reply when attempts are left at the point (``message``: the grader's)."""

    @abstractmethod
    def ended_feedback(self, message: str) -> str:
        """The feedback after the last failed attempt when the route ends there."""

    @abstractmethod
    def moved_on_feedback(self, message: str, expected: str) -> str:
        """The feedback after the last failed attempt when the agent is moved on (``expected``: the action that
        was expected)."""

    def expert_reply(self, observation: str, sentence: str, action: str) -> str:
        """A reply in the answer format the prompt asks for, as an expert gives it (SFT demonstrations)."""
        return expert_reply_text(observation, sentence, action)

    # ---- grading and the end of a route -------------------------------------------------------------------------
    @abstractmethod
    def grade(self, reply: object, point: RailPoint, rules: NavigationRules, rewards: RewardTable,
              expected: str | None = None) -> Grade:
        """Grade a reply at ``point``; any ``reply`` (text or not) gets a verdict, never an exception.

        Args:
            reply: the model's raw reply.
            point: the rail point it answers.
            rules: the active rules.
            rewards: the reward table.
            expected: the expected action at ``point``, when the caller has it.
        """

    def ends_route(self, rules: NavigationRules, point: RailPoint, last: bool) -> bool:
        """Whether the route ends when the attempts at ``point`` run out: when the rules say so
        (``on_exhausted="terminate"``), and always at the route's last point (the destination), which has no
        point after it to move on to."""
        return rules.on_exhausted == "terminate" or last or point.kind == "destination"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
