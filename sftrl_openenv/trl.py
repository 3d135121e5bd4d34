"""The suite's OpenEnv server as TRL's ``GRPOTrainer(environment_factory=...)`` environment.

TRL makes one instance per rollout, calls ``reset(**row)`` with the dataset row (its return is appended to the
prompt), exposes the public methods as the model's tools, and scores a finished rollout with ``get_reward()``.
:class:`SuiteToolEnv` has one tool, ``reply(text)``: the model gives its whole answer as the game's prompt asks for
it, and the server reads and grades that text as ``env.step`` does. No tool schema reads the answer for the game
(a ``formula`` or ``action`` argument would bypass the game's reply reading and its verdicts on malformed replies).

>>> from trl import GRPOConfig, GRPOTrainer  # doctest: +SKIP
>>> from sftrl_openenv.trl import SuiteToolEnv  # doctest: +SKIP
>>> trainer = GRPOTrainer(model="Qwen/Qwen3-0.6B", args=GRPOConfig(max_steps=100),  # doctest: +SKIP
...                       environment_factory=SuiteToolEnv.factory("http://127.0.0.1:8000", env_id="GeneralPoints-v0"))

A dataset row's ``env_id``, ``protocol``, ``seed``, ``options``, ``env_kwargs``, ``setting`` and ``episode`` choose
its episode (``Dataset.from_dict({"seed": list(range(1000))})`` gives 1,000 seeded hands); other columns
(``prompt``...) are left to TRL.
"""

from __future__ import annotations

import base64
import functools
import io
from typing import Any, Callable

from .client import SuiteEnv
from .models import SuiteAction, SuiteObservation

__all__ = ["SuiteToolEnv", "RESET_KEYS", "REWARDS"]

#: The dataset columns (and constructor defaults) that choose an episode: the server's reset arguments.
RESET_KEYS = frozenset({"env_id", "protocol", "seed", "options", "env_kwargs", "setting", "episode"})
#: What ``get_reward`` returns: the episode's return (its rewards summed) or its success (1.0 or 0.0).
REWARDS = ("return", "success")


def _pil(data_url: str) -> Any:
    from PIL import Image

    payload = data_url.split(",", 1)[1]
    return Image.open(io.BytesIO(base64.b64decode(payload))).convert("RGB")


def _content(message: dict[str, Any]) -> str | list[dict[str, Any]]:
    """A message's content for TRL: its text, or content parts with the picture as a PIL image."""
    content = message["content"]
    if isinstance(content, str):
        return content
    return [{"type": "image", "image": _pil(part["image_url"]["url"])} if part.get("type") == "image_url"
            else {"type": "text", "text": part.get("text") or ""} for part in content]


class SuiteToolEnv:
    """One episode of the suite's OpenEnv server per rollout, for TRL's ``environment_factory``.

    Args:
        base_url: the server (``sftrl-openenv``).
        reward: what :meth:`get_reward` returns: ``"return"`` (the episode's rewards summed) or ``"success"``.
        **defaults: reset arguments every episode uses unless its dataset row gives them (:data:`RESET_KEYS`).

    Raises:
        ValueError: an unknown reward or default.
    """

    def __init__(self, base_url: str = "http://127.0.0.1:8000", *, reward: str = "return", **defaults: Any):
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {reward!r}")
        unknown = set(defaults) - RESET_KEYS
        if unknown:
            raise ValueError(f"unknown reset argument(s) {sorted(unknown)}; give some of {sorted(RESET_KEYS)}")
        self._reward, self._defaults = reward, defaults
        self._client = SuiteEnv(base_url=base_url).sync()
        self._last: SuiteObservation | None = None

    @classmethod
    def factory(cls, base_url: str = "http://127.0.0.1:8000", **kwargs: Any) -> Callable[[], SuiteToolEnv]:
        """A zero-argument factory of instances (what ``environment_factory`` takes); arguments as the class's."""
        cls(base_url, **kwargs)._client.close()  # check the arguments now, not in the trainer
        return functools.partial(cls, base_url, **kwargs)

    @property
    def observation(self) -> SuiteObservation | None:
        """The last observation (``None`` before the first reset): the grade, the feedback, the episode's figures."""
        return self._last

    def reset(self, **row: Any) -> str | list[dict[str, Any]]:
        """Start the episode the row chooses; returns its first prompt (image mode: the picture, then the text)."""
        arguments = {**self._defaults, **{key: value for key, value in row.items() if key in RESET_KEYS}}
        self._last = self._client.reset(**arguments).observation
        return _content(self._last.messages[-1])

    def reply(self, text: str) -> str | list[dict[str, Any]]:
        """Give the game your answer, written exactly as its prompt asks for it.

        Args:
            text: Your whole answer, in the format the game's prompt asks for; the game reads it as it reads any reply.

        Returns:
            The game's feedback on your answer, or the prompt of the next point of a route.
        """
        if self._last is None:
            raise RuntimeError("no episode yet: TRL calls reset first")
        if self._last.done:
            return "The episode is over: there is nothing more to answer."
        self._last = self._client.step(SuiteAction(reply=text)).observation
        if self._last.done:
            return self._last.feedback or ""
        return _content(self._last.messages[-1])

    def get_reward(self) -> float:
        """The episode's return (its rewards summed) or its success, as chosen at construction."""
        if self._last is None:
            return 0.0
        return float(self._last.success) if self._reward == "success" else float(self._last.episode_return)
