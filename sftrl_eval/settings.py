"""The paper's evaluation settings, each one registered environment plus a fixed, versioned list of episodes.

An episode of a setting is identified by its index: the harness resets the environment with that index's seed
(and, for a game whose episodes are routes, V-IRL, replays that route), so a setting's episode ``i`` is the
same for every agent, machine and run. Changing how episodes are chosen bumps :data:`SEED_LIST_VERSION`;
result files record the version and the harness refuses to mix versions.

Each setting is played under a protocol (:data:`PROTOCOLS`, the suite's registry
:data:`sftrl_core.registry.PROTOCOLS`): ``"suite"`` (the default) plays the suite's own prompts and grading on
the seeded episodes above; ``"paper"`` plays the authors' evaluation (``docs/PAPER_PROTOCOL.md``):
``gym.make(..., protocol="paper")`` and the authors' episode lists (:class:`EpisodeList`). Only numbers measured
under a protocol that reproduces the paper are comparable with :data:`PAPER_RESULTS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sftrl_core.registry import (
    GENERAL_POINTS,
    PROTOCOL_NAMES,
    VIRL,
    GameInfo,
    ProtocolInfo,
    check_protocol,
    get_game,
    get_protocol_info,
)

__all__ = [
    "SEED_LIST_VERSION",
    "Setting",
    "SETTINGS",
    "get_setting",
    "PROTOCOLS",
    "check_protocol",
    "EpisodeList",
    "PAPER_VIRL_DATA_LIST",
    "PaperResult",
    "PAPER_RESULTS",
]

#: Version of the episode lists below. Results of different versions are not comparable.
SEED_LIST_VERSION = 1


@dataclass(frozen=True)
class Setting:
    """One evaluation setting.

    Attributes:
        name: the paper-style name, e.g. ``"GP-L-RuleOOD"``.
        env_id: the registered environment id (with its module, so no import is needed).
        game: the game (:class:`~sftrl_core.registry.GameInfo`; its name, ``"GeneralPoints"`` or ``"V-IRL"``,
            is accepted and looked up).
        image: whether observations hold an image.
        split: ``"id"``, ``"rule_ood"`` or ``"visual_ood"``.
        episodes: the paper's number of evaluation episodes (the default size).
        env_kwargs: extra ``gym.make`` arguments.
    """

    name: str
    env_id: str
    game: GameInfo
    image: bool
    split: str
    episodes: int
    env_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "game", get_game(self.game))

    def seed(self, index: int) -> int:
        """The reset seed of episode ``index`` (version 1: the game's seed base plus the index)."""
        return self.game.seed_base + index

    def reset_options(self, index: int) -> dict[str, Any] | None:
        """Reset options of episode ``index``: a game whose episodes are routes (V-IRL) replays route ``index``
        of the setting's route set."""
        return {"route": index} if self.game.walks_routes else None


def _gp(name: str, env_id: str, image: bool, split: str) -> Setting:
    return Setting(name, f"{GENERAL_POINTS.package}:{env_id}", GENERAL_POINTS, image, split, 234)


def _virl(name: str, env_id: str, image: bool, split: str, episodes: int) -> Setting:
    return Setting(name, f"{VIRL.package}:{env_id}", VIRL, image, split, episodes)


#: Every paper setting by name. GeneralPoints: 234 episodes; V-IRL: 48 routes, 18 for the unseen cities.
SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        _gp("GP-L", "GeneralPoints-v0", False, "id"),
        _gp("GP-L-RuleOOD", "GeneralPoints-RuleOOD-v0", False, "rule_ood"),
        _gp("GP-VL", "GeneralPoints-VL-v0", True, "id"),
        _gp("GP-VL-RuleOOD", "GeneralPoints-VL-RuleOOD-v0", True, "rule_ood"),
        _gp("GP-VL-VisualOOD", "GeneralPoints-VL-VisualOOD-v0", True, "visual_ood"),
        _virl("VIRL-L", "VIRL-v0", False, "id", 48),
        _virl("VIRL-L-RuleOOD", "VIRL-RuleOOD-v0", False, "rule_ood", 48),
        _virl("VIRL-VL", "VIRL-VL-v0", True, "id", 48),
        _virl("VIRL-VL-RuleOOD", "VIRL-VL-RuleOOD-v0", True, "rule_ood", 48),
        _virl("VIRL-VL-VisualOOD", "VIRL-VL-VisualOOD-v0", True, "visual_ood", 18),
    )
}


def get_setting(name: str | Setting) -> Setting:
    """Look up a setting by name (case-insensitive).

    Raises:
        ValueError: naming the known settings.
    """
    if isinstance(name, Setting):
        return name
    for key, setting in SETTINGS.items():
        if key.lower() == str(name).lower():
            return setting
    raise ValueError(f"unknown setting {name!r}; known: {', '.join(SETTINGS)}")


#: The evaluation protocols' names (the registry's, :data:`sftrl_core.registry.PROTOCOLS`): ``"suite"`` (the
#: default, the suite's own prompts and grading) and ``"paper"`` (the authors' evaluation, whose numbers are
#: comparable with the paper's table). :func:`check_protocol` is the registry's.
PROTOCOLS: tuple[str, ...] = PROTOCOL_NAMES


#: The episode list of V-IRL under the paper protocol on the released data (the authors' own routes).
PAPER_VIRL_DATA_LIST = "authors' route draws (seed 12) on the released data"


class _SuiteSeeds:
    """Episode ``i`` is :meth:`Setting.seed` ``(i)`` with :meth:`Setting.reset_options` ``(i)``; a game whose
    episodes are routes holds only the setting's evaluation routes (later routes are training routes)."""

    def __init__(self, setting: Setting):
        self.setting = setting
        self.name = f"suite seeds v{SEED_LIST_VERSION}"
        self.max_episodes = setting.episodes if setting.game.walks_routes else None

    def reset_args(self, index: int, env: Any) -> tuple[int, dict[str, Any] | None]:
        return self.setting.seed(index), self.setting.reset_options(index)


class _AuthorsHands:
    """The authors' hands of a GeneralPoints setting, in their order (the seed still drives the rest)."""

    def __init__(self, setting: Setting):
        from gpoints_env.protocols import paper_eval_hands, paper_eval_hands_version

        self.setting, self._hands = setting, paper_eval_hands(setting.name)
        self.name = f"authors' hands v{paper_eval_hands_version()}"
        self.max_episodes = len(self._hands)

    def reset_args(self, index: int, env: Any) -> tuple[int, dict[str, Any] | None]:
        return self.setting.seed(index), dict(self._hands[index])


class _AuthorsRouteDraws:
    """The authors' route draws on the released V-IRL data that ``env`` loaded (drawn once, on first use)."""

    def __init__(self, setting: Setting):
        self.setting, self.name, self.max_episodes = setting, PAPER_VIRL_DATA_LIST, setting.episodes
        self._draws: tuple[Any, ...] | None = None

    def reset_args(self, index: int, env: Any) -> tuple[int, dict[str, Any] | None]:
        return self.setting.seed(index), self._paper_draws(env)[index].reset_options()

    def _paper_draws(self, env: Any) -> tuple[Any, ...]:
        if self._draws is None:
            from virl_env import paper_evaluation_draws

            dataset = getattr(env.unwrapped, "dataset", None)
            if dataset is None:
                raise ValueError(f"{self.setting.name}: the paper's route draws need the released data "
                                 "(dataset_dir)")
            self._draws = paper_evaluation_draws(
                dataset, visual_ood=self.setting.split == "visual_ood", episodes=self.setting.episodes)
        return self._draws


def _episode_source(setting: Setting, protocol: ProtocolInfo, on_dataset: bool) -> Any:
    """The episodes a setting plays under a protocol (chosen once per list)."""
    if not protocol.reproduces_paper:
        return _SuiteSeeds(setting)
    if not setting.game.walks_routes:  # a GeneralPoints episode is one hand: the authors' list of hands
        return _AuthorsHands(setting)
    # Routes: the authors' draws need their released data; without it, their protocol on the suite's routes.
    return _AuthorsRouteDraws(setting) if on_dataset else _SuiteSeeds(setting)


class EpisodeList:
    """The episodes of a setting under a protocol: how many there are and how episode ``i`` is reset.

    * ``"suite"``: episode ``i`` is :meth:`Setting.seed` ``(i)`` with :meth:`Setting.reset_options` ``(i)``.
    * ``"paper"``, GeneralPoints: the authors' 234 hands of the setting, in their order
      (:func:`gpoints_env.protocols.paper_eval_hands`).
    * ``"paper"``, V-IRL on the released data (``dataset_dir``): the routes, start headings and rail draws of
      the authors' evaluator (``random.seed(12)``: 48 route choices with replacement, or routes 0..17 in file
      order for visual OOD; :func:`virl_env.paper_evaluation_draws`).
    * ``"paper"``, V-IRL without released data: the suite's evaluation routes (route ``i`` of the setting's
      generated cities) played with the authors' rails, prompts, grading and episode ends. The protocol is
      theirs, the routes are not: say so when comparing with the paper's numbers.

    Args:
        setting: the setting.
        protocol: a protocol's name (:data:`PROTOCOLS`) or its :class:`~sftrl_core.registry.ProtocolInfo`.
        on_dataset: whether the environment loads released V-IRL data (``dataset_dir``).
    """

    def __init__(self, setting: Setting, protocol: str | ProtocolInfo, on_dataset: bool = False):
        self.setting, self.protocol_info = setting, get_protocol_info(protocol)
        self.protocol = self.protocol_info.name
        self.on_dataset = bool(on_dataset) and setting.game.walks_routes
        self._episodes = _episode_source(setting, self.protocol_info, self.on_dataset)

    @property
    def max_episodes(self) -> int | None:
        """The most episodes the list holds (``None``: unbounded, for suite GeneralPoints seeds)."""
        return self._episodes.max_episodes

    def identity(self) -> dict[str, Any]:
        """What results files record about the list (part of a run's identity)."""
        return {"protocol": self.protocol, "episode_list": self._episodes.name}

    def reset_args(self, index: int, env: Any) -> tuple[int, dict[str, Any] | None]:
        """``(seed, options)`` for ``env.reset`` of episode ``index`` (``env`` gives the loaded V-IRL data)."""
        return self._episodes.reset_args(index, env)


@dataclass(frozen=True)
class PaperResult:
    """A published result of the paper (Chu et al. 2025), in percent: the initial model, after RL, after SFT.

    Attributes:
        metric: ``"success"`` (success rate) or ``"per_step"`` (V-IRL per-step accuracy).
    """

    metric: str
    initial: float
    rl: float
    sft: float

    def describe(self) -> str:
        """E.g. ``"success 11.5 → 15.0 / 3.4"`` (initial → RL / SFT)."""
        label = "success" if self.metric == "success" else "per-step"
        return f"{label} {self.initial:.1f} \u2192 {self.rl:.1f} / {self.sft:.1f}"


#: The paper's published out-of-distribution results (Llama-3.2-Vision-11B: initial → RL / SFT), per setting.
#: The paper reports per-step accuracy for rule-OOD V-IRL and route success (of 18) for visual-OOD V-IRL.
PAPER_RESULTS: dict[str, PaperResult] = {
    "GP-L-RuleOOD": PaperResult("success", 11.5, 15.0, 3.4),
    "GP-VL-RuleOOD": PaperResult("success", 11.2, 14.2, 5.6),
    "GP-VL-VisualOOD": PaperResult("success", 23.6, 41.2, 13.7),
    "VIRL-L-RuleOOD": PaperResult("per_step", 80.8, 91.8, 1.3),
    "VIRL-VL-RuleOOD": PaperResult("per_step", 35.7, 45.0, 2.5),
    "VIRL-VL-VisualOOD": PaperResult("success", 16.7, 77.8, 11.1),
}
