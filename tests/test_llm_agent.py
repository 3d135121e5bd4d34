"""The LLM agent example end to end, against a scripted chat-completions server on 127.0.0.1.

Nothing here leaves the machine: the server (``examples/fake_llm_server.py``) binds to loopback on a free
port, its "model" is a Python function or a queue of scripted answers, and every loop is bounded. Retry
delays go to a recorder instead of ``time.sleep``, so the tests assert the delays without waiting them out.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import io
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

import gpoints_env
import virl_env  # noqa: F401  (registers the V-IRL ids)
from gpoints_env import Verdict, check_answer, find_solution

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
API_KEY = "sk-test-5ecret-key-0123456789"


def _load_example(name: str) -> ModuleType:
    """Import an example script by path (``examples/`` is not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


fake = _load_example("fake_llm_server")
llm = _load_example("llm_agent")
FakeResponse = fake.FakeResponse


@pytest.fixture(autouse=True)
def _no_openai_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own OPENAI_* settings and proxies must not leak into the tests."""
    for name in ("OPENAI_BASE_URL", "OPENAI_MODEL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[Any]:
    with fake.FakeChatServer(fake.demo_responder) as running:
        yield running


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_agent(server: Any, sleeps: list[float], **kwargs: Any) -> Any:
    options: dict[str, Any] = {"api_key": API_KEY, "timeout": 5.0, "max_retries": 2, "backoff": 0.5,
                               "sleep": sleeps.append, "environ": {}}
    options.update(kwargs)
    return llm.OpenAIChatAgent("fake-model", server.base_url, **options)


def _decode_data_url(url: str) -> np.ndarray:
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix), url[:40]
    png = base64.b64decode(url[len(prefix):], validate=True)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as picture:
        assert picture.format == "PNG"
        return np.asarray(picture.convert("RGB"))


def _image_part(message: dict[str, Any]) -> dict[str, Any]:
    parts = message["content"]
    assert isinstance(parts, list) and [part["type"] for part in parts] == ["text", "image_url"]
    return parts[1]


# ---- GeneralPoints, text mode ----------------------------------------------------------------------------


def test_gpoints_text_episodes_are_solved_from_the_prompt(server: Any, sleeps: list[float]) -> None:
    agent = make_agent(server, sleeps)
    env = gym.make("GeneralPoints-v0")
    for seed in range(3):
        obs, info = env.reset(seed=seed)
        sent = [dict(m) for m in info["messages"]]
        reply = agent(obs, info)
        _, reward, terminated, _, info = env.step(reply)
        assert info["verdict"] is Verdict.CORRECT and reward == 5 and terminated
        request = server.requests[-1]
        assert request.path == "/v1/chat/completions"
        assert request.body["messages"] == sent  # the conversation, unchanged
        assert request.body["model"] == "fake-model"
        assert request.body["temperature"] == 0.0 and request.body["max_tokens"] == 1024
        assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert len(server.requests) == 3 and sleeps == []
    assert agent.usage == {"requests": 3, "retries": 0, "prompt_tokens": 30, "completion_tokens": 15}


def _wrong_then_right(request: Any) -> str:
    """Answer wrong until the conversation shows our wrong reply and the env's feedback, then solve."""
    messages = request.messages
    if len(messages) >= 3 and messages[-2]["role"] == "assistant" and "[Feedback]" in messages[-1]["content"]:
        return json.dumps({"formula": fake.gpoints_solution_from_prompt(messages[0]["content"])})
    return '{"formula": "1+1"}'


def test_gpoints_conversation_with_feedback_reaches_the_server(server: Any, sleeps: list[float]) -> None:
    server.responder = _wrong_then_right
    agent = make_agent(server, sleeps)
    env = gym.make("GeneralPoints-v0")
    obs, info = env.reset(seed=7)
    verdicts, rewards = [], []
    for _ in range(env.unwrapped.max_attempts):
        obs, reward, terminated, _, info = env.step(agent(obs, info))
        verdicts.append(info["verdict"])
        rewards.append(reward)
        if terminated:
            break
    assert verdicts == [Verdict.WRONG_NUMBERS, Verdict.CORRECT] and rewards == [-2, 5]
    first, second = (request.messages for request in server.requests)
    assert len(first) == 1 and first[0]["role"] == "user"
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[0] == first[0]
    assert second[1]["content"] == '{"formula": "1+1"}'
    assert second[2]["content"].startswith("[Feedback]") and "4 attempts left" in second[2]["content"]


def test_gpoints_rule_ood_prompt_values_reach_the_model(server: Any, sleeps: list[float]) -> None:
    # J/Q/K count 11/12/13 here: the fake model only solves it if it read those values from the prompt.
    agent = make_agent(server, sleeps)
    env = gym.make("GeneralPoints-RuleOOD-v0")
    obs, info = env.reset(seed=3)
    assert any(card in "JQK" for card in info["cards"])
    _, _, _, _, info = env.step(agent(obs, info))
    assert info["verdict"] is Verdict.CORRECT


# ---- GeneralPoints, image mode ----------------------------------------------------------------------------


def test_gpoints_image_mode_sends_the_picture_as_png(server: Any, sleeps: list[float]) -> None:
    env = gym.make("GeneralPoints-VL-v0", resolution=96)
    obs, info = env.reset(seed=1)
    right = json.dumps({"cards": info["cards"], "formula": find_solution(info["numbers"], info["target"])})
    server.script(['{"cards": ["A", "A", "A", "A"], "formula": "1+1"}', right])
    agent = make_agent(server, sleeps)
    image_at_reset = obs["image"].copy()
    verdicts = []
    for _ in range(2):
        obs, _, terminated, _, info = env.step(agent(obs, info))
        verdicts.append(info["verdict"])
    assert verdicts[-1] is Verdict.CORRECT and terminated and info["recognized"] is True
    for request in server.requests:
        messages = request.messages
        # Only the first user message carries the image; the text part is the prompt itself.
        assert messages[0]["content"][0]["text"] == info["messages"][0]["content"]
        sent = _decode_data_url(_image_part(messages[0])["image_url"]["url"])
        assert sent.shape == image_at_reset.shape == (96, 96, 3)
        assert np.array_equal(sent, image_at_reset)  # lossless
        assert all(isinstance(m["content"], str) for m in messages[1:])
    assert "[Feedback]" in server.requests[1].messages[-1]["content"]


# ---- V-IRL ---------------------------------------------------------------------------------------------------


def test_virl_text_episode_conversation_restarts_at_each_point(server: Any, sleeps: list[float]) -> None:
    agent = make_agent(server, sleeps)
    env = gym.make("VIRL-v0")
    obs, info = env.reset(seed=0)
    sent: list[list[dict[str, Any]]] = []
    verdicts = []
    for step in range(200):
        expert = env.unwrapped.expert_action()
        wrong = step == 1 and expert != "stop()"  # one mistake, to see the feedback reach the server
        server.script([json.dumps({"action": "stop()" if wrong else expert})])
        sent.append([dict(m) for m in info["messages"]])
        obs, reward, terminated, truncated, info = env.step(agent(obs, info))
        verdicts.append(info["verdict"])
        if terminated or truncated:
            break
    assert terminated and info["is_success"]  # the mistake was corrected on the point's second attempt
    assert verdicts[1] == "wrong_action" and verdicts.count("correct") == len(verdicts) - 1
    received = [request.messages for request in server.requests]
    assert received == sent
    # After the mistake: prompt, our reply, the feedback. After moving on: one fresh prompt.
    assert [m["role"] for m in received[2]] == ["user", "assistant", "user"]
    assert received[2][1]["content"] == '{"action": "stop()"}' and "Attempts left" in received[2][2]["content"]
    assert len(received[3]) == 1 and "A_2: " in received[3][0]["content"]


def test_virl_image_mode_sends_the_current_views(server: Any, sleeps: list[float]) -> None:
    agent = make_agent(server, sleeps)
    env = gym.make("VIRL-VL-v0", view_size=48)
    obs, info = env.reset(seed=0)
    shown = []
    for _ in range(3):  # three points: the views change as the agent moves
        shown.append(obs["image"].copy())
        server.script([json.dumps({"action": env.unwrapped.expert_action()})])
        obs, _, terminated, _, info = env.step(agent(obs, info))
        assert info["verdict"] == "correct"
        if terminated:
            break
    received = [_decode_data_url(_image_part(r.messages[0])["image_url"]["url"]) for r in server.requests]
    assert len(received) == len(shown) >= 2
    for sent, image in zip(received, shown):
        assert np.array_equal(sent, image)
    assert any(not np.array_equal(a, b) for a, b in zip(shown, shown[1:]))


# ---- concurrency ----------------------------------------------------------------------------------------------


def _gpoints_decisions(count: int) -> list[tuple[str, dict[str, Any]]]:
    env = gym.make("GeneralPoints-v0")
    return [env.reset(seed=seed) for seed in range(count)]


def _solves(reply: str, info: dict[str, Any]) -> bool:
    formula = json.loads(reply)["formula"]
    return check_answer(formula, info["numbers"], info["target"]).verdict is Verdict.CORRECT


class _MeetingSolver:
    """A fake model that holds each request until a second one is in flight (at most 2 s), recording the
    peak number of requests in flight: proves requests overlap, and by how many."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.met = threading.Event()
        self.in_flight = 0
        self.peak = 0

    def __call__(self, request: Any) -> str:
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            if self.in_flight >= 2:
                self.met.set()
        self.met.wait(2.0)
        time.sleep(0.02)  # let any request the agent should have held back arrive
        with self.lock:
            self.in_flight -= 1
        return fake.demo_responder(request)


def test_batch_keeps_order_and_bounds_concurrency(server: Any, sleeps: list[float]) -> None:
    server.responder = solver = _MeetingSolver()
    agent = make_agent(server, sleeps, concurrency=2)
    decisions = _gpoints_decisions(6)
    replies = agent.batch(decisions)
    assert len(replies) == 6 and all(_solves(reply, info) for reply, (_, info) in zip(replies, decisions))
    assert solver.peak == 2
    assert agent.batch([]) == []
    with pytest.raises(llm.LLMConfigError):
        agent.batch(decisions, concurrency=0)


def test_acall_runs_concurrently_within_the_limit(server: Any, sleeps: list[float]) -> None:
    # asyncio's default executor has more threads than this; the agent's own limit must hold.
    server.responder = solver = _MeetingSolver()
    agent = make_agent(server, sleeps, concurrency=2)
    decisions = _gpoints_decisions(6)

    async def run() -> list[str]:
        return await asyncio.gather(*(agent.acall(obs, info) for obs, info in decisions))

    replies = asyncio.run(run())
    assert all(_solves(reply, info) for reply, (_, info) in zip(replies, decisions))
    assert solver.peak == 2


# ---- failures and retries -------------------------------------------------------------------------------------


def test_retries_a_server_error_then_succeeds(server: Any, sleeps: list[float]) -> None:
    server.script([FakeResponse(500, {"error": {"message": "overloaded"}}), "fine"])
    agent = make_agent(server, sleeps)
    assert agent("hello", {}) == "fine"
    assert sleeps == [0.5] and len(server.requests) == 2
    assert server.requests[0].raw == server.requests[1].raw  # the same request again
    assert agent.usage["requests"] == 2 and agent.usage["retries"] == 1


def test_retry_after_is_honoured_and_capped(server: Any, sleeps: list[float]) -> None:
    server.script([FakeResponse(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "7"}),
                   FakeResponse(503, "maintenance"),
                   FakeResponse(429, "later", headers={"Retry-After": "3600"}),
                   "done"])
    agent = make_agent(server, sleeps, max_retries=3, max_backoff=20.0)
    assert agent("hello", {}) == "done"
    # Retry-After 7 s; then backoff 0.5 * 2**1; then Retry-After capped at max_backoff.
    assert sleeps == [7.0, 1.0, 20.0]


def test_retries_are_bounded(server: Any, sleeps: list[float]) -> None:
    server.script([FakeResponse(502, "bad gateway")] * 5)
    agent = make_agent(server, sleeps, max_retries=2)
    with pytest.raises(llm.LLMHTTPError) as caught:
        agent("hello", {})
    assert caught.value.status == 502 and "after 3 attempts" in str(caught.value)
    assert "bad gateway" in str(caught.value)
    assert len(server.requests) == 3 and sleeps == [0.5, 1.0]


def test_unauthorized_fails_at_once_without_leaking_the_key(server: Any, sleeps: list[float]) -> None:
    # Some gateways echo the key they rejected; the agent must not repeat it.
    echoed = f"Incorrect API key provided: {API_KEY}. " + "x" * 5000
    server.script([FakeResponse(401, {"error": {"message": echoed, "type": "invalid_request_error"}})])
    agent = make_agent(server, sleeps)
    with pytest.raises(llm.LLMHTTPError) as caught:
        agent("hello", {})
    error = caught.value
    assert server.requests[0].headers["Authorization"] == f"Bearer {API_KEY}"  # the key was really sent
    assert error.status == 401 and "HTTP 401" in str(error) and "Incorrect API key provided" in str(error)
    for text in (str(error), repr(error), error.body, repr(agent)):
        assert API_KEY not in text
    assert len(str(error)) < 1000  # truncated
    assert len(server.requests) == 1 and sleeps == []  # not retried
    assert isinstance(error, llm.LLMAgentError)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("<html><body>502 from the proxy</body></html>", "not JSON"),
        ({"object": "list", "data": []}, "no choices[0]"),
        ({"choices": []}, "no choices[0]"),
        ({"choices": [{"message": {"role": "assistant", "content": None}, "finish_reason": "length"}]},
         "content is NoneType"),
        ({"error": {"message": "model not loaded"}}, "reported an error"),
        ([1, 2, 3], "not a JSON object"),
    ],
)
def test_malformed_answers_raise_with_what_the_server_returned(
    server: Any, sleeps: list[float], body: Any, problem: str
) -> None:
    payload = body if isinstance(body, (dict, str)) else json.dumps(body)
    server.script([FakeResponse(200, payload)])
    agent = make_agent(server, sleeps)
    with pytest.raises(llm.LLMResponseError) as caught:
        agent("hello", {})
    shown = payload if isinstance(payload, str) else json.dumps(payload)
    assert problem in str(caught.value) and shown[:30] in str(caught.value)
    assert len(server.requests) == 1 and sleeps == []


def test_content_parts_are_joined(server: Any, sleeps: list[float]) -> None:
    parts = [{"type": "text", "text": '{"formula": '}, {"type": "text", "text": '"1+2+3*7"}'}]
    body = fake.chat_completion(None)
    body["choices"][0]["message"]["content"] = parts
    server.script([FakeResponse(200, body)])
    assert make_agent(server, sleeps)("hello", {}) == '{"formula": "1+2+3*7"}'


def test_a_timeout_is_not_retried_and_says_the_server_is_slow(server: Any, sleeps: list[float]) -> None:
    """A slow server (e.g. one request at a time, others queued) must not be sent the generation again: the
    error says it is running but slow, not "is the server running?"."""
    server.script([FakeResponse(200, fake.chat_completion("too late"), delay=2.0), "on time"])
    agent = make_agent(server, sleeps, timeout=0.3, max_retries=3)
    with pytest.raises(llm.LLMTimeoutError, match="accepted the request.*running but slow") as caught:
        agent("hello", {})
    assert "is the server running" not in str(caught.value) and API_KEY not in str(caught.value)
    assert isinstance(caught.value, llm.LLMConnectionError)  # still caught by handlers of the old error
    assert len(server.requests) == 1 and sleeps == []


def test_replies_carry_token_counts_and_the_agent_its_settings(server: Any, sleeps: list[float]) -> None:
    agent = make_agent(server, sleeps, temperature=0.7, max_tokens=64)
    reply = agent("hello", {})
    assert isinstance(reply, llm.ChatReply) and isinstance(reply, str)
    assert reply.usage["prompt_tokens"] == 10 and reply.usage["completion_tokens"] == 5
    assert reply.usage["seconds"] >= 0 and reply.usage["finish_reason"] == "stop"
    assert agent.config == {"model": "fake-model", "temperature": 0.7, "max_tokens": 64, "system_prompt": None,
                            "extra_body": {}}
    assert agent.provenance["endpoint"] == server.base_url + "/chat/completions"
    assert API_KEY not in json.dumps(agent.provenance) + json.dumps(agent.config)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), ("0.5", 0.5), ("-3", 0.0), ("soon", None), ("", None), (None, None),
     ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],  # a date in the past: retry now
)
def test_retry_after_header_parsing(header: str | None, seconds: float | None) -> None:
    assert llm._retry_after_seconds(header) == seconds


def test_not_found_hints_at_the_base_url(server: Any, sleeps: list[float]) -> None:
    agent = llm.OpenAIChatAgent("fake-model", server.base_url.removesuffix("/v1") + "/wrong", sleep=sleeps.append,
                                environ={})
    with pytest.raises(llm.LLMHTTPError, match="HTTP 404.*end in /v1") as caught:
        agent("hello", {})
    assert caught.value.status == 404 and sleeps == []


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_server_that_is_down_fails_at_once(sleeps: list[float]) -> None:
    agent = llm.OpenAIChatAgent("fake-model", f"http://127.0.0.1:{_free_port()}/v1", max_retries=2,
                                backoff=0.25, sleep=sleeps.append, timeout=2.0, environ={})
    with pytest.raises(llm.LLMConnectionError, match="nothing answers at .*is the server running") as caught:
        agent("hello", {})
    assert not isinstance(caught.value, llm.LLMTimeoutError) and sleeps == []


def test_connection_refused_after_the_server_answered_is_retried(sleeps: list[float]) -> None:
    """A server that answered before and now refuses is probably restarting: retry with backoff."""
    with fake.FakeChatServer(fake.demo_responder) as running:
        agent = llm.OpenAIChatAgent("fake-model", running.base_url, max_retries=2, backoff=0.25,
                                    sleep=sleeps.append, timeout=2.0, environ={})
        agent("hello", {})
    with pytest.raises(llm.LLMConnectionError, match="after 3 attempts"):
        agent("hello", {})
    assert sleeps == [0.25, 0.5]


def test_a_local_server_is_reached_past_a_proxy_setting(
    server: Any, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    dead_proxy = f"http://127.0.0.1:{_free_port()}"
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, dead_proxy)
    server.script(["direct"])
    assert make_agent(server, sleeps, max_retries=0)("hello", {}) == "direct"


# ---- configuration and messages -------------------------------------------------------------------------------


def test_configuration_comes_from_the_environment_and_arguments_win() -> None:
    environ = {"OPENAI_BASE_URL": "http://127.0.0.1:9999/v1/", "OPENAI_MODEL": "env-model",
               "OPENAI_API_KEY": API_KEY}
    agent = llm.OpenAIChatAgent(environ=environ)
    assert (agent.model, agent.base_url, agent.url) == (
        "env-model", "http://127.0.0.1:9999/v1", "http://127.0.0.1:9999/v1/chat/completions")
    assert API_KEY not in repr(agent) and "api_key=set" in repr(agent)
    agent = llm.OpenAIChatAgent("arg-model", "https://api.example.invalid/v1", "other", environ=environ)
    assert (agent.model, agent.base_url) == ("arg-model", "https://api.example.invalid/v1")
    assert llm.OpenAIChatAgent(environ={"OPENAI_MODEL": "m"}).base_url == llm.DEFAULT_BASE_URL


def test_os_environ_is_read_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_MODEL", "from-os-environ")
    assert llm.OpenAIChatAgent().model == "from-os-environ"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "OPENAI_MODEL"),
        ({"model": "m", "base_url": "127.0.0.1:8000/v1"}, "http"),
        ({"model": "m", "max_retries": -1}, "max_retries"),
        ({"model": "m", "concurrency": 0}, "concurrency"),
        ({"model": "m", "timeout": 0}, "timeout"),
        ({"model": "m", "max_tokens": 0}, "max_tokens"),
    ],
)
def test_bad_configuration_is_a_clear_error(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(llm.LLMConfigError, match=match):
        llm.OpenAIChatAgent(environ={}, **kwargs)


def test_build_messages_copies_and_adds_system_prompt_and_image() -> None:
    info = {"messages": [{"role": "user", "content": "prompt"}, {"role": "assistant", "content": "x"},
                         {"role": "user", "content": "[Feedback] no"}]}
    before = json.dumps(info)
    image = np.zeros((4, 6, 3), dtype=np.uint8)
    image[1, 2] = (255, 0, 0)
    messages = llm.build_messages({"text": "ignored", "image": image}, info, system_prompt="be brief")
    assert json.dumps(info) == before  # info untouched
    assert messages[0] == {"role": "system", "content": "be brief"}
    assert messages[1]["content"][0] == {"type": "text", "text": "prompt"}
    assert np.array_equal(_decode_data_url(_image_part(messages[1])["image_url"]["url"]), image)
    assert messages[2:] == info["messages"][1:]
    # Without info["messages"] the observation's text is the whole conversation.
    assert llm.build_messages("just text", {}) == [{"role": "user", "content": "just text"}]
    with pytest.raises(TypeError):
        llm.encode_png_data_url(np.zeros((4, 4, 3), dtype=np.float32))


def test_extra_body_and_settings_reach_the_server(server: Any, sleeps: list[float]) -> None:
    agent = make_agent(server, sleeps, temperature=0.7, max_tokens=64, system_prompt="sys",
                       extra_body={"top_p": 0.9, "seed": 1})
    agent("hello", {})
    body = server.requests[0].body
    assert body["temperature"] == 0.7 and body["max_tokens"] == 64 and body["top_p"] == 0.9 and body["seed"] == 1
    assert body["messages"] == [{"role": "system", "content": "sys"}, {"role": "user", "content": "hello"}]


# ---- command line ------------------------------------------------------------------------------------------------


def test_cli_plays_episodes_and_prints_verdicts(server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    status = llm.main(["--env", "GeneralPoints-v0", "--episodes", "2", "--seed", "0",
                       "--base-url", server.base_url, "--model", "fake-model", "--max-retries", "0"])
    out = capsys.readouterr().out
    assert status == 0
    assert out.count("correct") == 2 and "success 2/2" in out and "+5" in out
    assert len(server.requests) == 2


def test_cli_reports_an_endpoint_error(server: Any, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_MODEL", "fake-model")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    server.script([FakeResponse(401, {"error": {"message": f"bad key {API_KEY}"}})])
    assert llm.main(["--episodes", "1", "--max-retries", "0"]) == 1
    captured = capsys.readouterr()
    assert "HTTP 401" in captured.err and API_KEY not in captured.err + captured.out


def test_cli_without_a_model_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        llm.main(["--episodes", "1"])
    assert caught.value.code == 2 and "OPENAI_MODEL" in capsys.readouterr().err


def test_oracle_replies_check_against_the_solver() -> None:
    # The fake model's prompt reader must agree with the environment, or the end-to-end tests prove nothing.
    env = gym.make("GeneralPoints-RuleOOD-v0")
    for seed in range(20):
        _, info = env.reset(seed=seed)
        formula = fake.gpoints_solution_from_prompt(info["messages"][0]["content"])
        assert formula is not None
        assert check_answer(formula, info["numbers"], info["target"]).verdict is Verdict.CORRECT
    assert fake.gpoints_solution_from_prompt("no cards here") is None
    assert gpoints_env.ENV_IDS  # the ids the CLI can play
