"""Playing one episode: the environment, what the agent may see, the loop that asks it for replies, the record
it leaves, and the progress line a run shows as replies arrive.

An agent is a callable ``(observation, info) -> reply`` or has ``async acall(observation, info)``; both are
played by the one loop here (:func:`_episode`), so sync and async runs play exactly the same way.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import Any

import gymnasium as gym

from sftrl_core.registry import DEFAULT_PROTOCOL

from .settings import SEED_LIST_VERSION, EpisodeList, Setting

__all__ = ["public_info", "AgentError"]

# info keys an agent must not see in image mode: they would give the picture's content away.
_IMAGE_SECRETS = frozenset({"cards", "suits", "numbers"})
_ALWAYS_SECRET = frozenset({"solution"})


def public_info(info: dict[str, Any], setting: Setting) -> dict[str, Any]:
    """The part of ``info`` an agent may see: no witness solution, and in image mode nothing that names the
    cards (a model must read them from the picture)."""
    hidden = _ALWAYS_SECRET | (_IMAGE_SECRETS if setting.image else frozenset())
    return {k: v for k, v in info.items() if k not in hidden}


class AgentError(RuntimeError):
    """The agent raised while answering; the message names the setting, the episode and the reply, and the
    original exception is the ``__cause__``. Finished episodes are on disk: run again to resume."""


def _episode(env: gym.Env, agent: Any, episodes: EpisodeList, name: str, index: int,
             on_reply: Callable[[float], None]) -> Generator:
    """One episode as a generator: it yields ``(observation, info)`` for each decision, is sent the reply,
    and returns the episode record. Sync and async drivers share it, so both play exactly the same way."""
    start = time.perf_counter()
    setting = episodes.setting
    seed, options = episodes.reset_args(index, env)
    obs, info = env.reset(seed=seed, options=options)
    if hasattr(agent, "begin_episode"):
        agent.begin_episode(env)
    steps: list[dict[str, Any]] = []
    done = False
    while not done:
        asked = time.perf_counter()
        reply = yield obs, public_info(info, setting)
        thinking = time.perf_counter() - asked
        if not isinstance(reply, str):
            raise TypeError(f"the agent must return the reply as a str, got {type(reply).__name__}")
        usage = getattr(reply, "usage", None)
        reply = str(reply)  # a plain str for the env and the record (str subclasses may carry usage)
        obs, reward, terminated, truncated, info = env.step(reply)
        step = {
            "reply": reply,
            "verdict": None if info.get("verdict") is None else str(info["verdict"]),
            "reward": float(reward),
            "recognized": info.get("recognized"),
            "agent_seconds": round(thinking, 6),
        }
        if isinstance(usage, Mapping):
            for key in ("prompt_tokens", "completion_tokens"):
                if isinstance(usage.get(key), int) and not isinstance(usage.get(key), bool):
                    step[key] = usage[key]
        steps.append(step)
        on_reply(thinking)
        done = terminated or truncated
    record = {
        "setting": setting.name,
        "agent": name,
        "index": index,
        "seed": seed,
        "seed_list_version": SEED_LIST_VERSION,
        "protocol": episodes.protocol,
        "success": bool(info.get("is_success")),
        "return": sum(s["reward"] for s in steps),
        "replies": len(steps),
        "seconds": round(time.perf_counter() - start, 6),
        "steps": steps,
    }
    if episodes.protocol != DEFAULT_PROTOCOL:  # default-protocol records keep their format from before protocols
        record["episode_list"] = episodes.identity()["episode_list"]
    if "step_correct" in info:
        record["step_correct"] = [bool(x) for x in info["step_correct"]]
    if "points_solved" in info:  # points whose attempts ran out: the paper's per-step accuracy counts them
        record["exhausted_points"] = [bool(x) for x in info["points_solved"]].count(False)
    return record


def _agent_failed(setting: Setting, index: int, replies: int, err: Exception) -> AgentError:
    detail = " ".join(str(err).split()) or "(no message)"
    return AgentError(f"{setting.name} episode {index}, reply {replies + 1}: the agent failed: "
                      f"{type(err).__name__}: {detail}")


async def _play_async(env: gym.Env, agent: Any, episodes: EpisodeList, name: str, index: int,
                      bar: _Progress, ask: Callable[..., Awaitable[Any]] | None = None) -> dict[str, Any]:
    """Play episode ``index`` and return its record; ``ask(observation, info)`` answers (default:
    ``agent.acall``).

    Raises:
        AgentError: the agent raised while answering.
    """
    ask = agent.acall if ask is None else ask
    setting = episodes.setting
    episode = _episode(env, agent, episodes, name, index, bar.reply)
    replies = 0
    try:
        request = next(episode)
        while True:
            try:
                reply = await ask(*request)
            except Exception as err:
                raise _agent_failed(setting, index, replies, err) from err
            replies += 1
            request = episode.send(reply)
    except StopIteration as finished:
        return finished.value


def _play(env: gym.Env, agent: Any, episodes: EpisodeList, name: str, index: int, bar: _Progress) -> dict[str, Any]:
    """:func:`_play_async` for a plain callable agent, run to the end right here: nothing in it waits on an event
    loop, so it needs none (and works inside a running one, e.g. a notebook's)."""

    async def ask(observation: Any, info: dict[str, Any]) -> Any:
        return agent(observation, info)

    playing = _play_async(env, agent, episodes, name, index, bar, ask)
    try:
        playing.send(None)
    except StopIteration as finished:
        return finished.value
    playing.close()
    raise RuntimeError("a synchronous agent's episode waited on an event loop")  # unreachable: nothing awaits


class _Progress:
    """A dependency-free progress line on stderr, updated after every reply (a slow model's episode can take
    minutes): on a terminal it is redrawn in place (at most 10 times a second); otherwise a line is printed at
    every 10% of the episodes and at least every 30 seconds while replies arrive."""

    REDRAW_SECONDS, LOG_SECONDS = 0.1, 30.0

    def __init__(self, label: str, total: int, done: int, enabled: bool):
        self.label, self.total, self.done, self.wins = label, total, done, 0
        self.enabled, self.start = enabled and total > 0, time.perf_counter()
        self.tty = sys.stderr.isatty()
        self.next_line = 0.0
        self.replies, self.reply_seconds, self.last_shown = 0, 0.0, -math.inf

    def reply(self, seconds: float) -> None:
        self.replies += 1
        self.reply_seconds += seconds
        now = time.perf_counter()
        wait = self.REDRAW_SECONDS if self.tty else self.LOG_SECONDS
        if self.enabled and now - self.last_shown >= wait:
            self._show(now)

    def update(self, success: bool) -> None:
        self.done += 1
        self.wins += success
        if not self.enabled:
            return
        fraction = self.done / self.total
        if not self.tty and fraction + 1e-9 < self.next_line and self.done < self.total:
            return
        self.next_line = math.floor(fraction * 10 + 1) / 10
        self._show(time.perf_counter())
        if self.tty and self.done == self.total:
            sys.stderr.write("\n")
            sys.stderr.flush()

    def _show(self, now: float) -> None:
        self.last_shown = now
        bar = "#" * int(self.done / self.total * 24)
        per_reply = f", {self.reply_seconds / self.replies:.2f} s/reply" if self.replies else ""
        text = (f"{self.label} [{bar:<24}] {self.done}/{self.total} episodes, {self.replies} replies"
                f"{per_reply}, {now - self.start:.0f} s")
        sys.stderr.write(("\r" + text + "\x1b[K") if self.tty else (text + "\n"))
        sys.stderr.flush()

    def note(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()


def _make_env(setting: Setting, kwargs: Mapping[str, Any], protocol: str) -> gym.Env:
    # The protocol is an argument of its own (not in env_kwargs), so default-protocol results files keep their
    # identity; the ids' default protocol is not passed at all.
    return gym.make(setting.env_id, **kwargs, **({"protocol": protocol} if protocol != DEFAULT_PROTOCOL else {}))
