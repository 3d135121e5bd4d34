"""Street-view rendering (virl_env.streetview.views): grid layout, signs, styles, determinism, projection."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from virl_env.world.city import VIEW_RADIUS, get_city
from virl_env.sources import styled_city
from virl_env.world.routes import get_rail, get_route
from virl_env.streetview.views import (
    VIEW_NAMES,
    clear_view_cache,
    compose_grid,
    grid_size,
    project_panorama,
    render_grid,
    render_view,
    separator_width,
)
from virl_env.world.styles import STYLE_NAMES, TRAINING_STYLE, UNSEEN_STYLES, StreetLook, get_style

MAGENTA = (150, 0, 150)   # a board colour nothing else in a scene has (white letters read on it)


def _views(grid: np.ndarray, size: int) -> list[np.ndarray]:
    sep = separator_width(size)
    return [grid[r * (size + sep):r * (size + sep) + size, c * (size + sep):c * (size + sep) + size]
            for r in (0, 1) for c in (0, 1)]


def test_grid_order_and_separators():
    city = get_city("new_york", 0)
    # A point with no landmark in view: a lone view then equals the grid's view pixel for pixel
    # (signs go to the view of their side relative to the agent's heading, not the view's own).
    point = next(p for k in range(10) for p in get_rail(city, get_route(city, k), 2) if not p.landmarks)
    size = 64
    grid, _ = render_grid(city, point.position, point.heading, size)
    assert grid.shape == (grid_size(size),) * 2 + (3,) and grid.dtype == np.uint8
    sep = separator_width(size)
    assert sep == 2 and grid_size(size) == 130
    assert not grid[size:size + sep].any() and not grid[:, size:size + sep].any()  # black lines
    assert VIEW_NAMES == ("front", "right", "back", "left")
    for k, view in enumerate(_views(grid, size)):
        expected = render_view(city, point.position, point.heading + 90 * k, size)
        assert np.array_equal(view, expected), VIEW_NAMES[k]
    # The four views look in four different directions.
    views = _views(grid, size)
    assert all(not np.array_equal(a, b) for a, b in itertools.combinations(views, 2))


def test_compose_grid_validates():
    with pytest.raises(ValueError, match="exactly four"):
        compose_grid([np.zeros((8, 8, 3), np.uint8)] * 3)
    with pytest.raises(ValueError, match="view 2"):
        compose_grid([np.zeros((8, 8, 3), np.uint8)] * 2 + [np.zeros((9, 9, 3), np.uint8)] * 2)
    with pytest.raises(ValueError, match="view size"):
        render_view(get_city("new_york", 0), (0.0, 0.0), 0.0, size=8)
    with pytest.raises(TypeError, match="view size"):
        render_view(get_city("new_york", 0), (0.0, 0.0), 0.0, size=64.0)


def test_rendering_is_deterministic_and_cached():
    city = get_city("paris", 0)
    point = get_rail(city, get_route(city, 1), 2)[1]
    a, signs_a = render_grid(city, point.position, point.heading, 64)
    b, _ = render_grid(city, point.position, point.heading, 64)
    assert a is b and not a.flags.writeable  # cached, read-only
    clear_view_cache()
    c, signs_c = render_grid(city, point.position, point.heading, 64)
    assert c is not a and np.array_equal(a, c) and signs_a == signs_c


def test_reused_work_arrays_never_leak_between_views_or_threads():
    """The painting passes reuse per-thread scratch arrays: a finished grid or view must not change
    when later points are drawn, and threads drawing at once must get what a lone thread gets."""
    from concurrent.futures import ThreadPoolExecutor

    city = get_city("tokyo", 0)
    points = [p for k in range(4) for p in get_rail(city, get_route(city, k), 2)][:24]
    jobs = [(p, size) for p in points for size in (64, 160)]

    def draw(job):
        point, size = job
        return render_grid(city, point.position, point.heading, size)[0].copy(), \
            render_view(city, point.position, point.heading + 45.0, size)

    clear_view_cache()
    first = [render_grid(city, p.position, p.heading, size)[0] for p, size in jobs]
    serial = [draw(job) for job in jobs]
    for grid, (again, _) in zip(first, serial):
        assert np.array_equal(grid, again)      # drawing later points left the earlier grids alone
    clear_view_cache()
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(draw, jobs * 2))
    for (grid, view), (grid_t, view_t) in zip(serial * 2, threaded):
        assert np.array_equal(grid, grid_t) and np.array_equal(view, view_t)


def test_pillow_draws_straight_into_mapped_arrays():
    """Roads and props are drawn by Pillow straight into numpy arrays (streetpaint.drawing_on): the
    drawing must land in the array's memory, within the mapped columns, and nowhere else."""
    from virl_env.streetview.paint import drawing_on, ground_canvas

    rows, size, views = 4, 8, 3
    store = np.zeros((rows + 1) * views * size, dtype=np.uint8)
    # The second view's columns of a strip: rows views * size bytes apart, from byte size on.
    draw = drawing_on(store[size:], "L", (size, rows), views * size)
    draw.draw_polygon([-5.0, -5.0, 50.0, -5.0, 50.0, 50.0, -5.0, 50.0], 7, 1)
    strip = store[:rows * views * size].reshape(rows, views * size)
    assert (strip[:, size:2 * size] == 7).all()
    assert not strip[:, :size].any() and not strip[:, 2 * size:].any() and not store[rows * views * size:].any()

    words = np.zeros((3, 5), dtype=np.uint32)
    draw = drawing_on(words, "RGBA", (5, 3))
    draw.draw_rectangle((1, 1, 3, 1), draw.draw_ink((10, 20, 30, 255)), 1)
    rgba = words.view(np.uint8).reshape(3, 5, 4)
    assert (rgba[1, 1:4] == (10, 20, 30, 255)).all()
    assert not rgba[0].any() and not rgba[2].any() and not rgba[1, [0, 4]].any()

    # The ground canvas of a point in the city: its roads land in the index image.
    from virl_env.streetview.paint import draw_ground
    from virl_env.streetview.scene import get_scene

    city = get_city("new_york", 0)
    point = get_rail(city, get_route(city, 0), 2)[0]
    scene = get_scene(city, city.style.look)
    canvas = ground_canvas(128, 256, 1)
    h = np.radians(point.heading)
    frame = ((float(np.sin(h)), float(np.cos(h))), (float(np.cos(h)), -float(np.sin(h))))
    draw_ground(canvas, scene.ground, *point.position, [frame], 256, scene.camera.focal(256),
                scene.camera.eye_height, 128)
    assert canvas.index[-1].any()   # the road under the camera, in the bottom row


def _magenta_style():
    base = get_style(TRAINING_STYLE)
    # A colour no other part of the scene uses: sign boards only.
    look = base.look.replace(sign_colors=(MAGENTA,), sign_shape="board", sign_border=MAGENTA,
                             sign_text=(255, 255, 255))
    return base.replace(look=look)


def _count(image: np.ndarray, color: tuple[int, int, int]) -> int:
    return int(np.all(image == np.asarray(color, dtype=np.uint8), axis=-1).sum())


def test_landmark_sign_is_drawn_where_named_and_absent_elsewhere():
    city = styled_city(_magenta_style(), 0)
    named = empty = None
    for k in range(40):
        for point in get_rail(city, get_route(city, k), 2):
            if point.at_intersection and point.landmarks and named is None:
                named = point
            if not point.landmarks and empty is None:
                empty = point
        if named and empty:
            break
    size = 128
    grid, signs = render_grid(city, named.position, named.heading, size)
    assert _count(grid, MAGENTA) > 150
    assert set(point_name for point_name in named.landmarks) <= {s.name for s in signs}
    lettering = []
    for sign in signs:
        x0, y0, x1, y1 = sign.box
        view = _views(grid, size)[sign.view]
        box = view[y0:y1, x0:x1]
        assert _count(box, MAGENTA) > 0.2 * box.shape[0] * box.shape[1]      # the board
        lettering.append(int((box[..., 1] > 120).sum()))  # white letters (the board has no green)
    assert max(lettering) > 20
    # Two different names give different lettering on the same board colour.
    boxes = {s.name: _views(grid, size)[s.view][s.box[1]:s.box[3], s.box[0]:s.box[2]] for s in signs}
    if len(boxes) > 1:
        a, b = list(boxes.values())[:2]
        assert a.shape != b.shape or not np.array_equal(a, b)
    grid, signs = render_grid(city, empty.position, empty.heading, size)
    assert signs == () and _count(grid, MAGENTA) == 0
    # Signs are shown exactly for the landmarks within the observation radius.
    lm = city.landmarks[0]
    far = (lm.position[0] + VIEW_RADIUS + 5.0, lm.position[1])
    assert lm.name not in {s.name for s in render_grid(city, far, 0.0, 64)[1]}


def _histogram(style: str) -> np.ndarray:
    city = get_city(style, 0)
    rail = get_rail(city, get_route(city, 0), 1)
    px = np.concatenate([render_grid(city, p.position, p.heading, 48)[0].reshape(-1, 3) for p in list(rail)[:3]])
    q = (px // 64).astype(int)
    h = np.bincount(q[:, 0] * 16 + q[:, 1] * 4 + q[:, 2], minlength=64).astype(float)
    return h / h.sum()


def test_styles_differ_in_colour_statistics():
    hists = {s: _histogram(s) for s in STYLE_NAMES}
    tv = {(a, b): 0.5 * np.abs(hists[a] - hists[b]).sum() for a, b in itertools.combinations(STYLE_NAMES, 2)}
    for style in UNSEEN_STYLES:
        assert tv[(TRAINING_STYLE, style)] > 0.25, style
    assert min(tv.values()) > 0.2


def test_a_look_changes_pixels_not_the_city():
    ny = get_style("new_york")
    night = styled_city(ny.replace(look=get_style("tokyo").look), 0)
    day = styled_city(ny, 0)
    assert night.landmarks == day.landmarks and np.array_equal(night.node_xy, day.node_xy)
    point = get_rail(day, get_route(day, 0), 1)[0]
    a = render_grid(day, point.position, point.heading, 48)[0]
    b = render_grid(night, point.position, point.heading, 48)[0]
    assert a.mean() > b.mean() + 30  # night is darker


def test_street_look_validates():
    with pytest.raises(ValueError, match="window_style"):
        StreetLook(window_style="round")
    with pytest.raises(ValueError, match="floors"):
        StreetLook(floors=(5, 2))
    with pytest.raises(ValueError, match="haze_distance"):
        StreetLook(haze_distance=float("nan"))


def _test_panorama(width: int = 720, height: int = 360) -> np.ndarray:
    """Column c has red = c mod 256 and green = c // 256 (the azimuth); blue encodes the row."""
    cols = np.arange(width)
    pano = np.zeros((height, width, 3), dtype=np.uint8)
    pano[..., 0] = (cols % 256)[None, :]
    pano[..., 1] = (cols // 256)[None, :]
    pano[..., 2] = (np.arange(height) * 255 // (height - 1))[:, None]
    return pano


@pytest.mark.parametrize("heading,rotation", [(0.0, 0.0), (90.0, 0.0), (200.0, 37.0), (350.0, 20.0)])
def test_panorama_projection_centre_and_field_of_view(heading, rotation):
    pano = _test_panorama()
    view = project_panorama(pano, heading, rotation, 64)
    assert view.shape == (64, 64, 3) and view.dtype == np.uint8

    def column(px):
        return int(px[0]) + 256 * int(px[1])

    def off(got, want):  # circular distance in columns
        return abs(((got - want + 360) % 720) - 360)

    # The centre looks at ((heading + rotation) mod 360) / 360 of the width (pixel 32's centre is
    # half a pixel, 0.9 degrees or 1.8 columns, right of it).
    expected = ((heading + rotation) % 360.0) / 360.0 * 720
    assert off(column(view[32, 32]), expected + 1.8) <= 1.5
    # The edges of a 90-degree view are 45 degrees (90 columns) to each side.
    assert off(column(view[32, 0]), expected - 89.1) <= 1.5
    assert off(column(view[32, 63]), expected + 89.1) <= 1.5
    # Level camera: the middle row is the horizon; up is the panorama's top.
    assert abs(int(view[32, 32, 2]) - 128) <= 6 and view[0, 32, 2] < view[63, 32, 2]
