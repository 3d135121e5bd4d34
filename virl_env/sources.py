"""Where episodes come from: a generated city, the authors' released routes, or a fixed benchmark list.

An :class:`EpisodeSource` draws the :class:`Episode` of a reset (route, rail, and where it was drawn
from); the episode then provides everything that depends on its origin: the street views at a rail
point, the top-down map and the text summary. The environment never asks where an episode came from.

* :class:`CitySource`: routes of a city generated from a style and a seed (random city per reset
  when the seed is None).
* :class:`DatasetSource`: the routes of a :class:`~virl_env.released.dataset.RouteDataset`, viewed through
  its panoramas.
* :class:`BenchmarkSource`: a fixed list of ``(style, city seed, route)`` entries, such as the
  visual-OOD benchmark :data:`VISUAL_OOD_ROUTES`.

Every random draw comes from the generator the environment passes in, in a fixed order (style
transforms, city seed, route, initial heading, dropped points), so a seed gives the same episode in
any process.

Each source builds its rails with the protocol it is given (:mod:`virl_env.protocols`): it asks the
protocol for the rail and instruction of the route it drew (:meth:`~virl_env.protocols.base.Protocol.city_rail`,
:meth:`~virl_env.protocols.base.Protocol.dataset_rail`).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from sftrl_core.registry import DEFAULT_PROTOCOL
from sftrl_core.variants import apply_transforms
from virl_env.protocols import Protocol, get_protocol
from virl_env.released.dataset import EpisodeRoute, RouteDataset
from virl_env.task.rules import NavigationRules
from virl_env.world.city import City, get_city
from virl_env.world.routes import RailPoint, Route, get_route
from virl_env.world.styles import CityStyle, Palette, StreetLook, get_style

__all__ = [
    "BenchmarkSource",
    "CityEpisode",
    "CitySource",
    "DatasetEpisode",
    "DatasetSource",
    "Episode",
    "EpisodeSource",
    "VISUAL_OOD_ROUTES",
    "VISUAL_OOD_STYLES",
    "check_int",
    "resolve_benchmark",
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

StyleTransform = Callable[[CityStyle], CityStyle]


def check_int(name: str, value: object, *, minimum: int) -> int:
    """``value`` as an int of at least ``minimum`` (numpy integers accepted, bools refused).

    Raises:
        TypeError: Not an int. ValueError: Below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


@lru_cache(maxsize=32)
def styled_city(style: CityStyle, seed: int) -> City:
    """The city of ``style`` and ``seed``, sharing its geometry with every style that differs only in
    ``palette`` and ``look`` (so a new look never regenerates streets, landmarks or routes)."""
    geometry = style.replace(palette=Palette(), look=StreetLook())
    base = get_city(geometry, seed)
    return base if base.style == style else dataclasses.replace(base, style=style)


def _apply_style(style: CityStyle, transforms: Sequence[StyleTransform]) -> CityStyle:
    return apply_transforms(style, transforms, CityStyle, "style")


# ---- episodes -------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Episode(ABC):
    """One drawn episode: its route and rail, and what depends on where it came from.

    Attributes:
        route: The route (its ``instruction`` and ``sentences`` feed the prompt).
        rail: The rail of the episode (after random drops).
        route_index: The index reported as ``info["route"]`` (the benchmark entry for a benchmark).
    """

    route: Route | EpisodeRoute
    rail: Sequence[RailPoint]
    route_index: int

    @property
    @abstractmethod
    def style_name(self) -> str:
        """``info["style"]``: the city style's name, or ``"dataset"``."""

    @property
    @abstractmethod
    def city_seed(self) -> int | None:
        """``info["city_seed"]``: the city seed, or None for dataset routes."""

    @property
    def city(self) -> City | None:
        """The generated city of the episode (None for dataset routes)."""
        return None

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Where the episode came from, JSON-friendly (for episode specs and logs)."""

    @abstractmethod
    def street_view(self, point: RailPoint, view_size: int) -> tuple[np.ndarray, tuple]:
        """The 2x2 street-view grid at ``point`` (``view_size`` pixels per view) and where landmark
        signs were drawn in it (``streetview.SignPlacement`` records; empty when none are drawn)."""

    @abstractmethod
    def render_map(self, index: int, size: int) -> np.ndarray:
        """The top-down map with the route, the rail and the agent at rail point ``index``."""

    @abstractmethod
    def render_ansi(self, index: int, mode: str, *, finished: bool, points_solved: Sequence[bool]) -> str:
        """A text summary of the episode state."""


@dataclass(frozen=True, eq=False)
class CityEpisode(Episode):
    """An episode on a route of a generated city (``city`` holds its styled city)."""

    generated_city: City

    @property
    def city(self) -> City:
        return self.generated_city

    @property
    def style_name(self) -> str:
        return self.city.style.name

    @property
    def city_seed(self) -> int:
        return self.city.seed

    def describe(self) -> dict[str, Any]:
        return {"source": "city", "style": self.city.style.name, "city_seed": self.city.seed,
                "route": self.route.index}

    def street_view(self, point: RailPoint, view_size: int) -> tuple[np.ndarray, tuple]:
        from virl_env.streetview.views import render_grid

        return render_grid(self.city, point.position, point.heading, view_size, look=self.city.style.look)

    def render_map(self, index: int, size: int) -> np.ndarray:
        from virl_env.map import render_map

        return render_map(self.city, self.route, self.rail, index, size=size)

    def render_ansi(self, index: int, mode: str, *, finished: bool, points_solved: Sequence[bool]) -> str:
        from virl_env.map import render_ansi

        return render_ansi(self.city, self.route, self.rail, index, mode, finished=finished,
                           points_solved=points_solved)


@dataclass(frozen=True, eq=False)
class DatasetEpisode(Episode):
    """An episode on a released route, viewed through the dataset's panoramas."""

    dataset: RouteDataset

    @property
    def style_name(self) -> str:
        return "dataset"

    @property
    def city_seed(self) -> None:
        return None

    def describe(self) -> dict[str, Any]:
        return {"source": "dataset", "dataset_dir": str(self.dataset.root), "route": self.route.index}

    def street_view(self, point: RailPoint, view_size: int) -> tuple[np.ndarray, tuple]:
        return self.dataset.grid(self.route, point, view_size), ()

    def render_map(self, index: int, size: int) -> np.ndarray:
        from virl_env.map import render_route_map

        return render_route_map(self.route, self.rail, index, size=size)

    def render_ansi(self, index: int, mode: str, *, finished: bool, points_solved: Sequence[bool]) -> str:
        from virl_env.map import render_route_ansi

        return render_route_ansi(self.route, self.rail, index, mode)


# ---- sources ----------------------------------------------------------------------------------------
class EpisodeSource(ABC):
    """Draws the episode of each reset.

    Attributes:
        num_routes: How many routes random resets draw from.
        protocol: The protocol that builds the rails (:mod:`virl_env.protocols`).
    """

    num_routes: int
    protocol: Protocol

    @abstractmethod
    def draw(self, options: dict[str, Any], rules: NavigationRules, rng: np.random.Generator,
             style_transforms: Sequence[StyleTransform] = ()) -> Episode:
        """The episode of a reset.

        Args:
            options: The reset options (``route``, ``city_seed``, and what the protocol reads, such as
                ``paper_draws``; others are ignored here).
            rules: The active rules (``forward_points``, ``drop_rate`` shape the rail).
            rng: The environment's generator (every random draw comes from it).
            style_transforms: Style transforms passed down by style wrappers, innermost first.

        Raises:
            ValueError, TypeError: For an option that does not apply or is out of range.
        """

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """The source's configuration, JSON-friendly."""

    def landmark_texts(self) -> tuple[str, ...]:
        """The landmark texts of the source's data as written (released routes), which a protocol that shows
        them as written must admit in its observation space; none for generated cities."""
        return ()

    def _route_option(self, options: dict[str, Any], rng: np.random.Generator, what: str) -> int:
        """The ``route`` option checked against :attr:`num_routes`, else a random draw."""
        if options.get("route") is None:
            return int(rng.integers(self.num_routes))
        index = check_int("route", options["route"], minimum=0)
        if index >= self.num_routes:
            raise ValueError(f"route must be < {self.num_routes} ({what}), got {index}")
        return index


def _city_episode(style: CityStyle, city_seed: int, route_index: int, rules: NavigationRules,
                  rng: np.random.Generator, reported_index: int, protocol: Protocol) -> CityEpisode:
    city = styled_city(style, city_seed)
    route, rail = protocol.city_rail(city, get_route(city, route_index), rules, rng)
    return CityEpisode(route=route, rail=rail, route_index=reported_index, generated_city=city)


class CitySource(EpisodeSource):
    """Routes of a generated city.

    Args:
        style: The city style (style wrappers transform it per reset).
        city_seed: The city's seed, or None for a new random city at each reset.
        num_routes: Size of the route set random resets draw from; the ``route`` option may name
            any route index, beyond it too (routes are a pure function of style, seed and index).
        protocol: The protocol (or its name) that builds the rail and instruction.
    """

    def __init__(self, style: CityStyle, city_seed: int | None, num_routes: int,
                 protocol: str | Protocol = DEFAULT_PROTOCOL) -> None:
        self.style = style
        self.city_seed = city_seed
        self.num_routes = num_routes
        self.protocol = get_protocol(protocol)

    def describe(self) -> dict[str, Any]:
        return {"source": "city", "style": self.style.name, "city_seed": self.city_seed,
                "num_routes": self.num_routes}

    def draw(self, options: dict[str, Any], rules: NavigationRules, rng: np.random.Generator,
             style_transforms: Sequence[StyleTransform] = ()) -> Episode:
        style = _apply_style(self.style, style_transforms)
        if options.get("city_seed") is not None:
            city_seed = check_int("city_seed", options["city_seed"], minimum=0)
        elif self.city_seed is not None:
            city_seed = self.city_seed
        else:
            city_seed = int(rng.integers(2**31 - 1))
        if options.get("route") is not None:
            route_index = check_int("route", options["route"], minimum=0)
        else:
            route_index = int(rng.integers(self.num_routes))
        return _city_episode(style, city_seed, route_index, rules, rng, route_index, self.protocol)


class BenchmarkSource(EpisodeSource):
    """A fixed list of ``(style, city seed, route)`` entries; ``info["route"]`` is the entry's index.

    Args:
        entries: The entries (see :func:`resolve_benchmark`).
        protocol: The protocol (or its name) that builds the rail and instruction.
    """

    def __init__(self, entries: Sequence[tuple[str, int, int]], protocol: str | Protocol = DEFAULT_PROTOCOL) -> None:
        self.entries = tuple(entries)
        self.num_routes = len(self.entries)
        self.protocol = get_protocol(protocol)

    def describe(self) -> dict[str, Any]:
        return {"source": "benchmark", "entries": [list(e) for e in self.entries]}

    def draw(self, options: dict[str, Any], rules: NavigationRules, rng: np.random.Generator,
             style_transforms: Sequence[StyleTransform] = ()) -> Episode:
        if options.get("city_seed") is not None:
            raise ValueError("the city_seed option does not apply to a benchmark; pick an entry with route")
        k = self._route_option(options, rng, "benchmark entries")
        style_name, city_seed, route_index = self.entries[k]
        style = _apply_style(get_style(style_name), style_transforms)
        return _city_episode(style, city_seed, route_index, rules, rng, k, self.protocol)


class DatasetSource(EpisodeSource):
    """The routes of a released dataset (style transforms do not apply: the views are photographs).

    Args:
        dataset: The loaded dataset.
        protocol: The protocol (or its name) that builds the rail and instruction (the paper's replays the
            authors' evaluator's draws given as the ``paper_draws`` reset option).
    """

    def __init__(self, dataset: RouteDataset, protocol: str | Protocol = DEFAULT_PROTOCOL) -> None:
        self.dataset = dataset
        self.num_routes = len(dataset)
        self.protocol = get_protocol(protocol)

    def describe(self) -> dict[str, Any]:
        return {"source": "dataset", "dataset_dir": str(self.dataset.root), "num_routes": self.num_routes}

    def landmark_texts(self) -> tuple[str, ...]:
        return self.dataset.landmark_texts()

    def draw(self, options: dict[str, Any], rules: NavigationRules, rng: np.random.Generator,
             style_transforms: Sequence[StyleTransform] = ()) -> Episode:
        if options.get("city_seed") is not None:
            raise ValueError("the city_seed option does not apply to routes of a dataset")
        index = self._route_option(options, rng, "routes in the dataset")
        route, rail = self.protocol.dataset_rail(self.dataset, index, rules, rng, options)
        return DatasetEpisode(route=route, rail=rail, route_index=route.index, dataset=self.dataset)


def resolve_benchmark(benchmark: object) -> tuple[tuple[str, int, int], ...] | None:
    """The entries of a benchmark argument: None, ``"visual_ood"`` or a sequence of
    ``(style, city_seed, route)``.

    Raises:
        ValueError, TypeError: For anything else (the bad entry is named).
    """
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
        out.append((str(style), check_int(f"benchmark[{k}] city_seed", seed, minimum=0),
                    check_int(f"benchmark[{k}] route", route, minimum=0)))
    return tuple(out)
