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

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/: the settings both recipes share

from recipe_data import SETTINGS, Setting, episode_rows, prepare  # noqa: E402

from sftrl_train.datasets import write_parquet
from sftrl_train.verl import verl_rows

__all__ = ["SETTINGS", "Setting", "episode_rows", "main", "write"]


def write(rows: list[dict[str, Any]], path: Path) -> Path:
    """verl's layout: :func:`sftrl_train.verl.verl_rows` in Parquet."""
    return write_parquet(verl_rows(rows), path)


def main(argv: Sequence[str] | None = None) -> int:
    return prepare(argv, description=__doc__.split("\n\n")[0], suffix=".parquet", write=write)


if __name__ == "__main__":
    sys.exit(main())
