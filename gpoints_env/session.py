"""A GeneralPoints episode played from its spec alone, turn by turn, exactly as the env plays it.

:class:`HandSession` takes an episode spec (:func:`gpoints_env.specs.episode_spec`, or its JSON text) and the
model's raw replies, and gives after each reply what ``env.step`` gives: the observation text (and the picture in
image mode, when the caller has it), the reward, whether the episode ended, and the env's ``info`` fields that a
multi-turn loop reads (``verdict``, ``feedback``, ``attempts_left``, ``is_success``, ``messages``). It reads the
spec through :mod:`gpoints_env.specs` (:func:`~gpoints_env.specs.spec_prompt`, :func:`~gpoints_env.specs.advance`)
and asks the spec's protocol for the observation text after an attempt, so it follows every rule the env follows.

>>> import gymnasium as gym
>>> env = gym.make("GeneralPoints-v0"); _ = env.reset(options={"cards": ["8", "3", "8", "3"]})
>>> hand = HandSession(env.unwrapped.episode_spec())
>>> _, reward, terminated, _, info = hand.step("8+8+3+3")
>>> reward, terminated, info["attempts_left"], [m["role"] for m in info["messages"]]
(-1.0, False, 4, ['user', 'assistant', 'user'])
>>> hand.step('{"formula": "8/(3-8/3)"}')[1:3], hand.done
((5.0, True), True)

The spec does not hold the picture (it is drawn from the env's generator at reset); pass it as ``image`` (a dataset
row's ``images[0]``) when the session must show it.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from sftrl_core.specs import SpecError, load_spec

from .protocols import get_protocol
from .specs import GAME, advance, spec_prompt

__all__ = ["HandSession"]


class HandSession:
    """The attempts of one GeneralPoints episode, played from its spec as ``env.step`` plays them.

    Args:
        spec: the episode's spec (dict or JSON text), normally taken at reset (attempt 0). A spec taken after some
            attempts starts the session there, but the earlier replies and feedback are not in it: the messages
            then start at the prompt.
        image: the episode's picture (HWC ``uint8`` array or ``PIL`` image) for image-mode specs, or ``None``.

    Attributes:
        spec: the spec of the next attempt (``None`` once the episode is over).
        text: the observation text now (``obs`` in text mode, ``obs["text"]`` in image mode).
        image: the picture (image mode, when given), else ``None``.
        messages: ``info["messages"]`` now: the prompt, each reply and each feedback turn.
        info: the last step's ``info`` fields (at the start: no verdict, no feedback).

    Raises:
        SpecError: the spec is malformed, of another game, or of an episode that is over.
    """

    def __init__(self, spec: str | Mapping[str, Any], image: Any = None):
        data = load_spec(spec, GAME)
        self._prompt = spec_prompt(spec)  # validates the whole spec
        self._protocol = get_protocol(data["protocol"])
        self._max_attempts: int = data["max_attempts"]
        self.image_mode: bool = data["observation_mode"] == "image"
        if image is not None and not self.image_mode:
            raise SpecError("this spec is of a text-mode episode; it has no picture to show")
        self.image = None if image is None else np.asarray(image, dtype=np.uint8)
        self.spec: dict[str, Any] | None = data
        self.text = self._prompt
        self.messages: list[dict[str, str]] = [{"role": "user", "content": self._prompt}]
        self.info = self._info(None, data["max_attempts"] - data["attempt"])

    @property
    def done(self) -> bool:
        """Whether the episode is over (a correct reply, or its last attempt)."""
        return self.spec is None

    @property
    def observation(self) -> str | dict[str, Any]:
        """The observation as the env returns it: the text, or in image mode ``{"image": ..., "text": ...}``."""
        if not self.image_mode:
            return self.text
        return {"image": None if self.image is None else self.image.copy(), "text": self.text}

    def step(self, reply: str) -> tuple[str | dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Grade ``reply`` and move on, as ``env.step(reply)``.

        Returns:
            ``(observation, reward, terminated, truncated, info)`` (``truncated`` is always false: the game never
            truncates).

        Raises:
            TypeError: ``reply`` is not a string (``env.step`` refuses it too).
            RuntimeError: the episode is over.
        """
        if not isinstance(reply, str):
            raise TypeError(f"a reply is the model's text, a str; got {type(reply).__name__}")
        if self.spec is None:
            raise RuntimeError("this episode is over (a correct reply or its last attempt); start a new session")
        step = advance(reply, self.spec)
        attempt = self._max_attempts - self.info["attempts_left"] + 1
        self.text, turn = self._protocol.after_attempt(self._prompt, step.grade, attempt, self._max_attempts)
        self.messages.append({"role": "assistant", "content": reply})
        if not step.terminated:
            self.messages.append({"role": "user", "content": turn})
        self.spec = step.next_spec
        self.info = self._info(step.grade, self._max_attempts - attempt)
        return self.observation, float(step.grade.reward), step.terminated, False, self.info

    def _info(self, grade: Any, attempts_left: int) -> dict[str, Any]:
        return {
            "verdict": None if grade is None else grade.verdict,
            "feedback": None if grade is None else grade.feedback,
            "attempts_left": attempts_left,
            "is_success": grade is not None and grade.success,
            "messages": [dict(m) for m in self.messages],
        }
