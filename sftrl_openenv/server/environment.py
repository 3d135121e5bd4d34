"""The suite as one OpenEnv ``Environment``: any registered id of either game, under either protocol, per session.

Each session (a client's WebSocket) owns one :class:`SuiteEnvironment`, which owns one gymnasium env and the
episode being played on it (:class:`sftrl_train.EpisodeSession`): ``reset`` chooses the episode, ``step`` hands
the model's raw reply to the game (``env.step(reply)``), and the observation carries what the next model call
needs, the grade of the reply and the episode's figures.

Choosing an episode (``reset`` keyword arguments):

* ``env_id`` (default ``"GeneralPoints-v0"``; ``"virl_env:VIRL-VL-v0"`` also accepted), ``protocol`` (``"suite"``
  or ``"paper"``), ``seed``, ``options`` (reset options, e.g. fixed cards or a route), ``env_kwargs``
  (``gym.make`` arguments);
* or ``setting`` (a paper setting, e.g. ``"GP-L-RuleOOD"``) and ``episode`` (an index of the setting's evaluation
  list under ``protocol``): the episode the harness (``sftrl_eval``) plays as that index, seed and options
  included (:class:`sftrl_eval.EpisodeList`).
"""

from __future__ import annotations

import base64
import io
import json
import uuid
from typing import Any, Mapping

import gymnasium as gym
import numpy as np
from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import EnvironmentMetadata
from PIL import Image

from sftrl_core.registry import DEFAULT_PROTOCOL, game_of_env_id, get_protocol_info
from sftrl_eval.settings import EpisodeList, get_setting
from sftrl_train.episodes import EpisodeSession, message_text

from ..models import SuiteAction, SuiteObservation, SuiteState

__all__ = ["SuiteEnvironment", "DEFAULT_ENV_ID", "registered_ids", "png_base64"]

#: The id a reset with no arguments plays.
DEFAULT_ENV_ID = "GeneralPoints-v0"


def registered_ids() -> list[str]:
    """Every id the suite registers (both games), without their module prefix."""
    import gpoints_env  # noqa: F401  (registers the ids)
    import virl_env  # noqa: F401

    return [name for name, spec in gym.registry.items()
            if isinstance(spec.entry_point, str) and spec.entry_point.split(".")[0] in ("gpoints_env", "virl_env")]


def png_base64(image: Any) -> str:
    """An image (an HWC ``uint8`` array or a PIL image) as base64 PNG text."""
    picture = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, dtype=np.uint8))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _openai_messages(messages: list[dict[str, Any]], data_url: str | None) -> list[dict[str, Any]]:
    """The session's chat messages in OpenAI's format: a message holding the picture as content parts (the picture
    as a PNG data URL, then its text), every other message as its text."""
    converted = []
    for message in messages:
        content = message["content"]
        if isinstance(content, list) and data_url and any(part.get("type") == "image" for part in content):
            parts = [{"type": "image_url", "image_url": {"url": data_url}} if part.get("type") == "image"
                     else {"type": "text", "text": part.get("text") or ""} for part in content]
            converted.append({"role": message["role"], "content": parts})
        else:
            converted.append({"role": message["role"], "content": message_text(message)})
    return converted


class SuiteEnvironment(Environment[SuiteAction, SuiteObservation, SuiteState]):
    """Both games of the suite behind OpenEnv's ``reset``/``step``/``state``: one episode at a time per session.

    A session keeps its gymnasium env across resets that ask for the same id, protocol and ``env_kwargs``.

    Raises (from ``reset``/``step``, sent to the client as an error):
        ValueError: an unknown id, setting, protocol, keyword or episode index.
        RuntimeError: ``step`` before ``reset`` or after the episode ended.
    """

    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self) -> None:
        super().__init__()
        self._env: gym.Env | None = None
        self._env_key: tuple[str, str, str] | None = None
        self._session: EpisodeSession | None = None
        self._counts_exhausted = False
        self._state = SuiteState(episode_id=None, step_count=0)

    # ---- OpenEnv interface ------------------------------------------------------------------------------
    def reset(self, seed: int | None = None, episode_id: str | None = None, *, env_id: str | None = None,
              protocol: str | None = None, setting: str | None = None, episode: int | None = None,
              options: Mapping[str, Any] | None = None, env_kwargs: Mapping[str, Any] | None = None,
              **unknown: Any) -> SuiteObservation:
        """Start an episode: ``env_id`` with ``seed``/``options``, or ``setting`` with ``episode`` (see the module
        docstring). Returns the first observation."""
        if unknown:
            raise ValueError(f"unknown reset argument(s) {sorted(unknown)}; reset takes env_id, protocol, seed, "
                             "options, env_kwargs, or setting and episode")
        protocol = get_protocol_info(DEFAULT_PROTOCOL if protocol is None else protocol).name
        kwargs = dict(env_kwargs or {})
        if "protocol" in kwargs:
            raise ValueError("pass the protocol as reset(protocol=...), not in env_kwargs")
        if setting is not None:
            if env_id is not None or seed is not None or options is not None:
                raise ValueError("setting= and episode= choose the env, seed and options; leave env_id, seed and "
                                 "options out")
            chosen = get_setting(setting)
            full_id, kwargs = chosen.env_id, {**chosen.env_kwargs, **kwargs}
        else:
            if episode is not None:
                raise ValueError("episode= is an index of a setting's evaluation list: give setting= too")
            full_id = self._full_id(DEFAULT_ENV_ID if env_id is None else env_id)
        env = self._make(full_id, protocol, kwargs)
        if setting is not None:
            episodes = EpisodeList(chosen, protocol, on_dataset=kwargs.get("dataset_dir") is not None)
            index = 0 if episode is None else episode
            most = episodes.max_episodes
            if isinstance(index, bool) or not isinstance(index, int) or index < 0 or (most is not None
                                                                                   and index >= most):
                bound = f"0..{most - 1}" if most is not None else "a non-negative integer"
                raise ValueError(f"episode must be an index of {chosen.name}'s evaluation list under the "
                                 f"{protocol} protocol ({bound}), got {episode!r}")
            seed, options = episodes.reset_args(index, env)
        self._session = EpisodeSession.from_env(env, seed=seed, options=None if options is None else dict(options))
        self._counts_exhausted = get_protocol_info(protocol).reproduces_paper
        self._state = SuiteState(episode_id=episode_id or str(uuid.uuid4()), step_count=0,
                                 env_id=full_id.split(":")[-1], protocol=protocol,
                                 setting=None if setting is None else chosen.name,
                                 episode=None if setting is None else index, seed=seed)
        return self._observation(reward=None)

    def step(self, action: SuiteAction, timeout_s: float | None = None, **kwargs: Any) -> SuiteObservation:
        """Play one reply: the game reads and grades ``action.reply`` as ``env.step`` does."""
        if self._session is None:
            raise RuntimeError("no episode yet: call reset first")
        if self._session.done:
            raise RuntimeError("this episode is over: call reset for the next one")
        turn = self._session.reply(action.reply)
        self._state.step_count += 1
        self._state.done = turn.done
        self._state.success = self._session.success
        self._state.episode_return = self._session.total_reward
        return self._observation(reward=turn.reward)

    @property
    def state(self) -> SuiteState:
        return self._state

    def get_metadata(self) -> EnvironmentMetadata:
        from importlib.metadata import PackageNotFoundError, version

        try:
            release = version("sft-rl-generalization-envs")
        except PackageNotFoundError:  # a source tree that is not installed
            release = None
        return EnvironmentMetadata(
            name="sftrl",
            description="GeneralPoints and V-IRL navigation, after 'SFT Memorizes, RL Generalizes' (Chu et al., "
                        "2025): every registered id, the suite's and the paper's protocols, and the paper's "
                        "evaluation lists (reset(setting=..., episode=...)).",
            version=release)

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env, self._env_key, self._session = None, None, None

    # ---- helpers ----------------------------------------------------------------------------------------
    @staticmethod
    def _full_id(env_id: str) -> str:
        if not isinstance(env_id, str):
            raise ValueError(f"env_id must be a string, got {env_id!r}")
        bare = env_id.rpartition(":")[2]
        known = registered_ids()
        if bare not in known:
            raise ValueError(f"unknown env_id {env_id!r}; the suite registers {', '.join(sorted(known))}")
        return f"{game_of_env_id(bare).package}:{bare}"

    def _make(self, full_id: str, protocol: str, kwargs: dict[str, Any]) -> gym.Env:
        try:
            key = (full_id, protocol, json.dumps(kwargs, sort_keys=True))
        except TypeError as err:
            raise ValueError(f"env_kwargs must be JSON values: {err}") from None
        if key != self._env_key:
            self.close()
            extra = {} if protocol == DEFAULT_PROTOCOL else {"protocol": protocol}
            self._env = gym.make(full_id, **kwargs, **extra)
            self._env_key = key
        assert self._env is not None
        return self._env

    def _observation(self, reward: float | None) -> SuiteObservation:
        session = self._session
        assert session is not None
        image = session.image
        picture = None if image is None else png_base64(image)
        data_url = None if picture is None else f"data:image/png;base64,{picture}"
        turn = session.turns[-1] if session.turns else None
        info = session.info
        correct = calls = None
        if "step_correct" in info:  # V-IRL: the counts per-step accuracy pools over episodes
            graded = [bool(x) for x in info["step_correct"]]
            exhausted = [bool(x) for x in info.get("points_solved", ())].count(False)
            correct, calls = sum(graded), len(graded) + (exhausted if self._counts_exhausted else 0)
        return SuiteObservation(
            done=session.done, reward=reward,
            env_id=self._state.env_id or "", protocol=self._state.protocol,
            text=session.text, image=picture, messages=_openai_messages(session.messages, data_url),
            verdict=None if turn is None or turn.verdict is None else str(turn.verdict),
            feedback=None if turn is None else turn.feedback,
            terminated=session.terminated, truncated=session.truncated, turns=len(session.turns),
            success=session.success, episode_return=session.total_reward,
            correct_steps=correct, step_calls=calls)
