"""A disk that fills up (ENOSPC), a full quota (EDQUOT) or an I/O error (EIO) while results or meta.json are
written: the run stops with one line and exit status 3, the failed write is undone, every episode written
before stays intact and readable, and running again resumes. No disk is really filled: :func:`fill_disk_after`
makes the writes under one folder fail once they have taken a number of bytes.
"""

from __future__ import annotations

import builtins
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sftrl_eval import ResultsWriteError, evaluate, load_records
from sftrl_eval.cli import EXIT_STORAGE, main

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
from agents import OracleAgent  # noqa: E402

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="finds files by /proc/self/fd")
_REAL_WRITE, _REAL_OPEN = os.write, builtins.open


class _Disk:
    """The bytes left for results files (``*.jsonl``) and meta files under ``folder``."""

    def __init__(self, folder: Path, budget: int, code: int):
        self.folder, self.left, self.code = str(Path(folder).resolve()), budget, code

    def counts(self, path: str) -> bool:
        name = os.path.basename(path)
        return path.startswith(self.folder + os.sep) and (name.endswith(".jsonl") or ".meta.json" in name)

    def take(self, size: int) -> int:
        """How many of ``size`` bytes fit; raises once nothing does (as write(2) does)."""
        if self.left <= 0 and size:
            raise OSError(self.code, os.strerror(self.code))
        taken = min(size, self.left)
        self.left -= taken
        return taken


class _MeteredFile:
    """A file object opened by ``open`` whose writes take their bytes from a :class:`_Disk`."""

    def __init__(self, file, disk: _Disk):
        self._file, self._disk = file, disk

    def write(self, data):
        size = len(data.encode() if isinstance(data, str) else data)
        taken = self._disk.take(size)
        self._file.write(data[:taken])
        if taken < size:
            self._file.flush()  # the part that fitted is on disk, as after a real short write
            raise OSError(self._disk.code, os.strerror(self._disk.code))
        return len(data)

    def __getattr__(self, name):
        return getattr(self._file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()


def fill_disk_after(folder: Path, budget: int, code: int = errno.ENOSPC) -> None:
    """From now on, writes of results and meta files under ``folder`` fail with ``code`` once they have taken
    ``budget`` bytes, the write that crosses the limit writing only what fits. Covers ``os.write`` and files
    the results module opens with ``open`` (replacing an earlier call's disk); undo with ``monkeypatch`` or by
    ending the process."""
    disk = _Disk(folder, budget, code)
    real_write, real_open = _REAL_WRITE, _REAL_OPEN

    def write(fd, data):
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            path = ""
        if not disk.counts(path):
            return real_write(fd, data)
        return real_write(fd, bytes(data)[:disk.take(len(data))])

    def open_(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        if isinstance(file, (str, os.PathLike)) and set(mode) & set("wax") and disk.counts(os.path.abspath(file)):
            return _MeteredFile(handle, disk)
        return handle

    os.write = write
    import sftrl_eval.results

    sftrl_eval.results.open = open_


@pytest.fixture
def full_disk(monkeypatch):
    """:func:`fill_disk_after`, undone after the test."""
    import sftrl_eval.results

    monkeypatch.setattr(os, "write", os.write)
    monkeypatch.setattr(sftrl_eval.results, "open", builtins.open, raising=False)
    return fill_disk_after


def line_sizes(path: Path) -> list[int]:
    return [len(line) for line in path.read_bytes().splitlines(keepends=True)]


def budget_for(tmp_path: Path, lines: int) -> int:
    """Bytes of a 5-episode GP-L oracle run's meta file and first ``lines`` lines, plus half the next line."""
    evaluate(OracleAgent(), "GP-L", episodes=5, out_dir=tmp_path / "reference", progress=False)
    sizes = line_sizes(tmp_path / "reference" / "GP-L.jsonl")
    meta = (tmp_path / "reference" / "GP-L.meta.json").stat().st_size
    return meta + sum(sizes[:lines]) + sizes[lines] // 2


def assert_intact(path: Path, indices: list[int]) -> None:
    """The file holds exactly these episodes, as whole lines: nothing half-written is left behind."""
    data = path.read_bytes()
    assert data.endswith(b"\n") and [r["index"] for r in load_records(path)] == indices
    assert [json.loads(line)["index"] for line in data.splitlines()] == indices
    assert not list(path.parent.glob(".*.tmp"))


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EIO])
def test_a_full_disk_undoes_the_failed_write_and_a_later_run_resumes(tmp_path, full_disk, code):
    out = tmp_path / "run"
    full_disk(out, budget_for(tmp_path, lines=2), code)
    with pytest.raises(ResultsWriteError) as err:
        evaluate(OracleAgent(), "GP-L", episodes=5, out_dir=out, progress=False)
    assert isinstance(err.value, OSError) and err.value.errno == code
    assert str(out / "GP-L.jsonl") in str(err.value) and os.strerror(code) in str(err.value)
    assert "2 finished episodes in GP-L.jsonl are intact" in str(err.value) and "resume" in str(err.value)
    assert_intact(out / "GP-L.jsonl", [0, 1])  # the third line, half-written, was undone
    first_lines = (out / "GP-L.jsonl").read_bytes()
    meta = json.loads((out / "GP-L.meta.json").read_text())
    assert [run["episodes_already_done"] for run in meta["runs"]] == [0]
    full_disk(out, 10**9)  # space freed
    summary = evaluate(OracleAgent(), "GP-L", episodes=5, out_dir=out, progress=False)
    assert summary["episodes"] == 5 and summary["success_rate"] == 1.0
    assert_intact(out / "GP-L.jsonl", [0, 1, 2, 3, 4])
    assert (out / "GP-L.jsonl").read_bytes().startswith(first_lines)
    assert [run["episodes_already_done"] for run in json.loads((out / "GP-L.meta.json").read_text())["runs"]] \
        == [0, 2]


def test_a_failed_sync_is_undone_too(tmp_path, monkeypatch):
    out = tmp_path / "run"
    evaluate(OracleAgent(), "GP-L", episodes=2, out_dir=out, progress=False)
    real_fsync, results = os.fsync, out / "GP-L.jsonl"

    def fsync(fd):
        if os.readlink(f"/proc/self/fd/{fd}") == str(results.resolve()):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(ResultsWriteError, match="Input/output error"):
        evaluate(OracleAgent(), "GP-L", episodes=4, out_dir=out, progress=False)
    assert_intact(results, [0, 1])  # the line whose sync failed is not trusted: it is played again
    monkeypatch.setattr(os, "fsync", real_fsync)
    evaluate(OracleAgent(), "GP-L", episodes=4, out_dir=out, progress=False)
    assert_intact(results, [0, 1, 2, 3])


def test_a_full_disk_while_the_meta_file_is_written_keeps_the_old_one(tmp_path, full_disk):
    out = tmp_path / "run"
    evaluate(OracleAgent(), "GP-L", episodes=2, out_dir=out, progress=False)
    before = {name: (out / name).read_bytes() for name in ("GP-L.jsonl", "GP-L.meta.json")}
    full_disk(out, 20, errno.EDQUOT)  # the resumed run's meta file does not fit
    with pytest.raises(ResultsWriteError, match=r"could not write .*GP-L\.meta\.json: Disk quota exceeded \(EDQUOT\)"):
        evaluate(OracleAgent(), "GP-L", episodes=4, out_dir=out, progress=False)
    assert {name: (out / name).read_bytes() for name in before} == before
    assert not list(out.glob(".*.tmp"))
    # A new run whose first meta file does not fit leaves nothing behind.
    full_disk(tmp_path / "new", 20)
    with pytest.raises(ResultsWriteError, match="nothing was lost"):
        evaluate(OracleAgent(), "GP-L", episodes=2, out_dir=tmp_path / "new", progress=False)
    assert not (tmp_path / "new").exists()


# The command line in a fresh process, the disk filled by a wrapper around the CLI's main.
WRAPPER = """\
import sys
sys.path[:0] = [{tests!r}, {examples!r}]
from test_harness_disk_full import fill_disk_after
budget = {budget}
if budget is not None:
    fill_disk_after({out!r}, budget)
from sftrl_eval.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


def run_cli(tmp_path: Path, out: Path, budget: int | None) -> subprocess.CompletedProcess:
    wrapper = tmp_path / "full_disk_cli.py"
    wrapper.write_text(WRAPPER.format(tests=str(ROOT / "tests"), examples=str(ROOT / "examples"), out=str(out),
                                      budget=budget))
    command = [sys.executable, str(wrapper), "run", "--agent", f"{ROOT / 'examples' / 'agents.py'}:OracleAgent",
               "--settings", "GP-L", "--episodes", "5", "--out", str(out), "--no-progress"]
    return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)


def test_the_command_line_reports_a_full_disk_in_one_line_with_status_3_and_resumes(tmp_path):
    reference = tmp_path / "reference"
    assert run_cli(tmp_path, reference, None).returncode == 0
    sizes, meta = line_sizes(reference / "GP-L.jsonl"), (reference / "GP-L.meta.json").stat().st_size
    out = tmp_path / "run"
    proc = run_cli(tmp_path, out, meta + sum(sizes[:3]) + sizes[3] // 2)
    assert proc.returncode == EXIT_STORAGE == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"sftrl-eval: error: could not write {out / 'GP-L.jsonl'}: No space left on device")
    assert "3 finished episodes in GP-L.jsonl are intact" in lines[0] and "resume" in lines[0]
    assert_intact(out / "GP-L.jsonl", [0, 1, 2])
    kept = (out / "GP-L.jsonl").read_bytes()
    proc = run_cli(tmp_path, out, None)  # space freed: the same command resumes
    assert proc.returncode == 0, proc.stderr
    assert_intact(out / "GP-L.jsonl", [0, 1, 2, 3, 4])
    assert (out / "GP-L.jsonl").read_bytes().startswith(kept)


def test_a_full_disk_while_the_report_is_written_is_status_3(tmp_path, capsys, monkeypatch):
    evaluate(OracleAgent(), "GP-L", episodes=2, out_dir=tmp_path / "run", progress=False)

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "report.md")

    monkeypatch.setattr(Path, "write_text", no_space)
    assert main(["report", str(tmp_path / "run"), "--markdown", str(tmp_path / "report.md")]) == EXIT_STORAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0] and "intact" in err[0]


def test_the_exit_statuses_are_documented():
    assert "3 (:data:`EXIT_STORAGE`) the results" in main.__doc__
    assert "3 the results could not be written" in subprocess.run(
        [sys.executable, "-m", "sftrl_eval", "--help"], capture_output=True, text=True, cwd=ROOT).stdout
