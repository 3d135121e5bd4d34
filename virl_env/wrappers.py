"""Rule and visual variants as wrappers: small base classes to copy, and the built-in variants.

A rule wrapper changes the *rules* of the task, not the world: it maps the base
:class:`~virl_env.task.rules.NavigationRules` to the rules of the variant. It acts only on the episodes
reset *through it*: its ``reset`` passes the transform down with the reset options (the shared
mechanism of :mod:`sftrl_core.variants`), the environment applies the transforms it receives
(innermost wrapper first) and the whole episode reads the result (``env.unwrapped.active_rules``).
A wrapper built and dropped changes nothing, and two wrappers on one env do not see each other.
Spaces do not change (observation and action are text).

Writing your own::

    from virl_env.wrappers import RuleWrapper

    class ThreeAttempts(RuleWrapper):
        '''Allow three attempts per point instead of two.'''

        def transform_rules(self, rules):
            return rules.replace(max_attempts=3)

    env = ThreeAttempts(gym.make("virl_env:VIRL-v0"))

A visual wrapper changes how the city *looks*, never the task: :class:`StyleWrapper` maps the city
style to the style of the variant, for the episodes reset through it (innermost first). A style
that differs only in ``look`` and ``palette`` keeps the same streets, landmarks and routes (see
:func:`virl_env.sources.styled_city`); changing ``layout`` or ``naming`` gives another city.
:class:`Fog` shows the other kind: an observation wrapper that edits the image itself::

    from virl_env.wrappers import StyleWrapper

    class PinkSigns(StyleWrapper):
        '''Every shop sign is pink.'''

        def transform_style(self, style):
            return style.replace(look=style.look.replace(sign_colors=((255, 105, 180),)))

    env = PinkSigns(gym.make("virl_env:VIRL-VL-v0"))

Every built-in wrapper records its constructor arguments, so ``gym.make(wrapped.spec)`` rebuilds it;
a variant of your own with arguments does the same by calling
``gym.utils.RecordConstructorArgs.__init__(self, name=value, ...)`` before ``super().__init__(env)``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from PIL import Image, ImageFilter

from sftrl_core import variants
from virl_env.env import VIRLEnv
from virl_env.task.rules import NavigationRules
from virl_env.world.styles import CityStyle, StreetLook, get_style

__all__ = ["BearingActions", "CityLook", "DenseRail", "Fog", "NightCity", "RelativeActions", "RuleWrapper",
           "StyleWrapper"]


class RuleWrapper(variants.RuleWrapper):
    """Base class of rule variants: subclasses implement :meth:`transform_rules`.

    The transform runs in the reset of every episode reset through this wrapper; it may draw
    randomness from ``self.np_random`` (the environment's generator) to randomise rules per episode.

    Raises:
        TypeError: If the wrapped environment is not a V-IRL environment.
    """

    wraps = VIRLEnv

    def transform_rules(self, rules: NavigationRules) -> NavigationRules:
        """Return the rules of the variant, given the rules so far."""
        raise NotImplementedError(f"{type(self).__name__} must implement transform_rules(rules)")


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
        gym.utils.RecordConstructorArgs.__init__(self, forward_points=forward_points, drop_rate=drop_rate)
        self.forward_points = forward_points
        self.drop_rate = drop_rate
        super().__init__(env)

    def transform_rules(self, rules: NavigationRules) -> NavigationRules:
        return rules.replace(forward_points=self.forward_points, drop_rate=self.drop_rate)


class StyleWrapper(variants.StyleWrapper):
    """Base class of visual variants: subclasses implement :meth:`transform_style`.

    The transform runs in the reset of every episode reset through this wrapper (before the city is
    built); it may draw randomness from ``self.np_random`` to randomise the look per episode.
    Released-dataset routes are photographs: style transforms do not apply to them.

    Raises:
        TypeError: If the wrapped environment is not a V-IRL environment.
    """

    wraps = VIRLEnv

    def transform_style(self, style: CityStyle) -> CityStyle:
        """Return the style of the variant, given the style so far."""
        raise NotImplementedError(f"{type(self).__name__} must implement transform_style(style)")


class CityLook(StyleWrapper):
    """Draw the same city in another look: a ``StreetLook`` of your own, or the look of a named style.

    The streets, landmarks, routes and instructions stay those of the wrapped environment's city;
    only the street views (and nothing in the text) change. ``CityLook(env, "tokyo")`` puts the
    training city in Tokyo's night look; ``CityLook(env, StreetLook(...))`` in a user-defined one.

    Args:
        env: The environment to wrap.
        look: A :class:`~virl_env.world.styles.StreetLook`, or a style name whose look to borrow.

    Raises:
        TypeError, ValueError: For anything else (the message names it).
    """

    def __init__(self, env: gym.Env, look: StreetLook | str) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, look=look)
        if isinstance(look, str):
            look = get_style(look).look
        if not isinstance(look, StreetLook):
            raise TypeError(f"look must be a StreetLook or a style name, got {type(look).__name__}")
        self.look = look
        super().__init__(env)

    def transform_style(self, style: CityStyle) -> CityStyle:
        return style.replace(look=self.look)


class NightCity(StyleWrapper):
    """Night falls: dark sky, dimmed facades and roads, lit windows (``lit_fraction`` of them).

    Args:
        env: The environment to wrap.
        lit_fraction: Fraction of windows that are lit, in [0, 1].
        light: Brightness of facades and ground, in (0, 1].
    """

    def __init__(self, env: gym.Env, lit_fraction: float = 0.5, light: float = 0.4) -> None:
        if not isinstance(lit_fraction, (int, float)) or not 0.0 <= lit_fraction <= 1.0:
            raise ValueError(f"lit_fraction must be in [0, 1], got {lit_fraction!r}")
        if not isinstance(light, (int, float)) or not 0.0 < light <= 1.0:
            raise ValueError(f"light must be in (0, 1], got {light!r}")
        gym.utils.RecordConstructorArgs.__init__(self, lit_fraction=lit_fraction, light=light)
        self.lit_fraction = float(lit_fraction)
        self.light = float(light)
        super().__init__(env)

    def transform_style(self, style: CityStyle) -> CityStyle:
        look = style.look.replace(time_of_day="night", sky_top=(6, 8, 24), sky_horizon=(40, 38, 70),
                                  haze=(34, 32, 56), light=self.light, lit_fraction=self.lit_fraction)
        return style.replace(look=look)


class Fog(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Observation-level example: fog (and optional blur) laid over the image of the observation.

    Blends every pixel toward ``color`` by ``density`` and blurs with a Gaussian of ``blur`` pixels.
    Works on ``Dict(image=..., text=...)`` observations (only the image changes) and on plain image
    observations; the observation space is unchanged.

    Args:
        env: An image-mode environment.
        density: Fog strength in [0, 1).
        blur: Gaussian blur radius in pixels, >= 0.
        color: RGB fog colour.
    """

    def __init__(self, env: gym.Env, density: float = 0.5, blur: float = 0.0,
                 color: tuple[int, int, int] = (205, 208, 212)) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, density=density, blur=blur, color=color)
        gym.ObservationWrapper.__init__(self, env)
        space = env.observation_space
        image_space = space["image"] if isinstance(space, gym.spaces.Dict) and "image" in space.spaces else space
        if not (isinstance(image_space, gym.spaces.Box) and image_space.dtype == np.uint8
                and len(image_space.shape) == 3):
            raise TypeError(f"Fog needs an image observation (uint8 HWC Box or Dict with 'image'), got {space}")
        if not isinstance(density, (int, float)) or not 0.0 <= density < 1.0:
            raise ValueError(f"density must be in [0, 1), got {density!r}")
        if not isinstance(blur, (int, float)) or not 0.0 <= blur <= 50.0:
            raise ValueError(f"blur must be in [0, 50] pixels, got {blur!r}")
        if len(color) != 3 or not all(isinstance(c, int) and 0 <= c <= 255 for c in color):
            raise ValueError(f"color must be three ints in [0, 255], got {color!r}")
        self.density = float(density)
        self.blur = float(blur)
        self.color = np.asarray(color, dtype=np.float32)
        self.observation_space = space

    def _fog(self, image: np.ndarray) -> np.ndarray:
        out = image.astype(np.float32) * (1.0 - self.density) + self.color * self.density
        out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
        if self.blur > 0:
            out = np.asarray(Image.fromarray(out).filter(ImageFilter.GaussianBlur(self.blur)))
        return out

    def observation(self, observation):
        if isinstance(observation, dict):
            return {**observation, "image": self._fog(observation["image"])}
        return self._fog(observation)
