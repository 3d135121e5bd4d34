"""Landmark signs of the street views: which view a sign goes in, its colours, lettering and layout.

The rule that ties the pictures to the text (one place, used by the renderer and the tests):

* **Exactly the named landmarks.** The views of a point draw a lettered sign for exactly the
  landmarks its text observation names (the :data:`~virl_env.world.routes.VIEW_LIMIT` nearest within
  :data:`~virl_env.world.city.VIEW_RADIUS`), and no other lettering.
* **In the view of the named side.** A sign is drawn whole inside the view its side belongs to,
  never across a separator. :data:`SIDE_VIEW` maps the eight sides to the four views: a diagonal
  side goes to the view of its last word, as in English ("right front" is a front position, "left
  behind" a position behind), so the front view holds ``front``, ``right front`` and ``left
  front``, the back view ``behind``, ``right behind`` and ``left behind``, the side views ``right``
  and ``left``. Within its view a sign sits where the landmark is, moved sideways just enough to be
  whole (and off the other signs).
* **Legible.** Capital letters are at least :func:`letter_height` pixels tall (12 px at the
  default 256-pixel views, scaling with the view; below 128-pixel views a view crowded with three
  signs may letter them smaller to keep them whole), and the lettering contrasts with its board by
  at least :data:`MIN_SIGN_CONTRAST` (WCAG contrast ratio) in every look: a look whose own colours
  fall short gets black or white lettering.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from virl_env.world.styles import StreetLook

__all__ = [
    "MIN_SIGN_CONTRAST",
    "SIDE_VIEW",
    "SignPlacement",
    "contrast_ratio",
    "layout_signs",
    "letter_height",
    "load_font",
    "sign_color",
    "sign_colors",
]

SIDE_VIEW: dict[str, int] = {
    "front": 0, "right front": 0, "left front": 0,
    "right": 1,
    "behind": 2, "right behind": 2, "left behind": 2,
    "left": 3,
}
"""View index (0 front, 1 right, 2 back, 3 left) in which a landmark on each side is drawn."""

MIN_SIGN_CONTRAST = 4.5
"""Least contrast ratio between a sign's lettering and its board (WCAG AA for normal text)."""

LETTER_FRACTION = 12 / 256
"""Capital-letter height as a fraction of the view side (12 px at 256-pixel views)."""

MIN_LETTER_PX = 7
"""Capital letters are never smaller than this, whatever the view size."""

SIGN_MARGIN = 2             # pixels between a sign and its view's edge
SIGN_GAP = 3                # pixels between two signs


@dataclass(frozen=True)
class SignPlacement:
    """Where a landmark's sign was drawn: the landmark name, the view index (0 front, 1 right,
    2 back, 3 left), its pixel box ``(x0, y0, x1, y1)`` within that view (end exclusive), the side
    the text observation names and the height in pixels of the sign's capital letters."""

    name: str
    view: int
    box: tuple[int, int, int, int]
    side: str = ""
    letter_height: int = 0


def letter_height(size: int) -> int:
    """Least capital-letter height in pixels of the signs in ``size``-pixel views."""
    return max(MIN_LETTER_PX, int(round(size * LETTER_FRACTION)))


# ---- colours ------------------------------------------------------------------------------------
def _luminance(rgb: Sequence[float]) -> float:
    def channel(c: float) -> float:
        c = c / 255.0
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    """WCAG contrast ratio of two RGB colours (1 to 21)."""
    la, lb = _luminance(a), _luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def sign_color(look: StreetLook, kind: str) -> tuple[int, int, int]:
    """The sign colour of a landmark kind in a look (stable across processes: CRC32). Board
    colour, except for neon signs, where it is the colour of the glowing letters."""
    return look.sign_colors[zlib.crc32(kind.encode("utf-8")) % len(look.sign_colors)]


@lru_cache(maxsize=256)
def sign_colors(look: StreetLook, kind: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """``(board, lettering)`` colours of a kind's sign, with the lettering replaced by black or
    white when the look's own colours contrast less than :data:`MIN_SIGN_CONTRAST`."""
    color = sign_color(look, kind)
    board, text = (look.sign_border, color) if look.sign_shape == "neon" else (color, look.sign_text)
    if contrast_ratio(board, text) < MIN_SIGN_CONTRAST:
        text = max(((255, 255, 255), (0, 0, 0)), key=lambda c: contrast_ratio(board, c))
    return board, text


def _scale(color: Sequence[float], factor: float) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, round(c * factor)))) for c in color)  # type: ignore[return-value]


# ---- lettering ----------------------------------------------------------------------------------
@lru_cache(maxsize=64)
def load_font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's bundled font at ``size`` pixels (no font files needed)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: fixed-size bitmap font
        return ImageFont.load_default()


@lru_cache(maxsize=64)
def _cap_height(font_size: int) -> int:
    box = load_font(font_size).getbbox("H")
    return int(box[3] - box[1])


@lru_cache(maxsize=64)
def _font_size_for(cap: int) -> int:
    """Smallest font size whose capital letters are at least ``cap`` pixels tall."""
    size = max(6, cap)
    while _cap_height(size) < cap and size < 4 * cap + 8:
        size += 1
    return size


def _wrap(text: str, lines: int) -> list[str]:
    """Split ``text`` at spaces into ``lines`` lines of balanced length (fewer if too few words)."""
    words = text.split()
    if lines <= 1 or len(words) <= 1:
        return [text]
    best: list[str] | None = None
    for cut in range(1, len(words)):
        head, tail = " ".join(words[:cut]), words[cut:]
        rest = _wrap(" ".join(tail), lines - 1)
        candidate = [head] + rest
        if best is None or max(map(len, candidate)) < max(map(len, best)):
            best = candidate
    return best or [text]


_SPRITE_CACHE_BYTES = 48 * 2**20
_sprites: OrderedDict[tuple[str, str, StreetLook, int, int], tuple[np.ndarray, int]] = OrderedDict()
_sprite_bytes = 0


def sign_sprite(name: str, kind: str, look: StreetLook, cap: int, max_width: int) -> tuple[np.ndarray, int]:
    """A sign board lettered with ``name``: an RGBA ``uint8`` array (read-only) and the height in
    pixels of its capital letters.

    The lettering is as small as allowed (``cap`` pixel capitals) and split over up to three lines
    so that the board is no wider than about 60% of ``max_width``; only if even three lines
    are wider than ``max_width`` does the lettering shrink (tiny views only).

    Sprites are cached per process (least recently used first out, 48 MB at most): a landmark's
    letters are the same every time it is seen, and lettering is the dearest part of a sign (a
    city of a few hundred landmarks, each at a few letter sizes, fits at 256-pixel views)."""
    global _sprite_bytes
    key = (name, kind, look, cap, max_width)
    hit = _sprites.get(key)
    if hit is not None:
        _sprites.move_to_end(key)
        return hit
    value = _letter_sign(name, kind, look, cap, max_width)
    _sprites[key] = value
    _sprite_bytes += value[0].nbytes
    while _sprite_bytes > _SPRITE_CACHE_BYTES and len(_sprites) > 1:
        _, (old, _letters) = _sprites.popitem(last=False)
        _sprite_bytes -= old.nbytes
    return value


def _letter_sign(name: str, kind: str, look: StreetLook, cap: int, max_width: int) -> tuple[np.ndarray, int]:
    """:func:`sign_sprite` without the cache."""
    text = name.upper() if look.sign_case == "upper" else name
    board_color, text_color = sign_colors(look, kind)
    measure = ImageDraw.Draw(Image.new("L", (1, 1)))
    while True:
        font_size = _font_size_for(cap)
        font = load_font(font_size)
        pad = max(2, font_size // 3)
        # The fewest lines that keep the board within 60% of the view, else the narrowest board.
        options = []
        for n in (1, 2, 3):
            lines = _wrap(text, n)
            widths = [int(measure.textlength(ln, font=font)) for ln in lines]
            options.append((max(widths) + 2 * pad + 2, n, lines, widths))
            if options[-1][0] <= 0.6 * max_width:
                break
        board_w, _, lines, widths = options[-1] if options[-1][0] <= 0.6 * max_width else min(options)
        if board_w <= max_width or cap <= 5:
            break
        cap -= 1
    ascent, descent = font.getmetrics()
    line_h = ascent + descent // 2
    top = font.getbbox("H")[1]   # blank rows above the capitals in a text line
    bh = line_h * len(lines) - top + 2 * pad
    shape = look.sign_shape
    extra = int(round(min(bh, 2.2 * cap) * 0.5)) if shape in ("awning", "banner") else 0
    img = Image.new("RGBA", (board_w, bh + extra), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    border = max(1, font_size // 9)
    if shape == "neon":
        draw.rectangle([0, 0, board_w - 1, bh - 1], fill=board_color + (255,), outline=text_color + (255,),
                       width=border)
    elif shape == "rounded":
        draw.rounded_rectangle([0, 0, board_w - 1, bh - 1], radius=max(2, min(bh // 3, font_size // 2)),
                               fill=board_color + (255,), outline=look.sign_border + (255,), width=border)
    else:
        draw.rectangle([0, 0, board_w - 1, bh - 1], fill=board_color + (255,), outline=look.sign_border + (255,),
                       width=border)
    if shape == "awning":
        # A striped canopy under the board, slanting out toward the street.
        stripes = max(4, board_w // max(4, font_size))
        y0 = bh + max(1, extra // 6)
        dark = _scale(board_color, 0.75)
        for i in range(stripes):
            x0, x1 = i * board_w / stripes, (i + 1) * board_w / stripes
            color = dark if i % 2 == 0 else (238, 234, 226)
            draw.polygon([(x0, y0), (x1, y0), (x1, bh + extra - 1), (x0, bh + extra - 1)], fill=color + (255,))
    elif shape == "banner":
        teeth = max(3, board_w // max(6, 2 * font_size))
        pts = [(0, bh - 1)]
        for i in range(teeth):
            pts += [((i + 0.5) * board_w / teeth, bh - 1 + extra * 0.8), ((i + 1) * board_w / teeth, bh - 1)]
        draw.polygon(pts, fill=board_color + (255,))
    y = pad - top
    for ln, width in zip(lines, widths):
        draw.text(((board_w - width) / 2, y), ln, font=font, fill=text_color + (255,))
        y += line_h
    arr = np.asarray(img)
    arr.setflags(write=False)
    return arr, _cap_height(font_size)


# ---- layout ---------------------------------------------------------------------------------------
def _overlaps(box: tuple[int, int, int, int], boxes: list[tuple[int, int, int, int]], gap: int) -> bool:
    x0, y0, x1, y1 = box
    return any(x0 < b[2] + gap and b[0] < x1 + gap and y0 < b[3] + gap and b[1] < y1 + gap for b in boxes)


def place_box(cx: float, bottom: float, w: int, h: int, size: int,
              taken: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int] | None:
    """A ``w`` x ``h`` box inside a ``size``-pixel view, as near as possible to being centred at
    ``cx`` with its bottom at ``bottom``, overlapping none of ``taken``; None if there is no room."""
    lo, hi_x, hi_y = SIGN_MARGIN, size - SIGN_MARGIN - w, size - SIGN_MARGIN - h
    if hi_x < lo or hi_y < lo:
        return None
    x = min(max(int(round(cx - w / 2)), lo), hi_x)
    y = min(max(int(round(bottom - h)), lo), hi_y)
    if not _overlaps((x, y, x + w, y + h), taken, SIGN_GAP):
        return x, y, x + w, y + h
    # Every position on a grid of steps around it, nearest first (vertical moves cost a little more:
    # a sign stays near its shop's height), the first that overlaps nothing.
    step = max(2, size // 32)
    shifts = np.arange(-size, size + 1, step)
    cand_x = np.clip(x + shifts, lo, hi_x)[None, :].repeat(len(shifts), 0).ravel()
    cand_y = np.clip(y + shifts, lo, hi_y)[:, None].repeat(len(shifts), 1).ravel()
    free = np.ones(len(cand_x), dtype=bool)
    for b in taken:
        free &= ~((cand_x < b[2] + SIGN_GAP) & (b[0] < cand_x + w + SIGN_GAP)
                  & (cand_y < b[3] + SIGN_GAP) & (b[1] < cand_y + h + SIGN_GAP))
    if not free.any():
        return None
    cost = np.hypot(cand_x - x, 1.5 * (cand_y - y))
    cost[~free] = np.inf
    k = int(np.argmin(cost))
    bx, by = int(cand_x[k]), int(cand_y[k])
    return bx, by, bx + w, by + h


@dataclass(frozen=True)
class SignRequest:
    """A sign to lay out in one view: the landmark's name and kind, the capital-letter height
    wanted, and where the landmark's direction puts it (centre column, bottom row)."""

    name: str
    kind: str
    cap: int
    cx: float
    bottom: float


def _shelf_pack(sizes: list[tuple[int, int]], size: int) -> list[tuple[int, int, int, int]] | None:
    """Boxes of the given ``(w, h)`` sizes in rows from the top of a view, left to right."""
    boxes = []
    x = y = SIGN_MARGIN
    row_h = 0
    for w, h in sizes:
        if x + w > size - SIGN_MARGIN:
            x, y, row_h = SIGN_MARGIN, y + row_h + SIGN_GAP, 0
        if x + w > size - SIGN_MARGIN or y + h > size - SIGN_MARGIN:
            return None
        boxes.append((x, y, x + w, y + h))
        x += w + SIGN_GAP
        row_h = max(row_h, h)
    return boxes


def layout_signs(requests: Sequence[SignRequest], look: StreetLook, size: int
                 ) -> list[tuple[np.ndarray, int, tuple[int, int, int, int]]]:
    """Lay out one view's signs, nearest (first) first: each as near its landmark's direction as
    the view's edges and the other signs allow. When they do not all fit, they are packed in rows
    from the top; when even that fails (tiny views only), the lettering shrinks a pixel at a time.

    Returns:
        ``(sprite, capital-letter height, box)`` per request, in order.
    """
    shrink = 0
    while True:
        sprites = [sign_sprite(r.name, r.kind, look, max(4, r.cap - shrink), size - 2 * SIGN_MARGIN)
                   for r in requests]
        taken: list[tuple[int, int, int, int]] = []
        for r, (sprite, _) in zip(requests, sprites):
            box = place_box(r.cx, r.bottom, sprite.shape[1], sprite.shape[0], size, taken)
            if box is None:
                break
            taken.append(box)
        else:
            return [(sprite, letters, box) for (sprite, letters), box in zip(sprites, taken)]
        packed = _shelf_pack([(sp.shape[1], sp.shape[0]) for sp, _ in sprites], size)
        if packed is not None or min(r.cap for r in requests) - shrink <= 4:
            if packed is None:   # cannot happen from 64-pixel views up; overlap rather than drop a sign
                packed = [(0, 0, min(sp.shape[1], size), min(sp.shape[0], size)) for sp, _ in sprites]
            return [(sprite, letters, box) for (sprite, letters), box in zip(sprites, packed)]
        shrink += 1
