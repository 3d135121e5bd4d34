"""Street-view signs and text agree exactly (virl_env.streetview.views / virl_env.streetview.signs).

The rule: the views of a rail point draw a legible sign for exactly the landmarks its text
observation names, each whole inside the view its named side belongs to (SIDE_VIEW), with capital
letters of at least letter_height(size) pixels and lettering that contrasts with its board.
Checked on every point of several routes in every style (over 500 points).
"""

from __future__ import annotations

import numpy as np
import pytest

from virl_env.world.city import get_city
from virl_env.sources import styled_city
from virl_env.world.instructions import SIDES, side_phrase
from virl_env.world.routes import get_rail, get_route
from virl_env.streetview.signs import MIN_SIGN_CONTRAST, SIDE_VIEW, contrast_ratio, letter_height, sign_colors
from virl_env.streetview.views import VIEW_NAMES, named_signs, render_grid, separator_width
from virl_env.world.styles import STYLE_NAMES, STYLES, TRAINING_STYLE, get_style

ROUTES_PER_STYLE = 5


def _views(grid: np.ndarray, size: int) -> list[np.ndarray]:
    sep = separator_width(size)
    return [grid[r * (size + sep):r * (size + sep) + size, c * (size + sep):c * (size + sep) + size]
            for r in (0, 1) for c in (0, 1)]


def _points(style: str, routes: int = ROUTES_PER_STYLE):
    city = get_city(style, 0)
    for k in range(routes):
        yield from ((city, p) for p in get_rail(city, get_route(city, k), 2))


def _sides_named(observation: str) -> dict[str, str]:
    """Landmark name -> side, read back from the observation text."""
    phrases = {side_phrase(side): side for side in SIDES}
    out = {}
    for part in observation.split("; "):
        for phrase, side in phrases.items():
            if part.endswith(" is " + phrase):
                out[part[: -len(" is " + phrase)]] = side
    return out


def test_side_view_rule_covers_every_side_once():
    assert set(SIDE_VIEW) == set(SIDES)
    assert [SIDE_VIEW[s] for s in ("front", "right front", "left front")] == [0, 0, 0]
    assert SIDE_VIEW["right"] == 1 and SIDE_VIEW["left"] == 3
    assert {SIDE_VIEW[s] for s in ("behind", "right behind", "left behind")} == {2}
    assert VIEW_NAMES == ("front", "right", "back", "left")


@pytest.mark.parametrize("style", STYLE_NAMES)
def test_signs_are_exactly_the_named_landmarks_whole_in_their_view(style):
    """Every point of five routes (54 to 104 per style, 857 over the styles), at a small size."""
    size = 128
    checked = 0
    for city, point in _points(style):
        grid, signs = render_grid(city, point.position, point.heading, size)
        named = _sides_named(point.observation)
        # Agreement: one sign per named landmark, nearest first, and no other.
        assert tuple(s.name for s in signs) == point.landmarks, point.observation
        assert set(named) == set(point.landmarks)
        views = _views(grid, size)
        boxes = {}
        for s in signs:
            assert s.side == named[s.name]
            assert s.view == SIDE_VIEW[s.side], (s, point.observation)
            x0, y0, x1, y1 = s.box
            assert 0 <= x0 < x1 <= size and 0 <= y0 < y1 <= size, s      # whole inside its view
            assert s.letter_height >= letter_height(size)
            board = np.asarray(sign_colors(city.style.look, city.landmark_by_name[s.name].kind)[0], dtype=np.uint8)
            patch = views[s.view][y0:y1, x0:x1]
            assert np.all(patch == board, axis=-1).mean() > 0.2, s   # the board is drawn there
            boxes.setdefault(s.view, []).append(s.box)
        for view_boxes in boxes.values():   # signs never cover each other
            for i, a in enumerate(view_boxes):
                for b in view_boxes[i + 1:]:
                    assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
        checked += 1
    assert checked >= 50


@pytest.mark.parametrize("style", STYLE_NAMES)
def test_letters_are_tall_enough_at_the_default_size(style):
    """At the default 256-pixel views, capital letters are at least 12 pixels tall: measured on
    the pixels, as the height of the lettering's rows inside the board."""
    size = 256
    measured = 0
    for city, point in _points(style, routes=2):
        if not point.landmarks:
            continue
        grid, signs = render_grid(city, point.position, point.heading, size)
        views = _views(grid, size)
        look = city.style.look
        for s in signs:
            assert s.letter_height >= 12
            board, text = sign_colors(look, city.landmark_by_name[s.name].kind)
            x0, y0, x1, y1 = s.box
            patch = views[s.view][y0:y1, x0:x1].astype(int)
            ink = np.abs(patch - np.asarray(text)).sum(-1) <= 30
            rows = np.flatnonzero(ink.sum(axis=1) >= 2)
            # Runs of lettered rows: one per line of text, each at least a capital letter tall.
            runs = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)
            assert max(len(r) for r in runs) >= 12, (s, [len(r) for r in runs])
            measured += 1
    assert measured >= 2


def test_named_signs_follows_the_observation_text():
    city = get_city(TRAINING_STYLE, 0)
    for point in get_rail(city, get_route(city, 7), 2):
        signs = named_signs(city, point.position, point.heading)
        names = tuple(city.landmarks[i].name for i, _side, _view in signs)
        assert names == point.landmarks
        assert all(view == SIDE_VIEW[side] for _i, side, view in signs)


@pytest.mark.parametrize("style", STYLE_NAMES)
def test_sign_colours_meet_the_contrast_floor(style):
    look = STYLES[style].look
    kinds = [kind for kind, _ in STYLES[style].naming.landmark_kinds]
    for kind in kinds:
        board, text = sign_colors(look, kind)
        assert contrast_ratio(board, text) >= MIN_SIGN_CONTRAST, (style, kind, board, text)
    # The built-in looks meet it with their own lettering colours (no fallback needed).
    for color in look.sign_colors:
        pair = (look.sign_border, color) if look.sign_shape == "neon" else (color, look.sign_text)
        assert contrast_ratio(*pair) >= MIN_SIGN_CONTRAST, (style, pair)


def test_low_contrast_look_gets_readable_lettering():
    look = get_style(TRAINING_STYLE).look.replace(sign_colors=((250, 175, 0), (128, 128, 128)),
                                                  sign_text=(255, 255, 255))
    for kind in ("cafe", "bank", "deli", "hotel"):
        board, text = sign_colors(look, kind)
        assert text != (255, 255, 255) or contrast_ratio(board, text) >= MIN_SIGN_CONTRAST
        assert contrast_ratio(board, text) >= MIN_SIGN_CONTRAST
    assert contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)


def test_no_lettered_board_outside_the_named_signs():
    """With boards in a colour nothing else in the scene has, board pixels appear only inside the
    boxes of the named signs (so no unnamed landmark shows a sign)."""
    unique = (150, 0, 150)
    base = get_style(TRAINING_STYLE)
    city = styled_city(base.replace(look=base.look.replace(sign_colors=(unique,), sign_border=unique)), 0)
    size = 64
    seen_signs = 0
    for k in range(6):
        for point in get_rail(city, get_route(city, k), 2):
            grid, signs = render_grid(city, point.position, point.heading, size)
            views = _views(grid, size)
            for v, view in enumerate(views):
                mask = np.all(view == np.asarray(unique, dtype=np.uint8), axis=-1)
                for s in signs:
                    if s.view == v:
                        x0, y0, x1, y1 = s.box
                        mask[y0:y1, x0:x1] = False
                assert not mask.any(), (point.observation, v)
            seen_signs += len(signs)
    assert seen_signs > 10
