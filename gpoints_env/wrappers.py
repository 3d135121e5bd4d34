"""Rule variants as wrappers.

A rule variant changes the game, not its interface: it maps the env's :class:`~gpoints_env.rules.Rules` to new
rules, which the environment reads on every ``reset``. Subclass :class:`RuleWrapper` and implement one method::

    class AcesHigh(RuleWrapper):
        \"\"\"Aces count 11.\"\"\"

        def transform_rules(self, rules: Rules) -> Rules:
            return rules.replace(ace_value=11)

    env = AcesHigh(gym.make("GeneralPoints-v0"))

Wrappers stack; the innermost applies first. ``transform_rules`` may draw from ``self.np_random`` (the env's
seeded generator) to vary the rules per episode.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from .rules import FACE_RANKS, OPERATORS, Rules

__all__ = ["RuleWrapper", "FaceCardValues", "AceValue", "TargetPoints", "RequireFaceCard", "AllowedOperators"]


class RuleWrapper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Base class for rule variants: subclasses implement :meth:`transform_rules`.

    On construction the wrapper registers its transform with the underlying
    :class:`~gpoints_env.env.GeneralPointsEnv`, which applies it to the rules at the start of every episode
    (observation and action spaces are unchanged: rules change the text, not its type). A subclass that takes
    arguments should record them with ``gym.utils.RecordConstructorArgs.__init__(self, name=value, ...)`` before
    calling ``super().__init__(env)``, so ``env.spec`` can recreate it (as the built-ins do).
    """

    def __init__(self, env: gym.Env):
        if not hasattr(self, "_saved_kwargs"):
            gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        base = env.unwrapped
        if not hasattr(base, "add_rule_transform"):
            raise TypeError(f"{type(self).__name__} wraps GeneralPoints environments, got {type(base).__name__}")
        base.add_rule_transform(self.transform_rules)

    def transform_rules(self, rules: Rules) -> Rules:
        """Return the rules for the next episode, given the rules so far. Must return a :class:`Rules`."""
        raise NotImplementedError(f"{type(self).__name__} must implement transform_rules(rules)")


def _check_value(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    return value


class FaceCardValues(RuleWrapper):
    """J, Q and K count ``jack``, ``queen``, ``king`` (the paper's rule OOD uses 11, 12, 13)."""

    def __init__(self, env: gym.Env, jack: int = 11, queen: int = 12, king: int = 13):
        self.face_values = tuple(_check_value(n, v) for n, v in zip(FACE_RANKS, (jack, queen, king)))
        Rules(face_values=self.face_values)  # validates the range before the env ever resets
        gym.utils.RecordConstructorArgs.__init__(self, jack=jack, queen=queen, king=king)
        super().__init__(env)

    def transform_rules(self, rules: Rules) -> Rules:
        return rules.replace(face_values=self.face_values)


class AceValue(RuleWrapper):
    """Aces count ``value`` instead of 1."""

    def __init__(self, env: gym.Env, value: int = 11):
        self.value = _check_value("value", value)
        Rules(ace_value=value)
        gym.utils.RecordConstructorArgs.__init__(self, value=value)
        super().__init__(env)

    def transform_rules(self, rules: Rules) -> Rules:
        return rules.replace(ace_value=self.value)


class TargetPoints(RuleWrapper):
    """The formula must reach ``target`` instead of 24; only hands that can reach it are dealt."""

    def __init__(self, env: gym.Env, target: int):
        self.target = _check_value("target", target)
        Rules(target=target)
        gym.utils.RecordConstructorArgs.__init__(self, target=target)
        super().__init__(env)

    def transform_rules(self, rules: Rules) -> Rules:
        return rules.replace(target=self.target)


class RequireFaceCard(RuleWrapper):
    """Every dealt hand holds at least one J, Q or K (with :class:`FaceCardValues`: the paper's rule OOD)."""

    def transform_rules(self, rules: Rules) -> Rules:
        return rules.replace(require_face_card=True)


class AllowedOperators(RuleWrapper):
    """Only ``operators`` (a subset of ``"+-*/"``) may be used; only hands solvable with them are dealt."""

    def __init__(self, env: gym.Env, operators: str):
        if not isinstance(operators, str):
            raise TypeError(f"operators must be a str such as '+-*', got {operators!r}")
        Rules(operators=operators)
        self.operators = "".join(op for op in OPERATORS if op in operators)
        gym.utils.RecordConstructorArgs.__init__(self, operators=operators)
        super().__init__(env)

    def transform_rules(self, rules: Rules) -> Rules:
        return rules.replace(operators=self.operators)
