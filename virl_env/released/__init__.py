"""The paper authors' released routes: the dataset directory (:mod:`.dataset`), its bounded file readers
(:mod:`.files`), panoramas (:mod:`.panoramas`) and the trusted pickle converter (:mod:`.convert`, a command:
``python -m virl_env.released.convert``, not imported here).

Play them with ``gym.make("virl_env:VIRL-v0", dataset_dir=DIR)`` (any id); the names below are for tools that
read a dataset directly.
"""

from __future__ import annotations

from virl_env.released.dataset import (
    ROUTE_FILE,
    STREET_VIEW_DIR,
    DatasetRoute,
    EpisodeRoute,
    PaperDraws,
    RouteDataset,
    build_episode,
    paper_evaluation_draws,
)
from virl_env.released.files import DatasetError
from virl_env.released.panoramas import (
    MAPPING_FILE,
    MAPPING_FORMAT,
    MAPPING_RADIUS,
    PanoIndex,
    load_pano_mapping,
    write_pano_mapping,
)

__all__ = [
    "DatasetError",
    "DatasetRoute",
    "EpisodeRoute",
    "MAPPING_FILE",
    "MAPPING_FORMAT",
    "MAPPING_RADIUS",
    "PanoIndex",
    "PaperDraws",
    "ROUTE_FILE",
    "RouteDataset",
    "STREET_VIEW_DIR",
    "build_episode",
    "load_pano_mapping",
    "paper_evaluation_draws",
    "write_pano_mapping",
]
