"""City generator invariants and queries (virl_env.world.city, virl_env.world.layouts, virl_env.world.styles)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

from virl_env.world.city import (
    LANDMARK_MARGIN,
    MIN_BLOCK_LENGTH,
    MIN_STREET_ANGLE,
    generate_city,
    get_city,
)
from virl_env.world.instructions import bearing
from virl_env.protocols.prompts import OBS_CHARSET
from virl_env.world.styles import (
    STYLE_NAMES,
    TRAINING_STYLE,
    UNSEEN_STYLES,
    CityStyle,
    LayoutSpec,
    get_style,
    register_style,
)


def _connected(city) -> bool:
    seen, stack = {0}, [0]
    while stack:
        for nb, _ in city.neighbors[stack.pop()]:
            if nb not in seen:
                seen.add(nb)
                stack.append(nb)
    return len(seen) == len(city.node_xy)


def test_style_catalogue():
    assert TRAINING_STYLE == "new_york"
    assert len(UNSEEN_STYLES) >= 8
    assert TRAINING_STYLE not in UNSEEN_STYLES
    kinds = {get_style(s).layout.kind for s in STYLE_NAMES}
    assert kinds == {"grid", "radial"}
    # Naming vocabularies are distinct between styles.
    words = [frozenset(get_style(s).naming.landmark_words) for s in STYLE_NAMES]
    assert len(set(words)) == len(words)
    patterns = {get_style(s).naming.row_pattern for s in STYLE_NAMES}
    assert len(patterns) == len(STYLE_NAMES)


@pytest.mark.parametrize("style", STYLE_NAMES)
@pytest.mark.parametrize("seed", [0, 5])
def test_every_style_generates_valid_city(style, seed):
    city = get_city(style, seed)
    n = len(city.node_xy)
    assert _connected(city)
    degree = city.node_degree
    assert set(np.unique(degree).tolist()) <= {1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
    assert len(city.intersections) >= 40
    # Dead ends only at stubs; every stub has exactly one dead end.
    for e, stub in enumerate(city.edge_is_stub):
        a, b = city.edges[e]
        if stub:
            assert sorted([degree[a], degree[b]])[0] == 1
        else:
            assert degree[a] >= 3 and degree[b] >= 3
            assert city.edge_length[e] >= MIN_BLOCK_LENGTH
    # Planar: segments meet only at shared nodes.
    lines = list(city.edge_lines)
    tree = shapely.STRtree(lines)
    for i, j in tree.query(lines, predicate="intersects").T.tolist():
        if i < j:
            assert set(city.edges[i].tolist()) & set(city.edges[j].tolist()), (i, j)
    # Streets leaving a node are well separated.
    for node in range(n):
        bs = sorted(b for _, _, b, _ in city.node_streets[node])
        for k in range(len(bs)):
            gap = (bs[(k + 1) % len(bs)] - bs[k]) % 360 if len(bs) > 1 else 360
            assert gap >= MIN_STREET_ANGLE - 1e-9
    assert np.all(np.isfinite(city.distances))


@pytest.mark.parametrize("style", STYLE_NAMES)
def test_landmarks_stand_beside_their_streets(style):
    city = get_city(style, 0)
    assert len(city.landmarks) >= 150
    names = [lm.name for lm in city.landmarks]
    assert len(set(names)) == len(names)
    setback = city.style.setback
    for lm in city.landmarks:
        assert set(lm.name) <= set(OBS_CHARSET) and "\n" not in lm.name
        assert not city.edge_is_stub[lm.edge]
        line = city.edge_lines[lm.edge]
        assert line.distance(shapely.Point(lm.street_point)) < 1e-6
        assert abs(line.distance(shapely.Point(lm.position)) - setback) < 1e-6
        assert LANDMARK_MARGIN - 1e-6 <= lm.offset <= city.edge_length[lm.edge] - LANDMARK_MARGIN + 1e-6
        a, b = city.edges[lm.edge]
        heading = bearing(*(city.node_xy[b] - city.node_xy[a]))
        assert city.side_of(lm.street_point, heading, lm.position) == lm.side
        # No street is nearer to a landmark than its own (none stands across another street).
        _, dist = city.nearest_street(lm.position)
        assert dist == pytest.approx(setback)
    xy = city.landmark_xy
    d2 = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1) + np.eye(len(xy)) * 1e9
    assert d2.min() >= 8.0**2 - 1e-6


def test_same_seed_same_city_and_different_seed_differs():
    a = generate_city("london", 3)
    b = generate_city("london", 3)
    assert a is not b
    assert np.array_equal(a.node_xy, b.node_xy) and np.array_equal(a.edges, b.edges)
    assert a.landmarks == b.landmarks and a.edge_names == b.edge_names
    c = generate_city("london", 4)
    assert not (c.node_xy.shape == a.node_xy.shape and np.allclose(c.node_xy, a.node_xy))
    # Cached lookups return the same object.
    assert get_city("london", 3) is get_city("london", 3)


def test_styles_look_different_at_the_same_seed():
    ny, paris = get_city("new_york", 0), get_city("paris", 0)
    assert not set(lm.name for lm in ny.landmarks) & set(lm.name for lm in paris.landmarks)
    assert set(ny.edge_names).isdisjoint(paris.edge_names)


def test_new_york_is_a_rotated_manhattan_grid():
    city = get_city("new_york", 0)
    bearings = {round(bearing(*(city.node_xy[b] - city.node_xy[a]))) % 180
                for a, b in city.edges.tolist()}
    assert bearings == {29, 119}
    assert any(name.endswith("Ave") for name in city.edge_names)
    assert any(name.startswith("W ") and name.endswith("St") for name in city.edge_names)


def test_queries():
    city = get_city("new_york", 0)
    node = int(city.intersections[7])
    p = tuple(city.node_xy[node])
    assert city.nearest_intersection((p[0] + 3.0, p[1] - 2.0)) == node
    found = city.landmarks_within(p, 30.0)
    brute = sorted((math.dist(p, lm.position), lm.index) for lm in city.landmarks
                   if math.dist(p, lm.position) <= 30.0)
    assert found == [i for _, i in brute]
    assert city.side_of((0, 0), 0.0, (0, 10)) == "front"
    assert city.side_of((0, 0), 0.0, (10, 0)) == "right"
    assert city.side_of((0, 0), 90.0, (10, 0)) == "front"
    assert city.side_of((0, 0), 90.0, (0, 10)) == "left"
    assert city.side_of((0, 0), 350.0, (-7, -7)) == "left behind"
    assert city.shortest_path(node, node) == [node]
    other = int(city.intersections[-1])
    path = city.shortest_path(node, other)
    length = sum(city.edge_length[city.edge_index[(a, b)]] for a, b in zip(path, path[1:]))
    assert length == pytest.approx(city.distances[node, other])


def test_bad_style_and_seed_are_rejected():
    with pytest.raises(ValueError, match="unknown city style 'atlantis'"):
        generate_city("atlantis", 0)
    with pytest.raises(TypeError, match="style must be"):
        generate_city(3, 0)
    with pytest.raises(ValueError, match="non-negative"):
        generate_city("paris", -1)
    with pytest.raises(TypeError, match="city seed must be an int"):
        generate_city("paris", 1.5)


def test_custom_style_is_deterministic_and_registrable():
    base = get_style("barcelona")
    custom = CityStyle(name="test_small_grid", description="small test grid",
                       layout=LayoutSpec(kind="grid", rows=7, cols=7, row_spacing=90.0, col_spacing=90.0),
                       naming=base.naming)
    a, b = generate_city(custom, 1), generate_city(custom, 1)
    assert np.array_equal(a.node_xy, b.node_xy) and a.landmarks == b.landmarks
    with pytest.raises(ValueError, match="built-in"):
        register_style(CityStyle(name="paris", description="", layout=custom.layout, naming=custom.naming))
    register_style(custom)
    assert get_style("test_small_grid") is custom
    with pytest.raises(ValueError, match="unknown layout kind"):
        generate_city(CityStyle(name="x", description="", layout=LayoutSpec(kind="hex"), naming=base.naming), 0)
