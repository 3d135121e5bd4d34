"""Gaps found by mutation testing (tools/mutation_test.py, docs/mutation.md) in the resumable results file.

What a user sees when a run resumes or a write fails: which duplicate lines count as one episode, the exact
messages of a failed write, the run log's format and the files' permissions.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest

from sftrl_eval.results import (
    ResultsError,
    ResultsInUseError,
    ResultsWriteError,
    _FileLock,
    _ResultsFile,
    _qualified_name,
    _write_error,
    agent_identity,
    load_records,
)

META = {"setting": "gp-demo", "protocol": "suite", "agent": "tests:Agent"}
RESUME = "free some space (or fix the disk) and run the same command again to resume"


def _record(index: int, **extra) -> dict:
    return {"setting": "gp-demo", "agent": "tests:Agent", "index": index, "success": True, **extra}


def _write_lines(path: Path, *records: dict) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


# ---- which lines record one episode --------------------------------------------------------------------------


def test_missing_protocol_reads_as_suite_when_deduplicating(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    _write_lines(path, _record(0, reward=1), _record(0, protocol="suite", reward=2))
    with pytest.raises(ResultsError, match="lines 1 and 2 both record episode 0 of gp-demo .*protocol 'suite'"):
        load_records(path, unique=True)


def test_other_protocols_are_other_episodes(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    _write_lines(path, _record(0, protocol="paper", reward=1), _record(0, protocol="suite", reward=2))
    assert [r["reward"] for r in load_records(path, unique=True)] == [1, 2]


def test_steps_differing_beyond_timings_are_different_results(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    _write_lines(path, _record(1, steps=[{"reply": "a", "agent_seconds": 1.0}]),
                 _record(1, steps=[{"reply": "a", "agent_seconds": 9.0}]))
    assert len(load_records(path, unique=True)) == 1  # timings only: the same episode
    _write_lines(path, _record(1, steps=[{"reply": "a"}]), _record(1, steps=[{"reply": "b"}]))
    with pytest.raises(ResultsError, match="different results"):
        load_records(path, unique=True)


def test_steps_that_are_not_objects_are_compared_as_they_are(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    _write_lines(path, _record(2, steps=["a", 3]), _record(2, steps=["a", 3]))
    assert load_records(path, unique=True) == [_record(2, steps=["a", 3])]


# ---- failed writes: messages ---------------------------------------------------------------------------------


@pytest.mark.parametrize("err, reason", [
    (OSError(errno.ENOSPC, "disk full"), f"{os.strerror(errno.ENOSPC)} (ENOSPC)"),
    (OSError("the controller said no"), "the controller said no"),
    (OSError(99999, "odd"), os.strerror(99999)),
])
def test_write_error_message(err: OSError, reason: str) -> None:
    made = _write_error(err, Path("out/gp.jsonl"), "nothing was lost")
    assert isinstance(made, ResultsWriteError) and made.errno == err.errno
    assert str(made) == f"could not write out/gp.jsonl: {reason}; nothing was lost: {RESUME}"


def test_intact_counts_the_finished_episodes(tmp_path: Path) -> None:
    results = _ResultsFile(tmp_path, META, True, None)
    try:
        assert results._intact() == "nothing was lost"
        results.append(_record(0))
        assert results._intact() == "the 1 finished episode in gp-demo.jsonl is intact"
        results.append(_record(1))
        assert results._intact() == "the 2 finished episodes in gp-demo.jsonl are intact"
    finally:
        results.close()


def test_results_file_that_cannot_be_opened_is_a_write_error(tmp_path: Path, monkeypatch) -> None:
    real_open = os.open

    def refuse_results(path, *args, **kwargs):
        if str(path).endswith(".jsonl"):
            raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
        return real_open(path, *args, **kwargs)

    results = _ResultsFile(tmp_path, META, True, None)
    monkeypatch.setattr(os, "open", refuse_results)
    try:
        with pytest.raises(ResultsWriteError) as info:
            results.append(_record(0))
    finally:
        monkeypatch.undo()
        results.close()
    assert info.value.errno == errno.EDQUOT
    assert str(info.value) == (f"could not write {tmp_path / 'gp-demo.jsonl'}: {os.strerror(errno.EDQUOT)} (EDQUOT); "
                               f"nothing was lost: {RESUME}")


def test_a_failed_write_that_cannot_be_undone_stops_later_appends(tmp_path: Path, monkeypatch) -> None:
    results = _ResultsFile(tmp_path, META, True, None)
    try:
        results.append(_record(0))
        monkeypatch.setattr(os, "write", lambda fd, data: (_ for _ in ()).throw(OSError(errno.EIO, "io")))
        monkeypatch.setattr(os, "ftruncate", lambda fd, size: (_ for _ in ()).throw(OSError(errno.EIO, "io")))
        with pytest.raises(ResultsWriteError):
            results.append(_record(1))
        monkeypatch.undo()
        with pytest.raises(ResultsWriteError) as info:
            results.append(_record(2))  # the disk works again, but the file ends in a partial line
    finally:
        monkeypatch.undo()
        results.close()
    assert info.value.errno == errno.EIO
    assert str(info.value) == (f"{tmp_path / 'gp-demo.jsonl'} ends in a partial line that could not be undone; "
                               "run the same command again to resume (the line is dropped)")


def test_mixed_protocols_are_refused_with_their_names(tmp_path: Path) -> None:
    results = _ResultsFile(tmp_path, META, True, None)
    results.append(_record(0))
    results.close()
    with pytest.raises(ResultsError) as info:
        _ResultsFile(tmp_path, {**META, "protocol": "paper"}, True, None)
    assert str(info.value) == (f"{tmp_path / 'gp-demo.jsonl'} holds results of protocol 'suite' and this run uses "
                               "protocol 'paper': one results file never mixes protocols; write to another output "
                               "folder")


# ---- what is on disk -----------------------------------------------------------------------------------------


def test_files_are_written_readable_not_executable(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        results = _ResultsFile(tmp_path, META, True, None)
        results.append(_record(0))
        results.close()
    finally:
        os.umask(umask)
    for name in ("gp-demo.jsonl", "gp-demo.meta.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name


def test_meta_file_is_indented_sorted_json(tmp_path: Path) -> None:
    results = _ResultsFile(tmp_path, {"setting": "gp-demo", "protocol": "suite", "agent": "tests:Agent",
                                      "b_key": [1, 2]}, True, None)
    results.append(_record(0))
    results.close()
    text = (tmp_path / "gp-demo.meta.json").read_text()
    assert text == json.dumps(json.loads(text), indent=1, sort_keys=True) + "\n"


def test_meta_is_rewritten_whole_over_a_stale_temporary_file(tmp_path: Path) -> None:
    # A temporary file left by an earlier, killed write of this process id is longer than the new meta file.
    stale = tmp_path / f".gp-demo.meta.json.{os.getpid()}.tmp"
    stale.write_text("x" * 100_000)
    results = _ResultsFile(tmp_path, META, True, None)
    results.append(_record(0))
    results.close()
    assert json.loads((tmp_path / "gp-demo.meta.json").read_text())["setting"] == "gp-demo"
    assert not stale.exists()


# ---- resuming: which folders a run may continue, and what it says when it may not ---------------------------


def _run_once(folder: Path, meta: dict, *records: dict) -> None:
    results = _ResultsFile(folder, meta, True, None)
    for record in records:
        results.append(record)
    results.close()


def test_an_existing_file_is_not_touched_without_resume(tmp_path: Path) -> None:
    _run_once(tmp_path, META, _record(0))
    with pytest.raises(FileExistsError) as info:
        _ResultsFile(tmp_path, META, False, None)
    assert str(info.value) == (f"{tmp_path / 'gp-demo.jsonl'} exists; pass resume=True to continue it or choose "
                               "another out_dir")


def test_another_identity_is_refused_naming_every_difference(tmp_path: Path) -> None:
    _run_once(tmp_path, {**META, "env_id": "GP-v0", "seed": 1}, _record(0))
    with pytest.raises(ResultsError) as info:
        _ResultsFile(tmp_path, {**META, "env_id": "GP-v1", "seed": 1, "temperature": 0.5}, True, None)
    meta_path = tmp_path / "gp-demo.meta.json"
    assert str(info.value) == (f'{meta_path} describes another run (env_id: "GP-v0" there, "GP-v1" now; '
                               "temperature: null there, 0.5 now); use another output folder (or the same "
                               "arguments to resume that run)")


def test_a_legacy_meta_file_is_compared_on_the_keys_it_holds_and_gains_a_run_log(tmp_path: Path) -> None:
    # Written before run logs: no "runs", no "protocol" (suite), no later identity keys.
    (tmp_path / "gp-demo.meta.json").write_text(json.dumps({"setting": "gp-demo", "agent": "tests:Agent"}))
    _write_lines(tmp_path / "gp-demo.jsonl", _record(0))
    results = _ResultsFile(tmp_path, {**META, "env_id": "GP-v0"}, True, None)
    assert sorted(results.records) == [0]
    results.append(_record(1))
    results.close()
    meta = json.loads((tmp_path / "gp-demo.meta.json").read_text())
    assert meta["env_id"] == "GP-v0" and meta["protocol"] == "suite"
    assert [run["episodes_already_done"] for run in meta["runs"]] == [1]
    # A legacy file still refuses a key it holds with another value.
    (tmp_path / "gp-demo.meta.json").write_text(json.dumps({"setting": "gp-demo", "agent": "other:Agent"}))
    with pytest.raises(ResultsError, match='agent: "other:Agent" there, "tests:Agent" now'):
        _ResultsFile(tmp_path, META, True, None)


def test_a_current_meta_file_refuses_a_key_it_lacks(tmp_path: Path) -> None:
    _run_once(tmp_path, META, _record(0))
    with pytest.raises(ResultsError, match='env_id: null there, "GP-v0" now'):
        _ResultsFile(tmp_path, {**META, "env_id": "GP-v0"}, True, None)


def test_a_meta_file_without_protocol_holds_suite_results(tmp_path: Path) -> None:
    _run_once(tmp_path, META, _record(0))
    meta_path = tmp_path / "gp-demo.meta.json"
    old = json.loads(meta_path.read_text())
    del old["protocol"]
    meta_path.write_text(json.dumps(old))
    _ResultsFile(tmp_path, META, True, None).close()  # suite resumes it
    with pytest.raises(ResultsError) as info:
        _ResultsFile(tmp_path, {**META, "protocol": "paper"}, True, None)
    assert "holds results of protocol 'suite' and this run uses protocol 'paper'" in str(info.value)


def test_records_of_another_protocol_are_refused_without_a_meta_file(tmp_path: Path) -> None:
    _write_lines(tmp_path / "gp-demo.jsonl", _record(0, protocol="paper"))
    with pytest.raises(ResultsError) as info:
        _ResultsFile(tmp_path, META, True, None)
    assert str(info.value) == (f"{tmp_path / 'gp-demo.jsonl'} holds results of protocol 'paper' and this run uses "
                               "protocol 'suite': one results file never mixes protocols; write to another output "
                               "folder")
    _write_lines(tmp_path / "gp-demo.jsonl", _record(0))  # no protocol: the suite's
    results = _ResultsFile(tmp_path, META, True, None)
    assert results.records == {0: _record(0)}
    results.close()


def test_records_of_another_agent_are_refused_without_a_meta_file(tmp_path: Path) -> None:
    _write_lines(tmp_path / "gp-demo.jsonl", {**_record(0), "agent": "other:Agent"})
    with pytest.raises(ResultsError) as info:
        _ResultsFile(tmp_path, META, True, None)
    assert str(info.value) == (f"{tmp_path / 'gp-demo.jsonl'} holds episodes of agent 'other:Agent', not "
                               "'tests:Agent'; use another output folder")


def test_conflicting_lines_message(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    _write_lines(path, _record(3, reward=1), _record(4), _record(3, reward=2))
    with pytest.raises(ResultsError) as info:
        load_records(path, unique=True)
    assert str(info.value) == (f"{path}: lines 1 and 3 both record episode 3 of gp-demo (agent 'tests:Agent', "
                               "protocol 'suite') with different results; a results file holds one line per "
                               "episode (was it edited, or joined from two runs?): delete the line that is wrong, "
                               "or keep the runs in separate folders")


def test_damaged_meta_file_messages(tmp_path: Path) -> None:
    from sftrl_eval.results import load_meta

    meta_path = tmp_path / "gp-demo.meta.json"
    meta_path.write_text('{"setting": ')
    with pytest.raises(ResultsError) as info:
        load_meta(meta_path)
    assert str(info.value).startswith(f"{meta_path} is damaged (JSONDecodeError: ")
    assert str(info.value).endswith("); the episodes are safe in gp-demo.jsonl: delete gp-demo.meta.json and run "
                                    "again with the same agent and arguments to resume (it is rewritten), or use "
                                    "another output folder")
    meta_path.write_text("[1, 2]")
    with pytest.raises(ResultsError) as info:
        load_meta(meta_path)
    assert str(info.value) == f"{meta_path} does not hold a run description (a JSON object); delete it to resume"
    meta_path.write_text('{"setting": "caf\u00e9"}', encoding="utf-8")
    assert load_meta(meta_path) == {"setting": "caf\u00e9"}


def test_lines_keep_unicode_and_the_records_kept_in_memory(tmp_path: Path) -> None:
    results = _ResultsFile(tmp_path, META, True, None)
    record = _record(0, reply="caf\u00e9 \u00d7 2")
    results.append(record)
    assert results.records[0] == record
    results.close()
    assert "caf\u00e9 \u00d7 2" in (tmp_path / "gp-demo.jsonl").read_text(encoding="utf-8")


def test_closing_twice_releases_the_lock_once(tmp_path: Path) -> None:
    results = _ResultsFile(tmp_path, META, True, None)
    results.append(_record(0))
    results.close()
    results.close()
    assert not (tmp_path / ".gp-demo.lock").exists()
    os.fstat(1)  # standard output is still open
    _ResultsFile(tmp_path, META, True, None).close()  # and the folder can be resumed


def test_a_run_of_another_protocol_resumes_its_own_folder(tmp_path: Path) -> None:
    paper = {**META, "protocol": "paper"}
    _run_once(tmp_path, paper, _record(0, protocol="paper"))
    results = _ResultsFile(tmp_path, paper, True, None)
    assert sorted(results.records) == [0]
    results.close()


def test_records_without_protocol_are_named_as_the_suites(tmp_path: Path) -> None:
    _write_lines(tmp_path / "gp-demo.jsonl", _record(0))
    with pytest.raises(ResultsError, match="holds results of protocol 'suite' and this run uses protocol 'paper'"):
        _ResultsFile(tmp_path, {**META, "protocol": "paper"}, True, None)


# ---- found by the full eval-resume run (all of results.py) ------------------------------------------------------


def test_closing_closes_the_results_file(tmp_path: Path) -> None:
    """A long-lived process that evaluates many runs must not leak one descriptor per run."""
    results = _ResultsFile(tmp_path, META, True, None)
    results.append(_record(0))
    fd = results._fd
    results.close()
    with pytest.raises(OSError):
        os.fstat(fd)


def test_a_lock_never_taken_releases_nothing(tmp_path: Path) -> None:
    path = tmp_path / ".gp-demo.lock"
    path.write_text("12345\n")  # another run's lock file
    _FileLock(path).release()
    assert path.read_text() == "12345\n"
    os.fstat(1)  # standard output is still open


def test_the_lock_file_is_readable_not_executable(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        lock = _FileLock(tmp_path / ".gp-demo.lock")
        lock.acquire(tmp_path / "gp-demo.jsonl")
    finally:
        os.umask(umask)
    try:
        assert stat.S_IMODE((tmp_path / ".gp-demo.lock").stat().st_mode) == 0o644
    finally:
        lock.release()


def test_a_busy_lock_names_its_holder_from_the_first_32_bytes_even_when_garbled(tmp_path: Path) -> None:
    held = _FileLock(tmp_path / ".gp-demo.lock")
    held.acquire(tmp_path / "gp-demo.jsonl")
    try:
        os.ftruncate(held.fd, 0)
        os.pwrite(held.fd, b"\xff" * 40, 0)
        with pytest.raises(ResultsInUseError) as caught:
            _FileLock(tmp_path / ".gp-demo.lock").acquire(tmp_path / "gp-demo.jsonl")
    finally:
        held.release()
    assert str(caught.value) == (f"{tmp_path / 'gp-demo.jsonl'} is being written by another run (process "
                                 f"{chr(0xFFFD) * 32}); wait for it to finish (then run again to resume), or write "
                                 "to another output folder")


def test_the_run_log_entry_names_its_start_in_utc(tmp_path: Path) -> None:
    results = _ResultsFile(tmp_path, META, True, {"git": "abc"})
    results.append(_record(0))
    results.close()
    (run,) = json.loads((tmp_path / "gp-demo.meta.json").read_text())["runs"]
    assert sorted(run) == ["episodes_already_done", "provenance", "started"]
    assert run["started"].endswith("+00:00") and run["provenance"] == {"git": "abc"}


def test_with_its_meta_file_a_folder_resumes_on_the_meta_files_word(tmp_path: Path) -> None:
    """Only a folder whose meta file is gone has its lines' agents checked; with the meta file, the meta file
    says whose run it is."""
    _run_once(tmp_path, META, _record(0))
    lines = tmp_path / "gp-demo.jsonl"
    lines.write_text(lines.read_text().replace('"tests:Agent"', '"tests:Other"'))
    results = _ResultsFile(tmp_path, META, True, None)
    assert sorted(results.records) == [0]
    results.close()


def test_a_busy_lock_with_no_holder_written_yet_says_unknown(tmp_path: Path) -> None:
    held = _FileLock(tmp_path / ".gp-demo.lock")
    held.acquire(tmp_path / "gp-demo.jsonl")
    try:
        os.ftruncate(held.fd, 0)  # locked, its process id not written yet
        with pytest.raises(ResultsInUseError, match=r"by another run \(process unknown\); wait"):
            _FileLock(tmp_path / ".gp-demo.lock").acquire(tmp_path / "gp-demo.jsonl")
    finally:
        held.release()


def test_a_lock_file_removed_by_its_last_holder_is_taken_afresh(tmp_path: Path, monkeypatch) -> None:
    import sftrl_eval.results as results_module

    path = tmp_path / ".gp-demo.lock"
    real, vanished = results_module._lock_fd, []

    def lock_then_vanish(fd: int) -> None:
        real(fd)
        if not vanished:  # the previous holder removes the file just after this run opened it
            vanished.append(fd)
            path.unlink()

    monkeypatch.setattr(results_module, "_lock_fd", lock_then_vanish)
    lock = _FileLock(path)
    lock.acquire(tmp_path / "gp-demo.jsonl")
    try:
        assert vanished and os.path.samestat(os.fstat(lock.fd), path.stat())
        assert path.read_text() == f"{os.getpid()}\n"
    finally:
        lock.release()


def test_a_second_run_into_a_busy_folder_names_the_results_file(tmp_path: Path) -> None:
    first = _ResultsFile(tmp_path, META, True, None)
    try:
        with pytest.raises(ResultsInUseError) as caught:
            _ResultsFile(tmp_path, META, True, None)
    finally:
        first.close()
    assert str(caught.value).startswith(f"{tmp_path / 'gp-demo.jsonl'} is being written by another run (process ")


def test_the_output_folder_is_made_with_its_parents(tmp_path: Path) -> None:
    results = _ResultsFile(tmp_path / "a" / "b", META, True, None)
    results.append(_record(0))
    results.close()
    assert (tmp_path / "a" / "b" / "gp-demo.jsonl").exists()


@pytest.mark.parametrize(
    ("obj", "name"),
    [
        (json.dumps, "json:dumps"),
        (json.JSONDecoder, "json.decoder:JSONDecoder"),
        (json.JSONDecoder().decode, "json.decoder:JSONDecoder.decode"),
        (json.JSONDecoder(), "json.decoder:JSONDecoder"),  # an instance: its class
    ],
)
def test_qualified_names_of_functions_classes_methods_and_instances(obj, name) -> None:
    assert _qualified_name(obj) == name


def test_reading_records_repairs_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    text = json.dumps(_record(0)) + "\n\n" + json.dumps(_record(1)) + "\n" + '{"index": 2, "succ'
    path.write_text(text)
    assert [r["index"] for r in load_records(path)] == [0, 1]  # a blank line in the middle is skipped
    assert path.read_text() == text  # not repaired unless asked
    assert [r["index"] for r in load_records(path, repair=True)] == [0, 1]
    assert path.read_text() == text[:text.index('{"index": 2')]  # cut after the last complete line


def test_a_last_line_without_its_newline_is_a_partial_write(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(_record(0)) + "\n" + json.dumps(_record(1)))
    assert [r["index"] for r in load_records(path, repair=True)] == [0]
    assert path.read_text() == json.dumps(_record(0)) + "\n"


@pytest.mark.parametrize("line", ['{"a": 1}', '["index"]'])
def test_a_line_that_is_not_an_episode_record_is_named(tmp_path: Path, line: str) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(line + "\n" + json.dumps(_record(0)) + "\n")
    with pytest.raises(ValueError) as caught:
        load_records(path)
    assert str(caught.value) == f"{path}: line 1 is not an episode record (not an episode record)"


class _Configured:
    config = {"b": 1, "a": 2}

    def __call__(self, observation, info) -> str:
        return "forward()"


@pytest.mark.parametrize(
    ("agent", "factory", "expected"),
    [
        # a function: its own name and qualified name
        (json.dumps, None, {"agent": "dumps", "agent_factory": "json:dumps"}),
        # an instance built by a factory: the factory's name and qualified name
        (json.JSONDecoder(), json.JSONDecoder, {"agent": "JSONDecoder", "agent_factory": "json.decoder:JSONDecoder"}),
        # an instance without a name: its type's
        (json.JSONDecoder(), None, {"agent": "JSONDecoder", "agent_factory": "json.decoder:JSONDecoder"}),
        # a factory without a name, and an agent without one: the type's
        (json.JSONDecoder(), 5, {"agent": "JSONDecoder", "agent_factory": "builtins:int"}),
    ],
)
def test_agent_identity_names(agent, factory, expected) -> None:
    identity = agent_identity(agent, None, factory, None)
    assert {k: identity[k] for k in expected} == expected


def test_agent_identity_keeps_sorted_json_arguments_and_config() -> None:
    identity = agent_identity(_Configured(), "mine", None, {"z": 1, "y": (1, 2)})
    assert identity["agent"] == "mine"
    assert json.dumps(identity["agent_kwargs"]) == '{"y": [1, 2], "z": 1}'
    assert json.dumps(identity["agent_config"]) == '{"a": 2, "b": 1}'
    with pytest.raises(TypeError) as caught:
        agent_identity(_Configured(), "mine", None, {"f": object()})
    assert str(caught.value) == ("the agent's arguments must be JSON-serialisable (Object of type object is not "
                                 "JSON serializable)")


def test_qualified_names_drop_the_private_prefix_of_agents_loaded_from_files() -> None:
    loaded = type("Mine", (), {"__module__": "_sftrl_eval_agent_my_agent"})
    assert _qualified_name(loaded) == "my_agent:Mine"
    assert _qualified_name(type("Nowhere", (), {"__module__": None})) == "?:Nowhere"


def test_an_unserialisable_agent_config_is_named() -> None:
    agent = _Configured()
    agent.config = {"f": object()}
    with pytest.raises(TypeError) as caught:
        agent_identity(agent, "mine")
    assert str(caught.value) == ("agent.config must be JSON-serialisable (Object of type object is not JSON "
                                 "serializable)")


# ---- the resume path of the harness: what a run is prepared with -------------------------------------------------


def _agent(observation, info) -> str:
    return "forward()"


def test_a_run_is_prepared_with_the_callers_env_arguments_and_data() -> None:
    from sftrl_eval.harness import _prepare

    run = _prepare(_agent, "GP-L", 1, None, None, True, {"x": 1}, False, None, None)
    assert (run.kwargs["x"], run.episodes.on_dataset) == (1, False)
    run = _prepare(_agent, "VIRL-L", 1, None, None, True, None, False, None, None, "paper", "/released-data")
    assert (run.kwargs["dataset_dir"], run.episodes.on_dataset) == ("/released-data", True)


def test_a_run_is_checked_against_its_protocols_episode_list() -> None:
    from sftrl_eval.harness import _prepare

    with pytest.raises(ValueError) as caught:
        _prepare(_agent, "GP-L", 235, None, None, True, None, False, None, None, "paper")
    assert str(caught.value) == ("GP-L under the paper protocol has the authors' 234 hands; episodes=235 asks for "
                                 "more; ask for at most 234")


def test_an_agent_is_a_callable_or_has_acall() -> None:
    from sftrl_eval.harness import _prepare

    class AsyncOnly:
        async def acall(self, observation, info) -> str:
            return "forward()"

    assert _prepare(AsyncOnly(), "GP-L", 1, None, None, True, None, False, None, None).n == 1
    with pytest.raises(TypeError) as caught:
        _prepare(5, "GP-L", 1, None, None, True, None, False, None, None)
    assert str(caught.value) == "agent must be a callable (observation, info) -> str, got int"


def test_a_prepared_run_files_under_the_agents_identity(tmp_path: Path) -> None:
    from sftrl_eval.harness import _prepare

    run = _prepare(_Configured(), "GP-L", 1, tmp_path, "mine", True, None, False, json.JSONDecoder, {"a": 1},
                   "paper")
    try:
        assert run.name == "mine" and run.bar.label == "GP-L mine"
        assert run.results.meta["agent_factory"] == "json.decoder:JSONDecoder"
        assert run.results.meta["episode_list"] == run.episodes.identity()["episode_list"]
    finally:
        run.close()


def test_unserialisable_env_arguments_and_provenance_are_named() -> None:
    from sftrl_eval.harness import _prepare

    class Traced:
        provenance = {"f": object()}

        def __call__(self, observation, info) -> str:
            return "forward()"

    unserialisable = "must be JSON-serialisable (Object of type object is not JSON serializable)"
    with pytest.raises(TypeError) as caught:
        _prepare(_agent, "GP-L", 1, None, None, True, {"f": object()}, False, None, None)
    assert str(caught.value) == f"env_kwargs {unserialisable}"
    with pytest.raises(TypeError) as caught:
        _prepare(Traced(), "GP-L", 1, None, None, True, None, False, None, None)
    assert str(caught.value) == f"agent.provenance {unserialisable}"


def test_the_resume_note_says_what_is_left(tmp_path: Path, capsys) -> None:
    from sftrl_eval.harness import _prepare

    _prepare(_agent, "GP-L", 2, tmp_path, "mine", True, None, True, None, None).close()
    assert capsys.readouterr().err == ""  # a fresh folder: nothing to resume, no note
    run = _prepare(_agent, "GP-L", 2, tmp_path, "mine", True, None, True, None, None)
    run.keep({"setting": "GP-L", "agent": "mine", "index": 0, "success": True})
    run.close()
    capsys.readouterr()
    for episodes, end in ((2, ""), (1, ", nothing to play")):
        _prepare(_agent, "GP-L", episodes, tmp_path, "mine", True, None, True, None, None).close()
        path = tmp_path / "GP-L.jsonl"
        assert capsys.readouterr().err == (f"GP-L mine: resuming {path}: 1 of {episodes} episodes already "
                                           f"done{end}\n")
