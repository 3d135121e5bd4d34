"""A scripted stand-in for an OpenAI-compatible chat-completions server, on 127.0.0.1 only.

    python examples/fake_llm_server.py [--port 8000]

then, in another shell::

    OPENAI_MODEL=fake python examples/llm_agent.py --env GeneralPoints-v0 --episodes 3

Why it exists: the LLM agent (``examples/llm_agent.py``) must be testable end to end, through real HTTP,
without a GPU, a network or an API key. The "model" here is a plain Python function of the request
(:data:`Responder`); the tests pass their own, and the command line serves :func:`demo_responder`, which
solves GeneralPoints text prompts by reading the cards from the prompt and calling the exact solver, and
answers ``forward()`` to anything else. Every request is recorded so a test can check what reached the
server (the conversation, the image, the headers).

It is a test double, not a server to expose: it binds to loopback, trusts its input and has no limits
beyond a maximum request size.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Union

__all__ = [
    "FakeChatServer",
    "FakeResponse",
    "RecordedRequest",
    "Responder",
    "chat_completion",
    "demo_responder",
    "gpoints_solution_from_prompt",
    "message_text",
]

#: Largest request body accepted (a 1,200-pixel PNG in base64 is a few MB).
MAX_REQUEST_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it: what a test asserts on."""

    path: str
    headers: dict[str, str]
    body: Any  # the decoded JSON body, or None when it was not JSON
    raw: bytes

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages of the request (empty when there are none)."""
        return list(self.body.get("messages", [])) if isinstance(self.body, dict) else []


@dataclass(frozen=True)
class FakeResponse:
    """What the server sends back: a status, a body (``dict`` -> JSON, ``str``/``bytes`` -> as is),
    extra headers and an optional delay before answering (to provoke client timeouts)."""

    status: int = 200
    body: dict[str, Any] | str | bytes = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


#: The fake "model": a function of the request returning a reply text (sent as a 200 chat completion)
#: or a full :class:`FakeResponse` (errors, odd bodies, delays).
Responder = Callable[[RecordedRequest], Union[str, FakeResponse]]


def chat_completion(content: str | None, model: str = "fake-model") -> dict[str, Any]:
    """A chat-completions response body in the OpenAI format holding one assistant message."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def message_text(message: dict[str, Any]) -> str:
    """The text of a chat message whose content is a string or a list of content parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict)
                         and part.get("type") == "text")
    return ""


_CARDS = re.compile(r"\[Cards\]\n([^\n]+)")
_TARGET = re.compile(r"evaluates to exactly (\d+)")
_FACE_VALUE = re.compile(r"\b([AJQK]) counts as (\d+)")


def gpoints_solution_from_prompt(prompt: str) -> str | None:
    """Solve a GeneralPoints text-mode prompt the way a model must: from the prompt text alone.

    Reads the cards, the face-card values and the target from the prompt and asks the exact solver.
    Returns ``None`` when the prompt is not a text-mode GeneralPoints prompt (e.g. image mode, where the
    cards are only in the picture).
    """
    from gpoints_env import find_solution  # only this responder needs the package

    cards, target = _CARDS.search(prompt), _TARGET.search(prompt)
    if cards is None or target is None:
        return None
    values = {rank: int(value) for rank, value in _FACE_VALUE.findall(prompt)}
    try:
        numbers = [values[rank] if rank in values else int(rank) for rank in
                   (token.strip() for token in cards.group(1).split(","))]
    except ValueError:
        return None
    return find_solution(numbers, int(target.group(1)))


def demo_responder(request: RecordedRequest) -> str:
    """A fake model for demos: solves GeneralPoints text prompts, says ``forward()`` to anything else."""
    messages = request.messages
    first_user = next((message_text(m) for m in messages if m.get("role") == "user"), "")
    formula = gpoints_solution_from_prompt(first_user)
    if formula is not None:
        return json.dumps({"formula": formula})
    return json.dumps({"action": "forward()"})


class FakeChatServer:
    """A chat-completions server on ``127.0.0.1`` in a background thread, answered by a Python function.

    Use as a context manager::

        with FakeChatServer(lambda request: '{"formula": "1+2+3*6"}') as server:
            agent = OpenAIChatAgent(model="fake", base_url=server.base_url)

    Responses queued with :meth:`script` are sent first, in order (e.g. a 500 then a normal answer); when the
    queue is empty the responder answers. ``requests`` lists every request received, in arrival order.
    """

    def __init__(self, responder: Responder = demo_responder, host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the fake server binds to loopback only, got host {host!r}")
        self.responder = responder
        self.requests: list[RecordedRequest] = []
        self._queue: deque[FakeResponse | str] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        # A client that timed out has closed its socket; the late write fails, and that is expected here.
        self._httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """The ``/v1`` base URL to give an OpenAI-compatible client."""
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, responses: Iterable[FakeResponse | str]) -> None:
        """Queue responses to send before the responder is asked again."""
        with self._lock:
            self._queue.extend(responses)

    def start(self) -> FakeChatServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="fake-chat-server", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; wakes handlers still waiting out a delay."""
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> FakeChatServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---- request handling ------------------------------------------------------------------------------

    def _respond(self, request: RecordedRequest) -> FakeResponse:
        with self._lock:
            self.requests.append(request)
            queued = self._queue.popleft() if self._queue else None
        answer = queued if queued is not None else self.responder(request)
        if isinstance(answer, str):
            model = request.body.get("model", "fake-model") if isinstance(request.body, dict) else "fake-model"
            return FakeResponse(200, chat_completion(answer, model))
        return answer

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_REQUEST_BYTES:
                    self._send(FakeResponse(413, {"error": {"message": "request too large"}}))
                    return
                raw = self.rfile.read(length)
                if self.path.split("?")[0] != "/v1/chat/completions":
                    self._send(FakeResponse(404, {"error": {"message": f"no route {self.path}"}}))
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                request = RecordedRequest(self.path, dict(self.headers.items()), body, raw)
                try:
                    response = server._respond(request)
                except Exception as exc:  # a responder bug must reach the test as a 500, not hang it
                    response = FakeResponse(500, {"error": {"message": f"responder failed: {exc!r}"}})
                if response.delay > 0 and server._stopping.wait(response.delay):
                    return
                self._send(response)

            def _send(self, response: FakeResponse) -> None:
                body = response.body
                if isinstance(body, dict):
                    payload, kind = json.dumps(body).encode(), "application/json"
                elif isinstance(body, str):
                    payload, kind = body.encode(), "text/plain; charset=utf-8"
                else:
                    payload, kind = bytes(body), "application/octet-stream"
                self.send_response(response.status)
                headers = {"Content-Type": kind, **response.headers, "Content-Length": str(len(payload))}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
                pass  # keep test output clean

        return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake OpenAI-compatible chat model on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (0: any free port)")
    args = parser.parse_args(argv)
    server = FakeChatServer(demo_responder, port=args.port)
    print(f"fake chat-completions server at {server.base_url} (Ctrl-C to stop)", flush=True)
    server.start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
