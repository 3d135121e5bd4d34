"""Reinforcement learning: stable-baselines3 PPO on the numeric wrappers, in distribution only.

GeneralPoints: :class:`gpoints_env.numeric.FormulaTokens` on ``GeneralPoints-v0`` (the reward is the game's:
+5 correct, -1 wrong value, -3 division by zero, -1 per illegal token). V-IRL:
:class:`virl_env.numeric.DiscreteNavigation` on ``VIRL-v0`` training routes 48..999 (+1 correct action, -1
wrong). The policy's weights are saved as a torch state dict (no pickled objects) and the trained policy is
scored on fresh in-distribution episodes of the wrapper itself (the harness comparison is
``examples/sft_vs_rl.py``).

    python examples/ppo.py --game both --gp-timesteps 250000 --virl-timesteps 60000 --out runs/ppo
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from sftrl_core.registry import GENERAL_POINTS, VIRL, GameInfo

from policies import SHORT_NAMES, games, make_gp_env, make_ppo, make_virl_env

#: Per game: its numeric training environment.
RECIPES = {GENERAL_POINTS: make_gp_env, VIRL: make_virl_env}


def score(model, env, episodes: int, seed: int) -> tuple[float, float]:
    """Success rate and mean return of the deterministic policy over ``episodes`` seeded episodes."""
    wins, returns = 0, []
    for i in range(episodes):
        obs, info = env.reset(seed=seed + i)
        done, total = False, 0.0
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, info = env.step(int(action))
            total += reward
            done = terminated or truncated
        wins += bool(info.get("is_success"))
        returns.append(total)
    return wins / episodes, float(np.mean(returns))


def run(game: GameInfo, timesteps: int, args: argparse.Namespace) -> Path:
    """Train PPO on one game, save the policy weights, print a score; returns the weights path."""
    make_env, short = RECIPES[game], SHORT_NAMES[game]
    env = make_env()
    env.reset(seed=args.seed)
    model = make_ppo(env, seed=args.seed, n_steps=args.n_steps, batch_size=min(256, args.n_steps))
    print(f"[{game.name}] PPO for {timesteps} steps on {env.observation_space.shape[0]} inputs, "
          f"{env.action_space.n} actions")
    start = time.perf_counter()
    model.learn(timesteps)
    print(f"[{game.name}] trained in {time.perf_counter() - start:.1f} s")
    path = Path(args.out) / f"ppo_{short}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.policy.state_dict(), path)
    # Reload into a fresh PPO of the same shape: tensors only, never SB3's pickled zip contents.
    fresh = make_ppo(env, seed=args.seed, n_steps=args.n_steps, batch_size=min(256, args.n_steps))
    fresh.policy.load_state_dict(torch.load(path, weights_only=True))
    success, mean_return = score(fresh, make_env(), args.eval_episodes, seed=args.seed + 700_000)
    print(f"[{game.name}] saved {path}; reloaded: success {success:.3f}, mean return {mean_return:.2f} "
          f"over {args.eval_episodes} in-distribution episodes")
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--game", type=games, default="both", metavar="GAME",
                        help="which game to train on: GeneralPoints, V-IRL or both (default both; gp and virl "
                             "also work)")
    parser.add_argument("--gp-timesteps", type=int, default=250_000, help="PPO steps on GeneralPoints (default 250000)")
    parser.add_argument("--virl-timesteps", type=int, default=60_000, help="PPO steps on V-IRL (default 60000)")
    parser.add_argument("--eval-episodes", type=int, default=100,
                        help="in-distribution episodes to score the reloaded policy on (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="training and evaluation seed (default 0)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", default="runs/ppo", help="folder for the saved policies (default runs/ppo)")
    parser.add_argument("--n-steps", type=int, default=2048, help="PPO rollout length per update")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    timesteps = {GENERAL_POINTS: args.gp_timesteps, VIRL: args.virl_timesteps}
    for game in args.game:
        run(game, timesteps[game], args)


if __name__ == "__main__":
    main()
