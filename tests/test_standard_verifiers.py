"""verifiers 0.4 (issue 20): the two environment packages (``environments/``) run under ``vf-eval`` against a scripted
OpenAI-compatible server on 127.0.0.1 and give the harness's numbers on the same replies.

Every case of ``standards_support.CASES`` (both games, text and image, both protocols) is played three ways on the
same scripted replies: by the harness (``sftrl_eval.evaluate``), and by ``vf-eval sftrl-generalpoints`` or
``vf-eval sftrl-virl`` (a subprocess, as a user runs it), whose traces must give the same success, return and
per-step accuracy, episode by episode and pooled. The commands of ``docs/verifiers.md`` run as written. The model
must be shown exactly the conversations the harness shows (the script answers an unknown one wrongly, and the test
fails on it), with one picture per observation in the image settings.

Needs verifiers (the ``verifiers`` extra) and the two packages installed; CI runs this file in a venv of its own
(``.ci/run``), since verifiers 0.4 and openenv 0.10 cannot share one. Elsewhere it skips, unless
SFTRL_REQUIRE_STANDARDS=verifiers (CI) makes a missing extra or package an error.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

if "verifiers" in os.environ.get("SFTRL_REQUIRE_STANDARDS", "").split(","):
    import sftrl_generalpoints  # noqa: F401  (CI: a missing extra or package fails here instead of skipping)
    import sftrl_virl  # noqa: F401
else:
    pytest.importorskip("verifiers.v1", reason="needs the verifiers extra (its own venv in CI, .ci/run)")
    pytest.importorskip("sftrl_generalpoints", reason="needs pip install ./environments/sftrl_generalpoints")
    pytest.importorskip("sftrl_virl", reason="needs pip install ./environments/sftrl_virl")

import verifiers.v1 as vf  # noqa: E402

from sftrl_eval import EpisodeList, get_setting  # noqa: E402
from standards_support import (  # noqa: E402
    CASES,
    UNKNOWN_CALLS,
    Case,
    EpisodeResult,
    assert_same_numbers,
    harness_numbers,
    load_fake_server,
    numbers_of,
    scripted_reply,
)

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs" / "verifiers.md"
PACKAGES = {"GeneralPoints": "sftrl-generalpoints", "V-IRL": "sftrl-virl"}
#: vf-eval lives beside this interpreter (a venv's bin/), else on PATH.
VF_EVAL = shutil.which("vf-eval", path=str(Path(sys.executable).parent)) or shutil.which("vf-eval")


def _sse(text: str, model: str) -> str:
    """A chat completion as an OpenAI event stream: verifiers' interception streams from the provider."""
    base = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 0, "model": model}
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": text},
                                    "finish_reason": None}]},
              {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
               "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}]
    return "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks) + "data: [DONE]\n\n"


@pytest.fixture(scope="module")
def server():
    """The scripted model (``standards_support.scripted_reply``), streaming when asked to."""
    fake = load_fake_server()

    def answer(request):
        reply = scripted_reply(request.messages)
        body = request.body if isinstance(request.body, dict) else {}
        if body.get("stream"):
            return fake.FakeResponse(200, _sse(reply, body.get("model", "scripted")),
                                     {"Content-Type": "text/event-stream"})
        return reply

    with fake.FakeChatServer(answer) as running:
        yield running


def docs_commands() -> list[str]:
    """The ``vf-eval`` lines of the docs page's bash blocks, as written."""
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip().startswith("vf-eval ")]


def _flag(command: str, flag: str, default: str) -> str:
    found = re.search(rf"(?:^|\s){re.escape(flag)}[ =](\S+)", command)
    return found.group(1) if found else default


def command_case(command: str) -> Case:
    """The case a ``vf-eval`` line plays: its setting, protocol and ``-n``."""
    return Case(_flag(command, "--env.taskset.setting", ""), _flag(command, "--env.taskset.protocol", "suite"),
                int(_flag(command, "-n", "0")))


def case_command(item: Case) -> str:
    """The ``vf-eval`` line of a case: the docs' own when they give it, else the same line for the case."""
    for command in docs_commands():
        if command_case(command) == item:
            return command
    package = PACKAGES[get_setting(item.setting).game.name]
    return (f'vf-eval {package} -m "$MODEL" --client.base-url "$OPENAI_BASE_URL" --client.api-key-var OPENAI_API_KEY '
            f"--no-push --env.taskset.setting {item.setting} --env.taskset.protocol {item.protocol} -n {item.episodes}")


def run_vf_eval(command: str, server: Any, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Run a ``vf-eval`` line against the scripted server, in ``cwd``; its episodes in order. The docs' lines run in
    bash, as a user types them; the others through vf-eval's entry point in this process (the same code, without
    importing verifiers again for each: that is most of a run's time)."""
    variables = {"MODEL": "scripted", "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "scripted"}
    if command in docs_commands():
        assert VF_EVAL, "vf-eval is not installed"
        env = {**os.environ, **variables, "PATH": f"{Path(VF_EVAL).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        proc = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
        output = proc.stdout + proc.stderr
    else:
        from verifiers.v1.cli.eval.main import main

        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(cwd)
        argv = [os.path.expandvars(arg) for arg in shlex.split(command)]
        assert argv[0] == "vf-eval"
        monkeypatch.setattr(sys, "argv", argv)
        main(argv[1:])
        output = ""
    traces = list(cwd.glob("outputs/*/traces.jsonl"))
    assert len(traces) == 1, output[-4000:]
    episodes = [json.loads(line) for line in traces[0].read_text(encoding="utf-8").splitlines() if line.strip()]
    return sorted(episodes, key=lambda e: e["task"]["data"]["episode"])


def episode_result(episode: dict[str, Any]) -> EpisodeResult:
    """One vf-eval episode as the standards report it: its rewards and step counts."""
    assert episode["ok"] and not episode["errors"], episode["errors"]
    (trace,) = episode["traces"]
    assert not trace["errors"], trace["errors"]
    metrics = trace["metrics"]
    calls = metrics.get("step_calls")
    if calls is not None:  # V-IRL: the episode's per-step accuracy is its own counts' ratio
        assert math.isclose(metrics["per_step_accuracy"], metrics["correct_steps"] / calls if calls else 0.0)
    return EpisodeResult(trace["rewards"]["success"]["score"] == 1.0, trace["rewards"]["episode_return"]["score"],
                         None if calls is None else int(metrics["correct_steps"]),
                         None if calls is None else int(calls))


def _image_parts(message: dict[str, Any]) -> int:
    content = message.get("content")
    return 0 if isinstance(content, str) else sum(part.get("type") == "image_url" for part in content or ())


def test_the_docs_commands_are_cases_of_the_tests():
    commands = docs_commands()
    assert {PACKAGES[get_setting(command_case(c).setting).game.name] for c in commands} == set(PACKAGES.values())
    for command in commands:
        assert command_case(command) in CASES, command
        assert "--no-push" in command, "nothing leaves the machine: a run is uploaded unless --no-push"


@pytest.mark.parametrize("item", CASES, ids=lambda item: item.id)
def test_vf_eval_gives_the_harness_numbers(item, server, tmp_path, monkeypatch):
    expected = harness_numbers(item)  # the harness plays the scripted replies first
    setting = get_setting(item.setting)
    first_request = len(server.requests)
    unknown_before = len(UNKNOWN_CALLS)
    episodes = run_vf_eval(case_command(item), server, tmp_path, monkeypatch)

    assert [e["task"]["data"]["episode"] for e in episodes] == list(range(item.episodes))
    assert {e["task"]["data"]["setting"] for e in episodes} == {setting.name}
    assert {e["task"]["data"]["protocol"] for e in episodes} == {item.protocol}
    assert UNKNOWN_CALLS[unknown_before:] == [], "the model was shown a conversation the harness never shows"
    results = [episode_result(e) for e in episodes]
    found = numbers_of(results)
    assert_same_numbers(found, expected, item.id)
    assert found["successes"] == expected["successes"] and found["returns"] == expected["returns"]
    assert (found["per_step_accuracy"] is None) == (not setting.game.walks_routes)

    requests = server.requests[first_request:]
    assert len(requests) == sum(int(e["traces"][0]["metrics"]["replies"]) for e in episodes)  # one per reply
    for request in requests:
        pictures = sum(_image_parts(m) for m in request.messages)
        assert pictures == (1 if setting.image else 0), "one picture per observation: the env's own"
        assert request.messages[0]["role"] == "user"


def test_the_script_makes_episodes_succeed_and_fail():
    """Agreeing numbers mean something only if the replies are right and wrong: hands and routes succeed and fail,
    and every route case has right and wrong steps."""
    numbers = {item: harness_numbers(item) for item in CASES}
    assert {s for n in numbers.values() for s in n["successes"]} == {True, False}
    for item, figures in numbers.items():
        if get_setting(item.setting).game.walks_routes:
            assert 0 < figures["per_step_accuracy"] < 1, item.id


def test_the_taskset_is_the_harness_episode_list_in_order():
    for name, protocol in (("GP-VL", "paper"), ("VIRL-L", "suite")):
        setting = get_setting(name)
        package = PACKAGES[setting.game.name]
        config = vf.taskset_config_type(package)(id=package, setting=name, protocol=protocol)
        tasks = list(vf.load_taskset(config).take(3))
        env = gym.make(setting.env_id, **({"protocol": protocol} if protocol != "suite" else {}))
        episodes = EpisodeList(setting, protocol)
        for index, task in enumerate(tasks):
            seed, options = episodes.reset_args(index, env)
            assert (task.data.episode, task.data.seed, task.data.reset_options) == (index, seed, options)
            assert task.key == f"{name}/{protocol}/{index}"
            parts = task.data.prompt[0].content
            assert isinstance(parts, str) != setting.image
        env.close()


def test_a_setting_of_the_other_game_is_refused():
    config_type = vf.taskset_config_type("sftrl-generalpoints")
    with pytest.raises(ValueError, match="setting"):
        config_type(id="sftrl-generalpoints", setting="VIRL-L")
    with pytest.raises(ValueError, match="protocol"):
        config_type(id="sftrl-generalpoints", setting="GP-L", protocol="authors")
