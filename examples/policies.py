"""Shared pieces of the SFT and RL examples: a small MLP policy, expert demonstrations, supervised training,
saving and loading, PPO set-up, and *agent adapters* that let a numeric policy play through the benchmark
harness (``sftrl_eval.evaluate``), which speaks text.

The numeric games are the wrappers shipped in the packages:

* GeneralPoints: :class:`gpoints_env.numeric.FormulaTokens` (build the formula token by token);
* V-IRL: :class:`virl_env.numeric.DiscreteNavigation` (one discrete action per rail point).

An adapter turns the harness's ``(observation, info)`` into the wrapper's numeric observation (GeneralPoints
from ``info["numbers"]``/``info["target"]``; V-IRL from the env the harness hands to ``begin_episode``),
asks the policy for action probabilities, and decodes its choices into the reply string. The same adapter
serves the supervised MLP and the PPO policy, so both are evaluated the same way: illegal tokens are masked,
the first answer is the policy's most likely choice, and retries (after a wrong answer) sample from the
policy, never repeating an answer that already failed in the episode.

This file is not part of the installed packages; run the examples from the repository root
(``python examples/sft.py``), which puts ``examples/`` on ``sys.path``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import gpoints_env  # noqa: F401  (registers the GeneralPoints ids)
import virl_env  # noqa: F401  (registers the V-IRL ids)
from gpoints_env.numeric import FormulaBuilder, FormulaTokens, formula_to_tokens
from gpoints_env.rules import OPERATORS
from gpoints_env.solver import find_solution
from sftrl_core.registry import GENERAL_POINTS, VIRL, GameInfo
from virl_env.numeric import DiscreteNavigation, encode_navigation_state

__all__ = [
    "SHORT_NAMES",
    "games",
    "MLPPolicy",
    "ProbsFn",
    "GP_TRAIN_ID",
    "VIRL_TRAIN_ID",
    "VIRL_EVAL_ROUTES",
    "TrainingRoutes",
    "make_gp_env",
    "make_virl_env",
    "gp_demonstrations",
    "virl_demonstrations",
    "train_sft",
    "save_policy",
    "load_policy",
    "mlp_probs",
    "sb3_probs",
    "make_ppo",
    "GPointsPolicyAgent",
    "VIRLPolicyAgent",
]

#: Each game's short name in the examples' file names (``ppo_gp.pt``) and ``--game`` values.
SHORT_NAMES: dict[GameInfo, str] = {GENERAL_POINTS: "gp", VIRL: "virl"}
_GAME_CHOICES = {**{game.name.lower(): (game,) for game in SHORT_NAMES},
                 **{short: (game,) for game, short in SHORT_NAMES.items()}, "both": tuple(SHORT_NAMES)}


def games(text: str) -> tuple[GameInfo, ...]:
    """The games a ``--game`` value names: a game's name (any case), its short name, or ``both`` (an argparse type).

    Raises:
        argparse.ArgumentTypeError: any other value.
    """
    try:
        return _GAME_CHOICES[text.strip().lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(f"expected GeneralPoints, V-IRL or both, got {text!r}") from None


#: In-distribution training ids (the only data either method sees).
GP_TRAIN_ID = "GeneralPoints-v0"
VIRL_TRAIN_ID = "VIRL-v0"
#: The harness evaluates V-IRL routes ``0 .. 47`` of the training city; training uses only the routes after
#: them, so no evaluation route is ever a training route.
VIRL_EVAL_ROUTES = 48
VIRL_NUM_ROUTES = 1000

#: A policy as the adapters see it: a float32 observation vector -> action probabilities (sum 1).
ProbsFn = Callable[[np.ndarray], np.ndarray]


# ---- the policy ---------------------------------------------------------------------------------------------


class MLPPolicy(nn.Module):
    """A small MLP from the numeric observation to action logits (the supervised policy)."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: Sequence[int] = (128, 128)):
        super().__init__()
        if obs_dim < 1 or n_actions < 1:
            raise ValueError(f"obs_dim and n_actions must be positive, got {obs_dim}, {n_actions}")
        self.config = {"obs_dim": int(obs_dim), "n_actions": int(n_actions), "hidden": [int(h) for h in hidden]}
        layers: list[nn.Module] = []
        width = obs_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.Tanh()]
            width = h
        layers.append(nn.Linear(width, n_actions))
        self.net = nn.Sequential(*layers)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)


def save_policy(model: MLPPolicy, path: str | Path) -> None:
    """Save the weights (``torch.save`` of the state dict) and the architecture (a JSON file next to it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    path.with_suffix(".json").write_text(json.dumps(model.config))


def load_policy(path: str | Path) -> MLPPolicy:
    """Load a policy saved by :func:`save_policy`; tensors only (``weights_only=True``), never arbitrary pickles."""
    path = Path(path)
    config = json.loads(path.with_suffix(".json").read_text())
    model = MLPPolicy(config["obs_dim"], config["n_actions"], config["hidden"])
    model.load_state_dict(torch.load(path, weights_only=True))
    model.eval()
    return model


def mlp_probs(model: MLPPolicy) -> ProbsFn:
    """The :data:`ProbsFn` of a supervised MLP."""

    def probs(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            logits = model(torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0))[0]
        return torch.softmax(logits, dim=-1).numpy()

    return probs


def sb3_probs(model: Any) -> ProbsFn:
    """The :data:`ProbsFn` of a stable-baselines3 policy with a ``Discrete`` action space (e.g. PPO)."""

    def probs(obs: np.ndarray) -> np.ndarray:
        tensor, _ = model.policy.obs_to_tensor(obs)
        with torch.no_grad():
            distribution = model.policy.get_distribution(tensor)
        return distribution.distribution.probs[0].cpu().numpy()

    return probs


# ---- environments --------------------------------------------------------------------------------------------


class TrainingRoutes(gym.Wrapper):
    """Draw each episode's route from ``routes`` only (keeps the harness's evaluation routes out of training).

    Args:
        env: a V-IRL environment.
        routes: the allowed route indices (non-empty).

    Raises:
        ValueError: ``routes`` is empty or holds a negative index.
    """

    def __init__(self, env: gym.Env, routes: Iterable[int]):
        super().__init__(env)
        self.routes = np.asarray(list(routes), dtype=np.int64)
        if self.routes.size == 0 or (self.routes < 0).any():
            raise ValueError(f"routes must be non-empty non-negative indices, got {routes!r}")
        # Its own generator: seeded by reset(seed=...), deterministic (seed 0) before that.
        self._route_rng = np.random.default_rng(0)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self._route_rng = np.random.default_rng(seed)
        options = dict(options or {})
        options.setdefault("route", int(self.routes[self._route_rng.integers(len(self.routes))]))
        return self.env.reset(seed=seed, options=options)


def make_gp_env(env_id: str = GP_TRAIN_ID) -> FormulaTokens:
    """The numeric GeneralPoints game of an id."""
    return FormulaTokens(gym.make(env_id))


def make_virl_env(env_id: str = VIRL_TRAIN_ID, train_routes: bool = True) -> gym.Env:
    """The numeric V-IRL game of an id; ``train_routes`` restricts it to routes the harness never evaluates."""
    env: gym.Env = gym.make(env_id)
    if train_routes:
        env = TrainingRoutes(env, range(VIRL_EVAL_ROUTES, VIRL_NUM_ROUTES))
    return DiscreteNavigation(env)


# ---- demonstrations --------------------------------------------------------------------------------------------


def gp_demonstrations(episodes: int, seed: int, env_id: str = GP_TRAIN_ID) -> tuple[np.ndarray, np.ndarray]:
    """(observation, token) pairs that build the solver's witness formula for ``episodes`` dealt hands.

    Hands are dealt with seeds ``seed .. seed+episodes-1`` (the harness uses seeds from 1,000,000 on), the
    witness is :func:`gpoints_env.solver.find_solution`, converted to tokens by
    :func:`gpoints_env.numeric.formula_to_tokens`; every prefix of the token sequence is one sample (first
    attempt: attempts used 0).
    """
    env = make_gp_env(env_id)
    xs: list[np.ndarray] = []
    ys: list[int] = []
    for i in range(episodes):
        _, info = env.reset(seed=seed + i)
        numbers, target = info["numbers"], info["target"]
        tokens = formula_to_tokens(find_solution(numbers, target), numbers)
        builder = FormulaBuilder(numbers, target)
        for token in tokens:
            xs.append(builder.observation(0, env.max_attempts, env.value_scale, env.target_scale))
            ys.append(token)
            builder.push(token)
    env.close()
    return np.stack(xs), np.asarray(ys, dtype=np.int64)


def virl_demonstrations(routes: int, seed: int, env_id: str = VIRL_TRAIN_ID) -> tuple[np.ndarray, np.ndarray]:
    """(observation, action) pairs from walking ``routes`` training routes with ``expert_action()``."""
    env = make_virl_env(env_id)
    xs: list[np.ndarray] = []
    ys: list[int] = []
    for i in range(routes):
        obs, _ = env.reset(seed=seed + i)
        done = False
        while not done:
            action = env.expert_action_id()
            xs.append(obs)
            ys.append(action)
            obs, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
    env.close()
    return np.stack(xs), np.asarray(ys, dtype=np.int64)


# ---- supervised training ---------------------------------------------------------------------------------------


def train_sft(x: np.ndarray, y: np.ndarray, n_actions: int, epochs: int, seed: int, batch_size: int = 256,
              lr: float = 1e-3, hidden: Sequence[int] = (128, 128),
              log: Callable[[str], None] | None = None) -> tuple[MLPPolicy, list[float]]:
    """Fit an :class:`MLPPolicy` to demonstrations by cross-entropy (behaviour cloning).

    Returns:
        The model (in eval mode) and the mean training loss of each epoch.
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = MLPPolicy(x.shape[1], n_actions, hidden)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    inputs = torch.as_tensor(x, dtype=torch.float32)
    targets = torch.as_tensor(y, dtype=torch.int64)
    losses: list[float] = []
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(inputs), generator=generator)
        total = 0.0
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            loss = nn.functional.cross_entropy(model(inputs[batch]), targets[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
        losses.append(total / len(order))
        if log is not None:
            log(f"  epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f}")
    model.eval()
    return model, losses


# ---- reinforcement learning --------------------------------------------------------------------------------------


def make_ppo(env: gym.Env, seed: int, n_steps: int = 2048, batch_size: int = 256, ent_coef: float = 0.01,
             hidden: Sequence[int] = (128, 128)) -> Any:
    """A stable-baselines3 PPO on a numeric wrapper, with an MLP the size of the supervised one."""
    from stable_baselines3 import PPO

    return PPO("MlpPolicy", env, seed=seed, n_steps=n_steps, batch_size=batch_size, ent_coef=ent_coef,
               policy_kwargs={"net_arch": list(hidden)}, device="cpu", verbose=0)


# ---- agent adapters ---------------------------------------------------------------------------------------------


def _choose(probs: np.ndarray, legal: np.ndarray, greedy: bool, rng: np.random.Generator) -> int:
    """Most likely (``greedy``) or sampled legal action; uniform over legal ones if the policy gives them no mass."""
    masked = np.where(legal, np.clip(probs.astype(np.float64), 0.0, None), 0.0)
    if masked.sum() <= 0.0:
        masked = legal.astype(np.float64)
    if greedy:
        return int(np.argmax(masked))
    return int(rng.choice(len(masked), p=masked / masked.sum()))


class GPointsPolicyAgent:
    """Plays GeneralPoints through the harness with a token policy (see :class:`gpoints_env.numeric.FormulaTokens`).

    Each call builds one formula from ``info["numbers"]`` and ``info["target"]``: the policy picks tokens
    among the legal ones until the formula is complete, and the reply is ``{"formula": "..."}``. The first
    attempt of an episode takes the most likely token at each step; a retry samples (seeded) and avoids
    formulas already tried in the episode.

    Args:
        probs: the policy (:func:`mlp_probs`, :func:`sb3_probs`).
        name: the agent's name in results.
        seed: seed of the sampling generator used for retries.
        max_attempts: answer attempts per episode (used for the "attempts used" feature when the harness does
            not call :meth:`begin_episode`).
        value_scale, target_scale: as the training wrapper's.
    """

    def __init__(self, probs: ProbsFn, name: str = "policy", seed: int = 0, max_attempts: int = 5,
                 value_scale: float = 13.0, target_scale: float = 24.0, resamples: int = 32):
        self.probs, self.name = probs, name
        self.rng = np.random.default_rng(seed)
        self.max_attempts, self.value_scale, self.target_scale = max_attempts, value_scale, target_scale
        self.resamples = resamples
        self.operators = OPERATORS
        self._tried: set[str] = set()

    def begin_episode(self, env: gym.Env) -> None:
        """Harness hook after each reset: read the attempt budget and allowed operators; forget tried answers."""
        base = env.unwrapped
        self.max_attempts = int(getattr(base, "max_attempts", self.max_attempts))
        rules = getattr(base, "active_rules", None)
        self.operators = rules.operators if rules is not None else OPERATORS
        self._tried = set()

    def build(self, numbers: Sequence[int], target: int, attempts_used: int, greedy: bool) -> str:
        """One complete formula chosen by the policy."""
        builder = FormulaBuilder(numbers, target, self.operators)
        while not builder.complete:
            obs = builder.observation(attempts_used, self.max_attempts, self.value_scale, self.target_scale)
            builder.push(_choose(self.probs(obs), builder.legal_mask(), greedy, self.rng))
        return builder.formula

    def __call__(self, observation: Any, info: dict[str, Any]) -> str:
        if info.get("verdict") is None:  # a new episode, also without begin_episode
            self._tried = set()
        attempts_used = self.max_attempts - int(info.get("attempts_left", self.max_attempts))
        numbers, target = info["numbers"], info["target"]
        formula = self.build(numbers, target, attempts_used, greedy=not self._tried)
        for _ in range(self.resamples):
            if formula not in self._tried:
                break
            formula = self.build(numbers, target, attempts_used, greedy=False)
        self._tried.add(formula)
        return json.dumps({"formula": formula})


class VIRLPolicyAgent:
    """Plays V-IRL through the harness with a discrete-action policy (see :class:`virl_env.numeric.DiscreteNavigation`).

    Needs the harness's ``begin_episode(env)`` hook: the observation vector is encoded from the env's route and
    rail (:func:`virl_env.numeric.encode_navigation_state`). The reply is the chosen action of the policy's own
    vocabulary ``actions`` (the action list of the wrapper it was trained on), so a policy trained with compass
    words answers with compass words even where the prompt asks for relative ones: that is the rule-OOD test.
    A retry at the same point takes the most likely action not tried there yet.

    Args:
        probs: the policy.
        actions: its action vocabulary, by id (``DiscreteNavigation.actions``).
        name: the agent's name in results.
    """

    def __init__(self, probs: ProbsFn, actions: Sequence[str], name: str = "policy"):
        self.probs, self.actions, self.name = probs, tuple(actions), name
        self._env: gym.Env | None = None
        self._point: int | None = None
        self._tried: set[int] = set()

    def begin_episode(self, env: gym.Env) -> None:
        """Harness hook after each reset: keep the env to encode its state."""
        self._env = env
        self._point, self._tried = None, set()

    def __call__(self, observation: Any, info: dict[str, Any]) -> str:
        if self._env is None:
            raise RuntimeError("VIRLPolicyAgent needs begin_episode(env) after each reset (the harness calls it)")
        if info.get("step_index") != self._point:
            self._point, self._tried = info.get("step_index"), set()
        obs = encode_navigation_state(self._env, attempts_left=info.get("attempts_left"))
        legal = np.array([i not in self._tried for i in range(len(self.actions))])
        if not legal.any():
            legal[:] = True
        action = _choose(self.probs(obs), legal, greedy=True, rng=np.random.default_rng(0))
        self._tried.add(action)
        return self.actions[action]
