"""Which game a spec or an env id belongs to, and that game's spec module (grading, expert replies).

The games, their packages and their spec modules are those of :mod:`sftrl_core.registry`.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Mapping

from sftrl_core.registry import GAMES, GameInfo
from sftrl_core.specs import SpecError, spec_game

__all__ = ["specs_module", "specs_module_for_id", "game_for_id", "game_info_for_id", "bare_id"]


def specs_module(spec: str | Mapping[str, Any]) -> ModuleType:
    """The ``specs`` module that grades ``spec`` (by its ``"game"`` field). Imported on demand: V-IRL users need
    no card code.

    Raises:
        SpecError: the spec is not JSON, or names no game this suite knows.
    """
    game = spec_game(spec)
    if game not in GAMES:
        raise SpecError(f"unknown game {game!r} in spec; this suite grades {sorted(GAMES)}")
    return importlib.import_module(GAMES[game].specs_module)


def bare_id(env_id: str) -> str:
    """``"gpoints_env:GeneralPoints-v0"`` -> ``"GeneralPoints-v0"`` (a bare id is returned as is)."""
    return env_id.split(":", 1)[1] if ":" in env_id else env_id


def game_info_for_id(env_id: str) -> GameInfo:
    """The game that registers ``env_id``; importing it registers its ids.

    Raises:
        ValueError: neither game registers ``env_id``.
    """
    name = bare_id(env_id)
    for game in GAMES.values():
        module = importlib.import_module(game.package)
        if name in getattr(module, "ALL_ENV_IDS", module.ENV_IDS):
            return game
    raise ValueError(f"{env_id!r} is not an id of this suite; "
                     + " and ".join(f"{g.name} ids are in {g.package}.ENV_IDS" for g in GAMES.values()))


def game_for_id(env_id: str) -> str:
    """The name of the game that registers ``env_id`` (``"GeneralPoints"`` or ``"V-IRL"``); importing it
    registers its ids.

    Raises:
        ValueError: neither game registers ``env_id``.
    """
    return game_info_for_id(env_id).name


def specs_module_for_id(env_id: str) -> ModuleType:
    """The ``specs`` module of the game that registers ``env_id``.

    Raises:
        ValueError: neither game registers ``env_id``.
    """
    return importlib.import_module(game_info_for_id(env_id).specs_module)
