"""Evaluate any agent on a paper setting, one JSON line per finished episode, resumable after any interruption.

An agent is a callable ``(observation, info) -> reply``: it sees exactly what a model sees (the prompt, or the
prompt and the picture) and answers in free text. Optional extras:

* ``agent.begin_episode(env)`` is called after every reset with the environment, for privileged agents
  (oracles, adapters of numeric policies) that read ``env.unwrapped`` state;
* ``async agent.acall(observation, info)`` lets :func:`evaluate` run ``concurrency`` episodes at once, for
  LLM servers that batch requests;
* ``agent.name`` names the agent in results (else pass ``agent_name``).

Results go to ``out_dir/<setting>.jsonl``: one line per finished episode, written and flushed to disk as soon
as the episode ends. A run that is killed loses at most the episodes in flight; running again with the same
``out_dir`` skips the finished episodes (by index), drops a half-written last line, and never duplicates one.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import time
from collections.abc import Callable, Generator, Iterable
from pathlib import Path
from typing import Any

import gymnasium as gym

from .settings import SEED_LIST_VERSION, Setting, get_setting

__all__ = ["evaluate", "aevaluate", "summarize", "load_records", "public_info", "UNPARSEABLE_VERDICTS"]

#: Verdicts that mean the reply could not be read as an answer at all.
UNPARSEABLE_VERDICTS = frozenset({"no_formula", "illegal_formula", "invalid"})
# info keys an agent must not see in image mode: they would give the picture's content away.
_IMAGE_SECRETS = frozenset({"cards", "suits", "numbers"})
_ALWAYS_SECRET = frozenset({"solution"})


def public_info(info: dict[str, Any], setting: Setting) -> dict[str, Any]:
    """The part of ``info`` an agent may see: no witness solution, and in image mode nothing that names the
    cards (a model must read them from the picture)."""
    hidden = _ALWAYS_SECRET | (_IMAGE_SECRETS if setting.image else frozenset())
    return {k: v for k, v in info.items() if k not in hidden}


def _agent_name(agent: Any, agent_name: str | None) -> str:
    if agent_name:
        return agent_name
    name = getattr(agent, "name", None) or getattr(agent, "__name__", None) or type(agent).__name__
    return str(name)


# ---- result files ------------------------------------------------------------------------------------------


def load_records(path: str | os.PathLike[str], repair: bool = False) -> list[dict[str, Any]]:
    """Read a results file: every complete JSON line. A half-written last line (a killed run) is ignored, and
    with ``repair=True`` cut off the file so appending continues cleanly.

    Raises:
        ValueError: a line other than the last is not valid JSON (the file was edited or is not ours).
    """
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    records, good_end, lines = [], 0, data.split(b"\n")
    for number, raw in enumerate(lines):
        is_last = number == len(lines) - 1
        if not raw.strip():
            if not is_last:
                good_end += len(raw) + 1
            continue
        try:
            record = json.loads(raw)
            if not isinstance(record, dict) or "index" not in record:
                raise ValueError("not an episode record")
        except ValueError as err:
            if is_last:  # half-written by a run that was killed: the episode will be played again
                break
            raise ValueError(f"{path}: line {number + 1} is not an episode record ({err})") from None
        if is_last:  # complete JSON but no newline yet: also a partial write
            break
        records.append(record)
        good_end += len(raw) + 1
    if repair and good_end < len(data):
        with open(path, "r+b") as f:
            f.truncate(good_end)
    return records


class _ResultsFile:
    """Appends episode records durably and checks that a resumed run is the same run."""

    def __init__(self, out_dir: str | os.PathLike[str], meta: dict[str, Any], resume: bool):
        directory = Path(out_dir)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{meta['setting']}.jsonl"
        meta_path = directory / f"{meta['setting']}.meta.json"
        if self.path.exists() and not resume:
            raise FileExistsError(f"{self.path} exists; pass resume=True to continue it or choose another out_dir")
        if meta_path.exists():
            old = json.loads(meta_path.read_text())
            if old != meta:
                differ = sorted(k for k in meta.keys() | old.keys() if meta.get(k) != old.get(k))
                raise ValueError(
                    f"{meta_path} describes another run (differs in {', '.join(differ)}: {old} vs {meta}); "
                    "use another out_dir"
                )
        else:
            meta_path.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        self.records = {r["index"]: r for r in load_records(self.path, repair=True)}
        self._file = open(self.path, "a", encoding="utf-8")

    def append(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.records[record["index"]] = record

    def close(self) -> None:
        self._file.close()


# ---- playing episodes ----------------------------------------------------------------------------------------


def _episode(env: gym.Env, agent: Any, setting: Setting, name: str, index: int) -> Generator:
    """One episode as a generator: it yields ``(observation, info)`` for each decision, is sent the reply,
    and returns the episode record. Sync and async drivers share it, so both play exactly the same way."""
    start = time.perf_counter()
    obs, info = env.reset(seed=setting.seed(index), options=setting.reset_options(index))
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
        obs, reward, terminated, truncated, info = env.step(reply)
        steps.append({
            "reply": reply,
            "verdict": None if info.get("verdict") is None else str(info["verdict"]),
            "reward": float(reward),
            "recognized": info.get("recognized"),
            "agent_seconds": round(thinking, 6),
        })
        done = terminated or truncated
    record = {
        "setting": setting.name,
        "agent": name,
        "index": index,
        "seed": setting.seed(index),
        "seed_list_version": SEED_LIST_VERSION,
        "success": bool(info.get("is_success")),
        "return": sum(s["reward"] for s in steps),
        "replies": len(steps),
        "seconds": round(time.perf_counter() - start, 6),
        "steps": steps,
    }
    if "step_correct" in info:
        record["step_correct"] = [bool(x) for x in info["step_correct"]]
    return record


def _play(env: gym.Env, agent: Any, setting: Setting, name: str, index: int) -> dict[str, Any]:
    episode = _episode(env, agent, setting, name, index)
    try:
        request = next(episode)
        while True:
            request = episode.send(agent(*request))
    except StopIteration as finished:
        return finished.value


async def _play_async(env: gym.Env, agent: Any, setting: Setting, name: str, index: int) -> dict[str, Any]:
    episode = _episode(env, agent, setting, name, index)
    try:
        request = next(episode)
        while True:
            request = episode.send(await agent.acall(*request))
    except StopIteration as finished:
        return finished.value


class _Progress:
    """A dependency-free progress bar on stderr (a line every 10% when stderr is not a terminal)."""

    def __init__(self, label: str, total: int, done: int, enabled: bool):
        self.label, self.total, self.done, self.wins = label, total, done, 0
        self.enabled, self.start = enabled and total > 0, time.perf_counter()
        self.tty = sys.stderr.isatty()
        self.next_line = 0.0

    def update(self, success: bool) -> None:
        self.done += 1
        self.wins += success
        if not self.enabled:
            return
        fraction = self.done / self.total
        if not self.tty and fraction + 1e-9 < self.next_line and self.done < self.total:
            return
        self.next_line = math.floor(fraction * 10 + 1) / 10
        bar = "#" * int(fraction * 24)
        rate = self.done / max(time.perf_counter() - self.start, 1e-9)
        text = f"{self.label} [{bar:<24}] {self.done}/{self.total} {rate:.1f} ep/s"
        sys.stderr.write(("\r" + text) if self.tty else (text + "\n"))
        if self.tty and self.done == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _keep(record: dict[str, Any], done: dict[int, dict], results: _ResultsFile | None, bar: _Progress) -> None:
    done[record["index"]] = record
    if results:
        results.append(record)  # on disk before the next episode starts
    bar.update(record["success"])


def _prepare(agent, setting, episodes, out_dir, agent_name, resume, env_kwargs, progress):
    setting = get_setting(setting)
    n = setting.episodes if episodes is None else episodes
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
    if not callable(agent) and not hasattr(agent, "acall"):
        raise TypeError(f"agent must be a callable (observation, info) -> str, got {type(agent).__name__}")
    name = _agent_name(agent, agent_name)
    kwargs = {**setting.env_kwargs, **(env_kwargs or {})}
    meta = {"setting": setting.name, "env_id": setting.env_id, "env_kwargs": kwargs, "agent": name,
            "seed_list_version": SEED_LIST_VERSION}
    results = _ResultsFile(out_dir, meta, resume) if out_dir is not None else None
    done = dict(results.records) if results else {}
    todo = [i for i in range(n) if i not in done]
    bar = _Progress(f"{setting.name} {name}", n, n - len(todo), progress)
    return setting, n, name, kwargs, results, done, todo, bar


def evaluate(
    agent: Callable[[Any, dict[str, Any]], str],
    setting: str | Setting,
    episodes: int | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    agent_name: str | None = None,
    resume: bool = True,
    progress: bool = True,
    concurrency: int = 1,
    env_kwargs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Play episodes ``0 .. episodes-1`` of a setting with an agent and summarise them.

    Args:
        agent: a callable ``(observation, info) -> reply`` (see the module docstring for optional extras).
        setting: a name from :data:`~sftrl_eval.settings.SETTINGS` (e.g. ``"GP-L-RuleOOD"``) or a Setting.
        episodes: how many (default: the paper's number for the setting).
        out_dir: where to write ``<setting>.jsonl``; ``None`` keeps results in memory only.
        agent_name: the name recorded in results (default: ``agent.name`` or its type).
        resume: continue an existing results file instead of refusing to touch it.
        progress: show a progress bar on stderr.
        concurrency: episodes in flight at once, for agents with ``async acall`` (one env each).
        env_kwargs: extra ``gym.make`` arguments (e.g. ``{"resolution": 1200}``); recorded with the results.

    Returns:
        The summary (see :func:`summarize`) over the requested episodes.
    """
    if concurrency > 1 and hasattr(agent, "acall"):
        return asyncio.run(aevaluate(agent, setting, episodes, out_dir, agent_name, resume, progress, concurrency,
                                     env_kwargs))
    setting, n, name, kwargs, results, done, todo, bar = _prepare(
        agent, setting, episodes, out_dir, agent_name, resume, env_kwargs, progress)
    env = gym.make(setting.env_id, **kwargs)
    try:
        for index in todo:
            _keep(_play(env, agent, setting, name, index), done, results, bar)
    finally:
        env.close()
        if results:
            results.close()
    return summarize([done[i] for i in range(n)], setting, name)


async def aevaluate(
    agent: Any,
    setting: str | Setting,
    episodes: int | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    agent_name: str | None = None,
    resume: bool = True,
    progress: bool = True,
    concurrency: int = 8,
    env_kwargs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """:func:`evaluate` for agents with ``async acall(observation, info)``: ``concurrency`` episodes in flight.

    Episodes finish in any order; each is written when it ends, so resuming works the same way.
    """
    if not hasattr(agent, "acall"):
        raise TypeError("aevaluate needs an agent with an async acall(observation, info) method")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a positive integer, got {concurrency!r}")
    setting, n, name, kwargs, results, done, todo, bar = _prepare(
        agent, setting, episodes, out_dir, agent_name, resume, env_kwargs, progress)
    pool = [gym.make(setting.env_id, **kwargs) for _ in range(min(concurrency, max(len(todo), 1)))]
    free = list(pool)
    slots = asyncio.Semaphore(len(pool))

    async def one(index: int) -> None:
        async with slots:
            env = free.pop()
            try:
                record = await _play_async(env, agent, setting, name, index)
            finally:
                free.append(env)
            _keep(record, done, results, bar)

    try:
        await asyncio.gather(*(one(i) for i in todo))
    finally:
        for env in pool:
            env.close()
        if results:
            results.close()
    return summarize([done[i] for i in range(n)], setting, name)


# ---- summaries ---------------------------------------------------------------------------------------------


def _rate(values: list[bool]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    p = sum(values) / len(values)
    return p, math.sqrt(p * (1 - p) / len(values))


def summarize(records: Iterable[dict[str, Any]], setting: str | Setting, agent: str) -> dict[str, Any]:
    """Summary statistics of a setting's episode records.

    Returns a dict with ``success_rate`` and its standard error (binomial, over episodes), ``per_step_accuracy``
    (V-IRL: over every graded step, else ``None``) with its standard error, ``recognition_accuracy`` (image
    modes: over replies that reported cards, else ``None``), ``mean_attempts`` (replies per episode),
    ``unparseable_rate`` (replies with no readable answer) and ``mean_agent_seconds`` per reply.
    """
    setting = get_setting(setting)
    records = list(records)
    replies = [step for r in records for step in r["steps"]]
    success, success_se = _rate([r["success"] for r in records])
    step_acc, step_se = _rate([c for r in records for c in r.get("step_correct", [])]) if setting.game == "virl" else (None, None)
    recognition, _ = _rate([s["recognized"] for s in replies if s.get("recognized") is not None])
    unparseable, _ = _rate([s["verdict"] in UNPARSEABLE_VERDICTS for s in replies])
    return {
        "setting": setting.name,
        "agent": agent,
        "split": setting.split,
        "episodes": len(records),
        "success_rate": success,
        "success_stderr": success_se,
        "per_step_accuracy": step_acc,
        "per_step_stderr": step_se,
        "recognition_accuracy": recognition if setting.image else None,
        "mean_attempts": (len(replies) / len(records)) if records else None,
        "unparseable_rate": unparseable,
        "mean_agent_seconds": (sum(s["agent_seconds"] for s in replies) / len(replies)) if replies else None,
        "seed_list_version": SEED_LIST_VERSION,
    }
