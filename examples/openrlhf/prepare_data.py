"""Write the train and evaluation JSONL files of an OpenRLHF GRPO run on one of the suite's settings.

Each line is one episode (:func:`sftrl_train.datasets.rl_rows`): ``prompt`` (chat messages; OpenRLHF applies the
model's chat template, ``--data.apply_chat_template``), ``label`` (the episode spec: every grading input, which the
suite's agent executor reads), ``datasource`` (the env id: OpenRLHF reports evaluation scores per datasource, so the
in-distribution id stands next to its rule-OOD and, for images, visual-OOD counterparts) and, for image settings,
``images`` (the picture as a ``data:image/png;base64`` URI, which OpenRLHF's image loader reads).

    python examples/openrlhf/prepare_data.py gp --out ~/data/sftrl/openrlhf/gp
    python examples/openrlhf/prepare_data.py virl-vl --out ~/data/sftrl/openrlhf/virl-vl --train 2000 --val 16

Then ``bash examples/openrlhf/run_grpo.sh gp`` (``DATA_DIR`` = the ``--out`` folder).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sftrl_train.datasets import rl_rows, write_jsonl

__all__ = ["SETTINGS", "Setting", "episode_rows", "main"]

#: Evaluation seeds start here, far from the training seeds, so no evaluation episode is a training episode.
VAL_SEED = 1_000_000


@dataclass(frozen=True)
class Setting:
    """A training setting: the id trained on, the ids evaluated on, and the default numbers of episodes."""

    train_id: str
    val_ids: tuple[str, ...]
    train_episodes: int
    val_episodes: int
    summary: str


#: The settings the launch script knows (the same as examples/verl/prepare_data.py). Training: one episode
#: per prompt of the launch script's 300 steps (32 hands a step; 16 routes a step, whose seeds draw from the paper's
#: training set: 1,000 routes of one city). Evaluation: 128 hands per GeneralPoints id, 48 routes per V-IRL id.
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
    (a V-IRL row is a whole route: ``whole_routes=True``), each with its ``datasource``."""
    whole = {"whole_routes": True} if env_id.startswith("VIRL") else {}  # GeneralPoints rows are whole already
    return [{**row, "datasource": row["env_id"]} for row in rl_rows(env_id, num, seed=seed, **whole, **env_kwargs)]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("setting", choices=sorted(SETTINGS), help="what to train on")
    parser.add_argument("--out", type=Path, required=True, help="folder for train.jsonl and val.jsonl")
    parser.add_argument("--train", type=int, default=None, help="training episodes (default: the setting's)")
    parser.add_argument("--val", type=int, default=None, help="evaluation episodes per id (default: the setting's)")
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
    rows = episode_rows(setting.train_id, train, args.seed, **kwargs)
    path = write_jsonl(rows, args.out / "train.jsonl")
    print(f"  {path}: {len(rows)} rows of {setting.train_id} (seeds {args.seed}..{args.seed + train - 1})")
    rows = [row for env_id in setting.val_ids for row in episode_rows(env_id, val, VAL_SEED, **kwargs)]
    path = write_jsonl(rows, args.out / "val.jsonl")
    print(f"  {path}: {len(rows)} rows of {', '.join(setting.val_ids)} (seeds from {VAL_SEED})")
    print(f"  {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
