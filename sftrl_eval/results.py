"""The results store: one JSON line per finished episode, written durably, resumable, locked, with the run's identity.

Results go to ``out_dir/<setting>.jsonl``: one line per finished episode, written and flushed to disk as soon
as the episode ends. A run that is killed loses at most the episodes in flight; running again with the same
``out_dir`` skips the finished episodes (by index, whatever gaps they leave), drops a half-written last line,
and never duplicates one. A line repeated in a file (the same episode, replies and results) counts once; two
lines for one episode that disagree are refused (:func:`load_records` ``unique=True``).
``out_dir/<setting>.meta.json`` holds the run's identity (setting, environment, episode-list version, agent
name, factory, arguments and config, see :func:`agent_identity`) and a log of the runs that wrote the file; a
run whose identity differs, or whose protocol differs, is refused. While a run writes a results file it holds
a lock on it (``out_dir/.<setting>.lock``), so a second run into the same folder is refused instead of playing
every episode again. Nothing is written before the first episode ends.

When the disk refuses a write (full, over quota, an I/O error), the write is undone and
:class:`ResultsWriteError` is raised: the episodes already in the file, and its meta file, stay intact and
readable, and running again resumes.
"""

from __future__ import annotations

import datetime
import errno
import inspect
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sftrl_core.registry import SUITE

__all__ = [
    "load_records",
    "load_meta",
    "agent_identity",
    "ResultsError",
    "ResultsInUseError",
    "ResultsWriteError",
    "STORAGE_ERRNOS",
]


class ResultsError(ValueError):
    """A results folder cannot be used for this run (it holds another run, or a damaged ``meta.json``)."""


class ResultsInUseError(ResultsError):
    """Another run is writing the same results file right now."""


#: ``errno`` values that mean the storage, not the run, failed: a full disk, a full quota, an I/O error, a file
#: past its size limit.
STORAGE_ERRNOS = frozenset(getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EIO", "EFBIG")
                           if hasattr(errno, name))


class ResultsWriteError(OSError):
    """A results file or its meta file could not be written (``errno`` says why, e.g. ``ENOSPC``). The failed
    write was undone: what was written before is intact, and running again resumes. ``str()`` is the message."""

    def __str__(self) -> str:
        return str(self.strerror)


def _write_error(err: OSError, path: Path, intact: str) -> ResultsWriteError:
    code = err.errno
    reason = os.strerror(code) if code else str(err)
    name = errno.errorcode.get(code, "") if code else ""
    return ResultsWriteError(code, f"could not write {path}: {reason}{f' ({name})' if name else ''}; {intact}: "
                                   "free some space (or fix the disk) and run the same command again to resume")


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written (a write may take only part of them, e.g. as a disk fills)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


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


def load_records(path: str | os.PathLike[str], repair: bool = False, *, unique: bool = False) -> list[dict[str, Any]]:
    """Read a results file: every complete JSON line. A half-written last line (a killed run, a failed write)
    is ignored, and with ``repair=True`` cut off the file so appending continues cleanly.

    Args:
        path: the ``<setting>.jsonl`` file.
        repair: cut a half-written last line off the file.
        unique: one record per episode (setting, agent, protocol, index), in file order: a line repeated (the
            same replies and results; timings may differ) counts once, at its first place.

    Raises:
        ValueError: a line other than the last is not valid JSON (the file was edited or is not ours).
        ResultsError: with ``unique``, two lines record one episode with different replies or results (the
            message names the file, the episode and both lines): a results file holds one line per episode, so
            which to trust is the user's call, never a silent pick.
    """
    numbered = _read_records(Path(path), repair)
    return _unique(numbered, Path(path)) if unique else [record for _, record in numbered]


def _read_records(path: Path, repair: bool) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` of every complete line (see :func:`load_records`)."""
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
        records.append((number + 1, record))
        good_end += len(raw) + 1
    if repair and good_end < len(data):
        with open(path, "r+b") as f:
            f.truncate(good_end)
    return records


#: Record keys that time an episode: two plays of one episode differ in them and in nothing else.
_TIMING_KEYS = frozenset({"seconds"})
_STEP_TIMING_KEYS = frozenset({"agent_seconds"})


def _episode_key(record: dict[str, Any]) -> tuple[Any, ...]:
    return (record.get("setting"), record.get("agent"), record.get("protocol", SUITE.name), record["index"])


def _outcome(record: dict[str, Any]) -> dict[str, Any]:
    """The record without its timings."""
    steps = record.get("steps")
    if isinstance(steps, list):
        steps = [{k: v for k, v in step.items() if k not in _STEP_TIMING_KEYS} if isinstance(step, dict) else step
                 for step in steps]
    return {**{k: v for k, v in record.items() if k not in _TIMING_KEYS}, "steps": steps}


def _unique(numbered: list[tuple[int, dict[str, Any]]], path: Path) -> list[dict[str, Any]]:
    first: dict[tuple[Any, ...], tuple[int, dict[str, Any]]] = {}
    out = []
    for line, record in numbered:
        key = _episode_key(record)
        if key not in first:
            first[key] = line, record
            out.append(record)
        elif _outcome(first[key][1]) != _outcome(record):
            setting, agent, protocol, index = key
            raise ResultsError(
                f"{path}: lines {first[key][0]} and {line} both record episode {index} of {setting} (agent "
                f"{agent!r}, protocol {protocol!r}) with different results; a results file holds one line per "
                "episode (was it edited, or joined from two runs?): delete the line that is wrong, or keep the "
                "runs in separate folders")
    return out


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
    """Write ``text`` to ``path`` so that a reader, a kill or a full disk sees the old file or the new one,
    never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o644)
        try:
            _write_all(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
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
            old = {**old, "protocol": old.get("protocol", SUITE.name)}
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
        self.records = {r["index"]: r for r in load_records(self.path, repair=True, unique=True)}
        for record in self.records.values():
            if record.get("protocol", SUITE.name) != meta["protocol"]:
                raise ResultsError(_mixed_protocols(self.path, record.get("protocol", SUITE.name), meta["protocol"]))
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
        self._fd, self._size, self._damaged = -1, 0, False

    def append(self, record: dict[str, Any]) -> None:
        """Write one finished episode's line and make it durable.

        Raises:
            ResultsWriteError: the disk refused the meta file or the line; the write was undone (the file holds
                exactly the lines before it), so running again resumes.
        """
        if self._fd < 0:  # the first episode of this run: log the run, then open the results file
            meta = {**self.meta, "runs": [*self.meta["runs"], self.run_entry]}
            try:
                _write_atomically(self.meta_path, json.dumps(meta, indent=1, sort_keys=True) + "\n")
            except OSError as err:
                raise _write_error(err, self.meta_path, self._intact()) from err
            self.meta = meta
            try:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0),
                                   0o644)
            except OSError as err:
                raise _write_error(err, self.path, self._intact()) from err
            self._size = os.fstat(self._fd).st_size
        if self._damaged:
            raise ResultsWriteError(errno.EIO, f"{self.path} ends in a partial line that could not be undone; "
                                               "run the same command again to resume (the line is dropped)")
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            _write_all(self._fd, line)
            os.fsync(self._fd)
        except OSError as err:
            self._undo()
            raise _write_error(err, self.path, self._intact()) from err
        self._size += len(line)
        self.records[record["index"]] = record

    def _undo(self) -> None:
        """Cut a failed write off, so the file ends with its last whole line (a reader would skip a partial last
        line, but a later append after it would bury it mid-file)."""
        try:
            os.ftruncate(self._fd, self._size)
        except OSError:
            self._damaged = True  # load_records(repair=True) cuts it on the next run
            return
        try:
            os.fsync(self._fd)
        except OSError:
            pass  # the cut is made; making it durable is the disk's part

    def _intact(self) -> str:
        done = len(self.records)
        return (f"the {done} finished episode{'s' if done != 1 else ''} in {self.path.name} "
                f"{'are' if done != 1 else 'is'} intact" if done else "nothing was lost")

    def close(self) -> None:
        if getattr(self, "_fd", -1) >= 0:
            os.close(self._fd)
            self._fd = -1
        self._lock.release()
        if self.made_directory:
            try:
                self.directory.rmdir()  # only succeeds when this run wrote nothing
            except OSError:
                pass


def _mixed_protocols(path: Path, theirs: str, mine: str) -> str:
    return (f"{path} holds results of protocol {theirs!r} and this run uses protocol {mine!r}: one results file "
            "never mixes protocols; write to another output folder")
