"""What the tests of the standards (OpenEnv, Inspect, verifiers) share: scripted model replies and the harness's numbers
for them (issue 20, item 4: the same replies give the same success, return and per-step accuracy everywhere).

The scripted model is a function of what it is shown: :func:`scripted_reply` reads a conversation (chat messages in
the harness's, the session's or OpenAI's form, pictures as arrays, PIL images or PNG data URLs), keys it by its
roles, texts and pictures' pixels (:func:`conversation_key`) and answers from a table. The table is made by playing
each :class:`Case`'s episodes as the harness does (:class:`sftrl_eval.EpisodeList`), answering each decision with the
env's expert reply or :data:`WRONG_REPLY` (one decision in four, chosen by the key, and every decision of one
GeneralPoints hand in four); so episodes succeed at once, after retries, or fail. A conversation the table lacks gets :data:`UNKNOWN_REPLY` (counted in
:data:`UNKNOWN_CALLS`), so a standard that shows the model something else scores differently and fails its test.

:func:`harness_numbers` plays the same replies through ``sftrl_eval.evaluate`` and gives the figures every standard
must reproduce; :func:`numbers_of` computes the same figures from per-episode results; :func:`scripted_server` serves
the scripted model as an OpenAI-compatible chat server on 127.0.0.1 (``examples/fake_llm_server.py``).

Keep the names here stable: the tests of each standard import them.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.util
import io
import math
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]

__all__ = [
    "CASES",
    "Case",
    "EpisodeResult",
    "UNKNOWN_CALLS",
    "UNKNOWN_REPLY",
    "WRONG_REPLY",
    "ScriptedAgent",
    "assert_same_numbers",
    "case",
    "conversation_key",
    "harness_numbers",
    "load_fake_server",
    "numbers_of",
    "scripted_reply",
    "scripted_server",
]

#: The reply the script gives where it answers wrongly: no answer at all (every protocol reads it as unparseable).
WRONG_REPLY = "I am not sure."
#: The reply to a conversation the table does not know (a standard showed the model something the harness does not).
UNKNOWN_REPLY = "(a conversation the script does not know)"
#: Every conversation answered with UNKNOWN_REPLY, as its key (a test may assert it stays empty).
UNKNOWN_CALLS: list[str] = []


@dataclass(frozen=True)
class Case:
    """Episodes ``0 .. episodes-1`` of a paper setting under a protocol, as the harness numbers them."""

    setting: str
    protocol: str
    episodes: int

    @property
    def id(self) -> str:
        return f"{self.setting}-{self.protocol}-{self.episodes}"


#: The cases the standards play: both games, text and image, both protocols. The first two are the commands of
#: docs/inspect.md (its --limit), the rest what the tests add.
CASES: tuple[Case, ...] = (
    Case("GP-L-RuleOOD", "paper", 10),
    Case("VIRL-VL", "paper", 2),
    Case("GP-L", "suite", 6),
    Case("GP-VL", "suite", 4),
    Case("GP-VL", "paper", 4),
    Case("VIRL-L", "suite", 3),
    Case("VIRL-L", "paper", 3),
    Case("VIRL-VL", "suite", 2),
)


def case(setting: str, protocol: str) -> Case:
    """The case of ``setting`` under ``protocol``."""
    for item in CASES:
        if item.setting == setting and item.protocol == protocol:
            return item
    raise KeyError(f"no case {setting} under {protocol}")


# ---- what the model is shown ---------------------------------------------------------------------------------


def _pixels(picture: Any) -> bytes:
    """A picture's digest by its pixels: an HWC array, a PIL image, or a PNG/JPEG data URL (or base64 text)."""
    if isinstance(picture, str):
        payload = picture.split(",", 1)[1] if picture.startswith("data:") else picture
        picture = Image.open(io.BytesIO(base64.b64decode(payload)))
    if isinstance(picture, Image.Image):
        picture = np.asarray(picture.convert("RGB"))
    array = np.ascontiguousarray(np.asarray(picture, dtype=np.uint8))
    return hashlib.sha256(repr(array.shape).encode() + array.tobytes()).digest()


def conversation_key(messages: Sequence[Mapping[str, Any]], images: Iterable[Any] = ()) -> str:
    """The key of a conversation: its roles and texts, in order, and its pictures' pixels, in order.

    ``messages`` may hold text contents or content parts (``{"type": "text"}``, ``{"type": "image", "image": ...}``,
    OpenAI's ``{"type": "image_url", "image_url": {"url": ...}}``); ``images`` adds pictures shown beside them (the
    harness's observation image). Texts of a message's parts are joined without a separator.
    """
    digest = hashlib.sha256()
    pictures = list(images)
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            text = content
        else:
            text = ""
            for part in content or ():
                kind = part.get("type")
                if kind == "text":
                    text += part.get("text") or ""
                elif kind == "image":
                    pictures.append(part["image"])
                elif kind == "image_url":
                    url = part["image_url"]
                    pictures.append(url["url"] if isinstance(url, Mapping) else url)
        digest.update(f"{message.get('role')}\x00{text}\x01".encode())
    for picture in pictures:
        digest.update(_pixels(picture))
    return digest.hexdigest()


# ---- the script ----------------------------------------------------------------------------------------------


def _answers_wrongly(key: str, game_walks_routes: bool, index: int) -> bool:
    """Whether the script answers this decision wrongly: one in four decisions (by the key), and every decision of
    one GeneralPoints hand in four (by its index), so that some hands fail."""
    return int(key[:8], 16) % 4 == 0 or (not game_walks_routes and index % 4 == 3)


def _make_env(setting: Any, protocol: str) -> gym.Env:
    from sftrl_core.registry import DEFAULT_PROTOCOL

    return gym.make(setting.env_id, **setting.env_kwargs,
                    **({} if protocol == DEFAULT_PROTOCOL else {"protocol": protocol}))


@functools.lru_cache(maxsize=None)
def _table() -> dict[str, str]:
    """Every case's conversations, each with its scripted reply (built once per process)."""
    from sftrl_eval import EpisodeList, get_setting
    from sftrl_train import EpisodeSession

    table: dict[str, str] = {}
    for item in CASES:
        setting = get_setting(item.setting)
        episodes = EpisodeList(setting, item.protocol)
        env = _make_env(setting, item.protocol)
        try:
            for index in range(item.episodes):
                seed, options = episodes.reset_args(index, env)
                session = EpisodeSession.from_env(env, seed=seed, options=options)
                while not session.done:
                    key = conversation_key(session.messages)
                    wrong = _answers_wrongly(key, setting.game.walks_routes, index)
                    reply = WRONG_REPLY if wrong else session.expert_reply()
                    if table.setdefault(key, reply) != reply:
                        raise AssertionError(f"{item.id} episode {index}: two different states show the model the same "
                                             "conversation; the script cannot tell them apart")
                    session.reply(reply)
        finally:
            env.close()
    return table


def scripted_reply(messages: Sequence[Mapping[str, Any]], images: Iterable[Any] = ()) -> str:
    """The scripted model's reply to a conversation (see the module docstring)."""
    key = conversation_key(messages, images)
    reply = _table().get(key)
    if reply is None:
        UNKNOWN_CALLS.append(key)
        return UNKNOWN_REPLY
    return reply


class ScriptedAgent:
    """The scripted model as a harness agent: ``(observation, info) -> reply`` on ``info["messages"]`` and the
    observation's picture."""

    name = "scripted"

    def __call__(self, observation: Any, info: Mapping[str, Any]) -> str:
        images = [observation["image"]] if isinstance(observation, Mapping) else []
        return scripted_reply(info["messages"], images)


# ---- the numbers ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EpisodeResult:
    """One finished episode as any standard reports it: success, return and (V-IRL) the per-step counts."""

    success: bool
    episode_return: float
    correct_steps: int | None = None
    step_calls: int | None = None


def numbers_of(results: Sequence[EpisodeResult]) -> dict[str, Any]:
    """The figures of a run, as the harness's summary computes them: success rate and its binomial standard error,
    mean return, per-step accuracy pooled over the episodes' steps and its standard error (``None`` without step
    counts), and the per-episode successes and returns."""
    n = len(results)
    rate = sum(r.success for r in results) / n
    counted = [r for r in results if r.step_calls is not None]
    calls = sum(r.step_calls for r in counted)
    step = sum(r.correct_steps for r in counted) / calls if counted and calls else None
    return {
        "episodes": n,
        "success_rate": rate,
        "success_stderr": math.sqrt(rate * (1 - rate) / n),
        "mean_return": sum(r.episode_return for r in results) / n,
        "per_step_accuracy": step,
        "per_step_stderr": None if step is None else math.sqrt(step * (1 - step) / calls),
        "successes": [bool(r.success) for r in results],
        "returns": [float(r.episode_return) for r in results],
    }


@functools.lru_cache(maxsize=None)
def _harness_numbers(setting: str, protocol: str, episodes: int) -> dict[str, Any]:
    from sftrl_eval import evaluate, load_records

    with tempfile.TemporaryDirectory() as out:
        summary = evaluate(ScriptedAgent(), setting, episodes=episodes, out_dir=out, progress=False, protocol=protocol)
        records = load_records(Path(out) / f"{summary['setting']}.jsonl")
    records.sort(key=lambda r: r["index"])
    returns = [float(r["return"]) for r in records]
    return {
        "episodes": summary["episodes"],
        "success_rate": summary["success_rate"],
        "success_stderr": summary["success_stderr"],
        "mean_return": sum(returns) / len(returns),
        "per_step_accuracy": summary["per_step_accuracy"],
        "per_step_stderr": summary["per_step_stderr"],
        "successes": [bool(r["success"]) for r in records],
        "returns": returns,
    }


def harness_numbers(item: Case) -> dict[str, Any]:
    """The harness's figures for a case's episodes played with the scripted replies (``sftrl_eval.evaluate``); the
    keys of :func:`numbers_of`."""
    return dict(_harness_numbers(item.setting, item.protocol, item.episodes))


def assert_same_numbers(found: Mapping[str, Any], expected: Mapping[str, Any], where: str = "") -> None:
    """``found`` gives ``expected``'s figures (floats to 1e-9), for every key of ``expected`` that ``found`` has."""
    for key, value in expected.items():
        if key not in found:
            continue
        got = found[key]
        if isinstance(value, float) or isinstance(got, float):
            assert (got is None) == (value is None) and (value is None or math.isclose(got, value, abs_tol=1e-9)), \
                f"{where} {key}: {got!r} != harness {value!r}"
        else:
            assert got == value, f"{where} {key}: {got!r} != harness {value!r}"


# ---- the scripted model served over HTTP -------------------------------------------------------------------


def load_fake_server() -> Any:
    """``examples/fake_llm_server.py`` as a module (``examples/`` is not a package)."""
    name = "fake_llm_server"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "examples" / "fake_llm_server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@contextmanager
def scripted_server() -> Iterator[Any]:
    """The scripted model as an OpenAI-compatible chat-completions server on 127.0.0.1 (``.base_url`` ends in
    ``/v1``); its ``requests`` list what it was sent."""
    _table()  # build the table before the first request arrives
    fake = load_fake_server()
    with fake.FakeChatServer(lambda request: scripted_reply(request.messages)) as server:
        yield server
