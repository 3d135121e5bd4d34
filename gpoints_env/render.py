"""Draw GeneralPoints hands as pictures: playing cards in a row on a card table, as in the paper's GP-VL setting.

Everything is drawn procedurally with Pillow from a :class:`~gpoints_env.style.CardStyle`, so nothing has to be
downloaded or installed beside the package: suit symbols are vector shapes (no font needs the glyphs), rank
labels use Pillow's bundled scalable font unless the style names a font file.

Speed comes from caching, not from cheap drawing. A card sprite (rounded card, corner indices, pips or a face
panel, soft shadow) is drawn once per look, rank, suit and size at 3-4x supersampling and downsampled once,
which anti-aliases every edge, then composited once over the table colour; the empty table is built once per
style. Without jitter a call to :func:`render_hand` is one copy of the table plus a slice assignment per card
(no blending). With jitter each sprite is rotated and alpha-blended per call, which costs far more (see
``benchmarks/bench_gpoints_render.py``).

Jitter is drawn only from the generator passed in (``rng``): never the ``random`` module or ``np.random``
globals, and ``rng=None`` means no jitter whatever the style says. The generator is consumed only when the style
has jitter, so adding image rendering to an environment does not change its stream of dealt hands.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from .style import SUITS, CardStyle

__all__ = ["RANKS", "SUITS", "MAX_CARDS", "CardLike", "render_hand", "render_card", "card_size", "clear_caches",
           "render_hand_paper"]

#: Rank labels as printed on the cards (the order of :data:`gpoints_env.rules.RANKS`).
RANKS: tuple[str, ...] = ("A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K")
FACE_RANKS = frozenset({"J", "Q", "K"})
#: Largest hand :func:`render_hand` lays out in one row (the rules allow hands of 1 to 5 cards).
MAX_CARDS = 5

# Cards are drawn this many times larger, then box-downsampled once: anti-aliased edges at no per-call cost.
# Large cards need less: 3x on a card 160+ px wide is as smooth as 4x to the eye and draws ~2x faster.
_SUPERSAMPLE = 4
_SUPERSAMPLE_LARGE, _LARGE_CARD = 3, 160
# Rank glyphs are rasterised once at this font size, then scaled to each card's index size.
_GLYPH_FONT_SIZE = 240
# Extra stroke around the rank glyphs, as a fraction of the font size: Pillow's bundled font is a regular
# weight, and corner indices read better (and survive downsampling) a little bolder, as printed on real cards.
_GLYPH_WEIGHT = 0.035


class CardLike(Protocol):
    """Anything with a rank label and a suit name, such as :class:`gpoints_env.cards.Card`."""

    @property
    def rank(self) -> str: ...

    @property
    def suit(self) -> str: ...


# --------------------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------------------



def _checked_faces(cards: Sequence[CardLike], style: CardStyle, caller: str) -> list[tuple[str, str]]:
    """The (rank, suit) of each card, after checking the style and the hand size (errors name ``caller``)."""
    if not isinstance(style, CardStyle):
        raise TypeError(f"style must be a CardStyle, got {type(style).__name__}")
    if not 1 <= len(cards) <= MAX_CARDS:
        raise ValueError(f"{caller} draws 1 to {MAX_CARDS} cards, got {len(cards)}")
    return [(_checked_rank(getattr(c, "rank", None)), _checked_suit(getattr(c, "suit", None))) for c in cards]

def render_hand(cards: Sequence[CardLike], style: CardStyle, rng: np.random.Generator | None = None) -> np.ndarray:
    """Picture of a hand: the cards left to right in the given order, in one centred row on the table.

    Args:
        cards: 1 to 5 cards (objects with ``.rank`` in ``A, 2..10, J, Q, K`` and ``.suit`` in ``spades, hearts,
            diamonds, clubs``), e.g. :class:`gpoints_env.cards.Card`.
        style: the look (resolution, colours, sizes, jitter).
        rng: source of the per-card rotation and shift when the style has jitter (``jitter_degrees`` or
            ``jitter_offset`` > 0); three uniforms per card are drawn from it, in one call. ``None`` renders
            without jitter even if the style asks for it. Not touched when the style has no jitter.

    Returns:
        A writable ``(style.resolution, style.resolution, 3)`` ``uint8`` array (RGB, height x width x channel).

    Raises:
        ValueError: for an empty or too long hand, or an unknown rank or suit.
        TypeError: if ``style`` is not a :class:`CardStyle`.
    """
    faces = _checked_faces(cards, style, "render_hand")
    n = len(faces)
    layout = _layout(style, n)
    look = _look(style)
    jitter = rng is not None and (style.jitter_degrees > 0.0 or style.jitter_offset > 0.0)
    if not jitter and layout.disjoint:
        # Fast path: each sprite was composited over the table colour when cached, so a frame is one copy of
        # the empty table plus a few slice assignments; no blending per call.
        frame = _table(style).copy()
        for (rank, suit), (x, y) in zip(faces, layout.corners):
            _put(frame, _tile(look, rank, suit, layout.card_width), x, y)
        return frame
    canvas = _background(style).copy()
    if not jitter:
        for (rank, suit), (x, y) in zip(faces, layout.corners):
            sprite = _sprite(look, rank, suit, layout.card_width)
            canvas.paste(sprite, (x, y), sprite)
    else:
        assert rng is not None
        u = rng.uniform(-1.0, 1.0, size=(n, 3))
        max_shift = style.jitter_offset * layout.card_width
        for (rank, suit), (x, y), (ua, ux, uy) in zip(faces, layout.corners, u.tolist()):
            sprite = _sprite(look, rank, suit, layout.card_width)
            angle = ua * style.jitter_degrees
            rotated = sprite
            if angle:
                # Bilinear is enough: the sprite is already anti-aliased, and bicubic costs ~3x per call.
                rotated = sprite.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True)
            # Rotation with expand keeps the centre; shift the larger sprite back by half its growth.
            x += round(ux * max_shift - (rotated.width - sprite.width) / 2)
            y += round(uy * max_shift - (rotated.height - sprite.height) / 2)
            canvas.paste(rotated, (x, y), rotated)
    # One copy out of Pillow into a writable array (np.asarray(image) would give a read-only view of bytes).
    frame = np.empty((style.resolution, style.resolution, 3), dtype=np.uint8)
    frame.reshape(-1)[:] = np.frombuffer(canvas.tobytes(), dtype=np.uint8)
    return frame


def render_card(rank: str, suit: str, style: CardStyle) -> Image.Image:
    """One card as an RGBA image (transparent outside its rounded corners, no shadow).

    The card has the size it takes in a four-card hand drawn with ``style`` (:func:`card_size`). The drawing is
    cached per look, rank, suit and size; each call returns a fresh copy, so callers may modify it.

    Raises:
        ValueError: for an unknown rank or suit.
    """
    if not isinstance(style, CardStyle):
        raise TypeError(f"style must be a CardStyle, got {type(style).__name__}")
    width = _layout(style, 4).card_width
    return _card(_look(style), _checked_rank(rank), _checked_suit(suit), width).copy()


def card_size(style: CardStyle, hand_size: int = 4) -> tuple[int, int]:
    """``(width, height)`` in pixels of each card in a hand of ``hand_size`` cards drawn with ``style``."""
    if not 1 <= hand_size <= MAX_CARDS:
        raise ValueError(f"hand_size must be in 1..{MAX_CARDS}, got {hand_size}")
    layout = _layout(style, hand_size)
    return layout.card_width, layout.card_height


def render_hand_paper(cards: Sequence[CardLike], style: CardStyle) -> np.ndarray:
    """Picture of a hand in the paper authors' layout (their ``_get_observation``), with this suite's card art.

    Cards ``int(R / n * 0.9)`` wide (270 x 378 at R = 1,200 and 4 cards), left edges at ``5 + int(i * w * 1.1)``
    (5, 302, 599, 896), vertically centred (y = 411), in deal order, no shadow; pasted without an alpha mask as
    theirs are, so a card's transparent rounded corners show black. The table is ``style.background`` (the
    paper protocol's style uses their ``#35654d``); jitter does not apply.

    Raises:
        ValueError: for an empty or too long hand, or an unknown rank or suit.
        TypeError: if ``style`` is not a :class:`CardStyle`.
    """
    faces = _checked_faces(cards, style, "render_hand_paper")
    n = len(faces)
    res = style.resolution
    width = int(res / n * 0.9)
    look = _look(style)
    frame = _table(style).copy()
    for i, (rank, suit) in enumerate(faces):
        card = _card(look, rank, suit, width)
        # Their paste drops the alpha channel: transparent pixels (the rounded corners) take its colour, black.
        tile = np.asarray(card, dtype=np.uint16)
        rgb = (tile[..., :3] * tile[..., 3:4] // 255).astype(np.uint8)
        _put(frame, rgb, 5 + int(i * width * 1.1), int((res - card.height) / 2))
    return frame


def clear_caches() -> None:
    """Drop every cached sprite, background and glyph (e.g. to free memory after rendering many styles)."""
    for cached in (_look, _layout, _background, _table, _tile, _sprite, _card, _glyph, _font):
        cached.cache_clear()


# --------------------------------------------------------------------------------------------------------------
# Layout and caches
# --------------------------------------------------------------------------------------------------------------


def _checked_rank(rank: object) -> str:
    if rank not in RANKS:
        raise ValueError(f"unknown card rank {rank!r}; expected one of {', '.join(RANKS)}")
    return rank  # type: ignore[return-value]


def _checked_suit(suit: object) -> str:
    if suit not in SUITS:
        raise ValueError(f"unknown suit {suit!r}; expected one of {', '.join(SUITS)}")
    return suit  # type: ignore[return-value]


@dataclass(frozen=True)
class _Layout:
    card_width: int
    card_height: int
    corners: tuple[tuple[int, int], ...]  # top-left corner of each sprite (shadow padding included)
    disjoint: bool  # no two sprites (card plus shadow padding) overlap, so they need no blending


@lru_cache(maxsize=256)
def _layout(style: CardStyle, n: int) -> _Layout:
    """Card size and positions for ``n`` cards: one centred row, scaled down as a whole if it is too wide."""
    res = style.resolution
    width, gap = style.card_width, style.gap
    room = 1.0 - 2.0 * style.margin
    row = n * width + (n - 1) * gap
    if row > room:
        width, gap = width * room / row, gap * room / row
    w = max(8, round(width * res))
    h = round(w * style.card_aspect)
    g = round(gap * res)
    x0 = (res - (n * w + (n - 1) * g)) / 2.0
    pad = _shadow_pad(w)
    top = round((res - h) / 2.0) - pad
    corners = tuple((round(x0 + i * (w + g)) - pad, top) for i in range(n))
    disjoint = all(b[0] - a[0] >= w + 2 * pad for a, b in zip(corners, corners[1:]))
    return _Layout(w, h, corners, disjoint)


@lru_cache(maxsize=64)
def _look(style: CardStyle) -> CardStyle:
    """The style with fields that do not change a card's pixels reset, so such styles share one sprite cache."""
    if style.resolution == 512 and style.jitter_degrees == 0 and style.jitter_offset == 0 and style.gap == 0:
        return style
    return style.replace(resolution=512, jitter_degrees=0.0, jitter_offset=0.0, gap=0.0)


@lru_cache(maxsize=16)
def _background(style: CardStyle) -> Image.Image:
    """The empty table: a plain RGB image (callers copy it; never modified)."""
    return Image.new("RGB", (style.resolution, style.resolution), style.background)


@lru_cache(maxsize=16)
def _table(style: CardStyle) -> np.ndarray:
    """The empty table as a read-only array (copied per frame)."""
    table = np.empty((style.resolution, style.resolution, 3), dtype=np.uint8)
    table[:] = style.background
    table.flags.writeable = False
    return table


def _put(frame: np.ndarray, tile: np.ndarray, x: int, y: int) -> None:
    """Copy ``tile`` into ``frame`` with its top-left corner at ``(x, y)``, clipped to the frame."""
    height, width = frame.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + tile.shape[1], width), min(y + tile.shape[0], height)
    if x1 > x0 and y1 > y0:
        frame[y0:y1, x0:x1] = tile[y0 - y : y1 - y, x0 - x : x1 - x]


@lru_cache(maxsize=4 * 52 * 2)
def _tile(look: CardStyle, rank: str, suit: str, width: int) -> np.ndarray:
    """The sprite composited over the table colour, as a read-only RGB array (for the no-blending fast path)."""
    sprite = _sprite(look, rank, suit, width)
    tile = Image.new("RGB", sprite.size, look.background)
    tile.paste(sprite, (0, 0), sprite)
    array = np.asarray(tile).copy()
    array.flags.writeable = False
    return array


def _shadow_pad(width: int) -> int:
    return max(2, round(0.06 * width))


@lru_cache(maxsize=4 * 52 * 2)
def _sprite(look: CardStyle, rank: str, suit: str, width: int) -> Image.Image:
    """The card with its soft drop shadow, padded equally on all sides so its centre is the card's centre."""
    card = _card(look, rank, suit, width)
    pad = _shadow_pad(width)
    size = (card.width + 2 * pad, card.height + 2 * pad)
    if look.shadow <= 0.0:
        # Transparent pixels carry the edge colour, so rotation (which does not premultiply alpha) cannot pull a
        # dark fringe into the card's outline.
        sprite = Image.new("RGBA", size, look.card_edge + (0,))
        sprite.alpha_composite(card, (pad, pad))
        return sprite
    alpha = Image.new("L", size, 0)
    offset = (round(0.012 * width), round(0.025 * width))
    alpha.paste(card.getchannel("A"), (pad + offset[0], pad + offset[1]))
    alpha = alpha.filter(ImageFilter.GaussianBlur(max(1.0, 0.02 * width)))
    alpha = alpha.point(lambda a: round(a * look.shadow))
    sprite = Image.new("RGBA", size, (0, 0, 0, 0))
    sprite.putalpha(alpha)
    sprite.alpha_composite(card, (pad, pad))
    return sprite


@lru_cache(maxsize=4 * 52 * 2)
def _card(look: CardStyle, rank: str, suit: str, width: int) -> Image.Image:
    """Draw one card a few times larger and downsample: an anti-aliased RGBA sprite (never modified)."""
    height = round(width * look.card_aspect)
    factor = _SUPERSAMPLE_LARGE if width >= _LARGE_CARD else _SUPERSAMPLE
    big = _CardCanvas(look, suit, width * factor, height * factor, factor)
    big.draw_index(rank)
    if rank == "A":
        big.draw_ace()
    elif rank in FACE_RANKS:
        big.draw_face(rank)
    else:
        big.draw_pips(int(rank))
    return big.finish().reduce(factor)


@lru_cache(maxsize=8)
def _font(path: str | None) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if path is None:
        return ImageFont.load_default(size=_GLYPH_FONT_SIZE)
    return ImageFont.truetype(path, _GLYPH_FONT_SIZE)


@lru_cache(maxsize=64)
def _glyph(path: str | None, text: str) -> Image.Image:
    """A rank label rasterised large as an ``L`` mask, cropped to its ink (scaled to each card afterwards)."""
    font = _font(path)
    stroke = max(1, round(_GLYPH_WEIGHT * _GLYPH_FONT_SIZE))
    left, top, right, bottom = font.getbbox(text, stroke_width=stroke)
    mask = Image.new("L", (right - left + 4 * stroke, bottom - top + 4 * stroke), 0)
    ImageDraw.Draw(mask).text(
        (2 * stroke - left, 2 * stroke - top), text, font=font, fill=255, stroke_width=stroke, stroke_fill=255
    )
    box = mask.getbbox()
    return mask.crop(box) if box else mask


# --------------------------------------------------------------------------------------------------------------
# Vector suit symbols (so that no font needs the glyphs)
# --------------------------------------------------------------------------------------------------------------

Point = tuple[float, float]


def _heart_outline(steps: int = 96) -> list[Point]:
    """The classic parametric heart, normalised to height 1 and centred on its bounding box (y points down)."""
    pts = []
    for i in range(steps):
        t = 2.0 * math.pi * i / steps
        x = 16.0 * math.sin(t) ** 3
        y = -(13.0 * math.cos(t) - 5.0 * math.cos(2 * t) - 2.0 * math.cos(3 * t) - math.cos(4 * t))
        pts.append((x, y))
    return _normalised(pts)


def _normalised(pts: list[Point]) -> list[Point]:
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    cx, cy = (max(xs) + min(xs)) / 2.0, (max(ys) + min(ys)) / 2.0
    h = max(ys) - min(ys)
    return [((x - cx) / h, (y - cy) / h) for x, y in pts]


def _stem(top: float, half_width: float, steps: int = 12) -> list[Point]:
    """The flared foot of spades and clubs: concave sides from a narrow neck at ``top`` to the base at y = 0.5."""
    left, right = [], []
    for i in range(steps + 1):
        s = i / steps
        y = top + (0.5 - top) * s
        w = 0.03 + (half_width - 0.03) * s**2.2
        left.append((-w, y))
        right.append((w, y))
    return right + left[::-1]


_HEART = [(0.95 * x, y) for x, y in _heart_outline()]


def _diamond_outline(half_width: float = 0.37, bow: float = 0.06, steps: int = 16) -> list[Point]:
    """A lozenge with slightly concave sides, as printed (a plain rhombus looks like a road sign)."""
    corners = [(0.0, -0.5), (half_width, 0.0), (0.0, 0.5), (-half_width, 0.0)]
    pts: list[Point] = []
    for (x0, y0), (x1, y1) in zip(corners, corners[1:] + corners[:1]):
        mx, my = (x0 + x1) / 2.0, (y0 + y1) / 2.0
        # Pull the side's midpoint towards the centre: a quadratic curve through the two corners.
        cx, cy = mx * (1.0 - 2.0 * bow / 0.5), my * (1.0 - 2.0 * bow / 0.5)
        for i in range(steps):
            t = i / steps
            a, b, c = (1 - t) ** 2, 2 * (1 - t) * t, t**2
            pts.append((a * x0 + b * cx + c * x1, a * y0 + b * cy + c * y1))
    return pts


_DIAMOND = _diamond_outline()
# Spade: the heart upside down, on top of a stem.
_SPADE_BODY = [(0.98 * x * 0.8, -y * 0.8 - 0.1) for x, y in _HEART]
_SPADE_STEM = _stem(0.1, 0.2)
_CLUB_STEM = _stem(0.05, 0.2)
_CLUB_LOBES = ((0.0, -0.265, 0.235), (-0.25, 0.06, 0.235), (0.25, 0.06, 0.235))  # (x, y, radius)


def _draw_suit(draw: ImageDraw.ImageDraw, suit: str, cx: float, cy: float, height: float, flip: bool = False) -> None:
    """Fill a suit symbol ``height`` pixels tall centred on ``(cx, cy)``; ``flip`` draws it upside down.

    A symbol with no room (``height <= 0``, e.g. on a face card at the smallest resolutions, where the letter
    fills the space above the centre line) is not drawn: Pillow rejects boxes whose corners are swapped.
    """
    if not height > 0:
        return
    sy = -height if flip else height

    def poly(points: list[Point]) -> None:
        draw.polygon([(cx + x * height, cy + y * sy) for x, y in points], fill=255)

    if suit == "hearts":
        poly(_HEART)
    elif suit == "diamonds":
        poly(_DIAMOND)
    elif suit == "spades":
        poly(_SPADE_BODY)
        poly(_SPADE_STEM)
    else:
        for x, y, r in _CLUB_LOBES:
            px, py, pr = cx + x * height, cy + y * sy, r * height
            draw.ellipse([px - pr, py - pr, px + pr, py + pr], fill=255)
        poly([(0.0, -0.2), (0.12, 0.1), (-0.12, 0.1)])  # fills the gap between the lobes
        poly(_CLUB_STEM)


# --------------------------------------------------------------------------------------------------------------
# Card drawing (all in supersampled pixels)
# --------------------------------------------------------------------------------------------------------------

# Pip positions on number cards: (column -1/0/1, row as a fraction of the card height). Rows below the middle
# are drawn upside down, as on printed cards.
_TOP, _BOTTOM = 0.225, 0.775
_MID = 0.5
_THIRD = (_BOTTOM - _TOP) / 3.0
_ROWS4 = (_TOP, _TOP + _THIRD, _TOP + 2 * _THIRD, _BOTTOM)
_SIDES3 = [(c, r) for r in (_TOP, _MID, _BOTTOM) for c in (-1, 1)]
_SIDES4 = [(c, r) for r in _ROWS4 for c in (-1, 1)]
_PIPS: dict[int, list[tuple[int, float]]] = {
    2: [(0, _TOP), (0, _BOTTOM)],
    3: [(0, _TOP), (0, _MID), (0, _BOTTOM)],
    4: [(c, r) for r in (_TOP, _BOTTOM) for c in (-1, 1)],
    5: [(c, r) for r in (_TOP, _BOTTOM) for c in (-1, 1)] + [(0, _MID)],
    6: _SIDES3,
    7: _SIDES3 + [(0, (_TOP + _MID) / 2)],
    8: _SIDES3 + [(0, (_TOP + _MID) / 2), (0, (_MID + _BOTTOM) / 2)],
    9: _SIDES4 + [(0, _MID)],
    10: _SIDES4 + [(0, _TOP + _THIRD / 2), (0, _BOTTOM - _THIRD / 2)],
}
_COLUMN_X = 0.19  # horizontal distance of the side pip columns from the centre, as a fraction of card width


def _paste_max(mask: Image.Image, tile: Image.Image, x: float, y: float) -> None:
    """Add ``tile`` into ``mask`` at ``(x, y)`` without erasing what is already drawn there (per-pixel maximum)."""
    box = (round(x), round(y), round(x) + tile.width, round(y) + tile.height)
    mask.paste(ImageChops.lighter(mask.crop(box), tile), box[:2])


class _CardCanvas:
    """One card being drawn large: the card stock, plus ``L`` masks for the inks applied at the end.

    Content that appears twice on a card, the right way up in the top-left and upside down in the bottom-right
    (corner indices, the halves of a face card), is drawn once into the ``*_twice`` masks, which are combined
    with their 180-degree rotation when the card is finished.
    """

    def __init__(self, style: CardStyle, suit: str, width: int, height: int, factor: int) -> None:
        self.style, self.suit, self.factor = style, suit, factor
        self.w, self.h = width, height
        self.image = Image.new("RGBA", (width, height), style.card_edge + (0,))
        radius = style.corner_radius * width
        edge = max(factor, round(style.edge_width * width))  # at least one final pixel
        draw = ImageDraw.Draw(self.image)
        draw.rounded_rectangle([0, 0, width - 1, height - 1], radius=radius, fill=style.card_edge + (255,))
        inner = [edge, edge, width - 1 - edge, height - 1 - edge]
        draw.rounded_rectangle(inner, radius=max(0.0, radius - edge), fill=style.card_face + (255,))
        self.ink = Image.new("L", (width, height), 0)
        self.ink_twice = Image.new("L", (width, height), 0)
        self.accent_twice = Image.new("L", (width, height), 0)
        self.panel_twice = Image.new("L", (width, height), 0)

    # -- corner index ------------------------------------------------------------------------------------------
    def draw_index(self, rank: str) -> None:
        """Rank label with a small suit below it, in the top-left corner (and, mirrored, the bottom-right)."""
        w, h = self.w, self.h
        glyph = _glyph(self.style.font, rank)
        gh = round(self.style.index_height * h)
        gw = round(gh * glyph.width / glyph.height)
        gw = min(gw, round(0.19 * w))  # "10" is condensed to fit the index column, as printed
        cx = 0.118 * w
        top = 0.045 * h
        _paste_max(self.ink_twice, glyph.resize((gw, gh), Image.Resampling.LANCZOS), cx - gw / 2, top)
        suit_h = 0.64 * gh
        _draw_suit(ImageDraw.Draw(self.ink_twice), self.suit, cx, top + gh + 0.22 * gh + suit_h / 2, suit_h)

    # -- number cards ------------------------------------------------------------------------------------------
    def draw_pips(self, count: int) -> None:
        draw = ImageDraw.Draw(self.ink)
        pip_h = self.style.pip_height * self.h
        for column, row in _PIPS[count]:
            x = self.w / 2 + column * _COLUMN_X * self.w
            _draw_suit(draw, self.suit, x, row * self.h, pip_h, flip=row > _MID + 1e-6)

    def draw_ace(self) -> None:
        pip_h = min(2.6 * self.style.pip_height, 0.4) * self.h
        _draw_suit(ImageDraw.Draw(self.ink), self.suit, self.w / 2, self.h / 2, pip_h)

    # -- face cards --------------------------------------------------------------------------------------------
    def draw_face(self, rank: str) -> None:
        """A framed panel, double-headed as on printed court cards: crown, big letter and suit in each half."""
        w, h = self.w, self.h
        left, right = 0.25 * w, 0.75 * w
        top = 0.06 * h
        line = max(self.factor, 0.012 * w)
        # Panel fill and its frame are point-symmetric already; drawn in the upper-half masks for simplicity.
        panel = ImageDraw.Draw(self.panel_twice)
        panel.rectangle([left, top, right, h / 2], fill=255)
        ink = ImageDraw.Draw(self.ink_twice)
        ink.rectangle([left, top, right, h / 2], outline=255, width=round(line))
        inset = 3.2 * line
        if right - left >= 2 * inset:  # the inner frame (a card a few pixels wide has no room for it)
            ink.rectangle([left + inset, top + inset, right - inset, h / 2 + 1], outline=255, width=round(line / 2))
        ink.line([left, h / 2, right, h / 2], fill=255, width=round(line))
        # Crown (accent colour) at the top of the upper half.
        crown_cx, crown_w, crown_h = w / 2, 0.3 * w, 0.075 * h
        crown_top = top + inset + 0.022 * h
        self._crown(rank, crown_cx, crown_top, crown_w, crown_h)
        # Big letter under the crown.
        glyph = _glyph(self.style.font, rank)
        gh = round(0.155 * h)
        gw = min(round(gh * glyph.width / glyph.height), round(0.4 * w))
        letter_top = crown_top + crown_h + 0.02 * h
        _paste_max(self.ink_twice, glyph.resize((gw, gh), Image.Resampling.LANCZOS), w / 2 - gw / 2, letter_top)
        # Suit symbol between the letter and the centre line.
        suit_h = 0.07 * h
        space_top, space_bottom = letter_top + gh, h / 2 - line
        _draw_suit(ink, self.suit, w / 2, (space_top + space_bottom) / 2, min(suit_h, 0.8 * (space_bottom - space_top)))

    def _crown(self, rank: str, cx: float, top: float, width: float, height: float) -> None:
        """K: a three-pointed crown with jewels; Q: a five-pointed tiara; J: a page's cap with a pompom."""
        draw = ImageDraw.Draw(self.accent_twice)
        left, right, base = cx - width / 2, cx + width / 2, top + height
        band = 0.28 * height
        jewel = 0.09 * width
        if rank == "K":
            xs = [left, left + width * 0.25, cx, right - width * 0.25, right]
            tips = [top + jewel, top + 0.55 * height, top + jewel * 0.6, top + 0.55 * height, top + jewel]
            draw.polygon([(left, base)] + list(zip(xs, tips)) + [(right, base)], fill=255)
            for x, y in ((left, top + jewel), (cx, top + jewel * 0.6), (right, top + jewel)):
                draw.ellipse([x - jewel / 2, y - jewel / 2, x + jewel / 2, y + jewel / 2], fill=255)
        elif rank == "Q":
            n = 5
            pts = [(left, base)]
            for i in range(n):
                x0 = left + width * i / n
                pts += [(x0, base - band), (x0 + width / (2 * n), top + 0.3 * height), (x0 + width / n, base - band)]
            pts.append((right, base))
            draw.polygon(pts, fill=255)
            for i in range(n):
                x = left + width * (i + 0.5) / n
                y = top + 0.3 * height
                r = jewel * 0.35
                draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
        else:
            # A page's cap: a dome on a brim, topped with a pompom.
            dome_top = top + 0.3 * height
            dome = [left + 0.14 * width, dome_top, right - 0.14 * width, base + (base - dome_top)]
            draw.chord(dome, 180, 360, fill=255)
            draw.rounded_rectangle([left, base - band, right, base], radius=band / 2, fill=255)
            r = 0.17 * height
            draw.ellipse([cx - r, dome_top - 1.6 * r, cx + r, dome_top + 0.4 * r], fill=255)

    # -- finishing -----------------------------------------------------------------------------------------------
    def finish(self) -> Image.Image:
        """Apply the inks to the card stock in painting order: panel, accent, suit ink."""
        rot = Image.Transpose.ROTATE_180
        ink = ImageChops.lighter(self.ink, ImageChops.lighter(self.ink_twice, self.ink_twice.transpose(rot)))
        panel = ImageChops.lighter(self.panel_twice, self.panel_twice.transpose(rot))
        accent = ImageChops.lighter(self.accent_twice, self.accent_twice.transpose(rot))
        # Paste each ink only over its bounding box: a masked paste costs per pixel of the box, and the panel and
        # accent cover a small part of the card.
        for colour, mask in (
            (self.style.face_panel, panel),
            (self.style.face_accent, accent),
            (self.style.suit_colour(self.suit), ink),
        ):
            box = mask.getbbox()
            if box:
                self.image.paste(colour + (255,), box, mask.crop(box))
        return self.image
