"""The training settings of the launch recipes (examples/verl, examples/openrlhf) and the data preparation they share.

Each recipe's ``prepare_data.py`` gives the file format (verl: Parquet in verl's layout; OpenRLHF: JSONL with a
``datasource``); the settings, seeds and episode counts are here, once, so both trainers train and validate on the
same episodes.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sftrl_core.registry import PROTOCOL_NAMES, VIRL, game_of_env_id
from sftrl_train.datasets import rl_rows

__all__ = ["SETTINGS", "Setting", "VAL_SEED", "episode_rows", "prepare"]

#: Validation seeds start here, far from the training seeds, so no validation episode is a training episode.
VAL_SEED = 1_000_000


@dataclass(frozen=True)
class Setting:
    """A training setting: the id trained on, the ids validated on, and the default numbers of episodes."""

    train_id: str
    val_ids: tuple[str, ...]
    train_episodes: int
    val_episodes: int
    summary: str


#: The settings the launch scripts know. Training: one episode per prompt of the launch script's 300 steps (32 hands
#: a step; 16 routes a step, whose seeds draw from the paper's training set: 1,000 routes of one city). Validation:
#: 128 hands per GeneralPoints id, 48 routes per V-IRL id (the paper's rule-OOD evaluation size).
SETTINGS: dict[str, Setting] = {
    "gp": Setting("GeneralPoints-v0", ("GeneralPoints-v0", "GeneralPoints-RuleOOD-v0"), 9600, 128,
                  "GeneralPoints, text (GP-L): 5 attempts with the env's feedback"),
    "gp-vl": Setting("GeneralPoints-VL-v0", ("GeneralPoints-VL-v0", "GeneralPoints-VL-RuleOOD-v0",
                                             "GeneralPoints-VL-VisualOOD-v0"), 9600, 128,
                     "GeneralPoints, cards as a picture (GP-VL)"),
    "virl": Setting("VIRL-v0", ("VIRL-v0", "VIRL-RuleOOD-v0"), 4800, 48,
                    "V-IRL navigation, text (VIRL-L): whole routes"),
    "virl-vl": Setting("VIRL-VL-v0", ("VIRL-VL-v0", "VIRL-VL-RuleOOD-v0", "VIRL-VL-VisualOOD-v0"), 4800, 48,
                       "V-IRL navigation with street views (VIRL-VL): whole routes"),
}


def episode_rows(env_id: str, num: int, seed: int, **env_kwargs: Any) -> list[dict[str, Any]]:
    """``num`` seeded episodes of ``env_id`` as rows of :func:`sftrl_train.datasets.rl_rows`, one row per episode
    (a V-IRL row is a whole route: ``whole_routes=True``; GeneralPoints rows are whole hands already)."""
    whole = {"whole_routes": True} if game_of_env_id(env_id) is VIRL else {}
    return rl_rows(env_id, num, seed=seed, **whole, **env_kwargs)


def prepare(argv: Sequence[str] | None, *, description: str, suffix: str,
            write: Callable[[list[dict[str, Any]], Path], Path]) -> int:
    """The command line of a recipe's ``prepare_data.py``: rows of the chosen setting, written by ``write`` as
    ``train<suffix>`` and ``val<suffix>`` in ``--out``. Returns the exit status."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("setting", choices=sorted(SETTINGS), help="what to train on")
    parser.add_argument("--out", type=Path, required=True, help=f"folder for train{suffix} and val{suffix}")
    parser.add_argument("--train", type=int, default=None, help="training episodes (default: the setting's)")
    parser.add_argument("--val", type=int, default=None, help="validation episodes per id (default: the setting's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first training episode")
    parser.add_argument("--protocol", choices=PROTOCOL_NAMES, default="suite",
                        help="the suite's prompts and grading, or the paper authors' (protocol='paper')")
    args = parser.parse_args(argv)
    setting = SETTINGS[args.setting]
    train = setting.train_episodes if args.train is None else args.train
    val = setting.val_episodes if args.val is None else args.val
    kwargs = {"protocol": args.protocol}
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    print(f"{args.setting}: {setting.summary}; protocol {args.protocol}")
    rows = episode_rows(setting.train_id, train, args.seed, **kwargs)
    path = write(rows, args.out / f"train{suffix}")
    print(f"  {path}: {len(rows)} rows of {setting.train_id} (seeds {args.seed}..{args.seed + train - 1})")
    rows = [row for env_id in setting.val_ids for row in episode_rows(env_id, val, VAL_SEED, **kwargs)]
    path = write(rows, args.out / f"val{suffix}")
    print(f"  {path}: {len(rows)} rows of {', '.join(setting.val_ids)} (seeds from {VAL_SEED})")
    print(f"  {time.perf_counter() - start:.0f} s")
    return 0
