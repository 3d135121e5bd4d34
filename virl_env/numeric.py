"""V-IRL navigation as a numeric game for classic RL: an encoded observation and one discrete action per point.

:class:`DiscreteNavigation` wraps a V-IRL text environment so that a small MLP (stable-baselines3 PPO, or a
policy trained by supervised learning) can play it:

* the action is ``Discrete``: ``forward()``, ``stop()``, and ``turn_direction(x)`` for each turn word ``x`` of
  the action mode (8 compass words in the paper's in-distribution setting, 4 relative words in its rule OOD);
  the chosen action is sent to the wrapped env as the raw reply;
* the observation is a flat ``float32`` vector holding what the prompt tells a reader, already parsed:
  the current observation (intersection flag, how many landmarks are in view, whether the landmark the
  instruction names for the current leg or the destination is in view on the side the instruction says),
  the progress the history shows (turns made, intersections passed since the last turn, the previous
  action), the instruction's facts for the current leg (ordinal of the intersection to turn at, whether it
  ends at the destination) and for the next turn sentence (its compass word and relative word), the action
  mode the prompt announces, and the attempts used at this point.

The expected action is not in the observation: a policy has to learn the rule (turn where the instruction's
intersection count is reached, stop where the destination appears on the named side, else go forward) and
which word names the turn in the active action mode. :func:`encode_navigation_state` builds the same vector
from a V-IRL env at any time, so agent adapters reproduce the training observation exactly.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from virl_env.task.checker import action_arguments
from virl_env.world.instructions import COMPASS_DIRECTIONS, RELATIVE_DIRECTIONS, compass_index, side_phrase
from virl_env.world.routes import MAX_LEGS, VIEW_LIMIT
from virl_env.task.rules import ACTION_MODES

__all__ = [
    "COUNT_BINS",
    "DiscreteNavigation",
    "OBSERVATION_SIZE",
    "encode_navigation_state",
    "navigation_actions",
]

COUNT_BINS = 8
"""Intersection counts are one-hot in ``0..COUNT_BINS-2``, with a last bin for larger counts."""

_PREVIOUS = ("none", "forward", "turn")

OBSERVATION_SIZE = (
    1  # at an intersection
    + 1  # landmarks in view / VIEW_LIMIT
    + 1  # current leg's intersection landmark in view
    + 1  # ... on the side the instruction names
    + 1  # destination in view
    + 1  # ... on the side the instruction names
    + len(_PREVIOUS)  # previous action in the history
    + (MAX_LEGS + 1)  # turns made so far, one-hot 0..MAX_LEGS
    + MAX_LEGS  # number of legs in the instruction, one-hot 1..MAX_LEGS
    + 1  # the current leg ends at the destination
    + COUNT_BINS  # intersections passed since the last turn, one-hot
    + COUNT_BINS  # ordinal of the intersection the current leg ends at, one-hot (zeros for the final leg)
    + 1  # a turn sentence is still to come
    + len(COMPASS_DIRECTIONS)  # its compass word, one-hot
    + len(RELATIVE_DIRECTIONS)  # its relative word, one-hot
    + len(ACTION_MODES)  # action mode of the prompt, one-hot
    + 1  # attempts used at this point / max_attempts
)
"""Length of the observation vector."""


def navigation_actions(mode: str) -> tuple[str, ...]:
    """The actions of :class:`DiscreteNavigation` in an action mode, by id: ``forward()``, ``stop()``, then
    ``turn_direction(x)`` for each ``x`` of the mode.

    Raises:
        ValueError: unknown mode.
    """
    if mode not in ACTION_MODES:
        raise ValueError(f"action mode must be one of {ACTION_MODES}, got {mode!r}")
    return ("forward()", "stop()", *(f"turn_direction({x})" for x in action_arguments(mode)))


def _one_hot(index: int | None, size: int) -> list[float]:
    out = [0.0] * size
    if index is not None:
        out[max(0, min(index, size - 1))] = 1.0
    return out


def encode_navigation_state(env: gym.Env, attempts_left: int | None = None) -> np.ndarray:
    """The observation vector of :class:`DiscreteNavigation` for a V-IRL env's current point.

    Reads the structured state behind the prompt (route legs, rail points before the current one, the current
    point's landmarks), never the expected action of the current point. Works on a wrapped env.

    Args:
        env: a V-IRL environment (or a wrapper of one), after reset.
        attempts_left: ``info["attempts_left"]`` at this point; ``None`` counts as a first attempt.

    Raises:
        RuntimeError: before the first reset.
        TypeError: ``env`` is not a V-IRL environment.
    """
    base = env.unwrapped
    if not all(hasattr(base, name) for name in ("rail", "route", "point_index", "active_rules")):
        raise TypeError(f"encode_navigation_state needs a virl_env environment, got {type(base).__name__}")
    route = base.route
    if route is None:
        raise RuntimeError("call reset() before encoding the state")
    rail = base.rail
    index = base.point_index
    point = rail[index]
    rules = base.active_rules
    legs = route.legs
    # What the history of the prompt shows: the points passed and the (expert) action taken at each.
    turns = 0
    since_turn = 0
    previous = 0
    for passed in rail[:index]:
        if passed.turn_to is not None:
            turns += 1
            since_turn = 0
            previous = 2
        else:
            since_turn += int(passed.at_intersection)
            previous = 1
    current_leg = legs[turns - 1] if 0 < turns <= len(legs) else None
    final_leg = turns >= len(legs)
    leg_landmark_seen = leg_landmark_side = dest_seen = dest_side = 0.0
    if current_leg is not None and current_leg.landmark is not None:
        seen = current_leg.landmark in point.landmarks
        # Compare whole clauses: "X is on your right" must not match "X is on your right front".
        clause = f"{current_leg.landmark} is {side_phrase(current_leg.landmark_side or '')}"
        on_side = seen and clause in point.observation.split("; ")
        if final_leg:
            dest_seen, dest_side = float(seen), float(on_side)
        else:
            leg_landmark_seen, leg_landmark_side = float(seen), float(on_side)
    ordinal = current_leg.crossings + 1 if current_leg is not None and not final_leg else None
    pending = legs[turns] if turns < len(legs) else None
    attempts_used = 0 if attempts_left is None else rules.max_attempts - int(attempts_left)
    vector = [
        float(point.at_intersection),
        len(point.landmarks) / VIEW_LIMIT,
        leg_landmark_seen,
        leg_landmark_side,
        dest_seen,
        dest_side,
        *_one_hot(previous, len(_PREVIOUS)),
        *_one_hot(turns, MAX_LEGS + 1),
        *_one_hot(len(legs) - 1, MAX_LEGS),
        float(final_leg and turns > 0),
        *_one_hot(since_turn if turns > 0 else None, COUNT_BINS),
        *_one_hot(ordinal, COUNT_BINS),
        float(pending is not None),
        *_one_hot(None if pending is None else compass_index(pending.heading), len(COMPASS_DIRECTIONS)),
        *_one_hot(None if pending is None else RELATIVE_DIRECTIONS.index(pending.relative), len(RELATIVE_DIRECTIONS)),
        *_one_hot(ACTION_MODES.index(rules.action_mode), len(ACTION_MODES)),
        min(max(attempts_used / rules.max_attempts, 0.0), 1.0),
    ]
    return np.asarray(vector, dtype=np.float32)


class DiscreteNavigation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """V-IRL with an encoded numeric observation and ``Discrete`` actions, for classic RL.

    What it changes:

    * **Observation**: ``Box(0, 1, (OBSERVATION_SIZE,), float32)`` built by :func:`encode_navigation_state`
      (the prompt's facts, parsed; not the expected action). ``info`` of the wrapped env is passed through.
    * **Action**: ``Discrete(2 + number of turn words)``; id ``k`` sends ``self.actions[k]`` (see
      :func:`navigation_actions`) to the wrapped env as the reply: ``forward()``, ``stop()``, then
      ``turn_direction(x)`` for each turn word of ``action_mode``.
    * Rewards, attempts per point and episode end are the wrapped env's, unchanged (paper table: +1 correct,
      -1 wrong). Truncation comes from the registered time limit.

    ```python
    import gymnasium as gym
    from virl_env.numeric import DiscreteNavigation
    env = DiscreteNavigation(gym.make("VIRL-v0"))              # 10 actions: forward, stop, 8 compass words
    env = DiscreteNavigation(gym.make("VIRL-RuleOOD-v0"))      # 6 actions: forward, stop, 4 relative words
    ```

    Args:
        env: a V-IRL environment (text or image mode; only the structured state is read).
        action_mode: whose turn words form the actions; ``None`` takes the wrapped env's base rules
            (``env.unwrapped.rules.action_mode``). If a rule wrapper changes the mode at reset, pass it here.

    Raises:
        TypeError: ``env`` is not a V-IRL environment, or ``action_mode`` is not a str.
        ValueError: unknown ``action_mode``; at reset, an active mode that differs from ``action_mode``.
    """

    def __init__(self, env: gym.Env, action_mode: str | None = None):
        gym.utils.RecordConstructorArgs.__init__(self, action_mode=action_mode)
        gym.Wrapper.__init__(self, env)
        base = env.unwrapped
        if not hasattr(base, "expert_action") or not hasattr(base, "rules"):
            raise TypeError(f"DiscreteNavigation wraps virl_env environments, got {type(base).__name__}")
        if action_mode is None:
            action_mode = base.rules.action_mode
        if not isinstance(action_mode, str):
            raise TypeError(f"action_mode must be a str or None, got {action_mode!r}")
        if action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode must be one of {ACTION_MODES}, got {action_mode!r}")
        self.action_mode = action_mode
        self.actions: tuple[str, ...] = navigation_actions(action_mode)
        self.action_space = spaces.Discrete(len(self.actions))
        self.observation_space = spaces.Box(0.0, 1.0, (OBSERVATION_SIZE,), dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        _, info = self.env.reset(seed=seed, options=options)
        active = self.env.unwrapped.active_rules.action_mode
        if active != self.action_mode:
            raise ValueError(f"the episode's action mode is {active!r} but the wrapper's actions are for "
                             f"{self.action_mode!r}; pass action_mode={active!r}")
        return encode_navigation_state(self.env, attempts_left=info.get("attempts_left")), info

    def step(self, action: int):
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an id in 0..{self.action_space.n - 1}, got {action!r}")
        _, reward, terminated, truncated, info = self.env.step(self.actions[int(action)])
        # After the end the env stays on its last point, so the final observation is well defined too.
        obs = encode_navigation_state(self.env, attempts_left=info.get("attempts_left"))
        return obs, float(reward), bool(terminated), bool(truncated), info

    def expert_action_id(self) -> int:
        """Id of the expected action at the current point (for demonstrations; never in the observation).

        Raises:
            RuntimeError: before reset or after the episode ended.
        """
        return self.actions.index(self.env.unwrapped.expert_action())

