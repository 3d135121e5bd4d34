"""Direction words with wrap-around (virl_env.world.instructions)."""

from __future__ import annotations

import pytest

from virl_env.world.instructions import (
    bearing,
    compass_name,
    move_sentence,
    number_sentences,
    ordinal,
    relative_turn,
    side_name,
    turn_sentence,
    wrap_angle,
)


@pytest.mark.parametrize(
    ("start", "end", "word"),
    [
        (350, 10, "slightly right"),   # +20 across north: the authors' code said "left" (-340)
        (40, 358, "slightly left"),    # -42 across north
        (10, 350, "slightly left"),
        (358, 40, "slightly right"),
        (0, 90, "right"),
        (0, 270, "left"),              # -90, not +270
        (270, 0, "right"),             # +90 across north
        (300, 200, "left"),
        (200, 300, "right"),
        (315, 45, "right"),            # +90 across north
        (45, 315, "left"),
        (0, 45, "slightly right"),     # the 45-degree boundary is still slight
        (0, 46, "right"),
        (0, 315, "slightly left"),
        (0, 314, "left"),
        (179, 1, "left"),
        (1, 179, "right"),
    ],
)
def test_relative_turn_wraps_around(start, end, word):
    assert relative_turn(start, end) == word


def test_wrap_angle_range():
    for a in range(-720, 721, 7):
        w = wrap_angle(a)
        assert -180 <= w < 180
        assert (w - a) % 360 == pytest.approx(0) or (w - a) % 360 == pytest.approx(360)


@pytest.mark.parametrize(
    ("heading", "name"),
    [(0, "north"), (22.4, "north"), (22.6, "northeast"), (29, "northeast"), (90, "east"),
     (119, "southeast"), (180, "south"), (209, "southwest"), (270, "west"), (299, "northwest"),
     (337.4, "northwest"), (337.6, "north"), (359.9, "north"), (-45, "northwest"), (405, "northeast")],
)
def test_compass_name(heading, name):
    assert compass_name(heading) == name


def test_bearing_is_clockwise_from_north():
    assert bearing(0, 1) == pytest.approx(0)
    assert bearing(1, 0) == pytest.approx(90)
    assert bearing(0, -1) == pytest.approx(180)
    assert bearing(-1, 0) == pytest.approx(270)
    assert bearing(-1, 1) == pytest.approx(315)


@pytest.mark.parametrize(
    ("heading", "target", "side"),
    [(0, 0, "front"), (0, 45, "right front"), (0, 90, "right"), (0, 135, "right behind"),
     (0, 180, "behind"), (0, 225, "left behind"), (0, 270, "left"), (0, 315, "left front"),
     (350, 5, "front"), (350, 20, "right front"), (350, 40, "right front"), (10, 300, "left"), (270, 100, "behind"),
     (90, 350, "left"), (300, 30, "right")],
)
def test_side_name_eight_sectors_with_wrap(heading, target, side):
    assert side_name(heading, target) == side


def test_sentences():
    assert turn_sentence(True, "left", "east") == "First, turn left to face east."
    assert turn_sentence(False, "slightly right", "north") == "Turn slightly right to face north."
    assert move_sentence(destination=None, destination_side=None, landmark="Cafe X", landmark_side="right behind",
                         crossings=0) == "Move forward until you reach the next intersection where Cafe X is on your right behind."
    assert move_sentence(destination=None, destination_side=None, landmark=None, landmark_side=None,
                         crossings=2) == "Move forward until you reach the 3rd intersection."
    assert move_sentence(destination="Bar Y", destination_side="left", landmark=None, landmark_side=None,
                         crossings=5) == "Move forward until the destination Bar Y is on your left."
    assert move_sentence(destination=None, destination_side=None, landmark="Z", landmark_side="behind",
                         crossings=1) == "Move forward until you reach the 2nd intersection where Z is behind you."
    assert number_sentences(["A.", "B."]) == "1. A.\n2. B."
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st"]
