"""One episode session for both games: a whole episode played turn by turn, from its spec or from a live env.

:class:`EpisodeSession` (also importable as :class:`SpecEpisode`) plays a GeneralPoints hand's attempts or a whole
V-IRL route. It gives what the next model call needs, :attr:`~EpisodeSession.observation` (the env's observation)
and :attr:`~EpisodeSession.messages` (``info["messages"]`` as chat messages, with image content parts in image
mode), and takes the model's raw reply, :meth:`~EpisodeSession.reply`, returning a :class:`Turn` (verdict, per-turn
reward, feedback, terminated/truncated, the next user turn), until :attr:`~EpisodeSession.done`. For any replies it
gives exactly what the live env gives, turn by turn: the same observations, messages, rewards, feedback and end.

Built from a spec (``env.unwrapped.episode_spec()`` at reset, or a dataset row's ``spec`` column), it needs no env:
the game's own session plays it (:class:`gpoints_env.session.HandSession`, :class:`virl_env.session.RouteSession`).
Built with :meth:`EpisodeSession.from_env`, it steps a live env, so every trainer adapter runs either way.

>>> import gymnasium as gym, gpoints_env
>>> env = gym.make("GeneralPoints-v0"); _ = env.reset(options={"cards": ["8", "3", "8", "3"]})
>>> episode = SpecEpisode(env.unwrapped.episode_spec())
>>> episode.reply("8+8+3+3").verdict, episode.done
(<Verdict.WRONG_VALUE: 'wrong_value'>, False)
>>> [m["role"] for m in episode.messages]
['user', 'assistant', 'user']
>>> episode.reply('{"formula": "8/(3-8/3)"}').terminated, episode.success, episode.total_reward, episode.rewards
(True, True, 4.0, [-1.0, 5.0])

The whole episode as one conversation, for trainers that keep one token sequence (TRL, verl, OpenRLHF), is
:attr:`~EpisodeSession.transcript`: the first prompt, each reply, and each turn's new user message
(:attr:`Turn.next_messages`): the env's feedback on a retry, the whole prompt of the next point when a V-IRL route
moves on. Once the episode is over the transcript closes with a user turn holding the last feedback, which the env's
``info["messages"]`` leaves out (the session's :attr:`~EpisodeSession.messages` stay equal to the env's).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from sftrl_core.grading import CORRECT, Grade
from sftrl_core.registry import GAMES
from sftrl_core.specs import SpecError, load_spec, spec_game

__all__ = ["EpisodeSession", "SpecEpisode", "Turn"]

#: The game-side session of each game's specs (imported on demand: V-IRL users need no card code).
_SESSIONS = {"GeneralPoints": ("gpoints_env.session", "HandSession"),
             "V-IRL": ("virl_env.session", "RouteSession")}


@dataclass(frozen=True)
class Turn:
    """The outcome of one reply, as ``env.step`` gives it, plus what a multi-turn loop sends next.

    Attributes:
        reply: the raw reply.
        verdict: the game's verdict (``info["verdict"]``).
        reward: the reward of this reply (the per-turn reward).
        feedback: ``info["feedback"]``: the game's feedback on this reply.
        terminated: the episode ended under the game's rules.
        truncated: the env's time limit ended it (never under the games' own rules; a V-IRL route spec states the
            limit as its ``max_steps``, so a session from the spec truncates where the env does).
        next_messages: the messages the conversation gains before the next model call: the env's feedback turn
            on a retry, the next point's whole prompt when a V-IRL route moves on (image mode: with its picture as
            an image part); empty once the episode is over.
        info: the step's ``info`` (the fields :class:`EpisodeSession` reads from a live env or a spec session).
    """

    reply: str
    verdict: Any
    reward: float
    feedback: str
    terminated: bool
    truncated: bool
    next_messages: tuple[dict[str, Any], ...] = ()
    info: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def done(self) -> bool:
        """Whether the episode is over after this reply."""
        return self.terminated or self.truncated

    @property
    def success(self) -> bool:
        """Whether this reply was correct."""
        return self.verdict == CORRECT

    @property
    def grade(self) -> Grade:
        """The verdict, reward and feedback as a :class:`~sftrl_core.grading.Grade`."""
        return Grade(self.verdict, self.reward, self.feedback)

    @property
    def message(self) -> str:
        """The text of the next user turn (its text parts joined), or the feedback once the episode is over."""
        if not self.next_messages:
            return self.feedback
        return "\n\n".join(message_text(m) for m in self.next_messages)


def message_text(message: Mapping[str, Any]) -> str:
    """A chat message's text: its string content, or its text parts joined."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    return "".join(part.get("text") or "" for part in content or () if part.get("type") == "text")


def _pil(image: Any) -> Any:
    from PIL import Image  # a dependency of the suite

    if image is None or isinstance(image, Image.Image):
        return image
    return Image.fromarray(np.asarray(image, dtype=np.uint8))


def with_image_parts(messages: Sequence[Mapping[str, Any]], image: Any) -> list[dict[str, Any]]:
    """``messages`` in the content-part form of image mode: every content a list of parts, the picture first in
    the first user turn (``{"type": "image", "image": <PIL image>}``, or ``{"type": "image"}`` when it is not
    known), as vision-language processors and TRL take them."""
    converted = [{"role": m["role"], "content": [{"type": "text", "text": message_text(m)}]} for m in messages]
    for message in converted:
        if message["role"] == "user":
            picture = _pil(image)
            message["content"].insert(0, {"type": "image"} if picture is None else {"type": "image", "image": picture})
            break
    return converted


class _EnvPlayer:
    """A live env seen through the session's interface (``observation``, ``info``, ``step``)."""

    def __init__(self, env: Any, observation: Any, info: Mapping[str, Any]):
        self.env, self.observation, self.info = env, observation, dict(info)
        self.done = False

    def step(self, reply: str) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(reply)
        self.observation, self.info, self.done = observation, dict(info), bool(terminated or truncated)
        return observation, float(reward), bool(terminated), bool(truncated), self.info


class _PointPlayer:
    """One V-IRL rail point's attempts from a point spec (a per-step row), through the game's ``advance``.

    A point spec does not hold what the env's prompt shows around the point (the paper protocol's sentences, the
    feedback a point reached by being moved on shows), so this player does not rebuild the prompt: its observation
    is empty and its messages hold only the replies and feedback turns (the row's ``prompt`` is the first turn)."""

    def __init__(self, spec: str | Mapping[str, Any]):
        self._module = importlib.import_module("virl_env.specs")
        self.spec: Any = spec
        self.observation = ""
        self.info: dict[str, Any] = {"verdict": None, "feedback": None, "is_success": False,
                                     "messages": [{"role": "user", "content": ""}]}

    def step(self, reply: str) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self.spec is None:
            raise RuntimeError("this point's attempts are over")
        step = self._module.advance(reply, self.spec)
        messages = [*self.info["messages"], {"role": "assistant", "content": reply}]
        if not step.terminated:
            messages.append({"role": "user", "content": step.message})
        self.spec = step.next_spec
        self.info = {"verdict": step.grade.verdict, "feedback": step.grade.feedback,
                     "is_success": step.grade.success, "messages": messages}
        return self.observation, float(step.grade.reward), step.terminated, False, self.info


class EpisodeSession:
    """A whole episode of either game, played turn by turn from its spec (or from a live env).

    Args:
        spec: the episode's spec (dict or JSON text): a GeneralPoints episode spec, or a V-IRL route spec
            (``env.unwrapped.episode_spec()``) for a whole route. A V-IRL point spec (per-step rows) plays that one
            point's attempts, as before.
        images: the pictures of an image-mode episode, when the session must show them: GeneralPoints one picture
            (the hand), V-IRL one per rail point, in rail order (a whole-route dataset row's ``images``).

    Attributes:
        game: ``"GeneralPoints"`` or ``"V-IRL"``.
        turns: the :class:`Turn` of each reply so far.

    Raises:
        SpecError: the spec is malformed or names an unknown game.
        TypeError: the spec is neither a dict nor JSON text.
    """

    def __init__(self, spec: str | Mapping[str, Any], *, images: Sequence[Any] | None = None):
        game = spec_game(spec)
        if game not in _SESSIONS:
            raise SpecError(f"unknown game {game!r} in spec; this suite plays {sorted(_SESSIONS)}")
        module, name = _SESSIONS[game]
        cls = getattr(importlib.import_module(module), name)
        if game == "V-IRL" and "rail" not in load_spec(spec, game):
            player: Any = _PointPlayer(spec)  # a per-step row: that point's attempts only
        elif game == "GeneralPoints":
            player = cls(spec, image=None if not images else images[0])
        else:
            player = cls(spec, images=images)
        self._start(game, player)

    @classmethod
    def from_env(cls, env: Any, *, seed: int | None = None, options: dict[str, Any] | None = None,
                 observation: Any = None, info: Mapping[str, Any] | None = None) -> EpisodeSession:
        """A session of a live env of either game: replies go to ``env.step``.

        Args:
            env: an env of either game (wrapped or not).
            seed: the seed to reset the env with first (the default: reset with no seed).
            options: the ``reset`` options to reset the env with first.
            observation: instead of resetting, adopt the env as it is: the observation its last ``reset`` (or
                ``step``) returned, given with ``info``.
            info: the ``info`` that same call returned.

        Raises:
            ValueError: only one of ``observation`` and ``info`` given, or ``env`` is not an env of this suite's
                games.
        """
        if (observation is None) != (info is None):
            raise ValueError("give both observation and info (what the env's last reset returned), or neither")
        if info is None:
            observation, info = env.reset(seed=seed, options=options)
        package = type(env.unwrapped).__module__.split(".")[0]
        game = next((g.name for g in GAMES.values() if g.package == package), None)
        if game is None:
            raise ValueError(f"{type(env.unwrapped).__name__} is not an env of this suite's games")
        session = cls.__new__(cls)
        session._start(game, _EnvPlayer(env, observation, info))
        return session

    def _start(self, game: str, player: Any) -> None:
        self.game = game
        self._player = player
        self.turns: list[Turn] = []
        self._messages = list(player.info.get("messages") or [{"role": "user", "content": self.text}])
        self._transcript = self.messages

    # ---- what the next model call needs ---------------------------------------------------------------------
    @property
    def observation(self) -> Any:
        """The env's observation now: the prompt text, or in image mode ``{"image": ..., "text": ...}``."""
        return self._player.observation

    @property
    def text(self) -> str:
        """The observation's text."""
        observation = self.observation
        return observation["text"] if isinstance(observation, Mapping) else observation

    @property
    def image(self) -> np.ndarray | None:
        """The picture the observation shows now (image mode, when known), else ``None``."""
        observation = self.observation
        return observation.get("image") if isinstance(observation, Mapping) else None

    @property
    def image_mode(self) -> bool:
        """Whether the episode shows pictures."""
        return isinstance(self.observation, Mapping)

    @property
    def info(self) -> Mapping[str, Any]:
        """The last ``info`` (the reset's before the first reply)."""
        return self._player.info

    @property
    def messages(self) -> list[dict[str, Any]]:
        """``info["messages"]`` now, as chat messages; in image mode in content-part form with the current
        picture first in the first user turn (:func:`with_image_parts`)."""
        messages = [dict(m) for m in self._messages]
        return with_image_parts(messages, self.image) if self.image_mode else messages

    @property
    def transcript(self) -> list[dict[str, Any]]:
        """The whole episode as one conversation: the first prompt, then each reply and the user turn that
        followed it (:attr:`Turn.next_messages`); once the episode is over, a closing user turn with the last
        feedback."""
        transcript = [dict(m) for m in self._transcript]
        if self.done and self.turns and self.turns[-1].feedback:
            content = self.turns[-1].feedback
            transcript.append({"role": "user",
                               "content": [{"type": "text", "text": content}] if self.image_mode else content})
        return transcript

    # ---- the episode so far ---------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """Whether the episode is over."""
        return bool(self.turns) and self.turns[-1].done

    @property
    def terminated(self) -> bool:
        """Whether the episode ended under the game's rules."""
        return bool(self.turns) and self.turns[-1].terminated

    @property
    def truncated(self) -> bool:
        """Whether the env's time limit ended the episode."""
        return bool(self.turns) and self.turns[-1].truncated

    @property
    def replies(self) -> list[str]:
        """The raw replies so far."""
        return [t.reply for t in self.turns]

    @property
    def grades(self) -> list[Grade]:
        """The grade (verdict, reward, feedback) of each reply so far."""
        return [t.grade for t in self.turns]

    @property
    def rewards(self) -> list[float]:
        """The per-turn rewards so far."""
        return [t.reward for t in self.turns]

    @property
    def total_reward(self) -> float:
        """The episode's return so far: the per-turn rewards summed (the shaped return, not a success rate)."""
        return float(sum(self.rewards))

    @property
    def success(self) -> bool:
        """Whether the episode succeeded (``info["is_success"]``): GeneralPoints a correct reply, V-IRL every point
        of the route solved (so ``False`` until the route is over)."""
        return bool(self.info.get("is_success", False))

    @property
    def step_accuracy(self) -> float | None:
        """Per-step accuracy: the share of graded replies that were correct (``None`` before the first reply)."""
        if not self.turns:
            return None
        return sum(t.success for t in self.turns) / len(self.turns)

    def expert_reply(self) -> str:
        """An expert's reply at the point the episode stands at (the game's ``expert_reply``), for oracles,
        demonstrations and replays.

        Raises:
            RuntimeError: the episode is over.
        """
        if self.done:
            raise RuntimeError("this episode is over; there is no reply to give")
        player = self._player
        if isinstance(player, _EnvPlayer):
            return player.env.unwrapped.expert_reply()
        if hasattr(player, "expert_reply"):
            return player.expert_reply()
        module = importlib.import_module(GAMES[self.game].specs_module)
        return module.expert_reply(player.spec)

    def metrics(self) -> dict[str, float]:
        """The episode's figures for logging: ``return``, ``success`` (0/1), ``step_accuracy``, ``turns``."""
        return {"return": self.total_reward, "success": float(self.success),
                "step_accuracy": self.step_accuracy or 0.0, "turns": float(len(self.turns))}

    # ---- playing ---------------------------------------------------------------------------------------------
    def reply(self, text: str) -> Turn:
        """Play the model's raw reply: grade it, move the episode on, and say what comes next.

        Raises:
            TypeError: ``text`` is not a string.
            RuntimeError: the episode is over.
        """
        if not isinstance(text, str):
            raise TypeError(f"a reply is the model's text, a str; got {type(text).__name__}")
        if self.done:
            raise RuntimeError("this episode is over: it ended with a correct reply, its last attempt or its last "
                               "point")
        _, reward, terminated, truncated, info = self._player.step(text)
        after = list(info.get("messages") or [])
        next_messages: list[dict[str, Any]] = []
        if not (terminated or truncated):
            if len(after) >= 3 and after[-2]["role"] == "assistant":
                # The conversation goes on (a retry): the env's messages end with this reply and its feedback.
                next_messages = [dict(after[-1])]
                if self.image_mode:
                    next_messages = [{"role": m["role"], "content": [{"type": "text", "text": message_text(m)}]}
                                     for m in next_messages]
            else:  # a new point: the env starts a new conversation, with the point's picture
                next_messages = (with_image_parts(after, self.image) if self.image_mode
                                 else [dict(m) for m in after])
        turn = Turn(text, info.get("verdict"), float(reward), info.get("feedback") or "", bool(terminated),
                    bool(truncated), tuple(next_messages), info)
        reply_message = {"role": "assistant",
                         "content": [{"type": "text", "text": text}] if self.image_mode else text}
        self._transcript = [*self._transcript, reply_message, *next_messages]
        self._messages = after
        self.turns.append(turn)
        return turn


#: The name issue 19 gave the session; the same class.
SpecEpisode = EpisodeSession

