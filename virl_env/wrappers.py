"""Rule variants as wrappers: a small base class to copy, and the built-in variants.

A rule wrapper changes the *rules* of the task, not the world: it registers a function that maps
the base :class:`~virl_env.rules.NavigationRules` to the rules of the variant; the environment
applies all such functions (innermost wrapper first) at every reset and the whole episode reads
the result (``env.unwrapped.active_rules``). Spaces do not change (observation and action are text).

Writing your own::

    from virl_env.wrappers import RuleWrapper

    class ThreeAttempts(RuleWrapper):
        '''Allow three attempts per point instead of two.'''

        def transform_rules(self, rules):
            return rules.replace(max_attempts=3)

    env = ThreeAttempts(gym.make("virl_env:VIRL-v0"))
"""

from __future__ import annotations

import gymnasium as gym

from virl_env.rules import NavigationRules

__all__ = ["BearingActions", "DenseRail", "RelativeActions", "RuleWrapper"]


class RuleWrapper(gym.Wrapper):
    """Base class of rule variants: subclasses implement :meth:`transform_rules`.

    The transform runs at every reset of the wrapped environment; it may draw randomness from
    ``self.np_random`` (the environment's generator) to randomise rules per episode.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        add = getattr(env.unwrapped, "add_rule_transform", None)
        if add is None:
            raise TypeError(f"{type(self).__name__} needs a virl_env environment with add_rule_transform, "
                            f"got {type(env.unwrapped).__name__}")
        add(self.transform_rules)

    def transform_rules(self, rules: NavigationRules) -> NavigationRules:
        """Return the rules of the variant, given the rules so far."""
        raise NotImplementedError


class RelativeActions(RuleWrapper):
    """The paper's rule out-of-distribution variant: turns are relative.

    Changes ``action_mode`` to ``"relative"``: the agent answers ``turn_direction(left)``,
    ``right``, ``slightly left`` or ``slightly right`` (turns of at most 45 degrees are "slightly",
    angles wrapped so 350 -> 10 is slightly right) instead of a compass word. The instruction text
    is unchanged (it already names both, e.g. "Turn left to face east."); the action space section
    of the prompt and the expected actions change. Same as the registered ``VIRL-RuleOOD-v0``.
    """

    def transform_rules(self, rules: NavigationRules) -> NavigationRules:
        return rules.replace(action_mode="relative")


class BearingActions(RuleWrapper):
    """Turns are compass bearings in degrees: ``turn_direction(90)`` instead of ``east``.

    Changes ``action_mode`` to ``"bearing"`` (x in 0, 45, ..., 315; 0 is north, 90 east). A rule
    variant that keeps the absolute frame but changes the vocabulary, so it separates "knows where
    to go" from "memorised the action words". The instruction text is unchanged.
    """

    def transform_rules(self, rules: NavigationRules) -> NavigationRules:
        return rules.replace(action_mode="bearing")


class DenseRail(RuleWrapper):
    """More (and optionally randomly dropped) forward points between intersections.

    Args:
        env: The environment to wrap.
        forward_points: Interpolated points per stretch, 0 to 8 (default rules: 2).
        drop_rate: Probability of dropping each interpolated point at reset, in [0, 1).

    Raises:
        TypeError, ValueError: For a bad ``forward_points`` or ``drop_rate`` (named in the message).
    """

    def __init__(self, env: gym.Env, forward_points: int = 4, drop_rate: float = 0.0) -> None:
        # Validate through the rules dataclass so the limits live in one place.
        NavigationRules(forward_points=forward_points, drop_rate=drop_rate)
        self.forward_points = forward_points
        self.drop_rate = drop_rate
        super().__init__(env)

    def transform_rules(self, rules: NavigationRules) -> NavigationRules:
        return rules.replace(forward_points=self.forward_points, drop_rate=self.drop_rate)
