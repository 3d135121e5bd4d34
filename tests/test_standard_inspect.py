"""Inspect (issue 20, item 3): the tasks ``sftrl_eval/generalpoints`` and ``sftrl_eval/virl``, found through the
package's ``inspect_ai`` entry point, play both games, text and image, under both protocols, against a scripted
OpenAI-compatible server on 127.0.0.1 (tests/standards_support.py), and report the harness's numbers for the same
replies (item 4): success, return and V-IRL per-step accuracy, with their standard errors. The docs' commands and
Python example run as written; the logs hold each episode as one conversation (what ``inspect view`` shows).

Needs the ``inspect`` extra, installed (not editable: Inspect names a package's tasks after the installed package);
elsewhere it is skipped, unless SFTRL_REQUIRE_STANDARDS=inspect (CI) makes a missing extra an error.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

if "inspect" in os.environ.get("SFTRL_REQUIRE_STANDARDS", "").split(","):
    import inspect_ai  # noqa: F401  (CI: a missing extra fails here instead of skipping)
else:
    pytest.importorskip("inspect_ai", reason="the inspect extra is not installed (pip install '.[inspect]')")

from inspect_ai.log import EvalLog, list_eval_logs, read_eval_log, resolve_sample_attachments  # noqa: E402
from inspect_ai.model import ChatMessageAssistant, ChatMessageUser, ContentImage  # noqa: E402

from standards_support import (  # noqa: E402
    CASES,
    UNKNOWN_CALLS,
    EpisodeResult,
    assert_same_numbers,
    case,
    harness_numbers,
    numbers_of,
    scripted_server,
)

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "inspect.md"
#: inspect_ai's own deprecation warnings (its retry policy) are not the suite's.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with scripted_server() as running:
        yield running


def _environment(server: Any, logs: Path) -> dict[str, str]:
    """The environment of a user whose OpenAI-compatible server is the scripted one (and nothing else)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "INSPECT_", "LOCAL_"))}
    env.update(LOCAL_BASE_URL=server.base_url, LOCAL_API_KEY="none", INSPECT_DISPLAY="none",
               INSPECT_LOG_DIR=str(logs), PYTHONPATH=str(REPO / "tests"))
    return env


def _read_logs(folder: Path) -> list[EvalLog]:
    return [read_eval_log(info) for info in list_eval_logs(str(folder))]


def _check_log(log: EvalLog) -> tuple[str, str]:
    """A log's numbers (its samples' and its metrics') are the harness's for its case; returns the case."""
    assert log.status == "success", log.error
    setting, protocol = log.eval.metadata["setting"], log.eval.metadata["protocol"]
    item = case(setting, protocol)
    expected = harness_numbers(item)
    samples = sorted(log.samples, key=lambda sample: int(sample.id))
    assert [int(s.id) for s in samples] == list(range(item.episodes)), f"{item.id}: the docs and CASES disagree"
    results = []
    for sample in samples:
        score = next(iter(sample.scores.values()))
        meta = score.metadata or {}
        results.append(EpisodeResult(score.value["success"] == 1.0, score.value["return"],
                                     meta.get("correct_steps"), meta.get("step_calls")))
    assert_same_numbers(numbers_of(results), expected, item.id)
    metrics = {(s.name, m.name.split("/")[-1]): m.value for s in log.results.scores for m in s.metrics.values()}
    reported = {"success_rate": metrics[("success", "mean")],
                "success_stderr": metrics[("success", "binomial_stderr")],
                "mean_return": metrics[("return", "mean")]}
    if expected["per_step_accuracy"] is not None:
        reported.update(per_step_accuracy=metrics[("step_accuracy", "step_accuracy")],
                        per_step_stderr=metrics[("step_accuracy", "step_accuracy_stderr")])
    else:
        assert not any(name == "step_accuracy" for name, _ in metrics)
    assert ("return", "stderr") in metrics
    assert_same_numbers(reported, expected, f"{item.id} metrics")
    return setting, protocol


def _inspect_commands() -> list[str]:
    """The ``inspect eval`` lines of the page's bash blocks."""
    blocks = re.findall(r"^```bash\n(.*?)^```", DOCS.read_text(encoding="utf-8"), flags=re.S | re.M)
    return [line for block in blocks for line in block.splitlines() if line.startswith("inspect eval ")]


def test_the_entry_point_names_the_registry_module(tmp_path):
    """As the installed package declares it (read outside the source tree, whose build metadata may be stale)."""
    code = ("from importlib.metadata import entry_points; "
            "print({ep.name: ep.value for ep in entry_points(group='inspect_ai')}.get('sftrl_eval'))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "sftrl_eval.inspect_registry", proc.stdout + proc.stderr


def test_the_docs_commands_run_through_the_entry_point(server, tmp_path):
    """``inspect eval sftrl_eval/...`` as the page writes it, from a folder outside the source tree (the installed
    package, as a user has it): GeneralPoints text and V-IRL street views, under the paper's protocol."""
    commands = _inspect_commands()
    assert len(commands) == 2 and "sftrl_eval/generalpoints" in commands[0] and "sftrl_eval/virl" in commands[1]
    executable = shutil.which("inspect", path=str(Path(sys.executable).parent))
    assert executable, "the inspect command is missing"
    env = _environment(server, tmp_path / "logs")
    UNKNOWN_CALLS.clear()
    for command in commands:
        argv = shlex.split(command)
        proc = subprocess.run([executable, *argv[1:]], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    played = sorted(_check_log(log) for log in _read_logs(tmp_path / "logs"))
    assert played == [("GP-L-RuleOOD", "paper"), ("VIRL-VL", "paper")]
    assert UNKNOWN_CALLS == []  # the scripted server runs in this process: it knew every conversation it was sent


def test_the_docs_python_example_runs_as_written(server, tmp_path):
    example = re.findall(r"^```python\n(.*?)^```", DOCS.read_text(encoding="utf-8"), flags=re.S | re.M)
    assert len(example) == 1 and len([line for line in example[0].splitlines() if line.strip()]) <= 5
    proc = subprocess.run([sys.executable, "-c", example[0]], cwd=tmp_path, capture_output=True, text=True,
                          env=_environment(server, tmp_path / "logs"), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    played = sorted(_check_log(log) for log in _read_logs(tmp_path / "logs"))
    assert played == [("GP-VL", "suite"), ("VIRL-L", "paper")]


#: The cases the docs' commands and example do not play; with them, every case of CASES.
OTHER_CASES = [("GP-L", "suite"), ("GP-VL", "paper"), ("VIRL-L", "suite"), ("VIRL-VL", "suite")]


def test_the_other_cases_and_the_logs_show_whole_episodes(server, tmp_path, monkeypatch):
    from inspect_ai import eval as inspect_eval

    from sftrl_eval.inspect_tasks import generalpoints, virl

    documented = [("GP-L-RuleOOD", "paper"), ("VIRL-VL", "paper"), ("GP-VL", "suite"), ("VIRL-L", "paper")]
    assert sorted(documented + OTHER_CASES) == sorted((c.setting, c.protocol) for c in CASES)
    for name, value in _environment(server, tmp_path / "logs").items():
        if name.startswith(("LOCAL_", "INSPECT_")):
            monkeypatch.setenv(name, value)
    UNKNOWN_CALLS.clear()
    tasks = [(generalpoints if setting.startswith("GP") else virl)(setting=setting, protocol=protocol,
                                                                   episodes=case(setting, protocol).episodes)
             for setting, protocol in OTHER_CASES]
    logs = inspect_eval(tasks, model="openai-api/local/scripted", log_dir=str(tmp_path / "logs"), display="none")
    assert sorted(_check_log(log) for log in logs) == sorted(OTHER_CASES)
    assert UNKNOWN_CALLS == []
    # Each sample is the whole episode: the pictures (street views: one per point), every reply, the feedback.
    route = resolve_sample_attachments(
        next(log for log in logs if log.eval.metadata["setting"] == "VIRL-VL").samples[0])
    pictures = [part for m in route.messages if isinstance(m, ChatMessageUser) and isinstance(m.content, list)
                for part in m.content if isinstance(part, ContentImage)]
    replies = [m for m in route.messages if isinstance(m, ChatMessageAssistant)]
    assert len(replies) == next(iter(route.scores.values())).metadata["replies"] and len(pictures) >= 2
    assert all(p.image.startswith("data:image/png;base64,") for p in pictures)
    assert isinstance(route.messages[-1], ChatMessageUser)  # the env's last feedback closes the episode
    hand = resolve_sample_attachments(next(log for log in logs if log.eval.metadata["setting"] == "GP-VL").samples[0])
    assert isinstance(hand.messages[0].content[0], ContentImage)


def test_task_arguments_are_checked():
    from sftrl_eval.inspect_tasks import generalpoints, virl

    for make, arguments, message in (
            (generalpoints, {"setting": "VIRL-L"}, "V-IRL setting"),
            (virl, {"setting": "GP-L"}, "GeneralPoints setting"),
            (generalpoints, {"protocol": "mine"}, "protocol"),
            (generalpoints, {"episodes": 0}, "positive integer"),
            (generalpoints, {"protocol": "paper", "episodes": 235}, "234 hands"),
            (virl, {"episodes": 49}, "48 evaluation routes"),
            (generalpoints, {"env_kwargs": "{not json"}, "JSON object")):
        with pytest.raises(ValueError, match=message):
            make(**{"episodes": 1, **arguments})
    task = generalpoints(setting="GP-L-RuleOOD", protocol="paper", episodes=3, env_kwargs='{"max_attempts": 2}')
    # The names `inspect eval` takes, from this source tree as from an installed package (tested above).
    assert (task.name, virl(episodes=1).name) == ("sftrl_eval/generalpoints", "sftrl_eval/virl")
    assert [sample.id for sample in task.dataset] == [0, 1, 2]
    assert task.metadata["episode_list"].startswith("authors' hands")
