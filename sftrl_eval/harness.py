"""Evaluate any agent on a paper setting, one JSON line per finished episode, resumable after any interruption.

An agent is a callable ``(observation, info) -> reply``: it sees exactly what a model sees (the prompt, or the
prompt and the picture) and answers in free text. Optional extras:

* ``agent.begin_episode(env)`` is called after every reset with the environment, for privileged agents
  (oracles, adapters of numeric policies) that read ``env.unwrapped`` state;
* ``async agent.acall(observation, info)`` lets :func:`evaluate` run ``concurrency`` episodes at once, for
  LLM servers that batch requests;
* ``agent.name`` names the agent in results (else pass ``agent_name``).

* ``agent.config`` (a JSON-able dict) is what defines the agent besides its name and factory (e.g. a model's
  temperature); it is part of the run's identity, so results of another configuration are never mixed in;
* ``agent.provenance`` (a JSON-able dict) is recorded with each run but not compared (e.g. the endpoint);
* a reply may be a ``str`` subclass with a ``usage`` dict (``prompt_tokens``, ``completion_tokens``): the
  token counts are recorded with the reply.

Results go to ``out_dir/<setting>.jsonl``: one line per finished episode, written and flushed to disk as soon
as the episode ends. A run that is killed loses at most the episodes in flight; running again with the same
``out_dir`` skips the finished episodes (by index), drops a half-written last line, and never duplicates one.
``out_dir/<setting>.meta.json`` holds the run's identity (setting, environment, episode-list version, agent
name, factory, arguments and config) and a log of the runs that wrote the file; a run whose identity differs
is refused. While a run writes a results file it holds a lock on it (``out_dir/.<setting>.lock``), so a second
run into the same folder is refused instead of playing every episode again. Nothing is written before the
first episode ends: a run that fails at once (e.g. a model server that is down) leaves no files behind.

``protocol="paper"`` plays the authors' evaluation (their prompts, grading and episode lists, see
:class:`~sftrl_eval.settings.EpisodeList`) and computes V-IRL per-step accuracy as their evaluator does
(:func:`virl_env.metrics.paper_step_accuracy`). Results record the protocol; one results file never mixes
protocols. ``backend="ray"`` plays the episodes on Ray actors (``ray.init()``: a local cluster, or the one
``RAY_ADDRESS`` names); the driver alone writes the results file, so resuming, locks and identities work the
same way.
"""

from __future__ import annotations

import asyncio
import datetime
import inspect
import json
import math
import os
import sys
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym

from .settings import SEED_LIST_VERSION, EpisodeList, Setting, check_protocol, get_setting

__all__ = [
    "evaluate",
    "aevaluate",
    "summarize",
    "load_records",
    "load_meta",
    "records_protocol",
    "public_info",
    "agent_identity",
    "check_episodes",
    "BACKENDS",
    "UNPARSEABLE_VERDICTS",
    "AgentError",
    "ResultsError",
    "ResultsInUseError",
]

#: Verdicts that mean the reply could not be read as an answer at all.
UNPARSEABLE_VERDICTS = frozenset({"no_formula", "illegal_formula", "invalid"})
# info keys an agent must not see in image mode: they would give the picture's content away.
_IMAGE_SECRETS = frozenset({"cards", "suits", "numbers"})
_ALWAYS_SECRET = frozenset({"solution"})
#: Where episodes are played: in this process, or on Ray actors.
BACKENDS = ("local", "ray")


def public_info(info: dict[str, Any], setting: Setting) -> dict[str, Any]:
    """The part of ``info`` an agent may see: no witness solution, and in image mode nothing that names the
    cards (a model must read them from the picture)."""
    hidden = _ALWAYS_SECRET | (_IMAGE_SECRETS if setting.image else frozenset())
    return {k: v for k, v in info.items() if k not in hidden}


class AgentError(RuntimeError):
    """The agent raised while answering; the message names the setting, the episode and the reply, and the
    original exception is the ``__cause__``. Finished episodes are on disk: run again to resume."""


class ResultsError(ValueError):
    """A results folder cannot be used for this run (it holds another run, or a damaged ``meta.json``)."""


class ResultsInUseError(ResultsError):
    """Another run is writing the same results file right now."""


# Loading a file by path gives its module a private name (see sftrl_eval.cli.load_agent); identities use the
# file's own name, so `examples/agents.py:OracleAgent` and `agents:OracleAgent` are the same agent.
_PRIVATE_MODULE_PREFIX = "_sftrl_eval_agent_"


def _qualified_name(obj: Any) -> str:
    target = obj if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismethod(obj) else type(obj)
    module = str(getattr(target, "__module__", None) or "?").removeprefix(_PRIVATE_MODULE_PREFIX)
    return f"{module}:{getattr(target, '__qualname__', getattr(target, '__name__', '?'))}"


def _json_value(value: Any, what: str) -> Any:
    """``value`` after a JSON round trip (so it compares equal to what a meta file holds)."""
    try:
        return json.loads(json.dumps(value, sort_keys=True))
    except (TypeError, ValueError) as err:
        raise TypeError(f"{what} must be JSON-serialisable ({err})") from None


def agent_identity(
    agent: Any,
    agent_name: str | None = None,
    factory: Any = None,
    factory_kwargs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What defines an agent in a results folder: two runs may share a results file only when this matches.

    Args:
        agent: the agent.
        agent_name: the name to file results under (default: ``agent.name``, else the factory's name, else the
            agent's function or type name).
        factory: the class or function that built the agent (default: the agent's own class, or the agent
            itself when it is a function).
        factory_kwargs: the arguments the factory was called with.

    Returns:
        ``{"agent": name, "agent_factory": "module:qualname", "agent_kwargs": {...}, "agent_config": {...}}``
        (``agent_config`` is ``agent.config``, or ``None``).
    """
    source = factory if factory is not None else agent
    name = (agent_name or getattr(agent, "name", None)
            or (getattr(factory, "__name__", None) if factory is not None else None)
            or getattr(agent, "__name__", None) or type(agent).__name__)
    config = getattr(agent, "config", None)
    return {
        "agent": str(name),
        "agent_factory": _qualified_name(source),
        "agent_kwargs": _json_value(dict(factory_kwargs or {}), "the agent's arguments"),
        "agent_config": None if config is None else _json_value(config, "agent.config"),
    }


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


def load_meta(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Read a ``<setting>.meta.json`` (``None`` when there is none).

    Raises:
        ResultsError: the file is not a JSON object (a run killed while writing it with an older version),
            with how to recover.
    """
    path = Path(path)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError) as err:
        raise ResultsError(
            f"{path} is damaged ({type(err).__name__}: {err}); the episodes are safe in "
            f"{path.name.removesuffix('.meta.json')}.jsonl: delete {path.name} and run again with the same agent "
            "and arguments to resume (it is rewritten), or use another output folder") from None
    if not isinstance(meta, dict):
        raise ResultsError(f"{path} does not hold a run description (a JSON object); delete it to resume")
    return meta


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader, or a kill, sees the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class _FileLock:
    """An exclusive, non-blocking lock held through a small lock file that names its holder's process id.

    The lock is ``flock`` (``msvcrt.locking`` on Windows) on the file, so it vanishes with its process: a
    killed run never leaves a stale lock. The holder removes the file on release; a waiter that opened the
    file just before that checks it still locks the file at ``path`` and otherwise tries again.
    """

    def __init__(self, path: Path):
        self.path, self.fd = path, -1

    def acquire(self, what: Path) -> None:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                _lock_fd(fd)
            except OSError:
                try:
                    holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
                finally:
                    os.close(fd)
                raise ResultsInUseError(
                    f"{what} is being written by another run (process {holder}); wait for it to finish "
                    "(then run again to resume), or write to another output folder") from None
            try:
                current = os.stat(self.path)
            except FileNotFoundError:
                current = None
            if current is not None and os.path.samestat(os.fstat(fd), current):
                break
            os.close(fd)  # the previous holder removed this file after we opened it: lock the new one
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd < 0:
            return
        try:
            self.path.unlink()
        except OSError:  # Windows cannot remove an open file; the next holder reuses it
            pass
        os.close(self.fd)  # releases the lock
        self.fd = -1


def _lock_fd(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


#: Meta keys that log runs rather than identify them (never compared).
_RUN_LOG_KEYS = frozenset({"runs"})


class _ResultsFile:
    """Appends episode records durably, holds the results file's lock, and checks that a resumed run is the
    same run. Files are created with the first record, so a run that fails at once leaves nothing behind."""

    def __init__(self, out_dir: str | os.PathLike[str], meta: dict[str, Any], resume: bool,
                 provenance: dict[str, Any] | None):
        self.directory = Path(out_dir)
        self.made_directory = not self.directory.exists()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / f"{meta['setting']}.jsonl"
        self.meta_path = self.directory / f"{meta['setting']}.meta.json"
        self._lock = _FileLock(self.directory / f".{meta['setting']}.lock")
        self._lock.acquire(self.path)
        try:
            self._open(meta, resume, provenance)
        except BaseException:
            self.close()
            raise

    def _open(self, meta: dict[str, Any], resume: bool, provenance: dict[str, Any] | None) -> None:
        if self.path.exists() and not resume:
            raise FileExistsError(f"{self.path} exists; pass resume=True to continue it or choose another out_dir")
        old = load_meta(self.meta_path)
        if old is not None:
            # Files written before protocols existed hold suite results.
            old = {**old, "protocol": old.get("protocol", "suite")}
            if old["protocol"] != meta["protocol"]:
                raise ResultsError(_mixed_protocols(self.path, old["protocol"], meta["protocol"]))
            legacy = "runs" not in old  # written before run logs and agent identities: compare what it holds
            mine = {k: v for k, v in meta.items() if k not in _RUN_LOG_KEYS and (k in old or not legacy)}
            theirs = {k: v for k, v in old.items() if k not in _RUN_LOG_KEYS}
            if mine != theirs:
                differ = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
                shown = "; ".join(f"{k}: {json.dumps(theirs.get(k))} there, {json.dumps(mine.get(k))} now"
                                  for k in differ)
                raise ResultsError(f"{self.meta_path} describes another run ({shown}); "
                                   "use another output folder (or the same arguments to resume that run)")
            self.meta = {**meta, **old, "runs": []} if legacy else old
        else:
            self.meta = {**meta, "runs": []}
        self.records = {r["index"]: r for r in load_records(self.path, repair=True)}
        for record in self.records.values():
            if record.get("protocol", "suite") != meta["protocol"]:
                raise ResultsError(_mixed_protocols(self.path, record.get("protocol", "suite"), meta["protocol"]))
        if old is None and self.records:
            # The meta file was deleted (e.g. after damage): the records must at least be this agent's.
            others = {r.get("agent") for r in self.records.values()} - {meta["agent"]}
            if others:
                raise ResultsError(f"{self.path} holds episodes of agent {sorted(map(str, others))[0]!r}, not "
                                   f"{meta['agent']!r}; use another output folder")
        self.run_entry = {
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "episodes_already_done": len(self.records),
            "provenance": provenance,
        }
        self._file = None

    def append(self, record: dict[str, Any]) -> None:
        if self._file is None:  # the first episode of this run: log the run, then open the results file
            self.meta["runs"].append(self.run_entry)
            _write_atomically(self.meta_path, json.dumps(self.meta, indent=1, sort_keys=True) + "\n")
            self._file = open(self.path, "a", encoding="utf-8")
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.records[record["index"]] = record

    def close(self) -> None:
        if getattr(self, "_file", None) is not None:
            self._file.close()
            self._file = None
        self._lock.release()
        if self.made_directory:
            try:
                self.directory.rmdir()  # only succeeds when this run wrote nothing
            except OSError:
                pass


def _mixed_protocols(path: Path, theirs: str, mine: str) -> str:
    return (f"{path} holds results of protocol {theirs!r} and this run uses protocol {mine!r}: one results file "
            "never mixes protocols; write to another output folder")


# ---- playing episodes ----------------------------------------------------------------------------------------


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
    if episodes.protocol != "suite":
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


def _play(env: gym.Env, agent: Any, episodes: EpisodeList, name: str, index: int, bar: _Progress) -> dict[str, Any]:
    setting = episodes.setting
    episode = _episode(env, agent, episodes, name, index, bar.reply)
    replies = 0
    try:
        request = next(episode)
        while True:
            try:
                reply = agent(*request)
            except Exception as err:
                raise _agent_failed(setting, index, replies, err) from err
            replies += 1
            request = episode.send(reply)
    except StopIteration as finished:
        return finished.value


async def _play_async(env: gym.Env, agent: Any, episodes: EpisodeList, name: str, index: int,
                      bar: _Progress) -> dict[str, Any]:
    setting = episodes.setting
    episode = _episode(env, agent, episodes, name, index, bar.reply)
    replies = 0
    try:
        request = next(episode)
        while True:
            try:
                reply = await agent.acall(*request)
            except Exception as err:
                raise _agent_failed(setting, index, replies, err) from err
            replies += 1
            request = episode.send(reply)
    except StopIteration as finished:
        return finished.value


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


def _keep(record: dict[str, Any], run: _Run) -> None:
    run.done[record["index"]] = record
    if run.results:
        run.results.append(record)  # on disk before the next episode starts
    run.bar.update(record["success"])


def check_episodes(setting: Setting, episodes: int | None, episode_list: EpisodeList | None = None) -> int:
    """The number of episodes to play (default: the setting's size).

    Args:
        setting: the setting.
        episodes: the number asked for, or ``None``.
        episode_list: the list the episodes come from (default: the suite's).

    Raises:
        ValueError: not a positive integer, or more episodes than the evaluation list holds (V-IRL routes past
            it are training routes; the paper's GeneralPoints lists hold 234 hands).
    """
    n = setting.episodes if episodes is None else episodes
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
    most = (episode_list or EpisodeList(setting, "suite")).max_episodes
    if most is not None and n > most:
        if setting.game == "virl":
            # Routes past the evaluation list are the training routes: playing them would score memorisation.
            raise ValueError(
                f"{setting.name} has {most} evaluation routes; episodes={n} would replay training routes "
                f"{most}..{n - 1}; ask for at most {most}")
        raise ValueError(f"{setting.name} under the paper protocol has the authors' {most} hands; episodes={n} "
                         f"asks for more; ask for at most {most}")
    return n


def _env_kwargs(setting: Setting, env_kwargs: Mapping[str, Any] | None,
                dataset_dir: str | os.PathLike[str] | None) -> dict[str, Any]:
    kwargs = {**setting.env_kwargs, **(env_kwargs or {})}
    if "protocol" in kwargs:
        raise ValueError("pass the protocol as protocol=... (--protocol), not in env_kwargs: results record it")
    if dataset_dir is not None:
        if setting.game != "virl":
            raise ValueError(f"dataset_dir is the released V-IRL data; {setting.name} is a GeneralPoints setting")
        kwargs["dataset_dir"] = os.fspath(dataset_dir)
        if setting.split == "visual_ood":  # the released routes replace the generated visual-OOD benchmark
            kwargs["benchmark"] = None
    return kwargs


def _make_env(setting: Setting, kwargs: Mapping[str, Any], protocol: str) -> gym.Env:
    # The protocol is an argument of its own (not in env_kwargs), so suite results files keep their identity.
    return gym.make(setting.env_id, **kwargs, **({"protocol": protocol} if protocol != "suite" else {}))


@dataclass
class _Run:
    """What :func:`_prepare` sets up for a run: the episodes to play and where their records go."""

    episodes: EpisodeList
    n: int
    name: str
    kwargs: dict[str, Any]
    results: _ResultsFile | None
    done: dict[int, dict[str, Any]]
    todo: list[int]
    bar: _Progress

    @property
    def setting(self) -> Setting:
        return self.episodes.setting

    def summary(self) -> dict[str, Any]:
        return summarize([self.done[i] for i in range(self.n)], self.setting, self.name)

    def close(self) -> None:
        if self.results:
            self.results.close()


def _prepare(agent, setting, episodes, out_dir, agent_name, resume, env_kwargs, progress, factory, factory_kwargs,
             protocol="suite", dataset_dir=None) -> _Run:
    setting = get_setting(setting)
    kwargs = _env_kwargs(setting, env_kwargs, dataset_dir)
    episode_list = EpisodeList(setting, check_protocol(protocol), on_dataset=kwargs.get("dataset_dir") is not None)
    n = check_episodes(setting, episodes, episode_list)
    if not callable(agent) and not hasattr(agent, "acall"):
        raise TypeError(f"agent must be a callable (observation, info) -> str, got {type(agent).__name__}")
    identity = agent_identity(agent, agent_name, factory, factory_kwargs)
    name = identity["agent"]
    # The run's identity: everything that must match for two runs to share a results file. New keys are added
    # here; a meta file that lacks them is compared on the keys it has (a missing protocol means "suite").
    meta = {"setting": setting.name, "env_id": setting.env_id, "env_kwargs": _json_value(kwargs, "env_kwargs"),
            "seed_list_version": SEED_LIST_VERSION, **identity, "protocol": episode_list.protocol}
    if episode_list.protocol != "suite":
        meta["episode_list"] = episode_list.identity()["episode_list"]
    provenance = getattr(agent, "provenance", None)
    provenance = None if provenance is None else _json_value(provenance, "agent.provenance")
    results = _ResultsFile(out_dir, meta, resume, provenance) if out_dir is not None else None
    done = dict(results.records) if results else {}
    todo = [i for i in range(n) if i not in done]
    bar = _Progress(f"{setting.name} {name}", n, n - len(todo), progress)
    if results and done:
        bar.note(f"{setting.name} {name}: resuming {results.path}: {n - len(todo)} of {n} episodes already done"
                 + ("" if todo else ", nothing to play"))
    return _Run(episode_list, n, name, kwargs, results, done, todo, bar)


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
    *,
    agent_factory: Any = None,
    agent_kwargs: Mapping[str, Any] | None = None,
    protocol: str = "suite",
    dataset_dir: str | os.PathLike[str] | None = None,
    backend: str = "local",
    workers: int | None = None,
) -> dict[str, Any]:
    """Play episodes ``0 .. episodes-1`` of a setting with an agent and summarise them.

    Args:
        agent: a callable ``(observation, info) -> reply`` (see the module docstring for optional extras).
        setting: a name from :data:`~sftrl_eval.settings.SETTINGS` (e.g. ``"GP-L-RuleOOD"``) or a Setting.
        episodes: how many (default: the paper's number for the setting; V-IRL allows no more than that,
            since later routes are training routes; the paper protocol's GeneralPoints lists hold 234 hands).
        out_dir: where to write ``<setting>.jsonl``; ``None`` keeps results in memory only.
        agent_name: the name recorded in results (default: see :func:`agent_identity`).
        resume: continue an existing results file instead of refusing to touch it.
        progress: show progress on stderr (after every reply).
        concurrency: episodes in flight at once, for agents with ``async acall`` (one env each). It helps only
            when the agent's backend serves requests in parallel (see the README).
        env_kwargs: extra ``gym.make`` arguments (e.g. ``{"resolution": 1200}``); recorded with the results.
        agent_factory: the class or function that built the agent, for its identity (the command line passes it).
        agent_kwargs: the arguments the factory was called with, for its identity.
        protocol: ``"suite"`` (default) or ``"paper"``: the authors' evaluation (prompts, grading, episode
            lists and per-step accuracy as theirs), the only numbers comparable with the paper's table.
        dataset_dir: the released V-IRL data (``virl_env`` ``dataset_dir``); under ``"paper"`` the authors'
            route draws on it are played. Without it V-IRL plays the suite's generated evaluation routes.
        backend: ``"local"`` (default) or ``"ray"``: episodes on Ray actors, ``workers`` at a time (the agent is
            sent to each actor, so it must pickle; needs ``pip install ray``).
        workers: Ray actors (default: the cluster's CPU count, at most the episodes to play).

    Returns:
        The summary (see :func:`summarize`) over the requested episodes.

    Raises:
        AgentError: the agent raised (finished episodes are kept; run again to resume).
        ResultsError: ``out_dir`` holds another run's results (another protocol included), a damaged meta
            file, or is in use by another run.
        ValueError: a bad setting, protocol, backend or episode count.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, got {backend!r}")
    if backend == "ray":
        if concurrency != 1:
            raise ValueError("backend='ray' plays `workers` episodes at once on Ray actors; concurrency is for "
                             "the local backend")
        ray = _import_ray()
    elif workers is not None:
        raise ValueError("workers is the number of Ray actors; pass backend='ray'")
    if backend == "local" and concurrency > 1 and hasattr(agent, "acall"):
        return asyncio.run(aevaluate(agent, setting, episodes, out_dir, agent_name, resume, progress, concurrency,
                                     env_kwargs, agent_factory=agent_factory, agent_kwargs=agent_kwargs,
                                     protocol=protocol, dataset_dir=dataset_dir))
    run = _prepare(agent, setting, episodes, out_dir, agent_name, resume, env_kwargs, progress, agent_factory,
                   agent_kwargs, protocol, dataset_dir)
    try:
        if backend == "ray":
            _play_on_ray(ray, agent, run, workers)
        else:
            env = _make_env(run.setting, run.kwargs, run.episodes.protocol)
            try:
                for index in run.todo:
                    _keep(_play(env, agent, run.episodes, run.name, index, run.bar), run)
            finally:
                env.close()
    finally:
        run.close()
    return run.summary()


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
    *,
    agent_factory: Any = None,
    agent_kwargs: Mapping[str, Any] | None = None,
    protocol: str = "suite",
    dataset_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """:func:`evaluate` for agents with ``async acall(observation, info)``: ``concurrency`` episodes in flight.

    Episodes finish in any order; each is written when it ends, so resuming works the same way.
    """
    if not hasattr(agent, "acall"):
        raise TypeError("aevaluate needs an agent with an async acall(observation, info) method")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a positive integer, got {concurrency!r}")
    run = _prepare(agent, setting, episodes, out_dir, agent_name, resume, env_kwargs, progress, agent_factory,
                   agent_kwargs, protocol, dataset_dir)
    pool: list[gym.Env] = []
    try:
        pool.extend(_make_env(run.setting, run.kwargs, run.episodes.protocol)
                    for _ in range(min(concurrency, max(len(run.todo), 1))))
        free = list(pool)
        slots = asyncio.Semaphore(len(pool))

        async def one(index: int) -> None:
            async with slots:
                env = free.pop()
                try:
                    record = await _play_async(env, agent, run.episodes, run.name, index, run.bar)
                finally:
                    free.append(env)
                _keep(record, run)

        tasks = [asyncio.ensure_future(one(i)) for i in run.todo]
        try:
            await asyncio.gather(*tasks)
        finally:
            # On the first failure, stop the other episodes (their results so far are on disk) before closing.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for env in pool:
            env.close()
        run.close()
    return run.summary()


# ---- Ray ---------------------------------------------------------------------------------------------------


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError("backend='ray' needs Ray: pip install ray (plain Ray is enough; the suite's `ray` extra "
                          "adds RLlib, which pins an older gymnasium)") from None
    return ray


class _EpisodeWorker:
    """A Ray actor: one environment and a copy of the agent; plays the episodes it is given, one at a time."""

    def __init__(self, agent: Any, episodes: EpisodeList, name: str, kwargs: dict[str, Any]):
        self.agent, self.episodes, self.name = agent, episodes, name
        self.env = _make_env(episodes.setting, kwargs, episodes.protocol)
        self.quiet = _Progress("", 0, 0, enabled=False)

    def play(self, index: int) -> tuple[str, Any]:
        """``("record", record)``, or ``("agent_error", message)`` when the agent failed (the driver raises)."""
        try:
            if callable(self.agent):
                return "record", _play(self.env, self.agent, self.episodes, self.name, index, self.quiet)
            return "record", asyncio.run(_play_async(self.env, self.agent, self.episodes, self.name, index,
                                                     self.quiet))
        except AgentError as err:
            return "agent_error", str(err)


#: Packages Ray workers import by name (the suite itself); other agent modules outside site-packages are sent.
_SUITE_PACKAGES = frozenset({"sftrl_eval", "sftrl_core", "gpoints_env", "virl_env", "sftrl_train"})


def _ship_by_value(ray: Any, agent: Any) -> None:
    """Send the agent's modules (its class's and its base classes') by value when Ray workers may not import
    them by name: a file the command line loaded (a private module name), or a test or script folder added to
    ``sys.path`` only in this process. Installed packages (site-packages) and the suite itself are imported by
    name as usual."""
    target = agent if inspect.isclass(agent) or inspect.isfunction(agent) else type(agent)
    for owner in getattr(target, "__mro__", (target,)):
        module = sys.modules.get(getattr(owner, "__module__", None) or "")
        if module is None or module.__name__ in ("__main__", "builtins") \
                or module.__name__.split(".")[0] in _SUITE_PACKAGES:
            continue  # __main__ is always sent by value
        path = Path(getattr(module, "__file__", None) or "")
        if path.name and not {"site-packages", "dist-packages"} & set(path.parts):
            ray.cloudpickle.register_pickle_by_value(module)


def _play_on_ray(ray: Any, agent: Any, run: _Run, workers: int | None) -> None:
    """Play ``run.todo`` on Ray actors; the driver writes each record as it arrives (one writer, one lock)."""
    if not run.todo:
        return
    # Bad environment arguments fail here, as with the local backend, not inside an actor.
    _make_env(run.setting, run.kwargs, run.episodes.protocol).close()
    if not ray.is_initialized():
        ray.init(include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    if workers is None:
        workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    elif isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    _ship_by_value(ray, agent)
    actor = ray.remote(num_cpus=1)(_EpisodeWorker)
    agent_ref = ray.put(agent)
    actors = [actor.remote(agent_ref, run.episodes, run.name, run.kwargs)
              for _ in range(min(workers, len(run.todo)))]
    queue = iter(run.todo)
    pending: dict[Any, Any] = {}
    try:
        for worker, index in zip(actors, queue):
            pending[worker.play.remote(index)] = worker
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            worker = pending.pop(ready[0])
            kind, value = ray.get(ready[0])
            if kind == "agent_error":
                raise AgentError(value)
            for step in value["steps"]:
                run.bar.reply(step["agent_seconds"])
            _keep(value, run)
            index = next(queue, None)
            if index is not None:
                pending[worker.play.remote(index)] = worker
    finally:
        for worker in actors:  # episodes still in flight are dropped: a resume plays them again
            ray.kill(worker)


# ---- summaries ---------------------------------------------------------------------------------------------


def _rate(values: list[bool]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    p = sum(values) / len(values)
    return p, math.sqrt(p * (1 - p) / len(values))


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def records_protocol(records: Iterable[dict[str, Any]]) -> str:
    """The protocol a setting's records were played under (records without one are ``"suite"``).

    Raises:
        ValueError: the records mix protocols (the harness never writes such a file).
    """
    found = {str(r.get("protocol", "suite")) for r in records}
    if len(found) > 1:
        raise ValueError(f"these results mix protocols ({', '.join(sorted(found))}): their numbers cannot be pooled")
    return found.pop() if found else "suite"


def _per_step(records: list[dict[str, Any]], protocol: str) -> tuple[float | None, float | None]:
    if protocol != "paper":
        return _rate([c for r in records for c in r.get("step_correct", [])])
    # The authors' evaluator counts one more wrong call per point whose attempts ran out (virl_env.metrics).
    from virl_env.metrics import paper_step_accuracy, step_counts

    accuracy = paper_step_accuracy(records)
    calls = sum(step_counts(r).calls for r in records)
    return accuracy, None if accuracy is None else math.sqrt(accuracy * (1 - accuracy) / calls)


def summarize(records: Iterable[dict[str, Any]], setting: str | Setting, agent: str) -> dict[str, Any]:
    """Summary statistics of a setting's episode records.

    Returns a dict with ``protocol``, ``success_rate`` and its standard error (binomial, over episodes),
    ``per_step_accuracy`` (V-IRL: over every graded step, else ``None``; under the paper protocol as the
    authors' evaluator computes it, a wrong extra call counted for every point whose attempts ran out) with its
    standard error, ``recognition_accuracy`` (image modes: over replies that reported cards, else ``None``),
    ``mean_attempts`` (replies per episode), ``unparseable_rate`` (replies with no readable answer),
    ``mean_agent_seconds`` per reply and, when the agent reported them, ``mean_prompt_tokens`` and
    ``mean_completion_tokens`` per reply (else ``None``).

    Raises:
        ValueError: the records mix protocols.
    """
    setting = get_setting(setting)
    records = list(records)
    protocol = records_protocol(records)
    replies = [step for r in records for step in r["steps"]]
    success, success_se = _rate([r["success"] for r in records])
    step_acc, step_se = _per_step(records, protocol) if setting.game == "virl" else (None, None)
    recognition, _ = _rate([s["recognized"] for s in replies if s.get("recognized") is not None])
    unparseable, _ = _rate([s["verdict"] in UNPARSEABLE_VERDICTS for s in replies])
    return {
        "setting": setting.name,
        "agent": agent,
        "protocol": protocol,
        "episode_list": next((r["episode_list"] for r in records if "episode_list" in r), None),
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
        **{f"mean_{key}": _mean([s[key] for s in replies if key in s]) for key in ("prompt_tokens",
                                                                                  "completion_tokens")},
        "seed_list_version": SEED_LIST_VERSION,
    }
