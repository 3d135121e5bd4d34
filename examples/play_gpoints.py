"""Play seeded GeneralPoints episodes with an oracle agent and a random agent, and print what happened.

    python examples/play_gpoints.py [--episodes 5] [--seed 0] [--quiet]

An agent is any callable ``(observation, info) -> reply``: the same interface a language model gets. The
agents come from ``examples/agents.py``: the oracle answers with the exact solver; the random agent writes a
random well-formed formula over the cards, so it exercises the feedback loop (wrong values, retries) and is
rarely right.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

import gymnasium as gym

import gpoints_env  # noqa: F401  (registers the environments)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from agents import OracleAgent, RandomAgent  # noqa: E402

Agent = Callable[[str, dict[str, Any]], str]


def play(env_id: str, agent: Agent, episodes: int, seed: int, verbose: bool) -> float:
    """Play ``episodes`` episodes; return the success rate."""
    env = gym.make(env_id)
    wins = 0
    for episode in range(episodes):
        obs, info = env.reset(seed=seed + episode)
        if hasattr(agent, "begin_episode"):  # the oracle reads the hand from the env
            agent.begin_episode(env)
        if verbose:
            print(f"  episode {episode}: cards {' '.join(info['cards'])} -> numbers {info['numbers']}")
        terminated = False
        while not terminated:
            reply = agent(obs, info)
            obs, reward, terminated, _, info = env.step(reply)
            if verbose:
                print(f"    reply {reply:<32} {info['verdict'].value:<16} {reward:+.0f}  {info['feedback']}")
        wins += info["is_success"]
    env.close()
    return wins / episodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=5, help="episodes per environment and agent (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode (default 0)")
    parser.add_argument("--quiet", action="store_true", help="print only the summary table")
    args = parser.parse_args()

    results = []
    for env_id in ("GeneralPoints-v0", "GeneralPoints-RuleOOD-v0"):
        for name, agent in (("oracle", OracleAgent()), ("random", RandomAgent(args.seed))):
            if not args.quiet:
                print(f"\n{env_id} with the {name} agent")
            rate = play(env_id, agent, args.episodes, args.seed, verbose=not args.quiet)
            results.append((env_id, name, rate))

    print(f"\nSuccess rate over {args.episodes} seeded episodes (5 attempts each):")
    print("| environment | agent | success |\n|---|---|---|")
    for env_id, name, rate in results:
        print(f"| {env_id} | {name} | {rate:.0%} |")


if __name__ == "__main__":
    main()
