"""Unseen styles differ from the training city in the shape of their streets, not only in colour.

Measured on depth (virl_env.streetview.views.render_depth, which has no colours at all): each style's
views are compared with the same city drawn with the training city's plain geometry, so any
difference comes from the look's geometry (street widths, setbacks and gaps, skyline, trees,
lamps, parked cars, camera height and field of view).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from virl_env.world.city import get_city
from virl_env.world.routes import get_rail, get_route
from virl_env.streetview.scene import CAR, LAMP, TREE, build_scene
from virl_env.streetview.views import render_depth, render_grid
from virl_env.world.styles import STYLE_NAMES, TRAINING_STYLE, UNSEEN_STYLES, StreetLook, get_style

GEOMETRY_FIELDS = ("road_width_variation", "building_setback", "building_gap", "tower_chance", "tower_floors",
                   "roof", "tree_spacing", "tree_height", "lamp_spacing", "parked_cars", "eye_height", "fov")


def _plain(look: StreetLook) -> StreetLook:
    """``look`` with the training city's geometry options (colours and storeys unchanged)."""
    training = get_style(TRAINING_STYLE).look
    return look.replace(**{name: getattr(training, name) for name in GEOMETRY_FIELDS})


def _log_depths(style: str, look: StreetLook, points: int = 8, size: int = 32) -> np.ndarray:
    city = get_city(style, 0)
    rail = [p for k in range(3) for p in get_rail(city, get_route(city, k), 2)][:points]
    depth = np.stack([render_depth(city, p.position, p.heading + off, size, look=look)
                      for p in rail for off in (0.0, 90.0, 180.0, 270.0)])
    return np.log(np.minimum(depth, 1000.0)).ravel()   # the sky counts as 1 km


def _ks(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    return float(np.max(np.abs(np.searchsorted(a, grid, side="right") / len(a)
                                - np.searchsorted(b, grid, side="right") / len(b))))


@pytest.mark.parametrize("style", STYLE_NAMES)
def test_style_geometry_shows_in_depth(style):
    look = get_style(style).look
    ks = _ks(_log_depths(style, look), _log_depths(style, _plain(look)))
    if style == TRAINING_STYLE:
        assert ks == 0.0    # the training city keeps its plain street canyon
    else:
        assert ks > 0.08, (style, ks)


def test_unseen_styles_differ_from_each_other_in_shape():
    """Each unseen style's geometry options differ from every other's (not a shared template)."""
    shapes = {s: tuple(getattr(get_style(s).look, f) for f in GEOMETRY_FIELDS) for s in UNSEEN_STYLES}
    assert len(set(shapes.values())) == len(UNSEEN_STYLES)
    training = tuple(getattr(get_style(TRAINING_STYLE).look, f) for f in GEOMETRY_FIELDS)
    assert training not in shapes.values()


def test_scene_props_camera_and_walls_follow_the_look():
    city = get_city("paris", 0)
    look = get_style("paris").look
    scene = build_scene(city, look)
    kinds = set(scene.props.kind.tolist())
    assert {TREE, LAMP, CAR} <= kinds
    lo, hi = look.fov
    assert lo <= scene.camera.fov <= hi and look.eye_height[0] <= scene.camera.eye_height <= look.eye_height[1]
    plain = build_scene(city, _plain(look))
    assert len(plain.props) == 0 and plain.camera.fov == 90.0 and plain.camera.eye_height == 2.2
    # Seeded: the same city and look give the same scene; another city seed another camera draw.
    again = build_scene(city, look)
    assert again.camera == scene.camera and np.array_equal(again.props.x, scene.props.x)
    other = build_scene(get_city("paris", 1), look)
    assert other.camera != scene.camera
    sydney = build_scene(get_city("sydney", 0), get_style("sydney").look)
    assert sydney.facades.height.max() > 60.0            # towers in the skyline
    amsterdam = build_scene(get_city("amsterdam", 0), get_style("amsterdam").look)
    assert amsterdam.facades.gable.max() > 2.0            # pointed gables


def test_look_geometry_is_validated():
    with pytest.raises(ValueError, match="fov"):
        StreetLook(fov=(30.0, 90.0))
    with pytest.raises(ValueError, match="roof"):
        StreetLook(roof="dome")
    with pytest.raises(ValueError, match="tree_spacing"):
        StreetLook(tree_spacing=1.0)
    with pytest.raises(ValueError, match="building_gap"):
        StreetLook(building_gap=1.5)
    assert dataclasses.replace(StreetLook(), tree_spacing=0.0).tree_spacing == 0.0


def test_no_one_column_spikes_near_the_vanishing_point():
    """Tall buildings seen edge-on down a street are blocks (their side walls rise behind the
    nearer roofs), not one-pixel slivers: no column's roofline stands more than a few pixels above
    both neighbours'."""
    spikes = 0
    for style in ("new_york", "sydney", "tokyo"):
        city = get_city(style, 0)
        for point in list(get_rail(city, get_route(city, 0), 2))[:6]:
            depth = render_depth(city, point.position, point.heading, 128)
            sky = np.isinf(depth)
            roof = np.argmin(sky, axis=0).astype(int)        # first non-sky row per column
            roof[sky.all(axis=0)] = 128
            left, right = np.roll(roof, 1)[1:-1], np.roll(roof, -1)[1:-1]
            mid = roof[1:-1]
            spikes += int(np.sum((mid < left - 4) & (mid < right - 4)))
    assert spikes <= 2


def test_grids_still_render_in_every_style_at_odd_sizes():
    for style in STYLE_NAMES:
        city = get_city(style, 0)
        point = get_rail(city, get_route(city, 0), 2)[1]
        grid, _ = render_grid(city, point.position, point.heading, 37)
        assert grid.shape == (76, 76, 3) and grid.std() > 10
