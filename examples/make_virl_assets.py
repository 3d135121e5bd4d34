"""Draw the V-IRL pictures used in the README.

Run from the repository root::

    python examples/make_virl_assets.py

* ``assets/virl_map.png``: a route of the New-York-like training city with three or more legs, the
  expert a third of the way along it: the top-down map (streets, landmarks, the route with its rail
  points, the named landmarks of the instruction, and the agent as an orange arrow).
* ``assets/virl_vl_new_york.png``: the image observation of ``VIRL-VL-v0`` (default 256-pixel views)
  at an intersection where the instruction names a landmark: front, right / back, left.
* ``assets/virl_vl_unseen.png``: the same kind of observation in six unseen styles of the visual-OOD
  benchmark (``VIRL-VL-VisualOOD-v0``), each captioned with its style and time of day.
* ``assets/virl_vl_styles.png``: every style side by side at one route point: the training city's
  streets drawn in each style's look (colours and street geometry), front and right views.
"""

from __future__ import annotations

import math
from pathlib import Path

import gymnasium as gym
from PIL import Image, ImageDraw, ImageFont

ASSETS = Path(__file__).resolve().parents[1] / "assets"
OUT = ASSETS / "virl_map.png"
UNSEEN_SHOWN = ("paris", "london", "tokyo", "rome", "mumbai", "moscow")


def _named_intersection(env, options: dict) -> tuple[dict, dict]:
    """Walk the expert to the first intersection where a landmark named in the instruction has a
    sign in the front or right view; returns that observation and info."""
    obs, info = env.reset(options=options)
    best = (obs, info)
    while True:
        point = env.unwrapped.rail[env.unwrapped.point_index]
        named = [n for n in point.landmarks if n in info["instruction"]]
        views = {s.view for s in env.unwrapped.visible_signs() if s.name in named}
        if point.at_intersection and views & {0, 1}:
            return obs, info
        if point.landmarks and best[1]["observation"] == "No landmarks nearby":
            best = (obs, info)
        obs, _, terminated, _, info = env.step(env.unwrapped.expert_reply())
        if terminated:
            return best


def make_vl_pictures() -> None:
    env = gym.make("virl_env:VIRL-VL-v0")
    for k in range(40):
        obs, info = _named_intersection(env, {"route": k})
        if "intersection" in info["observation"] and info["observation"] != "No landmarks nearby":
            break
    Image.fromarray(obs["image"]).save(ASSETS / "virl_vl_new_york.png", optimize=True)
    print(f"saved {ASSETS / 'virl_vl_new_york.png'} (route {info['route']}: {info['observation']})")

    bench = gym.make("virl_env:VIRL-VL-VisualOOD-v0")
    from virl_env import VISUAL_OOD_ROUTES

    tiles = []
    for style in UNSEEN_SHOWN:
        k = next(i for i, (s, _, _) in enumerate(VISUAL_OOD_ROUTES) if s == style)
        obs, info = _named_intersection(bench, {"route": k})
        look = bench.unwrapped.city.style.look
        tiles.append((obs["image"], f"{style} ({look.time_of_day}), benchmark route {k}"))
    side = tiles[0][0].shape[0]
    caption = 26
    sheet = Image.new("RGB", (3 * side + 2 * 12, 2 * (side + caption) + 12), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=16)
    for i, (image, label) in enumerate(tiles):
        x, y = (i % 3) * (side + 12), (i // 3) * (side + caption + 12)
        draw.text((x + 4, y + 4), label, fill=(20, 20, 20), font=font)
        sheet.paste(Image.fromarray(image), (x, y + caption))
    sheet.save(ASSETS / "virl_vl_unseen.png", optimize=True)
    print(f"saved {ASSETS / 'virl_vl_unseen.png'}")


def make_style_sheet() -> None:
    """One route point of the training city in every style's look: the same streets and
    landmarks, each style's colours, street widths, buildings, trees, cars and camera."""
    from virl_env.world.city import get_city
    from virl_env.sources import styled_city
    from virl_env.world.routes import get_rail, get_route
    from virl_env.streetview.views import render_grid
    from virl_env.world.styles import STYLE_NAMES, TRAINING_STYLE, get_style

    base = get_style(TRAINING_STYLE)
    city = get_city(base, 0)
    # A point where named landmarks stand in the front view, one of them on a diagonal side.
    point = next(p for k in range(60) for p in get_rail(city, get_route(city, k), 2)
                 if len(p.landmarks) >= 2 and "front" in p.observation and p.kind == "forward")
    size = 256
    tiles = []
    for name in STYLE_NAMES:
        styled = styled_city(base.replace(look=get_style(name).look), 0)
        grid, _ = render_grid(styled, point.position, point.heading, size)
        tiles.append((grid[:size], name + (" (training)" if name == TRAINING_STYLE else "")
                      + f", {get_style(name).look.time_of_day}"))
    width = tiles[0][0].shape[1]
    caption, gap, columns = 24, 10, 3
    rows = (len(tiles) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * width + (columns - 1) * gap, rows * (size + caption + gap)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=16)
    for i, (image, label) in enumerate(tiles):
        x, y = (i % columns) * (width + gap), (i // columns) * (size + caption + gap)
        draw.text((x + 4, y + 3), label, fill=(20, 20, 20), font=font)
        sheet.paste(Image.fromarray(image), (x, y + caption))
    note = ["The training city's streets at one route point,", "drawn in every style's look", "(front | right views).",
            "", "Text observation at this point:"] + [part + ";" for part in point.observation.split("; ")]
    for k, line in enumerate(note):
        draw.text((len(tiles) % columns * (width + gap) + 8, (rows - 1) * (size + caption + gap) + caption + 8 + 22 * k),
                  line, fill=(20, 20, 20), font=font)
    sheet.save(ASSETS / "virl_vl_styles.png", optimize=True)
    print(f"saved {ASSETS / 'virl_vl_styles.png'} ({point.observation})")


def main() -> None:
    env = gym.make("virl_env:VIRL-v0", render_mode="rgb_array", render_size=900)
    route_index = 0
    for k in range(200):
        _, info = env.reset(options={"route": k})
        route = env.unwrapped.route
        city = env.unwrapped.city
        named = [city.landmarks[route.start].position, city.landmarks[route.destination].position]
        named += [city.landmark_by_name[leg.landmark].position for leg in route.legs[:-1] if leg.landmark]
        spread = min(math.dist(a, b) for i, a in enumerate(named) for b in named[i + 1:])
        if (len(route.legs) >= 3 and route.length > 550 and all(leg.landmark for leg in route.legs)
                and spread > 150):
            route_index = k
            break
    _, info = env.reset(options={"route": route_index})
    for _ in range(info["num_points"] // 3):
        env.step(env.unwrapped.expert_reply())
    frame = env.render()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(frame).save(OUT, optimize=True)
    print(f"saved {OUT} (route {route_index})")
    print(env.unwrapped.route.instruction)
    make_vl_pictures()
    make_style_sheet()


if __name__ == "__main__":
    main()
