"""A whole V-IRL route walked from its spec alone, turn by turn, exactly as the env walks it.

:class:`RouteSession` takes a route spec (:func:`virl_env.specs.route_spec`, what ``env.unwrapped.episode_spec()``
gives, or its JSON text) and the model's raw replies. After each reply it gives what ``env.step`` gives: the prompt
at the point the walk then stands at (with the ``[Feedback]`` of a failed attempt, and the expert's actions in the
history, as the env shows them), the reward, whether the route ended, and the ``info`` fields that do not depend on
the world (``verdict``, ``feedback``, ``attempts_left``, ``is_success``, ``step_correct``, ``points_solved``,
``step_index``, ``messages``...). The walk itself is the env's own pure object,
:class:`~virl_env.task.navigation.NavigationTask`, rebuilt from the spec; the session adds the street views when it
is given them.

>>> import gymnasium as gym
>>> env = gym.make("VIRL-v0"); obs, _ = env.reset(seed=0)
>>> walk = RouteSession(env.unwrapped.episode_spec())
>>> walk.text == obs
True
>>> _, reward, terminated, _, info = walk.step("stop()")
>>> reward, terminated, info["attempts_left"], info["messages"][1]
(-1.0, False, 1, {'role': 'assistant', 'content': 'stop()'})

A route spec does not hold the street views; pass the pictures of the rail points (a whole-route dataset row's
``point_images``) as ``images`` when the session must show them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sftrl_core.specs import SpecError

from .specs import route_spec_of, walk_of
from .task.checker import Grade

__all__ = ["RouteSession"]


class RouteSession:
    """The walk of one V-IRL route, played from its route spec as ``env.step`` plays it.

    Args:
        spec: the route spec (dict or JSON text), normally taken at reset.
        images: the street-view grid of every rail point, in rail order (HWC ``uint8`` arrays or ``PIL`` images),
            for image-mode specs; or ``None``.

    Attributes:
        last_grade: the grade of the last reply (``feedback`` as ``info["feedback"]``), or ``None``.

    Raises:
        SpecError: the spec is malformed, not a V-IRL route spec, or of a route that is over; ``images`` do not
            match the rail.
    """

    def __init__(self, spec: str | Mapping[str, Any], images: Sequence[Any] | None = None):
        self._task = task = walk_of(spec)
        # The spec as given (a copy of a mapping), read again only if the session is asked for its spec.
        self._source = spec if isinstance(spec, str) else dict(spec)
        if images is not None:
            if not task.image:
                raise SpecError("this route spec is of a text-mode episode; it has no pictures to show")
            if len(images) != len(task.rail):
                raise SpecError(f"a route of {len(task.rail)} rail points needs {len(task.rail)} pictures, got "
                                f"{len(images)}")
        self._images = None if images is None else list(images)
        self.last_grade: Grade | None = None

    # ---- what the env shows now ---------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """Whether the route is over (its last point done, or its attempts ran out where the route ends)."""
        return self._task.finished

    @property
    def image_mode(self) -> bool:
        """Whether the prompts are the image mode's (street views beside the text)."""
        return self._task.image

    @property
    def point_index(self) -> int:
        """The index of the rail point the walk stands at (the last one once the route is over)."""
        return self._task.index

    @property
    def shown_feedback(self) -> str:
        """The feedback the prompt now shows (``""`` after a correct reply)."""
        return self._task.shown_feedback

    @property
    def text(self) -> str:
        """The observation text now (``obs``, or ``obs["text"]`` in image mode)."""
        return self._task.observation

    @property
    def messages(self) -> list[dict[str, str]]:
        """``info["messages"]`` now: the prompt at this point, then each failed reply and its feedback."""
        return self._task.messages

    @property
    def info(self) -> dict[str, Any]:
        """The ``info`` fields of the walk now (the env adds ``route``, ``city_seed`` and ``style``)."""
        return self._task.info()

    @property
    def image(self) -> np.ndarray | None:
        """The street views at the current point (image mode, when the pictures were given), else ``None``."""
        if self._images is None:
            return None
        return np.asarray(self._images[self._task.index], dtype=np.uint8)

    @property
    def observation(self) -> str | dict[str, Any]:
        """The observation as the env returns it: the text, or in image mode ``{"image": ..., "text": ...}``."""
        if not self._task.image:
            return self.text
        image = self.image
        return {"image": None if image is None else image.copy(), "text": self.text}

    @property
    def spec(self) -> dict[str, Any] | None:
        """The route spec of the walk as it stands now (``None`` once the route is over)."""
        return route_spec_of(self._source, self._task)

    def expert_reply(self) -> str:
        """An expert's reply at the current point (the prompt's answer format).

        Raises:
            RuntimeError: the route is over.
        """
        return self._task.expert_reply()

    # ---- playing --------------------------------------------------------------------------------------------------
    def step(self, reply: str) -> tuple[str | dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Grade ``reply`` at the current point and move on when it is right or the attempts run out, as
        ``env.step(reply)``.

        Returns:
            ``(observation, reward, terminated, truncated, info)``.

        Raises:
            TypeError: ``reply`` is not a string (``env.step`` refuses it too).
            RuntimeError: the route is over.
        """
        if not isinstance(reply, str):
            raise TypeError(f"a reply is the model's text, a str; got {type(reply).__name__}")
        if self._task.finished:
            raise RuntimeError("this route is over; start a new session")
        step = self._task.step(reply)
        # info["feedback"] is the task's message (the grader's, plus what happens next at this point).
        self.last_grade = step.grade.with_feedback(step.feedback)
        return self.observation, step.reward, step.terminated, step.truncated, self.info
