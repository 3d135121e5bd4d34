"""An agent for any OpenAI-compatible chat-completions endpoint (vLLM, llama.cpp, Ollama, hosted APIs).

    OPENAI_MODEL=Qwen/Qwen2.5-7B-Instruct python examples/llm_agent.py --env GeneralPoints-v0 --episodes 3 --seed 0

The agent is a callable ``(observation, info) -> reply``, the interface every agent of this suite has. It
sends ``info["messages"]`` (the prompt, the model's earlier replies and the environment's feedback) to
``POST {base_url}/chat/completions`` and returns ``choices[0].message.content`` unchanged: the environment,
not the agent, reads the reply, so a model is judged on exactly what it wrote. In image mode (an observation
``{"image": ..., "text": ...}``) the first user message also carries the current image as a PNG data URL.

Configuration comes from the environment, as for the official OpenAI clients, and can be overridden by
constructor arguments or command-line flags:

* ``OPENAI_BASE_URL`` (default ``http://127.0.0.1:8000/v1``, vLLM's default address),
* ``OPENAI_MODEL`` (required: the served model name),
* ``OPENAI_API_KEY`` (optional; local servers rarely need one).

Only the standard library talks HTTP (``urllib.request``), so the example adds no dependency; Pillow, which
the environments already need, encodes images.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import email.utils
import hashlib
import http.client
import io
import ipaddress
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Union

import numpy as np

__all__ = [
    "DEFAULT_BASE_URL",
    "LLMAgentError",
    "LLMConfigError",
    "LLMConnectionError",
    "LLMHTTPError",
    "LLMResponseError",
    "LLMTimeoutError",
    "ChatReply",
    "OpenAIChatAgent",
    "build_messages",
    "encode_png_data_url",
    "main",
    "play_episodes",
]

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
BASE_URL_VARIABLE = "OPENAI_BASE_URL"
MODEL_VARIABLE = "OPENAI_MODEL"
API_KEY_VARIABLE = "OPENAI_API_KEY"
#: HTTP statuses worth retrying: the request timed out, the server is rate limiting, or it failed on its side.
RETRY_STATUSES = frozenset({408, 429})
#: Characters of a server's answer quoted in an error message: enough to see the reason, not a whole page.
MAX_QUOTED_CHARS = 500
#: Largest response body read; a chat completion is a few kB, anything bigger is not one.
MAX_RESPONSE_BYTES = 16 * 1024 * 1024

#: What to check first after a non-retryable error, by status.
_HINTS = {
    401: f" (check {API_KEY_VARIABLE} / --api-key)",
    403: f" (check {API_KEY_VARIABLE} / --api-key and the model's access rights)",
    404: " (check the base URL: most servers want it to end in /v1, and the model name)",
}

Observation = Union[str, Mapping[str, Any]]
Message = dict[str, Any]


class LLMAgentError(RuntimeError):
    """Base class of every error the agent raises: catch this to handle any endpoint failure."""


class LLMConfigError(LLMAgentError, ValueError):
    """The agent is misconfigured (no model name, a malformed base URL, a bad setting)."""


class LLMHTTPError(LLMAgentError):
    """The server answered with an HTTP error that is not retryable, or still failed after every retry.

    Attributes:
        status: The HTTP status code.
        body: The start of the response body (at most :data:`MAX_QUOTED_CHARS` characters, key redacted).
    """

    def __init__(self, message: str, status: int, body: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class LLMConnectionError(LLMAgentError):
    """The server could not be reached (refused, unreachable, connection dropped), after every retry."""


class LLMTimeoutError(LLMConnectionError):
    """The server accepted the request but sent no answer within the timeout: it is running, but slow.

    Not retried: sending the same generation again would only queue a second copy behind the first.
    """


class ChatReply(str):
    """The reply text, as a ``str``, carrying what the server reported about it.

    Attributes:
        usage: ``{"prompt_tokens": int, "completion_tokens": int}`` when the server reported them (else empty),
            plus ``"seconds"`` (the request's wall time) and ``"finish_reason"``. The ``sftrl_eval`` harness
            records the token counts with each reply.
    """

    usage: dict[str, Any]

    def __new__(cls, text: str, usage: Mapping[str, Any] | None = None) -> ChatReply:
        reply = super().__new__(cls, text)
        reply.usage = dict(usage or {})
        return reply


class LLMResponseError(LLMAgentError):
    """The server answered 200 but not with a chat completion holding a text reply.

    Attributes:
        body: The start of the response body (at most :data:`MAX_QUOTED_CHARS` characters, key redacted).
    """

    def __init__(self, message: str, body: str) -> None:
        super().__init__(message)
        self.body = body


# ---- building requests -----------------------------------------------------------------------------------


def encode_png_data_url(image: np.ndarray) -> str:
    """Encode an ``HxWx3`` (or ``HxW``, ``HxWx4``) ``uint8`` image as a ``data:image/png;base64,...`` URL.

    PNG because it is lossless: a JPEG's artefacts would blur the small card ranks and sign letters the
    benchmark asks the model to read, and would make the perception score depend on the codec.

    Raises:
        TypeError: If ``image`` is not a ``uint8`` array of a supported shape.
    """
    from PIL import Image

    array = np.asarray(image)
    if array.dtype != np.uint8 or not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise TypeError(f"the image must be a uint8 HxW, HxWx3 or HxWx4 array, got {array.dtype} {array.shape}")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _observation_text(observation: Observation) -> str:
    if isinstance(observation, str):
        return observation
    if isinstance(observation, Mapping) and isinstance(observation.get("text"), str):
        return observation["text"]
    raise TypeError(f"the observation must be a str or a dict with a 'text' str, got {type(observation).__name__}")


def build_messages(
    observation: Observation,
    info: Mapping[str, Any],
    *,
    system_prompt: str | None = None,
    image_url: str | None = None,
) -> list[Message]:
    """The chat messages to send for one decision.

    The conversation is ``info["messages"]`` when the environment gives it (all environments of this suite
    do): it already holds the prompt, the earlier replies and the feedback, so the model sees its mistakes on
    a retry. V-IRL starts a new conversation at each point, and so does this function: it sends what ``info``
    holds and keeps no state, which is what makes one agent safe to share between concurrent episodes.
    Without ``info["messages"]`` the observation's text is the single user message.

    In image mode the first user message becomes a text part plus an ``image_url`` part holding the
    *current* observation's image. The first user message is the prompt the image belongs to, and since
    V-IRL's conversation restarts at each point, the image sent is always the view at the current point.

    Args:
        observation: The environment's observation: a prompt ``str`` or ``{"text": str, "image": array}``.
        info: The environment's info dict.
        system_prompt: An optional system message put first.
        image_url: The image as a data URL, when the caller has already encoded it (see
            :func:`encode_png_data_url`); encoded here otherwise.

    Returns:
        New message dicts (``info`` is never modified).
    """
    text = _observation_text(observation)
    source = info.get("messages") if isinstance(info, Mapping) else None
    if source:
        messages: list[Message] = [dict(message) for message in source]
    else:
        messages = [{"role": "user", "content": text}]
    image = observation.get("image") if isinstance(observation, Mapping) else None
    if image is not None:
        url = image_url if image_url is not None else encode_png_data_url(image)
        first = next((i for i, message in enumerate(messages) if message.get("role") == "user"), None)
        if first is None:
            messages.insert(0, {"role": "user", "content": text})
            first = 0
        content = messages[first].get("content")
        parts = list(content) if isinstance(content, list) else [{"type": "text", "text": str(content or "")}]
        messages[first] = {**messages[first],
                           "content": parts + [{"type": "image_url", "image_url": {"url": url}}]}
    if system_prompt:
        messages.insert(0, {"role": "system", "content": system_prompt})
    return messages


# ---- the agent -----------------------------------------------------------------------------------------------


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay seconds or an HTTP date); ``None`` if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


class OpenAIChatAgent:
    """Answer each observation by asking a chat model behind an OpenAI-compatible endpoint.

    A callable ``(observation, info) -> reply``. It keeps no per-episode state (the conversation comes from
    ``info``), so one agent can serve many episodes at once: :meth:`acall` for ``asyncio`` code and
    :meth:`batch` for a list of decisions run on a thread pool; at most ``concurrency`` requests are in
    flight at any time, whichever way it is called.

    Failures: a 408, a 429, a 5xx and a dropped connection are retried up to ``max_retries`` times, waiting
    ``backoff * 2**k`` seconds before retry ``k`` (at most ``max_backoff``), or what the server's
    ``Retry-After`` asks (also capped); so is a refused connection once the server has answered before (it may
    be restarting), while a server that has never answered fails at once (:class:`LLMConnectionError`: it is
    down or elsewhere). A request that gets no answer within ``timeout`` seconds raises
    :class:`LLMTimeoutError` at once: the server is up but slow, and resending the generation would only
    queue another copy. Delays are deterministic (no jitter) so runs
    are reproducible; pass ``sleep`` to observe or skip them. Other HTTP errors raise :class:`LLMHTTPError`
    at once, answers that are not chat completions :class:`LLMResponseError`, exhausted retries
    :class:`LLMHTTPError` or :class:`LLMConnectionError`. Messages quote what the server said (truncated)
    and never contain the API key.

    Args:
        model: The served model name; default ``$OPENAI_MODEL``. Required.
        base_url: The API root, e.g. ``http://127.0.0.1:8000/v1``; default ``$OPENAI_BASE_URL``, else
            :data:`DEFAULT_BASE_URL`. ``/chat/completions`` is appended.
        api_key: Sent as ``Authorization: Bearer ...`` when set; default ``$OPENAI_API_KEY``.
        temperature: Sampling temperature (0: greedy, for reproducible benchmarks).
        max_tokens: Longest reply; leave room for reasoning models' ``<think>`` blocks.
        timeout: Seconds to wait for the server's answer to one request (more precisely, for each socket
            operation: connecting, and each read; a server that does not stream sends nothing until the whole
            reply is generated). A timed-out request is not retried (see :class:`LLMTimeoutError`).
        max_retries: Retries after the first attempt (0: fail on the first error).
        backoff: Delay before the first retry, in seconds; doubles each retry.
        max_backoff: Cap on any single delay, including one asked for by ``Retry-After``.
        concurrency: Most requests in flight at once, and the default thread count of :meth:`batch`.
        system_prompt: An optional system message before the conversation. The paper's prompts need none.
        extra_body: More JSON fields for every request (``top_p``, ``seed``, ``stop``, vendor options).
        sleep: The function that waits between retries (tests pass a recorder).
        environ: Where to read the ``OPENAI_*`` variables; default ``os.environ``.
    """

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        concurrency: int = 4,
        system_prompt: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        environ = os.environ if environ is None else environ
        base_url = (base_url or environ.get(BASE_URL_VARIABLE) or DEFAULT_BASE_URL).rstrip("/")
        model = model or environ.get(MODEL_VARIABLE) or None
        if not model:
            raise LLMConfigError(
                f"no model name: set the {MODEL_VARIABLE} environment variable or pass model=... (--model); "
                f"your server lists its names at GET {base_url}/models"
            )
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise LLMConfigError(f"the base URL must be an http(s) URL such as {DEFAULT_BASE_URL}, got {base_url!r}")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise LLMConfigError(f"max_tokens must be a positive integer, got {max_tokens!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise LLMConfigError(f"max_retries must be an integer >= 0, got {max_retries!r}")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise LLMConfigError(f"concurrency must be a positive integer, got {concurrency!r}")
        for name, value in (("timeout", timeout), ("backoff", backoff), ("max_backoff", max_backoff)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
                raise LLMConfigError(f"{name} must be a number >= 0, got {value!r}")
        if timeout == 0:
            raise LLMConfigError("timeout must be > 0 (seconds per socket operation)")
        self.model = model
        #: The name benchmark results are filed under (the ``sftrl_eval`` harness reads ``agent.name``).
        self.name = model
        self.base_url = base_url
        self.url = base_url + "/chat/completions"
        self._api_key = api_key if api_key is not None else (environ.get(API_KEY_VARIABLE) or None)
        self.temperature = float(temperature)
        self.max_tokens = max_tokens
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.concurrency = concurrency
        self.system_prompt = system_prompt
        self.extra_body = dict(extra_body or {})
        self._sleep = sleep
        # A local server must be reached directly even when HTTP(S)_PROXY is set for the outside world.
        handlers = [urllib.request.ProxyHandler({})] if _is_loopback(parsed.hostname) else []
        self._opener = urllib.request.build_opener(*handlers)
        self._slots = threading.BoundedSemaphore(concurrency)
        self._lock = threading.Lock()
        self._image_cache: tuple[bytes, str] | None = None
        #: Running totals: requests sent (retries included), retries, and tokens the server reported.
        self.usage = {"requests": 0, "retries": 0, "prompt_tokens": 0, "completion_tokens": 0}
        self._reached = False  # whether the server ever answered (a refusal then means a restart, not "down")

    @property
    def config(self) -> dict[str, Any]:
        """What defines this agent's replies besides the model name (the harness refuses to mix results of
        different configurations): sampling settings, system prompt and extra request fields."""
        return {"model": self.model, "temperature": self.temperature, "max_tokens": self.max_tokens,
                "system_prompt": self.system_prompt, "extra_body": self.extra_body}

    @property
    def provenance(self) -> dict[str, Any]:
        """Where and how the replies were obtained (recorded with each run, never compared; no API key)."""
        return {"endpoint": self.url, "timeout": self.timeout, "max_retries": self.max_retries,
                "concurrency": self.concurrency}

    def __repr__(self) -> str:  # never shows the key
        key = "set" if self._api_key else "none"
        return f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r}, api_key={key})"

    # ---- the agent interface ---------------------------------------------------------------------------

    def __call__(self, observation: Observation, info: Mapping[str, Any]) -> str:
        """The model's reply to the current conversation (blocking)."""
        return self.complete(self.messages_for(observation, info))

    async def acall(self, observation: Observation, info: Mapping[str, Any]) -> str:
        """The same as calling the agent, without blocking the event loop (runs in a worker thread)."""
        return await asyncio.to_thread(self, observation, info)

    def batch(self, items: Sequence[tuple[Observation, Mapping[str, Any]]],
              concurrency: int | None = None) -> list[str]:
        """Replies to many ``(observation, info)`` pairs, in order, ``concurrency`` requests at a time.

        For evaluating many episodes at once (e.g. one decision from each of N vector-env copies). The first
        error raised by any request is raised here, after the requests already started have finished.
        """
        workers = self.concurrency if concurrency is None else concurrency
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise LLMConfigError(f"concurrency must be a positive integer, got {workers!r}")
        items = list(items)
        if not items:
            return []
        with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="llm-agent") as pool:
            return list(pool.map(lambda item: self(item[0], item[1]), items))

    # ---- pieces, public for other harnesses --------------------------------------------------------------

    def messages_for(self, observation: Observation, info: Mapping[str, Any]) -> list[Message]:
        """The messages :meth:`__call__` sends (see :func:`build_messages`)."""
        image = observation.get("image") if isinstance(observation, Mapping) else None
        url = None if image is None else self._image_url(image)
        return build_messages(observation, info, system_prompt=self.system_prompt, image_url=url)

    def request_body(self, messages: Sequence[Message]) -> dict[str, Any]:
        """The JSON body of a chat-completions request for ``messages``."""
        return {**self.extra_body, "model": self.model, "messages": list(messages),
                "temperature": self.temperature, "max_tokens": self.max_tokens}

    def complete(self, messages: Sequence[Message]) -> ChatReply:
        """Send ``messages`` and return the reply text, retrying transient failures.

        Raises:
            LLMHTTPError: A non-retryable HTTP error, or a retryable one on the last attempt.
            LLMTimeoutError: The server accepted the request but did not answer within ``timeout``.
            LLMConnectionError: The server cannot be reached (at once if it never answered, else after retries).
            LLMResponseError: A 200 answer that is not a chat completion with a text reply.
        """
        payload = json.dumps(self.request_body(messages)).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "User-Agent": "sftrl-llm-agent/0.1"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            request = urllib.request.Request(self.url, data=payload, headers=headers, method="POST")
            self._count("requests")
            if attempt:
                self._count("retries")
            started = time.perf_counter()
            try:
                with self._slots, self._opener.open(request, timeout=self.timeout) as response:
                    raw = response.read(MAX_RESPONSE_BYTES + 1)
            except urllib.error.HTTPError as error:
                self._reached = True
                status = error.code
                body = self._quote(self._read_error_body(error))
                retry_after = _retry_after_seconds(error.headers.get("Retry-After") if error.headers else None)
                error.close()
                retryable = status in RETRY_STATUSES or status >= 500
                if retryable and not last:
                    self._sleep(self._delay(attempt, retry_after))
                    continue
                tries = f" after {attempt + 1} attempts" if retryable else ""
                raise LLMHTTPError(f"POST {self.url} failed with HTTP {status}{tries} (model {self.model!r}); "
                                   f"the server said: {body or '(empty body)'}{_HINTS.get(status, '')}",
                                   status, body) from None
            except TimeoutError:
                # Raised bare (not as URLError) only after the request was sent: the server is up and busy.
                raise LLMTimeoutError(
                    f"the server at {self.base_url} accepted the request but sent no answer within "
                    f"{self.timeout:g} s (model {self.model!r}): it is running but slow (a long generation, or "
                    "requests queued behind others); raise the timeout (--timeout), lower max_tokens, or send "
                    "fewer requests at once (--concurrency)") from None
            except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
                reason = getattr(error, "reason", error)
                dropped = isinstance(error, (http.client.HTTPException, ConnectionResetError))
                if not last and (self._reached or dropped):
                    self._sleep(self._delay(attempt, None))
                    continue
                tries = f" after {attempt + 1} attempts" if attempt else ""
                what = (f"the connection to {self.base_url} was lost" if dropped
                        else f"nothing answers at {self.base_url}")
                raise LLMConnectionError(
                    f"{what}{tries} ({self._redact(f'{type(reason).__name__}: {reason}')}): is the server running "
                    "there? Start it, or fix the base URL (--base-url / " + BASE_URL_VARIABLE + ")") from None
            self._reached = True
            reply = self._parse(raw)
            reply.usage["seconds"] = round(time.perf_counter() - started, 6)
            return reply
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    # ---- helpers ---------------------------------------------------------------------------------------------

    def _image_url(self, image: np.ndarray) -> str:
        # A GeneralPoints episode shows one picture for up to five attempts: encode it once.
        array = np.ascontiguousarray(image)
        digest = hashlib.blake2b(array.tobytes(), digest_size=16)
        digest.update(repr((array.shape, array.dtype.str)).encode())
        key = digest.digest()
        with self._lock:
            if self._image_cache is not None and self._image_cache[0] == key:
                return self._image_cache[1]
        url = encode_png_data_url(array)
        with self._lock:
            self._image_cache = (key, url)
        return url

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        wanted = self.backoff * (2 ** attempt) if retry_after is None else retry_after
        return min(self.max_backoff, wanted)

    def _count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self.usage[name] += amount

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "[redacted]") if self._api_key else text

    def _quote(self, text: str) -> str:
        """A server's words, safe to put in an exception: key removed, one line, truncated."""
        text = self._redact(text).replace("\r", " ").replace("\n", " ").strip()
        if len(text) > MAX_QUOTED_CHARS:
            text = text[:MAX_QUOTED_CHARS] + f"... [{len(text) - MAX_QUOTED_CHARS} more characters]"
        return text

    @staticmethod
    def _read_error_body(error: urllib.error.HTTPError) -> str:
        try:
            return error.read(64 * 1024).decode("utf-8", errors="replace")
        except (OSError, http.client.HTTPException, AttributeError):
            return ""

    def _parse(self, raw: bytes) -> ChatReply:
        text = raw[:MAX_RESPONSE_BYTES].decode("utf-8", errors="replace")
        if len(raw) > MAX_RESPONSE_BYTES:
            raise LLMResponseError(f"the answer from {self.url} is larger than {MAX_RESPONSE_BYTES} bytes; "
                                   "not a chat completion", self._quote(text))

        def fail(problem: str) -> LLMResponseError:
            quoted = self._quote(text)
            return LLMResponseError(f"malformed chat completion from {self.url} (model {self.model!r}): "
                                    f"{problem}; the server returned: {quoted or '(empty body)'}", quoted)

        try:
            data = json.loads(text)
        except ValueError:
            raise fail("the body is not JSON") from None
        if not isinstance(data, dict):
            raise fail("the body is not a JSON object")
        if "error" in data and "choices" not in data:
            raise fail("the server reported an error")
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise fail("no choices[0]")
        message = choices[0].get("message")
        if not isinstance(message, dict):
            raise fail("no choices[0].message")
        content = message.get("content")
        if isinstance(content, list):  # some servers answer with content parts
            texts = [part.get("text") for part in content if isinstance(part, dict)]
            content = "".join(t for t in texts if isinstance(t, str)) if texts else None
        if not isinstance(content, str):
            reason = choices[0].get("finish_reason")
            raise fail(f"choices[0].message.content is {type(content).__name__}, not text "
                       f"(finish_reason {reason!r})")
        usage, counted = data.get("usage"), {}
        if isinstance(usage, dict):
            for name in ("prompt_tokens", "completion_tokens"):
                value = usage.get(name)
                if isinstance(value, int) and not isinstance(value, bool):
                    self._count(name, value)
                    counted[name] = value
        return ChatReply(content, {**counted, "finish_reason": choices[0].get("finish_reason")})


# ---- command line ------------------------------------------------------------------------------------------


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _verdict_name(verdict: Any) -> str:
    return str(getattr(verdict, "value", verdict))


def play_episodes(env_id: str, agent: Callable[[Observation, Mapping[str, Any]], str], episodes: int, seed: int,
                  *, env_kwargs: Mapping[str, Any] | None = None, max_steps: int = 500,
                  show_prompt: bool = False) -> list[dict[str, Any]]:
    """Play ``episodes`` seeded episodes, printing each reply, verdict and reward; return per-episode results.

    This is a quick look at a model, not a benchmark: use the ``sftrl_eval`` harness for fixed seed lists,
    resumable result files and summaries.
    """
    import gymnasium as gym

    import gpoints_env  # noqa: F401  (registers the GeneralPoints ids)
    import virl_env  # noqa: F401  (registers the V-IRL ids)

    env = gym.make(env_id, **dict(env_kwargs or {}))
    results = []
    try:
        for episode in range(episodes):
            obs, info = env.reset(seed=seed + episode)
            print(f"\nepisode {episode} (seed {seed + episode})")
            total, steps, done = 0.0, 0, False
            while not done and steps < max_steps:
                if show_prompt:
                    print("  prompt: " + _one_line(_observation_text(obs), 400))
                reply = agent(obs, info)
                obs, reward, terminated, truncated, info = env.step(reply)
                done = terminated or truncated
                steps += 1
                total += float(reward)
                print(f"  step {steps:>3}  {_verdict_name(info.get('verdict')):<17} {reward:+5g}  "
                      f"reply: {_one_line(reply)}")
            success = bool(info.get("is_success"))
            print(f"  -> {'success' if success else 'failure'}, return {total:+g}, {steps} steps"
                  + ("" if done else f" (stopped at --max-steps {max_steps})"))
            results.append({"episode": episode, "seed": seed + episode, "success": success,
                            "return": total, "steps": steps})
    finally:
        env.close()
    return results


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Play a few episodes with a chat model behind an OpenAI-compatible endpoint.",
        epilog=f"Environment: {BASE_URL_VARIABLE} (default {DEFAULT_BASE_URL}), {MODEL_VARIABLE} (required unless "
               f"--model), {API_KEY_VARIABLE} (optional).")
    parser.add_argument("--env", default="GeneralPoints-v0", help="environment id (default GeneralPoints-v0)")
    parser.add_argument("--episodes", type=int, default=3, help="episodes to play (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode; episode k uses seed+k")
    parser.add_argument("--base-url", help=f"API root (default ${BASE_URL_VARIABLE} or {DEFAULT_BASE_URL})")
    parser.add_argument("--model", help=f"model name (default ${MODEL_VARIABLE})")
    parser.add_argument("--api-key", help=f"API key (default ${API_KEY_VARIABLE}; prefer the variable: "
                                          "flags show up in process lists)")
    parser.add_argument("--temperature", type=float, default=0.0,
                        help="sampling temperature (default 0: greedy, reproducible)")
    parser.add_argument("--max-tokens", type=int, default=1024,
                        help="longest reply in tokens (default 1024; leave room for <think> blocks)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to wait for the answer to one request (default 60); a slow server is "
                             "reported as slow, not down")
    parser.add_argument("--max-retries", type=int, default=4,
                        help="retries after an HTTP 408/429/5xx or a dropped connection (default 4; a timed-out "
                             "request is never retried)")
    parser.add_argument("--system-prompt", help="an optional system message")
    parser.add_argument("--env-kwargs", type=json.loads, default={},
                        help='JSON keyword arguments for gym.make, e.g. \'{"resolution": 256}\'')
    parser.add_argument("--max-steps", type=int, default=500, help="stop an episode after this many steps")
    parser.add_argument("--show-prompt", action="store_true", help="print each prompt (shortened)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 endpoint error, 2 usage error)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.episodes < 1 or args.max_steps < 1:
        parser.error("--episodes and --max-steps must be positive")
    if not isinstance(args.env_kwargs, dict):
        parser.error("--env-kwargs must be a JSON object")
    try:
        agent = OpenAIChatAgent(args.model, args.base_url, args.api_key, temperature=args.temperature,
                                max_tokens=args.max_tokens, timeout=args.timeout, max_retries=args.max_retries,
                                system_prompt=args.system_prompt)
    except LLMConfigError as error:
        parser.error(str(error))
    print(f"{args.env}: {args.episodes} episodes from seed {args.seed}, model {agent.model!r} at {agent.base_url}")
    try:
        results = play_episodes(args.env, agent, args.episodes, args.seed, env_kwargs=args.env_kwargs,
                                max_steps=args.max_steps, show_prompt=args.show_prompt)
    except LLMAgentError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    wins = sum(result["success"] for result in results)
    mean_return = sum(result["return"] for result in results) / len(results)
    print(f"\nsuccess {wins}/{len(results)} ({100 * wins / len(results):.0f}%), mean return {mean_return:+.2f}, "
          f"{agent.usage['requests']} requests ({agent.usage['retries']} retries), "
          f"{agent.usage['prompt_tokens']} prompt + {agent.usage['completion_tokens']} completion tokens")
    return 0


if __name__ == "__main__":
    sys.exit(main())
