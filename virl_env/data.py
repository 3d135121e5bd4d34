"""The paper authors' released V-IRL routes (compatibility module).

The code lives in modules named for their jobs: :mod:`virl_env.dataset` (route parsing and
:class:`RouteDataset`), :mod:`virl_env.panoramas` (the panorama index and the street-view grid),
:mod:`virl_env.geo` (geographic conversion), :mod:`virl_env.datafiles` (bounded readers and
:class:`DatasetError`), :mod:`virl_env.convert` (the pickle converter) and
:func:`virl_env.render.render_route_map` (the map of a dataset route). This module re-exports
their public names so ``from virl_env.data import ...`` keeps working.
"""

from __future__ import annotations

from virl_env.convert import convert_pickle_mapping
from virl_env.datafiles import DatasetError
from virl_env.dataset import (
    ROUTE_FILE,
    STREET_VIEW_DIR,
    DatasetRoute,
    EpisodeRoute,
    RouteDataset,
    build_episode,
)
from virl_env.geo import EARTH_RADIUS
from virl_env.geo import to_geo as _to_geo  # noqa: F401  (old private names, used by older scripts)
from virl_env.geo import to_local as _to_local  # noqa: F401
from virl_env.panoramas import (
    MAPPING_FILE,
    MAPPING_FORMAT,
    MAPPING_RADIUS,
    PanoIndex,
    load_pano_mapping,
    write_pano_mapping,
)
from virl_env.render import render_route_map

__all__ = [
    "DatasetError",
    "DatasetRoute",
    "EARTH_RADIUS",
    "EpisodeRoute",
    "MAPPING_FILE",
    "MAPPING_FORMAT",
    "MAPPING_RADIUS",
    "PanoIndex",
    "ROUTE_FILE",
    "RouteDataset",
    "STREET_VIEW_DIR",
    "build_episode",
    "convert_pickle_mapping",
    "load_pano_mapping",
    "render_route_map",
    "write_pano_mapping",
]
