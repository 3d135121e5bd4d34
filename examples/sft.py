"""Supervised fine-tuning (behaviour cloning) of a small MLP on expert demonstrations, in distribution only.

GeneralPoints: the solver's witness formula for each dealt hand (``GeneralPoints-v0``: J/Q/K count 10),
turned into the token sequence of :class:`gpoints_env.numeric.FormulaTokens`. V-IRL: ``expert_action()`` at
every point of training routes (``VIRL-v0``: compass-word turns; routes 48..999 of the training city, the
harness evaluates routes 0..47). The model is saved as a torch state dict plus a JSON architecture file and
reloaded with ``torch.load(..., weights_only=True)`` to report its accuracy on held-out demonstrations.

    python examples/sft.py --game both --out runs/sft
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from sftrl_core.registry import GENERAL_POINTS, VIRL, GameInfo

from policies import (
    SHORT_NAMES,
    games,
    gp_demonstrations,
    load_policy,
    make_gp_env,
    make_virl_env,
    save_policy,
    train_sft,
    virl_demonstrations,
)

#: Per game: its numeric environment, its demonstrations, the fewest held-out episodes, and what is collected.
RECIPES = {
    GENERAL_POINTS: (make_gp_env, gp_demonstrations, 10, "solver demonstrations on {n} hands (seeds {seed}..)"),
    VIRL: (make_virl_env, virl_demonstrations, 5, "expert rails on {n} training routes"),
}


def accuracy(model: torch.nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Share of held-out samples where the model's most likely action is the expert's."""
    with torch.no_grad():
        predicted = model(torch.as_tensor(x, dtype=torch.float32)).argmax(dim=-1).numpy()
    return float((predicted == y).mean())


def run(game: GameInfo, episodes: int, args: argparse.Namespace) -> Path:
    """Collect demonstrations on ``episodes`` hands or routes, train, save, reload, and print held-out accuracy;
    returns the weights path."""
    make_env, demonstrations, least_held_out, collected = RECIPES[game]
    short = SHORT_NAMES[game]
    n_actions = make_env().action_space.n
    print(f"[{game.name}] collecting " + collected.format(n=episodes, seed=args.seed))
    x, y = demonstrations(episodes, seed=args.seed)
    held_x, held_y = demonstrations(max(episodes // 10, least_held_out), seed=args.seed + 500_000)
    print(f"[{game.name}] {len(x)} (observation, action) pairs, observation size {x.shape[1]}, {n_actions} actions")
    start = time.perf_counter()
    model, losses = train_sft(x, y, n_actions, epochs=args.epochs, seed=args.seed, lr=args.lr, log=print)
    print(f"[{game.name}] trained in {time.perf_counter() - start:.1f} s: loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    path = Path(args.out) / f"sft_{short}.pt"
    save_policy(model, path)
    reloaded = load_policy(path)  # weights_only=True: tensors, never arbitrary pickled objects
    print(f"[{game.name}] saved {path}; reloaded, held-out action accuracy {accuracy(reloaded, held_x, held_y):.3f}")
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--game", type=games, default="both", metavar="GAME",
                        help="which game to train on: GeneralPoints, V-IRL or both (default both; gp and virl "
                             "also work)")
    parser.add_argument("--gp-episodes", type=int, default=5000, help="GeneralPoints hands to demonstrate")
    parser.add_argument("--virl-routes", type=int, default=400, help="V-IRL training routes to demonstrate")
    parser.add_argument("--epochs", type=int, default=30, help="passes over the demonstrations (default 30)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 0.001)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the demonstrations and the model (default 0)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", default="runs/sft", help="folder for the saved models (default runs/sft)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    episodes = {GENERAL_POINTS: args.gp_episodes, VIRL: args.virl_routes}
    for game in args.game:
        run(game, episodes[game], args)


if __name__ == "__main__":
    main()
