"""Which game a spec or an env id belongs to, and that game's spec module (grading, expert replies)."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Mapping

from sftrl_core.specs import SpecError, spec_game

__all__ = ["specs_module", "specs_module_for_id", "game_for_id", "bare_id"]

#: Spec ``"game"`` field -> the module that grades it. Imported on demand: V-IRL users need no card code.
_SPEC_MODULES = {"GeneralPoints": "gpoints_env.specs", "V-IRL": "virl_env.specs"}
#: Package of each game, for env ids.
_PACKAGES = {"GeneralPoints": "gpoints_env", "V-IRL": "virl_env"}


def specs_module(spec: str | Mapping[str, Any]) -> ModuleType:
    """The ``specs`` module that grades ``spec`` (by its ``"game"`` field).

    Raises:
        SpecError: the spec is not JSON, or names no game this suite knows.
    """
    game = spec_game(spec)
    if game not in _SPEC_MODULES:
        raise SpecError(f"unknown game {game!r} in spec; this suite grades {sorted(_SPEC_MODULES)}")
    return importlib.import_module(_SPEC_MODULES[game])


def bare_id(env_id: str) -> str:
    """``"gpoints_env:GeneralPoints-v0"`` -> ``"GeneralPoints-v0"`` (a bare id is returned as is)."""
    return env_id.split(":", 1)[1] if ":" in env_id else env_id


def game_for_id(env_id: str) -> str:
    """The game that registers ``env_id`` (``"GeneralPoints"`` or ``"V-IRL"``); importing it registers its ids.

    Raises:
        ValueError: neither game registers ``env_id``.
    """
    name = bare_id(env_id)
    for game, package in _PACKAGES.items():
        module = importlib.import_module(package)
        if name in getattr(module, "ALL_ENV_IDS", module.ENV_IDS):
            return game
    raise ValueError(f"{env_id!r} is not an id of this suite; GeneralPoints ids are in gpoints_env.ENV_IDS and "
                     "V-IRL ids in virl_env.ENV_IDS")


def specs_module_for_id(env_id: str) -> ModuleType:
    """The ``specs`` module of the game that registers ``env_id``.

    Raises:
        ValueError: neither game registers ``env_id``.
    """
    return importlib.import_module(_SPEC_MODULES[game_for_id(env_id)])
