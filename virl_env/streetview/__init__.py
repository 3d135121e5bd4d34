"""The street-view renderer: the scene of a city (:mod:`.scene`), its painting passes (:mod:`.paint`, compiled by
:mod:`._kernels` when numba is installed), landmark signs (:mod:`.signs`) and the views themselves
(:mod:`.views`, whose public names are re-exported here).
"""

from __future__ import annotations

from virl_env.streetview.views import *  # noqa: F401,F403
from virl_env.streetview.views import __all__  # noqa: F401
