"""The harness, the trainer glue and the examples take games and protocols from ``sftrl_core.registry``: one
definition, behaviour asked of the entries, never a name compared."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import sftrl_eval
from sftrl_core import registry
from sftrl_core.registry import GAMES, GENERAL_POINTS, VIRL
from sftrl_eval import SETTINGS, EpisodeList, Setting, check_protocol
from sftrl_train import _games

ROOT = Path(__file__).resolve().parents[1]
#: Files that must ask the registry rather than compare a game's or a protocol's name.
REGISTRY_USERS = [*sorted((ROOT / "sftrl_eval").glob("*.py")), ROOT / "sftrl_train" / "_games.py",
                  *(ROOT / "examples" / name for name in ("run_benchmark.py", "ppo.py", "sft.py", "llm_models.py")),
                  *sorted((ROOT / "tests").glob("test_sftrl_eval*.py")), ROOT / "tests" / "test_cli.py",
                  *sorted((ROOT / "tests").glob("test_harness_*.py"))]
NAME_TEST = re.compile(r"""[!=]= ["'](paper|gp|virl)["']""")


def test_no_file_compares_a_game_or_protocol_name():
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in REGISTRY_USERS
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if NAME_TEST.search(line)]
    assert found == []
    equals, differs = "=" * 2, "!="  # the checker can fail (spelled apart so this file passes it)
    assert NAME_TEST.search(f'if setting.game {equals} "virl":') and NAME_TEST.search(f"protocol {differs} 'paper'")


def test_every_setting_plays_a_registered_game_with_its_seed_base():
    assert {s.game for s in SETTINGS.values()} == set(GAMES.values())
    for setting in SETTINGS.values():
        assert setting.game is GAMES[setting.game.name]
        assert setting.env_id.startswith(setting.game.package + ":")
        assert registry.game_of_env_id(setting.env_id) is setting.game
        assert [setting.seed(i) for i in (0, 7)] == [setting.game.seed_base, setting.game.seed_base + 7]
        assert setting.reset_options(7) == ({"route": 7} if setting.game.walks_routes else None)
    # The seed lists are those of version 1, whatever moved.
    assert (GENERAL_POINTS.seed_base, VIRL.seed_base) == (1_000_000, 2_000_000)


def test_a_setting_takes_a_game_or_its_name():
    assert Setting("X", "virl_env:VIRL-v0", "V-IRL", False, "id", 3).game is VIRL
    with pytest.raises(ValueError, match=r"game must be one of \['GeneralPoints', 'V-IRL'\], got 'gp'"):
        Setting("X", "gpoints_env:GeneralPoints-v0", "gp", False, "id", 3)


def test_the_harness_protocols_are_the_registry_s():
    assert sftrl_eval.PROTOCOLS == registry.PROTOCOL_NAMES
    assert sftrl_eval.check_protocol is registry.check_protocol
    assert check_protocol(registry.PAPER) == registry.PAPER.name and check_protocol("suite") == registry.SUITE.name
    for info in registry.PROTOCOLS.values():
        episodes = EpisodeList(SETTINGS["GP-L"], info)
        assert episodes.protocol == info.name and episodes.protocol_info is info
        # Only a protocol that reproduces the paper plays the authors' hands (234 of them).
        assert (episodes.max_episodes == 234) is info.reproduces_paper


def test_the_trainer_glue_finds_games_and_spec_modules_through_the_registry():
    for game in GAMES.values():
        assert _games.specs_module({"game": game.name, "version": 1}).__name__ == game.specs_module
    assert _games.game_for_id("gpoints_env:GeneralPoints-VL-v0") == "GeneralPoints"
    assert _games.game_info_for_id("VIRL-RuleOOD-v0") is VIRL
    assert _games.specs_module_for_id("VIRL-v0").__name__ == VIRL.specs_module
    with pytest.raises(ValueError, match="GeneralPoints ids are in gpoints_env.ENV_IDS"):
        _games.game_for_id("CartPole-v1")
