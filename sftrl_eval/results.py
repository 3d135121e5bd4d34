"""The results store: one JSON line per finished episode, written durably, resumable, locked, with the run's identity.

Results go to ``out_dir/<setting>.jsonl``: one line per finished episode, written and flushed to disk as soon
as the episode ends. A run that is killed loses at most the episodes in flight; running again with the same
``out_dir`` skips the finished episodes (by index), drops a half-written last line, and never duplicates one.
``out_dir/<setting>.meta.json`` holds the run's identity (setting, environment, episode-list version, agent
name, factory, arguments and config, see :func:`agent_identity`) and a log of the runs that wrote the file; a
run whose identity differs, or whose protocol differs, is refused. While a run writes a results file it holds
a lock on it (``out_dir/.<setting>.lock``), so a second run into the same folder is refused instead of playing
every episode again. Nothing is written before the first episode ends.
"""

from __future__ import annotations

import datetime
import inspect
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "load_records",
    "load_meta",
    "agent_identity",
    "ResultsError",
    "ResultsInUseError",
]


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
