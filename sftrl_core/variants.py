"""Rule and style variants as wrappers that act only on the episodes reset through them.

A variant wrapper never registers anything on the env it wraps. Its ``reset`` adds its transform to the reset
options it passes down, under :data:`RULE_TRANSFORMS` or :data:`STYLE_TRANSFORMS` (a tuple of callables, the
wrapper's own first, so the innermost wrapper applies first), and the env applies the transforms it receives
with that reset, and only those (:func:`apply_transforms`). So a wrapper built and dropped changes nothing,
and two wrappers on one env do not see each other.

Each game subclasses :class:`RuleWrapper` and :class:`StyleWrapper` only to name the env type they wrap
(``wraps``); a variant subclasses the game's base and implements one method::

    class AcesHigh(gpoints_env.RuleWrapper):
        def transform_rules(self, rules):
            return rules.replace(ace_value=11)

A variant with arguments records them (``gym.utils.RecordConstructorArgs.__init__(self, value=value)`` before
``super().__init__(env)``) so ``gym.make(wrapped.spec)`` rebuilds it; one without arguments needs nothing.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Iterable, TypeVar

import gymnasium as gym

__all__ = [
    "RULE_TRANSFORMS",
    "STYLE_TRANSFORMS",
    "TransformWrapper",
    "RuleWrapper",
    "StyleWrapper",
    "apply_transforms",
    "transforms_option",
]

#: Reset-option key under which rule wrappers pass their transforms down.
RULE_TRANSFORMS = "rule_transforms"
#: Reset-option key under which style wrappers pass their transforms down.
STYLE_TRANSFORMS = "style_transforms"

T = TypeVar("T")


def transforms_option(options: dict[str, Any], key: str) -> tuple[Callable[[Any], Any], ...]:
    """The transforms passed under ``key`` in reset ``options`` (empty when none), checked to be callables.

    Raises:
        TypeError: the option is not a tuple or list of callables.
    """
    if key not in options:  # the common case, on every reset
        return ()
    transforms = options[key]
    if not isinstance(transforms, (tuple, list)) or not all(callable(t) for t in transforms):
        raise TypeError(f"options[{key!r}] must be a tuple of callables, got {transforms!r}")
    return tuple(transforms)


def apply_transforms(base: T, transforms: Iterable[Callable[[T], T]], expected_type: type, what: str) -> T:
    """Apply ``transforms`` to ``base`` in order, checking that each returns an ``expected_type``.

    >>> apply_transforms(2, [lambda n: n + 1, lambda n: n * 10], int, "number")
    30

    Args:
        base: the value before any transform (e.g. the env's rules).
        transforms: callables from value to value, applied first to last.
        expected_type: the type every result must have.
        what: the value's name for error messages (``"rule"``, ``"style"``).

    Raises:
        TypeError: a transform returned something else.
    """
    value = base
    for transform in transforms:
        value = transform(value)
        if not isinstance(value, expected_type):
            raise TypeError(f"{what} transform {transform!r} returned {type(value).__name__}, "
                            f"expected {expected_type.__name__}")
    return value


class TransformWrapper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Base of :class:`RuleWrapper` and :class:`StyleWrapper`: passes :meth:`transform` down with each reset.

    Class attributes set by subclasses: ``options_key`` (where the transform travels) and ``wraps`` (the env
    class, or tuple of classes, the wrapper accepts as ``env.unwrapped``; ``None`` accepts any).

    Raises:
        TypeError: the wrapped env is not of the type the wrapper wraps.
    """

    options_key: ClassVar[str] = ""
    wraps: ClassVar[type | tuple[type, ...] | None] = None

    def __init__(self, env: gym.Env):
        if not hasattr(self, "_saved_kwargs"):  # a subclass with arguments has recorded them already
            gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        if self.wraps is not None and not isinstance(env.unwrapped, self.wraps):
            kinds = self.wraps if isinstance(self.wraps, tuple) else (self.wraps,)
            raise TypeError(f"{type(self).__name__} wraps {' or '.join(k.__name__ for k in kinds)} environments, "
                            f"got {type(env.unwrapped).__name__}")

    def transform(self, value: Any) -> Any:
        """Map the value so far (rules or style) to the value of this variant."""
        raise NotImplementedError

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        options = {} if options is None else dict(options)  # never alter the caller's dict
        options[self.options_key] = (self.transform, *transforms_option(options, self.options_key))
        return self.env.reset(seed=seed, options=options)


class RuleWrapper(TransformWrapper):
    """Base of rule variants: subclasses implement :meth:`transform_rules`.

    The transform runs in the env's ``reset`` of each episode reset through this wrapper, after the env was
    seeded, so it may draw from ``self.np_random`` (the env's generator) to vary the rules per episode.
    """

    options_key = RULE_TRANSFORMS

    def transform(self, value: Any) -> Any:
        return self.transform_rules(value)

    def transform_rules(self, rules: Any) -> Any:
        """Return the rules of the variant, given the rules so far."""
        raise NotImplementedError(f"{type(self).__name__} must implement transform_rules(rules)")


class StyleWrapper(TransformWrapper):
    """Base of visual variants: subclasses implement :meth:`transform_style`.

    Like :class:`RuleWrapper`, for the game's style (how the observation looks, never the task).
    """

    options_key = STYLE_TRANSFORMS

    def transform(self, value: Any) -> Any:
        return self.transform_style(value)

    def transform_style(self, style: Any) -> Any:
        """Return the style of the variant, given the style so far."""
        raise NotImplementedError(f"{type(self).__name__} must implement transform_style(style)")
