"""``VIRLEnv`` (text) and ``VIRLVisionEnv`` (street-view images): route following in a generated
city or on the paper authors' released routes (V-IRL after Chu et al., 2025).

The environments only wire the pieces together: the protocol (:mod:`virl_env.protocols`), chosen once, says how
rails are built, what the model reads and how replies are graded; an episode source (:mod:`virl_env.sources`)
draws the route and rail of each reset and provides its views and map; the navigation task
(:class:`~virl_env.task.navigation.NavigationTask`) walks the route: ``step`` hands it each reply and returns its
prompt, reward, end and ``info``, adding only the picture and where the episode came from.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sftrl_core.registry import DEFAULT_PROTOCOL
from sftrl_core.variants import RULE_TRANSFORMS, STYLE_TRANSFORMS, apply_transforms, transforms_option
from virl_env.protocols import Protocol, get_protocol
from virl_env.protocols.prompts import ACTION_CHARSET, ACTION_MAX_LENGTH, OBS_MAX_LENGTH
from virl_env.released.dataset import RouteDataset
from virl_env.sources import (
    BenchmarkSource,
    CitySource,
    DatasetSource,
    Episode,
    EpisodeSource,
    check_int,
    resolve_benchmark,
)
from virl_env.task.navigation import NavigationTask
from virl_env.task.rules import NavigationRules, RewardTable
from virl_env.world.city import City
from virl_env.world.routes import RailPoint, Route
from virl_env.world.styles import CityStyle, get_style

__all__ = ["VIRLEnv", "VIRLVisionEnv"]

_OPTION_KEYS = frozenset({"route", "city_seed", "rules", "paper_draws", RULE_TRANSFORMS, STYLE_TRANSFORMS})


class VIRLEnv(gym.Env[str, str]):
    """Follow a numbered route instruction through a generated city, one action per point.

    ## Description
    The V-IRL navigation task of "SFT Memorizes, RL Generalizes" (Chu et al., 2025), text mode,
    offline. A city (streets, intersections, named landmarks) is generated from a style and a seed;
    a route leads from a start landmark along a shortest street path to a destination landmark in
    1 to 4 legs (100 to 800 m). The agent gets a numbered instruction such as
    "1. First, turn left to face east. 2. Move forward until you reach the next intersection where
    Hotel Astor is on your right behind. 3. ..." and walks a *rail* of points: the start, evenly
    spaced points between intersections, every intersection on the path, and the destination. At
    each point it sees what is around it and must give the expert's action: ``turn_direction(x)``
    at the start and where the route turns, ``forward()`` elsewhere, ``stop()`` at the destination.

    ## Observation
    A prompt (``spaces.Text``, charset ASCII letters, digits, punctuation, space and newline;
    at most 100,000 characters): the task, the instruction, the action space of the active rules,
    the observations and actions so far (``O_i``/``A_i`` lines; an observation reads
    "<landmark> is on your <side>" for up to three landmarks within 30 m, or
    "No landmarks nearby", plus "You observe an intersection" at intersections), after a failed
    attempt a ``[Feedback]`` section, and the answer format. ``info["messages"]`` holds the same
    as chat messages: the prompt, then each failed reply and its feedback at the current point.

    ## Action
    The model's raw reply (``str``): a JSON object with an ``"action"`` key (strict or relaxed,
    optional ``"current observation"``) or a bare action; case, spacing, hyphens and quotes are
    normalised. ``<think>`` blocks are ignored. Any reply gets a verdict, never an exception: one
    that is not a string is ``invalid`` and the feedback says it must be text.

    ## Rewards
    From the reward table (``rewards="paper"``: the paper's values): correct action +1, wrong
    action -1, wrong action *with* a reported ``current observation`` that is wrong about the
    intersection or misses a landmark in view -1.5, unreadable or out-of-space action -1.
    ``rewards="binary"``: 1 for a correct action, else 0.

    ## Episode end
    Each point allows ``max_attempts`` graded attempts (paper: 2). A correct action moves the
    agent to the next point. When the attempts run out the point counts as failed and the agent is
    moved on (``on_exhausted="advance"``) or the episode ends (``"terminate"``). The episode
    terminates after the destination point, and where the destination's attempts run out (there is
    nothing to move on to). ``info["is_success"]`` is true only when every point
    was solved; ``info["step_correct"]`` gives per-attempt correctness (per-step accuracy).
    Registered ids truncate after 400 steps (never reached with the default rules). Stepping a
    finished episode raises ``RuntimeError``.

    ## Arguments
    ```python
    import gymnasium as gym
    env = gym.make("virl_env:VIRL-v0", style="new_york", city_seed=0, num_routes=1000,
                   rules={"max_attempts": 2, "forward_points": 2}, rewards="paper")
    obs, info = env.reset(seed=0)                  # a random route of the route set
    obs, info = env.reset(options={"route": 7})    # route 7 exactly
    obs, info = env.reset(options={"city_seed": 3, "route": 0})  # another city
    obs, reward, terminated, truncated, info = env.step('{"action": "turn_direction(east)"}')
    env.unwrapped.expert_action()                  # the expected action (not in info)
    ```
    * ``style``: a city style name (``virl_env.world.styles.STYLE_NAMES``) or a ``CityStyle``.
    * ``city_seed``: seed of the city (int >= 0), or None for a new random city each reset.
    * ``num_routes``: size of the route set random resets draw from (paper: 1,000 routes).
    * ``rules``: ``NavigationRules`` or a dict of its fields (action mode, attempts, rail).
    * ``action_mode``: fixes the action mode over ``rules`` (the rule-OOD ids set ``"relative"``,
      so ``gym.make("VIRL-RuleOOD-v0", rules={"max_attempts": 3})`` keeps relative actions); a
      ``rules`` that asks for another mode is refused.
    * ``rewards``: ``"paper"``, ``"binary"``, a ``RewardTable`` or a dict of field overrides.
    * ``render_mode``: ``"rgb_array"`` (top-down map, ``render_size`` pixels square) or ``"ansi"``.
    * ``protocol``: ``"suite"`` (default: everything above) or ``"paper"``: the authors' evaluation
      protocol (their prompt template, instruction, observation strings, feedback, exact action
      matching, rail of 5 points per leg dropped with probability 0.5, 2 attempts per point and the
      episode ends when they run out; base rules :data:`virl_env.task.rules.PAPER_RULES`; released
      landmark names as written). See :mod:`virl_env.protocols.paper` and the README table "paper
      protocol vs the authors' code". A :class:`~virl_env.protocols.base.Protocol` object is accepted
      too.

    ## Variants
    * ``VIRL-v0``: absolute actions (``turn_direction(northeast)``), New-York-like city: in
      distribution.
    * ``VIRL-RuleOOD-v0``: relative actions (left, right, slightly left, slightly right): the
      paper's rule out-of-distribution setting; same as ``RelativeActions(gym.make("VIRL-v0"))``.
    * Wrappers in ``virl_env.wrappers`` (``RelativeActions``, ``BearingActions``, or your own
      ``RuleWrapper``) change the rules; ``style=`` picks an unseen city style.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}

    _image_mode = False
    """Whether the prompt is the image mode's (observation line and task description)."""

    def __init__(
        self,
        render_mode: str | None = None,
        *,
        style: str | CityStyle = "new_york",
        city_seed: int | None = 0,
        num_routes: int = 1000,
        rules: NavigationRules | dict | None = None,
        action_mode: str | None = None,
        rewards: str | RewardTable | dict = "paper",
        render_size: int = 768,
        dataset_dir: str | os.PathLike[str] | None = None,
        protocol: str | Protocol = DEFAULT_PROTOCOL,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, "
                             f"got {render_mode!r}")
        if city_seed is not None:
            check_int("city_seed", city_seed, minimum=0)
        check_int("num_routes", num_routes, minimum=1)
        check_int("render_size", render_size, minimum=128)
        self.render_mode = render_mode
        self._protocol = get_protocol(protocol)
        self.protocol = self._protocol.name
        self.style = get_style(style)
        self.city_seed = None if city_seed is None else int(city_seed)
        self.action_mode = action_mode
        self.rules = self._protocol.resolve_rules(rules, action_mode)
        self.rewards = RewardTable.resolve(rewards)
        self.render_size = int(render_size)
        self.dataset = None if dataset_dir is None else RouteDataset.load(dataset_dir)
        self._source: EpisodeSource = (DatasetSource(self.dataset, self._protocol) if self.dataset is not None
                                       else CitySource(self.style, self.city_seed, int(num_routes), self._protocol))
        self.num_routes = self._source.num_routes
        self._charset = self._protocol.observation_charset(self._source.landmark_texts())
        self.observation_space = spaces.Text(max_length=OBS_MAX_LENGTH, min_length=0, charset=self._charset)
        self.action_space = spaces.Text(max_length=ACTION_MAX_LENGTH, min_length=0, charset=ACTION_CHARSET)
        # Episode state (set by reset).
        self._active_rules = self.rules
        self._episode: Episode | None = None
        self._task: NavigationTask | None = None

    # ---- gym API ---------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Start an episode on a route.

        Options:
            ``route`` (int >= 0): replay route k of the city's deterministic route set (of the
            dataset with ``dataset_dir``; of the benchmark for a benchmark environment).
            ``city_seed`` (int >= 0): use another city of the same style (generated cities only).
            ``rules`` (``NavigationRules`` or dict): base rules for this episode (the id's
            ``action_mode`` and the transforms of rule wrappers still apply).
            ``rule_transforms``, ``style_transforms``: set by the rule and style wrappers this
            reset goes through (``sftrl_core.variants``); they apply to this episode only.
            ``paper_draws``: under ``protocol="paper"`` on released data, the start heading and rail
            draws of one episode of the authors' evaluator
            (:meth:`virl_env.released.dataset.PaperDraws.reset_options` gives ``route`` and this).
        """
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - _OPTION_KEYS
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; known: {sorted(_OPTION_KEYS)}")
        if options.get("paper_draws") is not None and not (self._protocol.replays_evaluator_draws
                                                           and self.dataset is not None
                                                           and options.get("route") is not None):
            raise ValueError("the paper_draws option replays the authors' evaluator on released data: it needs "
                             "protocol='paper', dataset_dir and the route option")
        self._active_rules = self._resolve_rules(options)
        self._protocol.check_rules(self._active_rules)
        self._episode = self._source.draw(options, self._active_rules, self.np_random,
                                          transforms_option(options, STYLE_TRANSFORMS))
        self._task = NavigationTask(self._episode.rail, self._active_rules, self.rewards, self._protocol,
                                    sentences=self._episode.route.sentences, image=self._image_mode)
        return self._get_obs(), self._get_info()

    def _resolve_rules(self, options: dict[str, Any]) -> NavigationRules:
        """The rules of the episode: the ``rules`` option (else the constructor's) under the id's
        action mode, then the rule wrappers' transforms, innermost first."""
        rules = (self._protocol.resolve_rules(options["rules"], self.action_mode)
                 if "rules" in options else self.rules)
        return apply_transforms(rules, transforms_option(options, RULE_TRANSFORMS), NavigationRules, "rule")

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Grade a reply at the current point and move on when it is right or attempts run out
        (:meth:`virl_env.task.navigation.NavigationTask.step`)."""
        if self._task is None:
            raise RuntimeError("call reset() before step()")
        step = self._task.step(action)
        return self._get_obs(), step.reward, step.terminated, step.truncated, self._get_info()

    # ---- observation and info ----------------------------------------------------------------
    def _get_obs(self) -> str:
        return self._task.observation

    def _get_info(self) -> dict[str, Any]:
        info = self._task.info()
        messages = info.pop("messages")
        episode = self._episode
        info.update(route=episode.route_index, city_seed=episode.city_seed, style=episode.style_name)
        info["messages"] = messages
        return info

    # ---- expert API ----------------------------------------------------------------------------
    def _live_task(self) -> NavigationTask:
        if self._task is None:
            raise RuntimeError("call reset() first")
        return self._task

    def expert_action(self) -> str:
        """The expected action at the current point, in the active action mode (for examples and
        SFT data; deliberately not in ``info``).

        Raises:
            RuntimeError: Before reset or after the episode ended.
        """
        return self._live_task().expected_action

    def expert_reply(self) -> str:
        """A full expert reply in the prompt's JSON format (observation, instruction sentence, action).

        Raises:
            RuntimeError: Before reset or after the episode ended.
        """
        return self._live_task().expert_reply()

    def episode_spec(self) -> dict[str, Any]:
        """Everything needed to replay the current episode exactly (see :func:`virl_env.specs.episode_spec`)."""
        from virl_env.specs import episode_spec  # lazy: the specs module builds on this one

        return episode_spec(self)

    # ---- read-only state -------------------------------------------------------------------------
    @property
    def active_rules(self) -> NavigationRules:
        """The rules of the current episode (the constructor's before the first reset)."""
        return self._active_rules

    @property
    def source(self) -> EpisodeSource:
        """Where episodes come from (:mod:`virl_env.sources`); ``source.describe()`` says how."""
        return self._source

    @property
    def episode(self) -> Episode | None:
        """The current episode (None before the first reset); ``episode.describe()`` gives its
        style, city seed or dataset, and route."""
        return self._episode

    @property
    def task(self) -> NavigationTask | None:
        """The navigation task of the current episode (:mod:`virl_env.task.navigation`; None before the first
        reset): attempts, verdicts, history, prompt; ``task.to_state()`` writes the walk as data. Read it;
        stepping goes through :meth:`step`."""
        return self._task

    @property
    def image_mode(self) -> bool:
        """Whether this environment shows street views (the prompt is the image mode's)."""
        return self._image_mode

    @property
    def city(self) -> City | None:
        """The current city (None before the first reset and for dataset routes)."""
        return None if self._episode is None else self._episode.city

    @property
    def route(self) -> Route | None:
        """The current route (None before the first reset)."""
        return None if self._episode is None else self._episode.route

    @property
    def route_index(self) -> int | None:
        """``info["route"]`` of the current episode (the entry for a benchmark), None before reset."""
        return None if self._episode is None else self._episode.route_index

    @property
    def rail(self) -> Sequence[RailPoint]:
        """The rail of the current episode (after random drops), a sequence of ``RailPoint``."""
        return () if self._episode is None else self._episode.rail

    @property
    def point_index(self) -> int:
        """Index of the current rail point."""
        return 0 if self._task is None else self._task.index

    @property
    def history(self) -> tuple[tuple[str, str], ...]:
        """``(observation, expected action)`` of every point passed so far, as the prompt shows them."""
        return () if self._task is None else tuple(self._task.history)

    # ---- rendering -----------------------------------------------------------------------------
    def render(self) -> np.ndarray | str | None:
        """``rgb_array``: top-down map (HWC uint8). ``ansi``: a text summary of the state."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='rgb_array' or 'ansi'")
            return None
        if self._task is None:
            raise RuntimeError("call reset() before render()")
        if self.render_mode == "rgb_array":
            return self.render_map()
        task = self._task
        return self._episode.render_ansi(task.index, self._active_rules.action_mode, finished=task.finished,
                                         points_solved=task.points_solved)

    def render_map(self, size: int | None = None) -> np.ndarray:
        """The top-down map of the city (or of a dataset route) with the route, the rail and the
        agent, ``size`` (default ``render_size``) pixels square, HWC ``uint8``."""
        if self._task is None:
            raise RuntimeError("call reset() before render_map()")
        size = self.render_size if size is None else check_int("size", size, minimum=128)
        return self._episode.render_map(self._task.index, size)


class VIRLVisionEnv(VIRLEnv):
    """Follow a route instruction by street views: the image mode of V-IRL.

    ## Description
    The task of :class:`VIRLEnv` (same routes, rail, expected actions, rewards and episode end),
    but at each point the agent sees the street around it: a 2x2 grid of perspective street views
    drawn from the city model in the city's style, front and right on the top row, back and left on
    the bottom row, separated by thin black lines (the order the prompt states). Facades,
    windows, roads, markings, sky and time of day follow the style's ``StreetLook``; every landmark
    within 30 m (those the text mode would name) has a lettered sign. The text prompt keeps the
    instruction, the action space and the history of text observations and actions; the current
    observation line reads "You observe an image of 4 views (front, right / back, left)" plus
    "You observe an intersection" at intersections, as in the paper's image mode.

    ## Observation
    ``Dict(image=Box(0, 255, (G, G, 3), uint8), text=Text(...))`` with ``G = 2 * view_size +
    separator`` (separator ``max(2, round(view_size / 128))`` pixels; 514 for the default
    256-pixel views). Views at a point are rendered once and cached; failed attempts at the same
    point reuse them.

    ## Action
    The model's raw reply, read as in :class:`VIRLEnv`.

    ## Rewards
    As :class:`VIRLEnv` (paper: +1, -1, -1.5 for a wrong action with a wrong reported observation).

    ## Episode end
    As :class:`VIRLEnv`.

    ## Arguments
    ```python
    import gymnasium as gym
    env = gym.make("virl_env:VIRL-VL-v0", view_size=256)       # paper: 1200-pixel views
    obs, info = env.reset(seed=0)
    obs["image"].shape                                         # (514, 514, 3)
    env.unwrapped.render_map()                                 # the top-down map
    env = gym.make("virl_env:VIRL-VL-v0", dataset_dir="data/nyc_routes")   # the authors' data
    ```
    * ``view_size``: pixels per view side (32 to 2048; default 256).
    * ``benchmark``: ``"visual_ood"`` or a sequence of ``(style, city_seed, route)`` entries: a
      fixed episode list; ``reset(options={"route": k})`` replays entry k and ``info["route"]`` is
      k; random resets draw an entry.
    * Every argument of :class:`VIRLEnv` (``style``, ``city_seed``, ``num_routes``, ``rules``,
      ``rewards``, ``dataset_dir``...). ``render_mode="rgb_array"`` renders the observation image;
      the map stays available through :meth:`render_map`.

    ## Variants
    * ``VIRL-VL-v0``: absolute actions, the New-York-like training style: in distribution.
    * ``VIRL-VL-RuleOOD-v0``: relative actions: the paper's rule OOD.
    * ``VIRL-VL-VisualOOD-v0``: the visual-OOD benchmark :data:`VISUAL_OOD_ROUTES` (18 routes, 2 in
      each of 9 cities of unseen styles).
    * ``virl_env.wrappers.StyleWrapper`` subclasses (``CityLook``, ``NightCity``, your own) change
      the look; ``Fog`` is an observation-level example.
    """

    _image_mode = True

    def __init__(self, render_mode: str | None = None, *, view_size: int = 256,
                 benchmark: str | Sequence[tuple[str, int, int]] | None = None, **kwargs: Any) -> None:
        super().__init__(render_mode, **kwargs)
        self.view_size = check_int("view_size", view_size, minimum=32)
        if self.view_size > 2048:
            raise ValueError(f"view_size must be <= 2048, got {self.view_size}")
        self.benchmark = resolve_benchmark(benchmark)
        if self.benchmark is not None and self.dataset is not None:
            raise ValueError("benchmark and dataset_dir cannot be combined")
        if self.benchmark is not None:
            self._source = BenchmarkSource(self.benchmark, self._protocol)
            self.num_routes = self._source.num_routes
        from virl_env.streetview.views import grid_size  # the renderer (and numba) loads with the first image env

        side = grid_size(self.view_size)
        self._view_cache: tuple[Episode, tuple, np.ndarray, tuple] | None = None
        self.observation_space = spaces.Dict({
            "image": spaces.Box(0, 255, (side, side, 3), dtype=np.uint8),
            "text": spaces.Text(max_length=OBS_MAX_LENGTH, min_length=0, charset=self._charset),
        })

    def _views(self) -> tuple[np.ndarray, tuple]:
        """The grid and sign placements at the current point (failed attempts reuse them)."""
        point = self._task.point
        key = (point.position, point.heading, self.view_size)
        cache = self._view_cache
        if cache is not None and cache[0] is self._episode and cache[1] == key:
            return cache[2], cache[3]
        grid, signs = self._episode.street_view(point, self.view_size)
        self._view_cache = (self._episode, key, grid, signs)
        return grid, signs

    def _get_obs(self) -> dict[str, Any]:  # type: ignore[override]
        return {"image": np.array(self._views()[0]), "text": super()._get_obs()}

    def visible_signs(self) -> tuple:
        """Where the landmark signs are drawn in the current grid's views
        (``streetview.SignPlacement`` records; empty for dataset panoramas). For analysis and tests:
        the names are the landmarks the text observation names, so this is not in ``info``."""
        if self._task is None:
            raise RuntimeError("call reset() first")
        return self._views()[1]

    def render(self) -> np.ndarray | str | None:
        """``rgb_array``: the observation image (the 2x2 grid). ``ansi``: a text summary. The
        top-down map is :meth:`render_map`."""
        if self.render_mode == "rgb_array" and self._task is not None:
            return np.array(self._views()[0])
        return super().render()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_view_cache"] = None  # a rendered grid is large and cheap to redraw
        return state
