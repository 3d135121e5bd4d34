"""Write the train and validation Parquet files of a verl GRPO run on one of the suite's settings.

Each row is one episode in verl's layout (:func:`sftrl_train.verl.verl_rows`): the chat prompt, the episode spec as
``reward_model.ground_truth`` and ``extra_info.spec``, ``agent_name: sftrl_env`` (the suite's multi-turn agent loop,
which plays the whole episode: GeneralPoints' attempts, a V-IRL route) and, for image settings, the picture in an
``images`` column. ``data_source`` is the env id, so verl reports validation scores per id: the in-distribution id
next to its rule-OOD (and, for images, visual-OOD) counterparts.

    python examples/verl/prepare_data.py gp --out ~/data/sftrl/verl/gp
    python examples/verl/prepare_data.py virl-vl --out ~/data/sftrl/verl/virl-vl --train 2000 --val 16

Then ``bash examples/verl/run_grpo.sh gp`` (``DATA_DIR`` = the ``--out`` folder). Needs the ``verl`` extra
(``pip install ".[verl]"``: pyarrow and datasets write the files).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sftrl_train.datasets import rl_rows, write_parquet
from sftrl_train.verl import verl_rows

__all__ = ["SETTINGS", "Setting", "episode_rows", "main"]

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
    (a V-IRL row is a whole route: ``whole_routes=True``)."""
    whole = {"whole_routes": True} if env_id.startswith("VIRL") else {}  # GeneralPoints rows are whole already
    return rl_rows(env_id, num, seed=seed, **whole, **env_kwargs)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("setting", choices=sorted(SETTINGS), help="what to train on")
    parser.add_argument("--out", type=Path, required=True, help="folder for train.parquet and val.parquet")
    parser.add_argument("--train", type=int, default=None, help="training episodes (default: the setting's)")
    parser.add_argument("--val", type=int, default=None, help="validation episodes per id (default: the setting's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first training episode")
    parser.add_argument("--protocol", choices=("suite", "paper"), default="suite",
                        help="the suite's prompts and grading, or the paper authors' (protocol='paper')")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setting = SETTINGS[args.setting]
    train = setting.train_episodes if args.train is None else args.train
    val = setting.val_episodes if args.val is None else args.val
    kwargs = {"protocol": args.protocol}
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    print(f"{args.setting}: {setting.summary}; protocol {args.protocol}")
    train_rows = episode_rows(setting.train_id, train, args.seed, **kwargs)
    path = write_parquet(verl_rows(train_rows), args.out / "train.parquet")
    print(f"  {path}: {len(train_rows)} rows of {setting.train_id} (seeds {args.seed}..{args.seed + train - 1})")
    val_rows = [row for env_id in setting.val_ids for row in episode_rows(env_id, val, VAL_SEED, **kwargs)]
    path = write_parquet(verl_rows(val_rows), args.out / "val.parquet")
    print(f"  {path}: {len(val_rows)} rows of {', '.join(setting.val_ids)} (seeds from {VAL_SEED})")
    print(f"  {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
