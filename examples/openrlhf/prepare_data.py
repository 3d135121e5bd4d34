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

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/: the settings both recipes share

from recipe_data import SETTINGS, Setting, episode_rows, prepare  # noqa: E402

from sftrl_train.datasets import write_jsonl

__all__ = ["SETTINGS", "Setting", "episode_rows", "main", "write"]


def write(rows: list[dict[str, Any]], path: Path) -> Path:
    """JSONL, each row with its env id as ``datasource`` (OpenRLHF reports evaluation scores per datasource)."""
    return write_jsonl([{**row, "datasource": row["env_id"]} for row in rows], path)


def main(argv: Sequence[str] | None = None) -> int:
    return prepare(argv, description=__doc__.split("\n\n")[0], suffix=".jsonl", write=write)


if __name__ == "__main__":
    sys.exit(main())
