"""Draw the V-IRL map picture used in the README: ``assets/virl_map.png``.

Run from the repository root::

    python examples/make_virl_assets.py

Picks a route of the New-York-like training city with three or more legs, walks the expert a third
of the way along it, and saves the top-down map (streets, landmarks, the route with its rail
points, the named landmarks of the instruction, and the agent as an orange arrow).
"""

from __future__ import annotations

import math
from pathlib import Path

import gymnasium as gym
from PIL import Image

OUT = Path(__file__).resolve().parents[1] / "assets" / "virl_map.png"


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


if __name__ == "__main__":
    main()
