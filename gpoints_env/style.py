"""How a GeneralPoints hand looks: one frozen, hashable :class:`CardStyle` holds every visual choice.

The renderer (:mod:`gpoints_env.render`) reads nothing else, so a visual variant is a function from style to
style (e.g. ``style.replace(suit_colours=...)``) and the renderer can cache card sprites per style: the style is
a frozen dataclass of tuples, numbers and strings, hence hashable, and it is validated once on construction
(``ValueError`` naming the bad field) instead of failing deep inside Pillow on the first render.

Sizes are fractions (of the image width, of the card width or of the card height) so that one style renders
the same picture at any ``resolution``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

__all__ = [
    "RGB",
    "SUITS",
    "MIN_RESOLUTION",
    "MAX_RESOLUTION",
    "BLACK_INK",
    "RED_INK",
    "CardStyle",
    "DEFAULT_STYLE",
    "PAPER_STYLE",
    "FOUR_COLOUR_STYLE",
    "ALL_BLACK_STYLE",
    "ALL_RED_STYLE",
    "JITTER_STYLE",
    "NAMED_STYLES",
]

RGB = tuple[int, int, int]

#: Suit names, in the deck order of :data:`gpoints_env.cards.SUITS` (kept literal here so styles import nothing).
SUITS: tuple[str, ...] = ("spades", "hearts", "diamonds", "clubs")
#: Smallest and largest image side. Below 64 px a card is ~13 px wide and its index is no longer a glyph;
#: above 4096 px one frame is 50 MB and the sprite cache would hold gigabytes.
MIN_RESOLUTION, MAX_RESOLUTION = 64, 4096

#: Ink of a standard deck: near-black spades and clubs, red hearts and diamonds.
BLACK_INK: RGB = (22, 22, 26)
RED_INK: RGB = (200, 24, 38)


def _colour(name: str, value: Any) -> RGB:
    """An ``(r, g, b)`` tuple of Python ints in 0..255 (lists and numpy integers are accepted and normalised)."""
    try:
        items = tuple(value)
    except TypeError:
        raise ValueError(f"CardStyle.{name} must be an (r, g, b) triple of ints in 0..255, got {value!r}") from None
    ok = len(items) == 3 and all(
        not isinstance(c, bool) and hasattr(c, "__index__") and 0 <= int(c) <= 255 for c in items
    )
    if not ok:
        raise ValueError(f"CardStyle.{name} must be an (r, g, b) triple of ints in 0..255, got {value!r}")
    return (int(items[0]), int(items[1]), int(items[2]))


def _number(name: str, value: Any, low: float, high: float, *, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"CardStyle.{name} must be a finite number, got {value!r}")
    if value > high or value < low or (low_open and value == low):
        bracket = "(" if low_open else "["
        raise ValueError(f"CardStyle.{name} must be in {bracket}{low}, {high}], got {value!r}")
    return float(value)


@dataclass(frozen=True)
class CardStyle:
    """Everything about how a hand of cards looks; the renderer's only input besides the cards.

    Frozen and hashable so the renderer can cache sprites and backgrounds per style. Colour fields accept any
    3-sequence of ints (normalised to a tuple); ``suit_colours`` also accepts a ``{suit: colour}`` mapping and is
    stored as a tuple of ``(suit, colour)`` pairs in deck order. Invalid values raise ``ValueError`` naming the
    field.

    Attributes:
        resolution: the image is ``resolution`` x ``resolution`` pixels (square, as the paper's 1200 x 1200).
        background: table colour (casino green by default).
        card_face: colour of the card stock.
        card_edge: colour of the thin line around each card.
        suit_colours: ink colour per suit, used for pips, corner indices and the face-card frames.
        face_panel: fill of the framed picture panel on J, Q and K.
        face_accent: colour of the crowns and ornaments on J, Q and K.
        font: path to a ``.ttf``/``.otf`` file for the rank labels, or ``None`` for Pillow's bundled scalable
            font (``ImageFont.load_default(size=...)``, Pillow >= 10.1), which needs no file and no download.
        card_width: width of one card as a fraction of the image width, for hands of up to four cards; a
            hand whose row would not fit between the margins is scaled down as a whole.
        card_aspect: card height / card width (2.5 x 3.5 in poker cards: 1.4).
        gap: horizontal space between neighbouring cards, as a fraction of the image width.
        margin: smallest space between the row of cards and the image border, as a fraction of the image width.
        corner_radius: radius of the card corners as a fraction of the card width.
        edge_width: width of the card edge line as a fraction of the card width (at least one pixel is drawn).
        index_height: height of the corner rank label as a fraction of the card height.
        pip_height: height of one suit pip on number cards as a fraction of the card height.
        shadow: opacity (0..1) of the soft drop shadow under each card; 0 draws none.
        jitter_degrees: largest absolute rotation of a card, in degrees, drawn per card from the renderer's
            generator (no generator: no jitter).
        jitter_offset: largest shift of a card along each axis, as a fraction of the card width, drawn per card.
    """

    resolution: int = 512
    background: RGB = (28, 110, 62)
    card_face: RGB = (252, 251, 246)
    card_edge: RGB = (120, 120, 120)
    suit_colours: tuple[tuple[str, RGB], ...] = (
        ("spades", BLACK_INK),
        ("hearts", RED_INK),
        ("diamonds", RED_INK),
        ("clubs", BLACK_INK),
    )
    face_panel: RGB = (250, 238, 200)
    face_accent: RGB = (214, 162, 38)
    font: str | None = None
    card_width: float = 0.2
    card_aspect: float = 1.4
    gap: float = 0.03
    margin: float = 0.03
    corner_radius: float = 0.08
    edge_width: float = 0.008
    index_height: float = 0.115
    pip_height: float = 0.11
    shadow: float = 0.35
    jitter_degrees: float = 0.0
    jitter_offset: float = 0.0

    def __post_init__(self) -> None:
        put = object.__setattr__  # frozen: normalised values are written once, here
        res = self.resolution
        if isinstance(res, bool) or not hasattr(res, "__index__"):
            raise ValueError(f"CardStyle.resolution must be an int, got {res!r}")
        if not MIN_RESOLUTION <= int(res) <= MAX_RESOLUTION:
            raise ValueError(
                f"CardStyle.resolution must be in [{MIN_RESOLUTION}, {MAX_RESOLUTION}] pixels, got {res!r}"
            )
        put(self, "resolution", int(res))
        for name in ("background", "card_face", "card_edge", "face_panel", "face_accent"):
            put(self, name, _colour(name, getattr(self, name)))
        put(self, "suit_colours", self._validated_suit_colours(self.suit_colours))
        if self.font is not None:
            if not isinstance(self.font, str) or not self.font:
                raise ValueError(f"CardStyle.font must be None or a path to a .ttf/.otf file, got {self.font!r}")
            if not os.path.isfile(self.font):
                raise ValueError(f"CardStyle.font: no font file at {self.font!r}")
        bounds = {
            "card_width": (0.0, 1.0, True),
            "card_aspect": (0.5, 3.0, False),
            "gap": (0.0, 0.5, False),
            "margin": (0.0, 0.25, False),
            "corner_radius": (0.0, 0.25, False),
            "edge_width": (0.0, 0.1, False),
            "index_height": (0.04, 0.3, False),
            "pip_height": (0.04, 0.3, False),
            "shadow": (0.0, 1.0, False),
            "jitter_degrees": (0.0, 45.0, False),
            "jitter_offset": (0.0, 0.5, False),
        }
        for name, (low, high, low_open) in bounds.items():
            put(self, name, _number(name, getattr(self, name), low, high, low_open=low_open))
        if self.card_width * self.card_aspect > 1.0 - 2.0 * self.margin:
            raise ValueError(
                f"CardStyle.card_width: a card {self.card_width} wide and {self.card_aspect} times as tall does not "
                f"fit between margins of {self.margin} (height {self.card_width * self.card_aspect:.3f} of the image)"
            )

    @staticmethod
    def _validated_suit_colours(value: Any) -> tuple[tuple[str, RGB], ...]:
        pairs = list(value.items()) if isinstance(value, Mapping) else value
        try:
            given = {suit: colour for suit, colour in pairs}
            count = len(list(pairs))
        except (TypeError, ValueError):
            raise ValueError(
                f"CardStyle.suit_colours must map each of {SUITS} to an (r, g, b) colour, got {value!r}"
            ) from None
        if count != len(given) or set(given) != set(SUITS):
            raise ValueError(
                f"CardStyle.suit_colours must name each of {SUITS} exactly once, got {sorted(map(str, given))}"
            )
        return tuple((suit, _colour(f"suit_colours[{suit!r}]", given[suit])) for suit in SUITS)

    def replace(self, **changes: Any) -> CardStyle:
        """A copy with some fields changed (validated like a new style). Unknown names raise ``ValueError``."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"CardStyle has no field(s) {sorted(unknown)}")
        return replace(self, **changes)

    def suit_colour(self, suit: str) -> RGB:
        """Ink colour of ``suit`` (one of ``spades``, ``hearts``, ``diamonds``, ``clubs``)."""
        for name, colour in self.suit_colours:
            if name == suit:
                return colour
        raise ValueError(f"unknown suit {suit!r}; expected one of {SUITS}")

    def with_suit_colours(self, colour: Any = None, **per_suit: Any) -> CardStyle:
        """A copy with suit inks changed: ``colour`` for every suit, then any ``spades=...`` etc. on top."""
        current = dict(self.suit_colours)
        if colour is not None:
            current = {suit: colour for suit in SUITS}
        unknown = set(per_suit) - set(SUITS)
        if unknown:
            raise ValueError(f"unknown suit(s) {sorted(unknown)}; expected some of {SUITS}")
        current.update(per_suit)
        return self.replace(suit_colours=current)


#: A standard deck (black spades and clubs, red hearts and diamonds) on casino green, 512 px.
DEFAULT_STYLE = CardStyle()
#: The default look at the paper's 1200 x 1200 resolution.
PAPER_STYLE = DEFAULT_STYLE.replace(resolution=1200)
#: A four-colour deck (spades black, hearts red, diamonds blue, clubs green), as used in online poker.
FOUR_COLOUR_STYLE = DEFAULT_STYLE.with_suit_colours(
    spades=BLACK_INK, hearts=RED_INK, diamonds=(24, 80, 200), clubs=(16, 128, 48)
)
#: Every suit printed in black ink.
ALL_BLACK_STYLE = DEFAULT_STYLE.with_suit_colours(BLACK_INK)
#: Every suit printed in red ink.
ALL_RED_STYLE = DEFAULT_STYLE.with_suit_colours(RED_INK)
#: Cards dropped by hand: up to 6 degrees of rotation and 6% of a card width of shift (needs a generator).
JITTER_STYLE = DEFAULT_STYLE.replace(jitter_degrees=6.0, jitter_offset=0.06)

#: The named looks above, by name (for scripts and command lines).
NAMED_STYLES: dict[str, CardStyle] = {
    "default": DEFAULT_STYLE,
    "paper": PAPER_STYLE,
    "four_colour": FOUR_COLOUR_STYLE,
    "all_black": ALL_BLACK_STYLE,
    "all_red": ALL_RED_STYLE,
    "jitter": JITTER_STYLE,
}
