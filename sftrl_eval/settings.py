"""The paper's evaluation settings, each one registered environment plus a fixed, versioned list of episodes.

An episode of a setting is identified by its index: the harness resets the environment with that index's seed
(and, for V-IRL, replays that route), so a setting's episode ``i`` is the same for every agent, machine and run.
Changing how episodes are chosen bumps :data:`SEED_LIST_VERSION`; result files record the version and the
harness refuses to mix versions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["SEED_LIST_VERSION", "Setting", "SETTINGS", "get_setting"]

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
