"""One episode (V-IRL: one rail point) played from its spec, reply by reply, as the env would play it.

:class:`SpecEpisode` is what every multi-turn adapter shares (TRL's rollout, verl's agent loop and interaction,
OpenRLHF's agent): feed it the model's raw replies, get the env's verdict, reward, feedback message and whether
the episode is over, without a live env.

>>> import gymnasium as gym, gpoints_env
>>> env = gym.make("GeneralPoints-v0"); _ = env.reset(options={"cards": ["8", "3", "8", "3"]})
>>> episode = SpecEpisode(env.unwrapped.episode_spec())
>>> episode.reply("8+8+3+3").grade.verdict, episode.done
(<Verdict.WRONG_VALUE: 'wrong_value'>, False)
>>> episode.reply('{"formula": "8/(3-8/3)"}').terminated, episode.done, episode.success, episode.total_reward
(True, True, True, 4.0)
"""

from __future__ import annotations

from typing import Any, Mapping

from sftrl_core.grading import Grade
from sftrl_core.specs import SpecStep

from ._games import specs_module

__all__ = ["SpecEpisode"]


class SpecEpisode:
    """The attempts of one episode, graded from its spec.

    Args:
        spec: the episode's spec (dict or JSON text), at the attempt the episode starts from.

    Raises:
        SpecError: the spec is malformed or names an unknown game (raised on the first reply for a malformed one).
    """

    def __init__(self, spec: str | Mapping[str, Any]):
        self._module = specs_module(spec)
        self.spec: str | Mapping[str, Any] | None = spec
        self.replies: list[str] = []
        self.grades: list[Grade] = []

    @property
    def done(self) -> bool:
        """Whether the episode is over (a correct reply, or no attempt left)."""
        return self.spec is None

    @property
    def success(self) -> bool:
        """Whether some graded reply was correct."""
        return any(g.success for g in self.grades)

    @property
    def total_reward(self) -> float:
        """The episode's return: the rewards of the graded replies, summed."""
        return float(sum(g.reward for g in self.grades))

    def reply(self, text: object) -> SpecStep:
        """Grade the next reply and move the episode on.

        Raises:
            RuntimeError: the episode is over.
        """
        if self.spec is None:
            raise RuntimeError("this episode is over: it ended with a correct reply or its last attempt")
        step = self._module.advance(text, self.spec)
        self.replies.append(text if isinstance(text, str) else repr(text))
        self.grades.append(step.grade)
        self.spec = step.next_spec
        return step
