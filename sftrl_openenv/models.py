"""The OpenEnv wire types of the suite: what a client sends (:class:`SuiteAction`), what it gets back
(:class:`SuiteObservation`) and what ``state()`` reports (:class:`SuiteState`), as pydantic models.

A reply is the model's raw text: the server hands it to the game's own reply reading and grading, exactly as
``env.step(reply)`` does, so a model is judged on what it wrote (no tool schema reads the answer for it).
"""

from __future__ import annotations

from typing import Any

from openenv.core.env_server.types import Action, Observation, State
from pydantic import Field

__all__ = ["SuiteAction", "SuiteObservation", "SuiteState"]


class SuiteAction(Action):
    """One reply of the model, as it wrote it (e.g. ``'{"formula": "(10-4)*4"}'`` or a V-IRL action)."""

    reply: str = Field(..., description="The model's raw reply; the game reads and grades it as env.step does")


class SuiteObservation(Observation):
    """What the model sees next, the grade of the last reply and the episode's figures so far.

    ``reward`` is the last reply's reward (``None`` after a reset) and ``done`` whether the episode is over.
    """

    env_id: str = Field(default="", description="The registered id played, e.g. 'GeneralPoints-v0'")
    protocol: str = Field(default="suite", description="'suite' or 'paper' (the authors' evaluation)")
    text: str = Field(default="", description="The observation's text now (the prompt the game shows)")
    image: str | None = Field(
        default=None, description="The picture the observation shows now, base64 PNG (image ids), else null")
    messages: list[dict[str, Any]] = Field(
        default_factory=list,
        description="The chat messages of the next model call (info['messages']), OpenAI format; in image mode "
                    "the first user turn starts with the picture as a PNG data URL")
    verdict: str | None = Field(default=None, description="The game's verdict on the last reply")
    feedback: str | None = Field(default=None, description="The game's feedback on the last reply")
    terminated: bool = Field(default=False, description="The episode ended under the game's rules")
    truncated: bool = Field(default=False, description="The env's time limit ended the episode")
    turns: int = Field(default=0, description="Replies graded so far in this episode")
    success: bool = Field(
        default=False, description="Whether the episode succeeded (V-IRL: every point solved, so false until "
                                   "the route is over)")
    episode_return: float = Field(default=0.0, description="The rewards of the episode so far, summed")
    correct_steps: int | None = Field(
        default=None, description="V-IRL: correct replies so far (per-step accuracy = correct_steps / step_calls)")
    step_calls: int | None = Field(
        default=None, description="V-IRL: model calls counted by per-step accuracy (under the paper protocol, one "
                                  "more per point whose attempts ran out, as the authors' evaluator counts)")


class SuiteState(State):
    """The session's episode: which one it is and how it stands."""

    env_id: str | None = Field(default=None, description="The registered id played")
    protocol: str = Field(default="suite", description="'suite' or 'paper'")
    setting: str | None = Field(default=None, description="The paper setting, when reset with setting=")
    episode: int | None = Field(default=None, description="The setting's episode index, when reset with setting=")
    seed: int | None = Field(default=None, description="The reset seed")
    done: bool = Field(default=False, description="Whether the episode is over")
    success: bool = Field(default=False, description="Whether the episode succeeded")
    episode_return: float = Field(default=0.0, description="The rewards so far, summed")
