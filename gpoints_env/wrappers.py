"""Rule and visual variants as wrappers.

A rule variant changes the game, not its interface: it maps the episode's :class:`~gpoints_env.rules.Rules` to
new rules. Subclass :class:`RuleWrapper` and implement one method::

    class AcesHigh(RuleWrapper):
        \"\"\"Aces count 11.\"\"\"

        def transform_rules(self, rules: Rules) -> Rules:
            return rules.replace(ace_value=11)

    env = AcesHigh(gym.make("GeneralPoints-v0"))

The wrapper passes its transform down with each reset it forwards, so it changes only the episodes reset
through it, never the env it wraps. Wrappers stack; the innermost applies first. ``transform_rules`` may draw
from ``self.np_random`` (the env's seeded generator) to vary the rules per episode.

A visual variant changes the look: subclass :class:`StyleWrapper` and implement ``transform_style(style)``
on the :class:`~gpoints_env.style.CardStyle` (suit colours, card and table colours, jitter, font...).
The picture's size fixes the observation space, so it changes only through :class:`Resolution`. Variants
of the pixels themselves are ordinary observation wrappers (:class:`GaussianBlur`, :class:`ImageNoise`).
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, Iterator

import gymnasium as gym
import numpy as np
from PIL import Image, ImageFilter

from sftrl_core import variants

from .env import GeneralPointsEnv
from .rules import FACE_RANKS, OPERATORS, SUIT_COLOURS, Rules
from .style import CardStyle

__all__ = [
    "RuleWrapper",
    "FaceCardValues",
    "AceValue",
    "TargetPoints",
    "RequireFaceCard",
    "AllowedOperators",
    "DealSuits",
    "StyleWrapper",
    "SuitColours",
    "CardColours",
    "Jitter",
    "Resolution",
    "GaussianBlur",
    "ImageNoise",
]


class RuleWrapper(variants.RuleWrapper):
    """Base class for rule variants of :class:`~gpoints_env.env.GeneralPointsEnv`: subclasses implement
    :meth:`transform_rules`, which maps the rules so far to the episode's rules (observation and action spaces are
    unchanged: rules change the text, not its type).

    A subclass that takes arguments should record them with
    ``gym.utils.RecordConstructorArgs.__init__(self, name=value, ...)`` before calling ``super().__init__(env)``,
    so ``gym.make(wrapped.spec)`` recreates it (as the built-ins do).

    >>> env = AceValue(gym.make("GeneralPoints-v0"), 11)
    >>> env.reset(seed=0, options={"cards": ["A", "A", "2", "K"]})[1]["numbers"]
    [11, 11, 2, 10]
    >>> env.unwrapped.reset(seed=0, options={"cards": ["A", "A", "2", "K"]})[1]["numbers"]  # the env is unchanged
    [1, 1, 2, 10]
    """

    wraps = GeneralPointsEnv

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


class DealSuits(RuleWrapper):
    """Deal only from the ``"black"`` or ``"red"`` suits (or ``"any"``). The paper's visual OOD test deals red
    suits to a model trained on black ones: ``DealSuits(gym.make("GeneralPoints-VL-v0"), "red")`` is
    ``GeneralPoints-VL-VisualOOD-v0``."""

    def __init__(self, env: gym.Env, colour: str):
        if colour not in SUIT_COLOURS:
            raise ValueError(f"colour must be one of {sorted(SUIT_COLOURS)}, got {colour!r}")
        self.colour = colour
        gym.utils.RecordConstructorArgs.__init__(self, colour=colour)
        super().__init__(env)

    def transform_rules(self, rules: Rules) -> Rules:
        return rules.replace(suit_colour=self.colour)


# ---- visual variants -----------------------------------------------------------------------------------------


class StyleWrapper(variants.StyleWrapper):
    """Base class for visual variants of :class:`~gpoints_env.env.GeneralPointsEnv`: subclasses implement
    :meth:`transform_style`, which maps the card style so far to the episode's style.

    Like :class:`RuleWrapper`, it acts only on the episodes reset through it (so a transform may draw from
    ``self.np_random`` to vary the look per episode). It must keep the resolution.
    """

    wraps = GeneralPointsEnv

    def transform_style(self, style: CardStyle) -> CardStyle:
        """Return the style for the next episode, given the style so far. Must return a :class:`CardStyle`."""
        raise NotImplementedError(f"{type(self).__name__} must implement transform_style(style)")


class SuitColours(StyleWrapper):
    """Ink colours of the suits: one ``colour`` for all, and/or per suit (``hearts=(0, 90, 200)``)."""

    def __init__(self, env: gym.Env, colour: Any = None, **per_suit: Any):
        CardStyle().with_suit_colours(colour, **per_suit)  # validates names and colours now
        self.colour, self.per_suit = colour, per_suit
        gym.utils.RecordConstructorArgs.__init__(self, colour=colour, **per_suit)
        super().__init__(env)

    def transform_style(self, style: CardStyle) -> CardStyle:
        return style.with_suit_colours(self.colour, **self.per_suit)


class CardColours(StyleWrapper):
    """Colours of the card stock, its edge and the table (``background``); ``None`` keeps a colour."""

    def __init__(self, env: gym.Env, card_face: Any = None, card_edge: Any = None, background: Any = None):
        self.changes = {k: v for k, v in
                        {"card_face": card_face, "card_edge": card_edge, "background": background}.items()
                        if v is not None}
        CardStyle(**self.changes)  # validates now
        gym.utils.RecordConstructorArgs.__init__(self, card_face=card_face, card_edge=card_edge,
                                                 background=background)
        super().__init__(env)

    def transform_style(self, style: CardStyle) -> CardStyle:
        return style.replace(**self.changes)


class Jitter(StyleWrapper):
    """Rotate each card by up to ``degrees`` and shift it by up to ``offset`` card widths, drawn per episode
    from the env's generator."""

    def __init__(self, env: gym.Env, degrees: float = 6.0, offset: float = 0.05):
        CardStyle(jitter_degrees=degrees, jitter_offset=offset)  # validates now
        self.degrees, self.offset = degrees, offset
        gym.utils.RecordConstructorArgs.__init__(self, degrees=degrees, offset=offset)
        super().__init__(env)

    def transform_style(self, style: CardStyle) -> CardStyle:
        return style.replace(jitter_degrees=self.degrees, jitter_offset=self.offset)


class Resolution(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Draw the picture at ``resolution`` x ``resolution`` pixels (1,200 is the paper's size).

    The size fixes the observation space, so this is not a style transform: the wrapper declares its own
    observation space (image mode) and passes its resolution down with each reset it forwards (reset option
    ``"resolution"``); the wrapped env keeps its own style and space. Stacked, the outermost ``Resolution``
    wins, as its space is the one the caller sees. In text mode it sets the size of ``render()``'s picture.

    >>> env = Resolution(gym.make("GeneralPoints-VL-v0"), 256)
    >>> env.reset(seed=0)[0]["image"].shape, env.unwrapped.observation_space["image"].shape
    ((256, 256, 3), (512, 512, 3))
    """

    def __init__(self, env: gym.Env, resolution: int):
        base = env.unwrapped
        if not isinstance(base, GeneralPointsEnv):
            raise TypeError(f"Resolution wraps GeneralPointsEnv environments, got {type(base).__name__}")
        base.style.replace(resolution=resolution)  # validates
        self.resolution = resolution
        gym.utils.RecordConstructorArgs.__init__(self, resolution=resolution)
        gym.Wrapper.__init__(self, env)
        space = env.observation_space
        if isinstance(space, gym.spaces.Dict) and "image" in space.spaces:
            image = gym.spaces.Box(0, 255, shape=(resolution, resolution, 3), dtype=np.uint8)
            self.observation_space = gym.spaces.Dict({**space.spaces, "image": image})

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        options = {} if options is None else dict(options)  # never alter the caller's dict
        options.setdefault("resolution", self.resolution)  # an outer Resolution has set it already
        with _sized_pictures():
            return self.env.reset(seed=seed, options=options)

    def step(self, action: str):
        with _sized_pictures():
            return self.env.step(action)


@contextlib.contextmanager
def _sized_pictures() -> Iterator[None]:
    """Silence gym.make's passive env checker about the one thing Resolution does on purpose: below it, the
    pictures have this wrapper's size, not the size of the env's own observation space."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*obs returned by the `(reset|step)\(\)` method is not within")
        yield


class GaussianBlur(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Blur the image observation with a Gaussian of ``radius`` pixels (an example of a pixel-level variant)."""

    def __init__(self, env: gym.Env, radius: float = 2.0):
        if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not 0 < radius <= 50:
            raise ValueError(f"radius must be a number in (0, 50], got {radius!r}")
        if not isinstance(env.observation_space, gym.spaces.Dict) or "image" not in env.observation_space.spaces:
            raise TypeError("GaussianBlur needs an image observation (an image-mode GeneralPoints env)")
        self.radius = float(radius)
        gym.utils.RecordConstructorArgs.__init__(self, radius=radius)
        gym.ObservationWrapper.__init__(self, env)

    def observation(self, observation: dict[str, Any]) -> dict[str, Any]:
        blurred = Image.fromarray(observation["image"]).filter(ImageFilter.GaussianBlur(self.radius))
        return {**observation, "image": np.asarray(blurred).copy()}


class ImageNoise(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Add Gaussian pixel noise of standard deviation ``sigma`` (0-255 scale), drawn from the env's generator
    once per episode, so all observations of one episode show the same noisy picture."""

    def __init__(self, env: gym.Env, sigma: float = 12.0):
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0 < sigma <= 128:
            raise ValueError(f"sigma must be a number in (0, 128], got {sigma!r}")
        if not isinstance(env.observation_space, gym.spaces.Dict) or "image" not in env.observation_space.spaces:
            raise TypeError("ImageNoise needs an image observation (an image-mode GeneralPoints env)")
        self.sigma = float(sigma)
        self._noise: np.ndarray | None = None
        gym.utils.RecordConstructorArgs.__init__(self, sigma=sigma)
        gym.ObservationWrapper.__init__(self, env)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        shape = obs["image"].shape
        self._noise = self.np_random.normal(0.0, self.sigma, size=shape).astype(np.float32)
        return self.observation(obs), info

    def observation(self, observation: dict[str, Any]) -> dict[str, Any]:
        noisy = np.clip(observation["image"].astype(np.float32) + self._noise, 0, 255).astype(np.uint8)
        return {**observation, "image": noisy}
