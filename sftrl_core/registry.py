"""The suite's two registries: its evaluation protocols and its games, each named once.

Every place that behaves differently per protocol or per game asks an entry of these registries for the
property that matters (``protocol.reproduces_paper``, ``game.walks_routes``...) instead of testing a name.
Each game keeps its own strategy objects keyed by :data:`PROTOCOLS` (GeneralPoints' in
:mod:`gpoints_env.protocols`, V-IRL's in :mod:`virl_env.protocols`); the harness (:mod:`sftrl_eval`) and the
trainer glue (:mod:`sftrl_train`) look games up here. Nothing here imports a game package.

>>> get_protocol_info("paper").reproduces_paper, DEFAULT_PROTOCOL
(True, 'suite')
>>> get_game("V-IRL").walks_routes, game_of_env_id("gpoints_env:GeneralPoints-VL-v0").name
(True, 'GeneralPoints')
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

__all__ = [
    "ProtocolInfo",
    "PROTOCOLS",
    "PROTOCOL_NAMES",
    "DEFAULT_PROTOCOL",
    "SUITE",
    "PAPER",
    "get_protocol_info",
    "check_protocol",
    "GameInfo",
    "GAMES",
    "GENERAL_POINTS",
    "VIRL",
    "get_game",
    "game_of_env_id",
]


# ----------------------------------------------------------------------------------------------------------------
# Protocols.
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProtocolInfo:
    """One evaluation protocol, as the harness and the docs see it (each game implements it on its own).

    Attributes:
        name: the value of ``protocol=`` (``gym.make(id, protocol=name)``), recorded in specs and result files.
        reproduces_paper: whether episodes follow the paper authors' evaluation exactly (their prompts, grading,
            episode lists), so that numbers are comparable with the paper's tables.
        description: one line for docs and command-line help.
    """

    name: str
    reproduces_paper: bool
    description: str


#: The suite's own protocol (the default of every id).
SUITE = ProtocolInfo("suite", False, "the suite's prompts, reply reading, grading and seeded episodes")
#: The paper authors' evaluation, exactly (``docs/PAPER_PROTOCOL.md``).
PAPER = ProtocolInfo("paper", True, "the authors' prompts, feedback, grading, dealing/rails and evaluation lists")

#: Every protocol by name.
PROTOCOLS: Mapping[str, ProtocolInfo] = MappingProxyType({p.name: p for p in (SUITE, PAPER)})
#: The protocol names, in order.
PROTOCOL_NAMES: tuple[str, ...] = tuple(PROTOCOLS)
#: The protocol of every id unless ``protocol=`` says otherwise.
DEFAULT_PROTOCOL = SUITE.name


def get_protocol_info(name: object) -> ProtocolInfo:
    """The protocol named ``name`` (a :class:`ProtocolInfo` is returned as is).

    Raises:
        ValueError: ``name`` is not a protocol of this suite (the message lists them).
    """
    if isinstance(name, ProtocolInfo):
        return name
    if isinstance(name, str) and name in PROTOCOLS:
        return PROTOCOLS[name]
    raise ValueError(f"protocol must be one of {list(PROTOCOL_NAMES)}, got {name!r}")


def check_protocol(name: object) -> str:
    """``name`` if it names a protocol (or the name of a :class:`ProtocolInfo`).

    Raises:
        ValueError: for anything else (the message lists the protocols).
    """
    return get_protocol_info(name).name


# ----------------------------------------------------------------------------------------------------------------
# Games.
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GameInfo:
    """One game of the suite: its name, where it lives, and the properties that set it apart.

    Attributes:
        name: the game's name, as specs (``spec["game"]``), result files and docs write it.
        package: the package that registers its ids (importing it registers them).
        specs_module: the module that builds and grades its episode specs.
        walks_routes: whether an episode is a route of several points (V-IRL), so that a benchmark reports
            per-step accuracy beside success and replays routes by index; a GeneralPoints episode is one hand.
        seed_base: the first reset seed of the harness's suite episode lists (episode ``i`` gets
            ``seed_base + i``); part of the lists' version.
    """

    name: str
    package: str
    specs_module: str
    walks_routes: bool
    seed_base: int


#: GeneralPoints (:mod:`gpoints_env`).
GENERAL_POINTS = GameInfo("GeneralPoints", "gpoints_env", "gpoints_env.specs", walks_routes=False,
                          seed_base=1_000_000)
#: V-IRL navigation (:mod:`virl_env`).
VIRL = GameInfo("V-IRL", "virl_env", "virl_env.specs", walks_routes=True, seed_base=2_000_000)

#: Every game by name.
GAMES: Mapping[str, GameInfo] = MappingProxyType({g.name: g for g in (GENERAL_POINTS, VIRL)})


def get_game(name: object) -> GameInfo:
    """The game named ``name`` (a :class:`GameInfo` is returned as is).

    Raises:
        ValueError: ``name`` is not a game of this suite (the message lists them).
    """
    if isinstance(name, GameInfo):
        return name
    if isinstance(name, str) and name in GAMES:
        return GAMES[name]
    raise ValueError(f"game must be one of {list(GAMES)}, got {name!r}")


def game_of_env_id(env_id: str) -> GameInfo:
    """The game whose package registers ``env_id``, read from the id alone (nothing is imported).

    Accepts ``"package:Id-vN"`` and bare ids: the ids of GeneralPoints start with ``GeneralPoints``, V-IRL's
    with ``VIRL``.

    Raises:
        ValueError: the id belongs to neither game.
    """
    if not isinstance(env_id, str):
        raise ValueError(f"an env id is a string, got {type(env_id).__name__}")
    package, _, bare = env_id.rpartition(":")
    for game, prefix in ((GENERAL_POINTS, "GeneralPoints"), (VIRL, "VIRL")):
        if (not package or package == game.package) and bare.startswith(prefix):
            return game
    raise ValueError(f"{env_id!r} is not an id of this suite (GeneralPoints ids start with 'GeneralPoints', "
                     "V-IRL ids with 'VIRL')")
