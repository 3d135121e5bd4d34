"""The top-down map's labels and legend never hide the route, its rail points or markers."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from virl_env.world.city import get_city
from virl_env.map import ROUTE_COLOR, _map_layout, render_map
from virl_env.world.routes import get_rail, get_route


@pytest.mark.parametrize("style,size", [("new_york", 768), ("london", 600), ("paris", 900), ("tokyo", 512)])
def test_labels_keep_clear_of_the_route(style, size):
    city = get_city(style, 0)
    for k in range(12):
        route = get_route(city, k)
        rail = get_rail(city, route, 2)
        layout = _map_layout(city, route, rail, size)
        # What must stay visible really is in the keep-clear area (so the check below can fail).
        assert layout.keep_clear.contains(shapely.LineString(layout.route_px).interpolate(0.5, normalized=True))
        boxes = [box for _anchor, box, _text, _color in layout.labels] + [layout.legend]
        assert len(layout.labels) == 2 + sum(leg.landmark is not None for leg in route.legs[:-1])
        for i, box in enumerate(boxes):
            assert not layout.keep_clear.intersects(shapely.box(*box)), (k, box)
            x0, y0, x1, y1 = box
            assert 0 <= x0 < x1 <= size and 0 <= y0 < y1 <= size
            for other in boxes[i + 1:]:
                assert not shapely.box(*box).intersects(shapely.box(*other)), (box, other)


def test_rail_points_stay_visible_on_the_map():
    city = get_city("new_york", 0)
    route = get_route(city, 0)
    rail = get_rail(city, route, 2)
    index = 3
    image = render_map(city, route, rail, index, size=768)
    layout = _map_layout(city, route, rail, 768)
    from virl_env.map import _city_layer

    _, frame = _city_layer(city, 768)
    for k, point in enumerate(rail[1:-1], start=1):   # the start and destination wear their markers
        x, y = (int(round(v)) for v in frame(*point.position))
        ring = image[y - 4:y + 5, x - 4:x + 5].reshape(-1, 3)
        assert np.any(np.all(ring == ROUTE_COLOR, axis=-1)), k
    assert len(layout.labels) >= 2
