"""``VIRLEnv`` (text) and ``VIRLVisionEnv`` (street-view images): route following in a generated
city or on the paper authors' released routes (V-IRL after Chu et al., 2025)."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from virl_env.checker import expected_action, grade_reply
from virl_env.city import City, get_city
from virl_env.prompts import (
    ACTION_CHARSET,
    ACTION_MAX_LENGTH,
    OBS_CHARSET,
    OBS_MAX_LENGTH,
    image_observation_text,
    prompt_header,
    prompt_text,
)
from virl_env.routes import Rail, RailPoint, Route, drop_points, get_rail, get_route
from virl_env.rules import NavigationRules, RewardTable, Verdict, get_reward_table
from virl_env.styles import CityStyle, Palette, StreetLook, get_style

__all__ = [
    "MAX_STORED_REPLY_CHARS",
    "VIRLEnv",
    "VIRLVisionEnv",
    "VISUAL_OOD_ROUTES",
    "VISUAL_OOD_STYLES",
    "styled_city",
]

VISUAL_OOD_STYLES: tuple[str, ...] = ("paris", "london", "tokyo", "rome", "amsterdam", "mumbai", "sydney",
                                      "cairo", "moscow")
"""The nine unseen styles of the visual out-of-distribution benchmark (``barcelona`` is held back as
a spare unseen style)."""

VISUAL_OOD_ROUTES: tuple[tuple[str, int, int], ...] = tuple(
    (style, 0, route) for style in VISUAL_OOD_STYLES for route in (0, 1))
"""The fixed visual-OOD benchmark: 18 routes, ``(style, city seed, route index)``, 2 in each of 9
cities of distinct unseen styles (the paper's protocol); ``VIRL-VL-VisualOOD-v0`` replays entry k
with ``reset(options={"route": k})``."""

MAX_STORED_REPLY_CHARS = 8192
"""Replies are stored in ``info["messages"]`` cut to this many characters."""

_OPTION_KEYS = frozenset({"route", "city_seed", "rules"})


@lru_cache(maxsize=32)
def styled_city(style: CityStyle, seed: int) -> City:
    """The city of ``style`` and ``seed``, sharing its geometry with every style that differs only in
    ``palette`` and ``look`` (so a new look never regenerates streets, landmarks or routes)."""
    geometry = style.replace(palette=Palette(), look=StreetLook())
    base = get_city(geometry, seed)
    return base if base.style == style else dataclasses.replace(base, style=style)


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
    normalised. ``<think>`` blocks are ignored. Non-strings raise ``TypeError``; any text gets a
    verdict, never an exception.

    ## Rewards
    From the reward table (``rewards="paper"``: the paper's values): correct action +1, wrong
    action -1, wrong action *with* a reported ``current observation`` that is wrong about the
    intersection or misses a landmark in view -1.5, unreadable or out-of-space action -1.
    ``rewards="binary"``: 1 for a correct action, else 0.

    ## Episode end
    Each point allows ``max_attempts`` graded attempts (paper: 2). A correct action moves the
    agent to the next point. When the attempts run out the point counts as failed and the agent is
    moved on (``on_exhausted="advance"``) or the episode ends (``"terminate"``). The episode
    terminates after the destination point. ``info["is_success"]`` is true only when every point
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
    * ``style``: a city style name (``virl_env.styles.STYLE_NAMES``) or a ``CityStyle``.
    * ``city_seed``: seed of the city (int >= 0), or None for a new random city each reset.
    * ``num_routes``: size of the route set random resets draw from (paper: 1,000 routes).
    * ``rules``: ``NavigationRules`` or a dict of its fields (action mode, attempts, rail).
    * ``rewards``: ``"paper"``, ``"binary"`` or a ``RewardTable``.
    * ``render_mode``: ``"rgb_array"`` (top-down map, ``render_size`` pixels square) or ``"ansi"``.

    ## Variants
    * ``VIRL-v0``: absolute actions (``turn_direction(northeast)``), New-York-like city: in
      distribution.
    * ``VIRL-RuleOOD-v0``: relative actions (left, right, slightly left, slightly right): the
      paper's rule out-of-distribution setting; same as ``RelativeActions(gym.make("VIRL-v0"))``.
    * Wrappers in ``virl_env.wrappers`` (``RelativeActions``, ``BearingActions``, or your own
      ``RuleWrapper``) change the rules; ``style=`` picks an unseen city style.
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}

    def __init__(
        self,
        render_mode: str | None = None,
        *,
        style: str | CityStyle = "new_york",
        city_seed: int | None = 0,
        num_routes: int = 1000,
        rules: NavigationRules | dict | None = None,
        rewards: str | RewardTable = "paper",
        render_size: int = 768,
        dataset_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, "
                             f"got {render_mode!r}")
        if city_seed is not None:
            _check_int("city_seed", city_seed, minimum=0)
        _check_int("num_routes", num_routes, minimum=1)
        _check_int("render_size", render_size, minimum=128)
        self.render_mode = render_mode
        self.style = get_style(style)
        self.city_seed = None if city_seed is None else int(city_seed)
        self.num_routes = int(num_routes)
        self.rules = NavigationRules.from_value(rules)
        self.active_rules = self.rules
        self.rewards = get_reward_table(rewards)
        self.render_size = int(render_size)
        self._rule_transforms: list[Callable[[NavigationRules], NavigationRules]] = []
        self._style_transforms: list[Callable[[CityStyle], CityStyle]] = []
        self._image = False
        self.dataset = None
        if dataset_dir is not None:
            from virl_env.data import RouteDataset

            self.dataset = RouteDataset.load(dataset_dir)
            self.num_routes = len(self.dataset)
        self.observation_space = spaces.Text(max_length=OBS_MAX_LENGTH, min_length=0, charset=OBS_CHARSET)
        self.action_space = spaces.Text(max_length=ACTION_MAX_LENGTH, min_length=0, charset=ACTION_CHARSET)
        self._city: City | None = None
        self._route: Route | None = None
        self._rail: Rail | tuple[RailPoint, ...] = ()
        self._finished = True

    # ---- rules ---------------------------------------------------------------------------
    def add_rule_transform(self, fn: Callable[[NavigationRules], NavigationRules]) -> None:
        """Append a rules transform applied at every reset (used by ``RuleWrapper``).

        Raises:
            TypeError: If ``fn`` is not callable.
        """
        if not callable(fn):
            raise TypeError(f"rule transform must be callable, got {type(fn).__name__}")
        self._rule_transforms.append(fn)

    def _compute_rules(self, options: dict) -> NavigationRules:
        rules = NavigationRules.from_value(options["rules"]) if "rules" in options else self.rules
        for fn in self._rule_transforms:
            rules = fn(rules)
            if not isinstance(rules, NavigationRules):
                raise TypeError(f"rule transform {fn!r} returned {type(rules).__name__}, not NavigationRules")
        return rules

    # ---- looks -----------------------------------------------------------------------------
    def add_style_transform(self, fn: Callable[[CityStyle], CityStyle]) -> None:
        """Append a city-style transform applied at every reset (used by ``StyleWrapper``).

        Raises:
            TypeError: If ``fn`` is not callable.
        """
        if not callable(fn):
            raise TypeError(f"style transform must be callable, got {type(fn).__name__}")
        self._style_transforms.append(fn)

    def _compute_style(self, base: CityStyle) -> CityStyle:
        style = base
        for fn in self._style_transforms:
            style = fn(style)
            if not isinstance(style, CityStyle):
                raise TypeError(f"style transform {fn!r} returned {type(style).__name__}, not CityStyle")
        return style

    def _choose_episode(self, options: dict) -> tuple[CityStyle, int, int]:
        """Style, city seed and route index of a new episode (options first, else random draws)."""
        style = self._compute_style(self.style)
        if "city_seed" in options and options["city_seed"] is not None:
            city_seed = _check_int("city_seed", options["city_seed"], minimum=0)
        elif self.city_seed is not None:
            city_seed = self.city_seed
        else:
            city_seed = int(self.np_random.integers(2**31 - 1))
        if "route" in options and options["route"] is not None:
            route_index = _check_int("route", options["route"], minimum=0)
        else:
            route_index = int(self.np_random.integers(self.num_routes))
        return style, city_seed, route_index

    # ---- gym API ---------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Start an episode on a route.

        Options:
            ``route`` (int >= 0): replay route k of the city's deterministic route set (of the
            dataset with ``dataset_dir``; of the benchmark for a benchmark environment).
            ``city_seed`` (int >= 0): use another city of the same style (generated cities only).
            ``rules`` (``NavigationRules`` or dict): base rules for this episode (transforms still apply).
        """
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - _OPTION_KEYS
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; known: {sorted(_OPTION_KEYS)}")
        self.active_rules = self._compute_rules(options)
        if self.dataset is not None:
            if options.get("city_seed") is not None:
                raise ValueError("the city_seed option does not apply to routes of a dataset")
            if options.get("route") is not None:
                route_index = _check_int("route", options["route"], minimum=0)
                if route_index >= len(self.dataset):
                    raise ValueError(f"route must be < {len(self.dataset)} (routes in the dataset), got {route_index}")
            else:
                route_index = int(self.np_random.integers(len(self.dataset)))
            self._city = None
            self._route, full_rail = self.dataset.episode(route_index, self.active_rules.forward_points,
                                                          self.np_random)
            self._rail = drop_points(full_rail, self.active_rules.drop_rate, self.np_random)
        else:
            style, city_seed, route_index = self._choose_episode(options)
            self._city = styled_city(style, city_seed)
            self._route = get_route(self._city, route_index)
            full = get_rail(self._city, self._route, self.active_rules.forward_points)
            self._rail = full.drop(self.active_rules.drop_rate, self.np_random)
        self._index = 0
        self._attempts_left = self.active_rules.max_attempts
        self._finished = False
        self._mode = self.active_rules.action_mode
        self._header = prompt_header(self._route.instruction, self._mode, image=self._image)
        self._history: list[tuple[str, str]] = []
        self._history_text = ""
        self._step_correct: list[bool] = []
        self._point_solved: list[bool] = []
        self._verdict: str | None = None
        self._feedback = ""
        self._show_feedback = ""
        self._point_messages: list[dict[str, str]] = []
        self._last_reward = 0.0
        return self._get_obs(), self._get_info()

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Grade a reply at the current point and move on when it is right or attempts run out."""
        if self._route is None:
            raise RuntimeError("call reset() before step()")
        if self._finished:
            raise RuntimeError("the episode has ended (terminated); call reset() before stepping again")
        if not isinstance(action, str):
            raise TypeError(f"action must be the model's reply as a str, got {type(action).__name__}")
        point = self._rail[self._index]
        rules = self.active_rules
        grade = grade_reply(action, point, rules, self.rewards)
        correct = grade.verdict is Verdict.CORRECT
        self._step_correct.append(correct)
        self._verdict = grade.verdict.value
        stored = action if len(action) <= MAX_STORED_REPLY_CHARS else action[:MAX_STORED_REPLY_CHARS] + " [cut]"
        if correct:
            self._feedback = grade.message
            self._show_feedback = ""
            self._point_solved.append(True)
            self._advance(point)
        else:
            self._attempts_left -= 1
            if self._attempts_left > 0:
                self._feedback = f"{grade.message} Attempts left at this point: {self._attempts_left}."
                self._show_feedback = self._feedback
                self._point_messages += [{"role": "assistant", "content": stored},
                                         {"role": "user", "content": self._feedback}]
            else:
                self._point_solved.append(False)
                expert = expected_action(point, self._mode)
                if rules.on_exhausted == "terminate" or point.kind == "destination":
                    self._feedback = f"{grade.message} No attempts left; the episode has ended."
                    self._show_feedback = self._feedback
                    self._finished = True
                else:
                    self._feedback = (f"{grade.message} No attempts left at the previous point; the expected "
                                      f"action there was {expert} and you have been moved on.")
                    self._advance(point)
                    self._show_feedback = self._feedback
        self._last_reward = grade.reward
        return self._get_obs(), float(grade.reward), self._finished, False, self._get_info()

    def _advance(self, point: RailPoint) -> None:
        act = expected_action(point, self._mode)
        self._history.append((point.observation, act))
        self._history_text += f"O_{len(self._history)}: {point.observation}\nA_{len(self._history)}: {act}\n"
        self._index += 1
        self._attempts_left = self.active_rules.max_attempts
        self._point_messages = []
        if self._index >= len(self._rail):
            self._finished = True
            self._index = len(self._rail) - 1

    # ---- observation and info ----------------------------------------------------------------
    def _base_prompt(self, feedback: str | None) -> str:
        point = self._rail[self._index]
        observation = image_observation_text(point.at_intersection) if self._image else point.observation
        return prompt_text(self._header, self._history_text, len(self._history) + 1,
                           observation, feedback, finished=self._finished)

    def _get_obs(self) -> str:
        self._last_obs = self._base_prompt(self._show_feedback or None)
        return self._last_obs

    def _get_info(self) -> dict[str, Any]:
        point = self._rail[self._index]
        if self._point_messages:
            # Multi-turn form of the same prompt: the prompt, then each failed reply and its feedback.
            messages = [{"role": "user", "content": self._base_prompt(None)}]
            messages += [dict(m) for m in self._point_messages]
        else:
            messages = [{"role": "user", "content": self._last_obs}]
        solved = self._point_solved
        return {
            "instruction": self._route.instruction,
            "observation": point.observation,
            "step_index": self._index,
            "num_points": len(self._rail),
            "attempts_left": self._attempts_left if not self._finished else 0,
            "verdict": self._verdict,
            "feedback": self._feedback,
            "is_success": bool(self._finished and len(solved) == len(self._rail) and all(solved)),
            "step_correct": list(self._step_correct),
            "points_solved": list(solved),
            "action_mode": self._mode,
            "route": self._route.index,
            "city_seed": None if self._city is None else self._city.seed,
            "style": "dataset" if self._city is None else self._city.style.name,
            "messages": messages,
        }

    # ---- expert API ----------------------------------------------------------------------------
    def _require_live(self) -> RailPoint:
        if self._route is None:
            raise RuntimeError("call reset() first")
        if self._finished:
            raise RuntimeError("the episode has ended; there is no expected action")
        return self._rail[self._index]

    def expert_action(self) -> str:
        """The expected action at the current point, in the active action mode (for examples and
        SFT data; deliberately not in ``info``).

        Raises:
            RuntimeError: Before reset or after the episode ended.
        """
        return expected_action(self._require_live(), self._mode)

    def expert_reply(self) -> str:
        """A full expert reply in the prompt's JSON format (observation, instruction sentence, action)."""
        point = self._require_live()
        return json.dumps({
            "current observation": point.observation,
            "current instruction": self._route.sentences[point.sentence],
            "action": expected_action(point, self._mode),
        })

    @property
    def city(self) -> City | None:
        """The current city (None before the first reset and for dataset routes)."""
        return self._city

    @property
    def route(self) -> Route | None:
        """The current route (None before the first reset)."""
        return self._route

    @property
    def rail(self) -> Rail | tuple[RailPoint, ...]:
        """The rail of the current episode (after random drops), a sequence of ``RailPoint``."""
        return self._rail

    @property
    def point_index(self) -> int:
        """Index of the current rail point."""
        return self._index if self._route is not None else 0

    # ---- rendering -----------------------------------------------------------------------------
    def render(self) -> np.ndarray | str | None:
        """``rgb_array``: top-down map (HWC uint8). ``ansi``: a text summary of the state."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='rgb_array' or 'ansi'")
            return None
        if self._route is None:
            raise RuntimeError("call reset() before render()")
        if self.render_mode == "rgb_array":
            return self.render_map()
        return self._render_ansi()

    def render_map(self, size: int | None = None) -> np.ndarray:
        """The top-down map of the city (or of a dataset route) with the route, the rail and the
        agent, ``size`` (default ``render_size``) pixels square, HWC ``uint8``."""
        if self._route is None:
            raise RuntimeError("call reset() before render_map()")
        size = self.render_size if size is None else _check_int("size", size, minimum=128)
        if self.dataset is not None:
            from virl_env.data import render_route_map

            return render_route_map(self._route, self._rail, self._index, size=size)
        from virl_env.render import render_map

        return render_map(self._city, self._route, self._rail, self._index, size=size)

    def _render_ansi(self) -> str:
        if self.dataset is not None:
            point = self._rail[self._index]
            return (f"V-IRL dataset route {self._route.index}  actions={self._mode}\n"
                    f"point {self._index + 1}/{len(self._rail)} ({point.kind})  heading={point.heading:.0f}\n"
                    f"observation: {point.observation}\ninstruction:\n{self._route.instruction}\n")
        from virl_env.render import render_ansi

        return render_ansi(self._city, self._route, self._rail, self._index, self._mode,
                           finished=self._finished, points_solved=self._point_solved)


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

    def __init__(self, render_mode: str | None = None, *, view_size: int = 256,
                 benchmark: str | Sequence[tuple[str, int, int]] | None = None, **kwargs: Any) -> None:
        super().__init__(render_mode, **kwargs)
        self.view_size = _check_int("view_size", view_size, minimum=32)
        if self.view_size > 2048:
            raise ValueError(f"view_size must be <= 2048, got {self.view_size}")
        self.benchmark = _resolve_benchmark(benchmark)
        if self.benchmark is not None and self.dataset is not None:
            raise ValueError("benchmark and dataset_dir cannot be combined")
        if self.benchmark is not None:
            self.num_routes = len(self.benchmark)
        from virl_env.streetview import grid_size

        side = grid_size(self.view_size)
        self._image = True
        self._benchmark_index: int | None = None
        self._image_cache: tuple[tuple, np.ndarray, tuple] | None = None
        self.observation_space = spaces.Dict({
            "image": spaces.Box(0, 255, (side, side, 3), dtype=np.uint8),
            "text": spaces.Text(max_length=OBS_MAX_LENGTH, min_length=0, charset=OBS_CHARSET),
        })

    def _choose_episode(self, options: dict) -> tuple[CityStyle, int, int]:
        if self.benchmark is None:
            self._benchmark_index = None
            return super()._choose_episode(options)
        if options.get("city_seed") is not None:
            raise ValueError("the city_seed option does not apply to a benchmark; pick an entry with route")
        if options.get("route") is not None:
            k = _check_int("route", options["route"], minimum=0)
            if k >= len(self.benchmark):
                raise ValueError(f"route must be < {len(self.benchmark)} (benchmark entries), got {k}")
        else:
            k = int(self.np_random.integers(len(self.benchmark)))
        self._benchmark_index = k
        style_name, city_seed, route = self.benchmark[k]
        return self._compute_style(get_style(style_name)), city_seed, route

    def _grid(self) -> tuple[np.ndarray, tuple]:
        point = self._rail[self._index]
        key = (id(self._city), id(self.dataset), point.position, point.heading, self.view_size)
        if self._image_cache is not None and self._image_cache[0] == key:
            return self._image_cache[1], self._image_cache[2]
        if self.dataset is not None:
            grid, signs = self.dataset.grid(self._route, point, self.view_size), ()
        else:
            from virl_env.streetview import render_grid

            grid, signs = render_grid(self._city, point.position, point.heading, self.view_size,
                                      look=self._city.style.look)
        self._image_cache = (key, grid, signs)
        return grid, signs

    def _get_obs(self) -> dict[str, Any]:  # type: ignore[override]
        text = super()._get_obs()
        return {"image": np.array(self._grid()[0]), "text": text}

    def _get_info(self) -> dict[str, Any]:
        info = super()._get_info()
        if self.benchmark is not None:
            info["route"] = self._benchmark_index
        return info

    def visible_signs(self) -> tuple:
        """Where the landmark signs are drawn in the current grid's views
        (``streetview.SignPlacement`` records; empty for dataset panoramas). For analysis and tests:
        the names are the landmarks the text observation names, so this is not in ``info``."""
        if self._route is None:
            raise RuntimeError("call reset() first")
        return self._grid()[1]

    def render(self) -> np.ndarray | str | None:
        """``rgb_array``: the observation image (the 2x2 grid). ``ansi``: a text summary. The
        top-down map is :meth:`render_map`."""
        if self.render_mode == "rgb_array" and self._route is not None:
            return np.array(self._grid()[0])
        return super().render()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_image_cache"] = None  # keyed by object ids, which do not survive pickling
        return state


def _resolve_benchmark(benchmark: object) -> tuple[tuple[str, int, int], ...] | None:
    if benchmark is None:
        return None
    if benchmark == "visual_ood":
        return VISUAL_OOD_ROUTES
    if isinstance(benchmark, str) or not isinstance(benchmark, Sequence) or len(benchmark) == 0:
        raise ValueError(f"benchmark must be 'visual_ood' or a non-empty sequence of (style, city_seed, "
                         f"route) entries, got {benchmark!r}")
    out = []
    for k, entry in enumerate(benchmark):
        if not isinstance(entry, Sequence) or isinstance(entry, str) or len(entry) != 3:
            raise ValueError(f"benchmark entry {k} must be (style, city_seed, route), got {entry!r}")
        style, seed, route = entry
        get_style(style)
        out.append((str(style), _check_int(f"benchmark[{k}] city_seed", seed, minimum=0),
                    _check_int(f"benchmark[{k}] route", route, minimum=0)))
    return tuple(out)


def _check_int(name: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)
