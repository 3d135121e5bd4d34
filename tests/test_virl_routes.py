"""Routes, instructions and rails (virl_env.world.routes)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from virl_env.task.checker import expected_action
from virl_env.world.city import VIEW_RADIUS, get_city
from virl_env.world.instructions import compass_name, relative_turn, wrap_angle
from virl_env.world.routes import (
    MAX_LEGS,
    MAX_ROUTE_LENGTH,
    MIN_ROUTE_LENGTH,
    build_rail,
    drop_points,
    get_rail,
    get_route,
    plan_route,
)
from virl_env.world.styles import STYLE_NAMES


def _check_route(city, route):
    assert 1 <= len(route.legs) <= MAX_LEGS
    assert MIN_ROUTE_LENGTH <= route.length <= MAX_ROUTE_LENGTH
    pts = route.points
    walked = sum(math.dist(p, q) for p, q in zip(pts, pts[1:]))
    assert walked == pytest.approx(route.length, abs=1e-6)
    assert route.kinds[0] == "start" and route.kinds[-1] == "destination"
    assert route.kinds.count("turn") == len(route.legs) - 1
    assert pts[0] == city.landmarks[route.start].street_point
    assert pts[-1] == city.landmarks[route.destination].street_point
    for a, b in zip(route.nodes, route.nodes[1:]):
        assert (a, b) in city.edge_index
    assert all(city.node_degree[n] >= 3 for n in route.nodes)
    # Two sentences per leg, turn then move; the first starts with "First,".
    assert len(route.sentences) == 2 * len(route.legs)
    assert route.sentences[0].startswith("First, turn ")
    for i, leg in enumerate(route.legs):
        assert route.sentences[2 * i].lower().endswith(f"turn {leg.relative} to face {leg.compass}.")
        assert leg.compass == compass_name(leg.heading)
        assert leg.relative == relative_turn(leg.turned_from, leg.heading)
        assert route.sentences[2 * i + 1].startswith("Move forward until ")
    assert route.sentences[-1].startswith(f"Move forward until the destination {city.landmarks[route.destination].name} is ")
    lines = route.instruction.split("\n")
    assert [int(re.match(r"(\d+)\. ", line).group(1)) for line in lines] == list(range(1, len(lines) + 1))
    # The initial heading is a whole number of degrees, at least 15 degrees off the first leg.
    assert route.initial_heading == int(route.initial_heading)
    assert abs(wrap_angle(route.legs[0].heading - route.initial_heading)) >= 15


@pytest.mark.parametrize("style", STYLE_NAMES)
def test_routes_are_valid_in_every_style(style):
    city = get_city(style, 0)
    legs = set()
    for k in range(40):
        route = plan_route(city, k)
        _check_route(city, route)
        legs.add(len(route.legs))
    assert {2, 3} <= legs


def test_route_lengths_and_legs_cover_the_range():
    city = get_city("paris", 1)
    routes = [plan_route(city, k) for k in range(150)]
    assert {len(r.legs) for r in routes} == {1, 2, 3, 4}
    lengths = [r.length for r in routes]
    assert min(lengths) < 250 and max(lengths) > 650


def test_route_k_is_deterministic_and_independent_of_others():
    city = get_city("new_york", 0)
    r5 = plan_route(city, 5)
    for k in range(5):
        plan_route(city, k)
    assert plan_route(city, 5) == r5
    assert get_route(city, 5) == r5
    assert plan_route(city, 6) != r5
    with pytest.raises(ValueError, match="non-negative"):
        plan_route(city, -1)


@pytest.mark.parametrize("style", ["new_york", "amsterdam", "rome"])
def test_rail_structure_and_observations(style):
    city = get_city(style, 0)
    for k in range(25):
        route = plan_route(city, k)
        rail = build_rail(city, route, 2)
        assert rail[0].kind == "start" and rail[-1].kind == "destination"
        kinds = [p.kind for p in rail]
        assert [k for k in kinds if k != "forward"] == list(route.kinds)
        assert rail[0].heading == route.initial_heading
        assert rail[0].turn_to == route.legs[0].heading
        turns = [p for p in rail if p.kind == "turn"]
        for p, leg, next_leg in zip(turns, route.legs, route.legs[1:]):
            # At a turn the instruction's landmark is observed on the side the instruction names.
            assert p.at_intersection and "You observe an intersection" in p.observation
            if leg.landmark is not None:
                assert leg.landmark in p.landmarks
                assert f"{leg.landmark} is " in p.observation
                side_phrase = {"front": "in front of you", "behind": "behind you"}.get(
                    leg.landmark_side, f"on your {leg.landmark_side}")
                assert f"{leg.landmark} is {side_phrase}" in p.observation
            assert p.turn_to == next_leg.heading and p.turn_relative == next_leg.relative
        dest = rail[-1]
        dest_name = city.landmarks[route.destination].name
        # The destination stands 10 m away, beside the street: it is in view, exactly left or right
        # (only a landmark facing it across the street can be as close).
        assert dest_name in dest.landmarks[:2]
        assert f"{dest_name} is on your {route.legs[-1].landmark_side}" in dest.observation
        assert route.legs[-1].landmark_side in ("left", "right")
        for p in rail:
            if p.kind in ("forward", "start", "destination"):
                assert not p.at_intersection and "intersection" not in p.observation
            if not p.landmarks:
                assert p.observation.startswith("No landmarks nearby")
            for name in p.landmarks:
                assert math.dist(p.position, city.landmark_by_name[name].position) <= VIEW_RADIUS
        # Sentence indices never go back and the move sentence of the last leg ends the rail.
        sentences = [p.sentence for p in rail]
        assert sentences == sorted(sentences) and sentences[-1] == len(route.sentences) - 1
        # Crossing counts in the instruction match the intersections passed straight through.
        segment_crossings = []
        count = 0
        for kind in route.kinds[1:]:
            if kind == "crossing":
                count += 1
            else:
                segment_crossings.append(count)
                count = 0
        assert [leg.crossings for leg in route.legs] == segment_crossings


def test_forward_points_are_evenly_spaced_and_configurable():
    city = get_city("new_york", 0)
    route = plan_route(city, 3)
    counts = {}
    for n in (0, 1, 2, 5):
        rail = build_rail(city, route, n)
        counts[n] = sum(p.kind == "forward" for p in rail)
        for a, b in zip(rail, rail[1:]):
            assert math.dist(a.position, b.position) > 0
    assert counts[0] == 0 and counts[1] < counts[2] < counts[5]
    with pytest.raises(ValueError, match="forward_points"):
        build_rail(city, route, 9)
    assert tuple(get_rail(city, route, 2)) == build_rail(city, route, 2)


def test_drop_points_uses_the_given_generator_and_keeps_key_points():
    city = get_city("new_york", 0)
    route = plan_route(city, 11)
    rail = build_rail(city, route, 6)
    a = drop_points(rail, 0.5, np.random.default_rng(1))
    b = drop_points(rail, 0.5, np.random.default_rng(1))
    c = drop_points(rail, 0.5, np.random.default_rng(2))
    assert a == b and a != c
    assert [p for p in a if p.kind != "forward"] == [p for p in rail if p.kind != "forward"]
    assert len(a) < len(rail)
    assert drop_points(rail, 0.0, np.random.default_rng(1)) == rail


def test_expected_actions_along_a_rail():
    city = get_city("new_york", 0)
    route = plan_route(city, 3)
    rail = build_rail(city, route, 2)
    absolute = [expected_action(p, "absolute") for p in rail]
    relative = [expected_action(p, "relative") for p in rail]
    bearing_ = [expected_action(p, "bearing") for p in rail]
    assert absolute[0] == f"turn_direction({route.legs[0].compass})"
    assert relative[0] == f"turn_direction({route.legs[0].relative})"
    assert absolute[-1] == relative[-1] == bearing_[-1] == "stop()"
    for p, a, r, b in zip(rail, absolute, relative, bearing_):
        if p.kind in ("forward", "crossing"):
            assert a == r == b == "forward()"
        elif p.kind in ("start", "turn"):
            assert a.startswith("turn_direction(") and r.startswith("turn_direction(")
            deg = int(b[len("turn_direction("):-1])
            assert compass_name(deg) == a[len("turn_direction("):-1]


@pytest.mark.parametrize("style", ["new_york", "paris", "cairo"])
def test_rail_observations_match_the_generic_city_query(style):
    # The rail builder scans per-segment candidate lists; it must agree with a whole-city query.
    from virl_env.world.routes import observation_text

    city = get_city(style, 2)
    for k in range(30):
        for p in build_rail(city, plan_route(city, k), 3):
            assert observation_text(city, p.position, p.heading, p.at_intersection) == (p.observation, p.landmarks)


def test_lazy_rail_matches_the_built_rail_and_drops_the_same_points():
    from virl_env.world.routes import make_rail

    city = get_city("new_york", 0)
    route = plan_route(city, 21)
    lazy = make_rail(city, route, 4)
    built = build_rail(city, route, 4)
    assert len(lazy) == len(built) and lazy[-1] == built[-1] and lazy[0] == built[0]
    assert tuple(lazy) == built and lazy[1:3] == built[1:3]
    assert lazy.kinds == tuple(p.kind for p in built)
    dropped = lazy.drop(0.5, np.random.default_rng(9))
    assert tuple(dropped) == drop_points(built, 0.5, np.random.default_rng(9))
    assert lazy.drop(0.0, np.random.default_rng(9)) is lazy
    assert get_rail(city, route, 4) is get_rail(city, route, 4)
    with pytest.raises(TypeError, match="forward_points"):
        make_rail(city, route, 2.5)
