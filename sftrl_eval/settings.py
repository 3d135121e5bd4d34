"""The paper's evaluation settings, each one registered environment plus a fixed, versioned list of episodes.

An episode of a setting is identified by its index: the harness resets the environment with that index's seed
(and, for V-IRL, replays that route), so a setting's episode ``i`` is the same for every agent, machine and run.
Changing how episodes are chosen bumps :data:`SEED_LIST_VERSION`; result files record the version and the
harness refuses to mix versions.

Each setting is played under a protocol (:data:`PROTOCOLS`): ``"suite"`` (the default) plays the suite's own
prompts and grading on the seeded episodes above; ``"paper"`` plays the authors' evaluation
(``docs/PAPER_PROTOCOL.md``): ``gym.make(..., protocol="paper")`` and the authors' episode lists
(:class:`EpisodeList`). Only numbers measured under ``"paper"`` are comparable with :data:`PAPER_RESULTS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
        game: ``"gp"`` or ``"virl"``.
        image: whether observations hold an image.
        split: ``"id"``, ``"rule_ood"`` or ``"visual_ood"``.
        episodes: the paper's number of evaluation episodes (the default size).
        env_kwargs: extra ``gym.make`` arguments.
    """

    name: str
    env_id: str
    game: str
    image: bool
    split: str
    episodes: int
    env_kwargs: dict[str, Any] = field(default_factory=dict)

    def seed(self, index: int) -> int:
        """The reset seed of episode ``index`` (version 1: a fixed offset per game, plus the index)."""
        return (1_000_000 if self.game == "gp" else 2_000_000) + index

    def reset_options(self, index: int) -> dict[str, Any] | None:
        """Reset options of episode ``index``: V-IRL replays route ``index`` of the setting's route set."""
        return {"route": index} if self.game == "virl" else None


def _gp(name: str, env_id: str, image: bool, split: str) -> Setting:
    return Setting(name, f"gpoints_env:{env_id}", "gp", image, split, 234)


def _virl(name: str, env_id: str, image: bool, split: str, episodes: int) -> Setting:
    return Setting(name, f"virl_env:{env_id}", "virl", image, split, episodes)


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


#: The evaluation protocols: ``"suite"`` (the default, the suite's own prompts and grading) and ``"paper"``
#: (the authors' evaluation, whose numbers are comparable with the paper's table).
PROTOCOLS: tuple[str, ...] = ("suite", "paper")


def check_protocol(protocol: object) -> str:
    """``protocol`` if it is one of :data:`PROTOCOLS`.

    Raises:
        ValueError: naming the known protocols.
    """
    if not isinstance(protocol, str) or protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(map(repr, PROTOCOLS))}, got {protocol!r}")
    return protocol


#: The episode list of V-IRL under the paper protocol on the released data (the authors' own routes).
PAPER_VIRL_DATA_LIST = "authors' route draws (seed 12) on the released data"


class EpisodeList:
    """The episodes of a setting under a protocol: how many there are and how episode ``i`` is reset.

    * ``"suite"``: episode ``i`` is :meth:`Setting.seed` ``(i)`` with :meth:`Setting.reset_options` ``(i)``.
    * ``"paper"``, GeneralPoints: the authors' 234 hands of the setting, in their order
      (:func:`gpoints_env.protocols.paper_eval_hands`).
    * ``"paper"``, V-IRL on the released data (``dataset_dir``): the routes, start headings and rail draws of
      the authors' evaluator (``random.seed(12)``: 48 route choices with replacement, or routes 0..17 in file
      order for visual OOD; :func:`virl_env.dataset.paper_evaluation_draws`).
    * ``"paper"``, V-IRL without released data: the suite's evaluation routes (route ``i`` of the setting's
      generated cities) played with the authors' rails, prompts, grading and episode ends. The protocol is
      theirs, the routes are not: say so when comparing with the paper's numbers.

    Args:
        setting: the setting.
        protocol: ``"suite"`` or ``"paper"``.
        on_dataset: whether the environment loads released V-IRL data (``dataset_dir``).
    """

    def __init__(self, setting: Setting, protocol: str, on_dataset: bool = False):
        self.setting, self.protocol = setting, check_protocol(protocol)
        self.on_dataset = bool(on_dataset) and setting.game == "virl"
        self._options: list[dict[str, Any]] | None = None
        if protocol == "paper" and setting.game == "gp":
            from gpoints_env.protocols import paper_eval_hands, paper_eval_hands_version

            self._options = paper_eval_hands(setting.name)
            self._source = f"authors' hands v{paper_eval_hands_version()}"
        elif protocol == "paper" and self.on_dataset:
            self._source = PAPER_VIRL_DATA_LIST
        else:
            self._source = f"suite seeds v{SEED_LIST_VERSION}"

    @property
    def max_episodes(self) -> int | None:
        """The most episodes the list holds (``None``: unbounded, for suite GeneralPoints seeds)."""
        if self._options is not None:
            return len(self._options)
        return self.setting.episodes if self.setting.game == "virl" else None

    def identity(self) -> dict[str, Any]:
        """What results files record about the list (part of a run's identity)."""
        return {"protocol": self.protocol, "episode_list": self._source}

    def reset_args(self, index: int, env: Any) -> tuple[int, dict[str, Any] | None]:
        """``(seed, options)`` for ``env.reset`` of episode ``index`` (``env`` gives the loaded V-IRL data)."""
        seed = self.setting.seed(index)
        if self._options is not None:
            return seed, dict(self._options[index])
        if self.protocol == "paper" and self.on_dataset:
            return seed, self._paper_draws(env)[index].reset_options()
        return seed, self.setting.reset_options(index)

    def _paper_draws(self, env: Any) -> tuple[Any, ...]:
        draws = getattr(self, "_draws", None)
        if draws is None:
            from virl_env.dataset import paper_evaluation_draws

            dataset = getattr(env.unwrapped, "dataset", None)
            if dataset is None:
                raise ValueError(f"{self.setting.name}: the paper's route draws need the released data "
                                 "(dataset_dir)")
            draws = self._draws = paper_evaluation_draws(
                dataset, visual_ood=self.setting.split == "visual_ood", episodes=self.setting.episodes)
        return draws


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
