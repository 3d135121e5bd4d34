"""The street-view renderer: the scene of a city (:mod:`.scene`), its painting passes (:mod:`.paint`, compiled by
:mod:`._kernels` when numba is installed), landmark signs (:mod:`.signs`) and the views themselves
(:mod:`.views`: :func:`~virl_env.streetview.views.render_grid`...).
"""
