"""OpenRLHF glue: a reward function and a multi-turn agent executor, in one file OpenRLHF can load by path.

OpenRLHF loads user code from a Python file: pass this module's file (``python -c "import sftrl_train.openrlhf as m;
print(m.__file__)"``) as ``--train.agent_func_path`` for multi-turn training (it reads ``AgentExecutor``) or as
``--reward.remote_url`` for single-turn rewards (it reads ``reward_func``). Rows come from
:mod:`sftrl_train.datasets` (``--data.prompt_dataset rows.jsonl --data.input_key prompt --data.label_key label
--data.apply_chat_template``): the ``label`` column carries the
episode spec, every grading input in one string.

Multi-turn: the executor plays each row's whole episode on-policy (a GeneralPoints hand; a whole V-IRL route from
``rl_rows(..., whole_routes=True)``): each reply the engine generates is played in an
:class:`~sftrl_train.episodes.EpisodeSession` of the spec, and while the episode goes on the next user turn (the
env's feedback, or the route's next prompt with its street views) follows. Each step returns the turn's reward
(OpenRLHF sums them into the sample's reward), success as the score, and the episode's ``return``, ``success``,
``step_accuracy`` and ``turns`` as extra logs. OpenRLHF's ``step()`` does not see how the reply ended, so the
executor watches the engine's output: when the model stopped on its end-of-turn token, the next turn does not
repeat that token; when the reply was cut by the length limit, the next turn closes it first
(:func:`sftrl_train.chat.turn_suffix`, which reads both from the tokenizer's chat template).

This file imports with absolute imports only, because OpenRLHF loads it as a top-level module.
"""

from __future__ import annotations

import contextvars
from typing import Any

from sftrl_train.chat import turn_suffix
from sftrl_train.datasets import require
from sftrl_train.episodes import EpisodeSession
from sftrl_train.rewards import openrlhf_reward_func as reward_func

# AgentExecutor is public too, but built on first access (it subclasses OpenRLHF's class), so it stays out of
# __all__: a star import must not need OpenRLHF.
__all__ = ["reward_func"]


class _RecordingEngine:
    """Passes generation through to OpenRLHF's engine and keeps the last output, whose finish reason and token ids
    ``step()`` is not given."""

    def __init__(self, engine: Any):
        self._engine = engine
        self.last: Any = None

    async def generate(self, *args: Any, **kwargs: Any) -> Any:
        self.last = await self._engine.generate(*args, **kwargs)
        return self.last

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


class _Call:
    """What one ``execute`` call's episode needs in ``step()``. (A plain class: a dataclass needs its module in
    ``sys.modules``, and OpenRLHF's loader does not put it there.)"""

    __slots__ = ("tokenizer", "engine", "images")

    def __init__(self, tokenizer: Any, engine: _RecordingEngine, images: list[Any] | None):
        self.tokenizer, self.engine, self.images = tokenizer, engine, images


# The executor runs many prompts concurrently as asyncio tasks; each task sees its own call through this variable.
_CALL: contextvars.ContextVar[_Call] = contextvars.ContextVar("sftrl_openrlhf_call")


def _stop_text(tokenizer: Any, output: Any) -> str | None:
    """The text of the special token the reply stopped on, or ``None`` when it was cut or stopped otherwise."""
    if output is None or getattr(output, "finish_reason", None) != "stop" or not output.token_ids:
        return None
    last = output.token_ids[-1]
    if last not in set(getattr(tokenizer, "all_special_ids", ())):
        return None
    return tokenizer.decode([last])


def _build_executor() -> type:
    agent = require("openrlhf.utils.agent", "openrlhf", "AgentExecutor")
    import torch

    class SpecAgentInstance(agent.AgentInstanceBase):
        """One episode: an :class:`~sftrl_train.episodes.EpisodeSession` of the row's spec (the ``label``)."""

        def __init__(self, *args: Any, **kwargs: Any):
            self._call = _CALL.get()
            self._episode: EpisodeSession | None = None

        async def reset(self, states: dict, **kwargs: Any) -> dict:
            self._episode = EpisodeSession(states["label"], images=self._call.images)
            return {"observation": states["observation"]}

        async def step(self, states: dict, **kwargs: Any) -> dict[str, Any]:
            episode = self._episode
            turn = episode.reply(states["action_text"])
            feedback, pictures = "", []
            if not turn.done:
                last = self._call.engine.last
                output = last.outputs[0] if last is not None else None
                feedback = turn_suffix(self._call.tokenizer, turn.next_messages,
                                       _stop_text(self._call.tokenizer, output))
                pictures = [part["image"] for m in turn.next_messages if isinstance(m["content"], list)
                            for part in m["content"] if part.get("type") == "image" and part.get("image") is not None]
            figures = episode.metrics()
            success = torch.tensor(figures["success"])
            result = {
                "rewards": torch.tensor(float(turn.reward)),  # the per-turn reward; OpenRLHF sums them
                "scores": success,
                "environment_feedback": feedback,
                "done": turn.done,
                "sampling_params": states.get("sampling_params"),
                "extra_logs": {name: torch.tensor(value) for name, value in figures.items()},
            }
            if pictures:
                result["environment_images"] = pictures
            return result

    class AgentExecutor(agent.MultiTurnAgentExecutor):
        """OpenRLHF agent executor over the suite's whole episodes (``--train.agent_func_path`` this file).

        For a whole V-IRL image route (``--data.image_key point_images``: every rail point's street views), the
        prompt gets the first point's picture and each later point's picture comes with its turn."""

        def __init__(self) -> None:
            super().__init__(SpecAgentInstance)

        async def execute(self, prompt: Any, label: Any, sampling_params: Any, max_length: int, hf_tokenizer: Any,
                          llm_engine: Any, images: Any = None) -> dict[str, Any]:
            engine = _RecordingEngine(llm_engine)
            pictures = _pictures(images)
            token = _CALL.set(_Call(hf_tokenizer, engine, pictures))
            try:
                return await super().execute(prompt, label, sampling_params, max_length, hf_tokenizer, engine,
                                             images=pictures[:1] if pictures else images)
            finally:
                _CALL.reset(token)

    for cls in (SpecAgentInstance, AgentExecutor):
        cls.__module__, cls.__qualname__ = __name__, cls.__name__
    return AgentExecutor


def _pictures(images: Any) -> list[Any] | None:
    """The row's pictures as ``PIL`` images (OpenRLHF passes paths, data URLs, bytes or images), or ``None``."""
    if not images:
        return None
    from openrlhf.utils.vlm_utils import load_images

    return load_images(images)


_BUILT: dict[str, type] = {}


def __getattr__(name: str) -> type:
    # Built on first access (OpenRLHF reads ``module.AgentExecutor``), so that this module imports without OpenRLHF.
    if name != "AgentExecutor":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in _BUILT:
        _BUILT[name] = _build_executor()
    return _BUILT[name]
