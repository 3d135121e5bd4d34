"""Draw the GeneralPoints card pictures used in the README, into ``assets/``.

Run from the repository root::

    python examples/make_gpoints_assets.py [--out assets]

Writes:

* ``gpoints_black.png``: a hand dealt from the black suits, default look (what ``GeneralPoints-VL-v0`` shows).
* ``gpoints_red.png``: a hand dealt from the red suits (the paper's visual out-of-distribution setting).
* ``gpoints_styles.png``: the same hand in other looks (four-colour deck, all suits red, jitter, other table
  and card colours), labelled.
* ``gpoints_all_cards.png``: all 52 cards at the size they have in a default 512 px hand, to check legibility;
  ``gpoints_all_cards_1200.png``: the same at the paper's 1200 px scale.

Hands are dealt with the package's own dealer from fixed seeds, so the pictures are the same on every run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gpoints_env.cards import SUITS, Card, deal_hand
from gpoints_env.render import RANKS, render_card, render_hand
from gpoints_env.rules import Rules
from gpoints_env.style import (
    ALL_RED_STYLE,
    DEFAULT_STYLE,
    FOUR_COLOUR_STYLE,
    JITTER_STYLE,
    PAPER_STYLE,
    CardStyle,
)

ROOT = Path(__file__).resolve().parents[1]


def save(image: Image.Image | np.ndarray, path: Path) -> None:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    image.save(path, optimize=True)
    print(f"saved {path} ({image.width}x{image.height}, {path.stat().st_size // 1024} KiB)")


def contact_sheet(style: CardStyle, gap: int) -> Image.Image:
    """All 52 cards, one suit per row, ranks in order, on the table colour."""
    cards = [render_card(rank, suit, style) for suit in SUITS for rank in RANKS]
    w, h = cards[0].size
    sheet = Image.new("RGB", (13 * (w + gap) + gap, 4 * (h + gap) + gap), style.background)
    for i, card in enumerate(cards):
        sheet.paste(card, (gap + (i % 13) * (w + gap), gap + (i // 13) * (h + gap)), card)
    return sheet


def labelled_grid(tiles: list[tuple[str, np.ndarray]], columns: int, crop: float) -> Image.Image:
    """Frames side by side, each cropped to its middle band (the cards) and captioned."""
    font = ImageFont.load_default(size=18)
    images = []
    for caption, frame in tiles:
        size = frame.shape[0]
        top = round(size * (0.5 - crop / 2))
        band = Image.fromarray(frame[top : top + round(size * crop)])
        ImageDraw.Draw(band).text((10, 8), caption, font=font, fill=(255, 255, 255))
        images.append(band)
    w, h = images[0].size
    rows = (len(images) + columns - 1) // columns
    grid = Image.new("RGB", (columns * w + (columns - 1) * 4, rows * h + (rows - 1) * 4), (255, 255, 255))
    for i, image in enumerate(images):
        grid.paste(image, ((i % columns) * (w + 4), (i // columns) * (h + 4)))
    return grid


def main() -> None:
    parser = argparse.ArgumentParser(description="Draw the GeneralPoints card pictures used in the README.")
    parser.add_argument("--out", type=Path, default=ROOT / "assets",
                        help="folder to write the PNG files into (default: the repository's assets/)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    black = deal_hand(Rules(suit_colour="black"), np.random.default_rng(1))
    red = deal_hand(Rules(suit_colour="red"), np.random.default_rng(1))
    # Make sure the README shows a face card.
    if not any(card.rank in "JQK" for card in black):
        black[-1] = Card("K", "spades" if black[-1].suit != "spades" else "clubs")
    save(render_hand(black, DEFAULT_STYLE), args.out / "gpoints_black.png")
    save(render_hand(red, DEFAULT_STYLE), args.out / "gpoints_red.png")

    mixed = [Card("Q", "spades"), Card("7", "hearts"), Card("10", "diamonds"), Card("A", "clubs")]
    looks = [
        ("default (standard deck)", DEFAULT_STYLE, None),
        ("four-colour deck", FOUR_COLOUR_STYLE, None),
        ("all suits red", ALL_RED_STYLE, None),
        ("jitter (6 deg, 6%)", JITTER_STYLE, np.random.default_rng(4)),
        ("navy table, ivory cards", DEFAULT_STYLE.replace(background=(22, 36, 71), card_face=(246, 240, 222)), None),
        ("no shadow, square corners", DEFAULT_STYLE.replace(shadow=0.0, corner_radius=0.0), None),
    ]
    tiles = [(caption, render_hand(mixed, style, rng)) for caption, style, rng in looks]
    save(labelled_grid(tiles, columns=2, crop=0.42), args.out / "gpoints_styles.png")

    save(contact_sheet(DEFAULT_STYLE, gap=6), args.out / "gpoints_all_cards.png")
    save(contact_sheet(PAPER_STYLE, gap=12), args.out / "gpoints_all_cards_1200.png")


if __name__ == "__main__":
    main()
