"""Reference agents for the benchmark harness: an oracle and a random agent, for both games.

Each agent is a callable ``(observation, info) -> reply`` (the interface a language model gets). The oracles
are privileged: the harness hands them the environment through ``begin_episode(env)``, and they answer from
the exact solver (GeneralPoints) or the expert rail (V-IRL). They must score 100% in and out of distribution;
anything less is a bug in the environment or the harness.

    python -m sftrl_eval run --agent examples/agents.py:OracleAgent --settings all --episodes 10 --out runs/oracle
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from gpoints_env import find_solution
from virl_env.task.checker import action_arguments


class OracleAgent:
    """Answers every episode correctly, in the answer format of the env's protocol (``"suite"`` or ``"paper"``):
    the env's expert reply (GeneralPoints: the solver's formula and, in image mode or under ``"paper"``, the
    dealt cards; V-IRL: the expert action on the rail)."""

    name = "oracle"

    def __init__(self) -> None:
        self.env: Any = None

    def begin_episode(self, env: Any) -> None:
        self.env = env.unwrapped

    def __call__(self, observation: Any, info: dict[str, Any]) -> str:
        env = self.env
        if env is None:
            raise RuntimeError("the oracle needs begin_episode(env) before each episode (the harness calls it)")
        if hasattr(env, "expert_reply"):  # every env of the suite: the reply its protocol's prompt asks for
            return env.expert_reply()
        rules = env.active_rules
        ranks = [card.rank for card in env.hand]
        formula = find_solution(rules.values(ranks), rules.target, rules.operators)
        return json.dumps({"cards": ranks, "formula": formula})


class RandomAgent:
    """Answers at random, in the right format: a random formula over the card values (or, in image mode,
    over four random card values, since it cannot read the picture); a random valid V-IRL action."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def _formula(self, numbers: list[int]) -> str:
        terms = [str(n) for n in self.rng.permutation(numbers)]
        while len(terms) > 1:
            i = int(self.rng.integers(len(terms) - 1))
            op = "+-*/"[int(self.rng.integers(4))]
            terms[i : i + 2] = [f"({terms[i]}{op}{terms[i + 1]})"]
        return terms[0]

    def __call__(self, observation: Any, info: dict[str, Any]) -> str:
        if "action_mode" in info:  # V-IRL
            choices = ["forward()", "stop()"] + [f"turn_direction({x})" for x in action_arguments(info["action_mode"])]
            return json.dumps({"action": choices[int(self.rng.integers(len(choices)))]})
        numbers = info.get("numbers") or [int(v) for v in self.rng.integers(1, 11, size=4)]
        return json.dumps({"formula": self._formula(list(numbers))})


class ForwardAgent:
    """Always answers ``forward()`` (V-IRL only): the trivial floor of per-step accuracy. Most points of a route
    expect ``forward()``, so this agent scores well per step while never finishing a route."""

    name = "always-forward"

    def __call__(self, observation: Any, info: dict[str, Any]) -> str:
        return json.dumps({"action": "forward()"})


def oracle() -> OracleAgent:
    return OracleAgent()
