"""OpenRLHF glue: a reward function and a multi-turn agent executor, in one file OpenRLHF can load by path.

OpenRLHF loads user code from a Python file: pass this module's file (``python -c "import sftrl_train.openrlhf as m;
print(m.__file__)"``) as ``--train.agent_func_path`` for multi-turn training (it reads ``AgentExecutor``) or as
``--reward.remote_url`` for single-turn rewards (it reads ``reward_func``). Rows come from
:mod:`sftrl_train.datasets` (``--data.prompt_dataset rows.jsonl --data.input_key prompt --data.label_key label
--data.apply_chat_template``): the ``label`` column carries the
episode spec, every grading input in one string.

Multi-turn: each reply the engine generates is graded from the spec (the raw reply text), and while the episode
goes on the env's feedback becomes the next user turn. OpenRLHF's ``step()`` does not see how the reply ended, so
the executor here watches the engine's output: when the model stopped on its end-of-turn token, the feedback
does not repeat that token; when the reply was cut by the length limit, the feedback closes the turn first
(:func:`sftrl_train.chat.turn_suffix`, which reads both from the tokenizer's chat template).

This file imports with absolute imports only, because OpenRLHF loads it as a top-level module.
"""

from __future__ import annotations

import contextvars
from typing import Any

from sftrl_train.chat import turn_suffix
from sftrl_train.datasets import require
from sftrl_train.episodes import SpecEpisode
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

    __slots__ = ("tokenizer", "engine")

    def __init__(self, tokenizer: Any, engine: _RecordingEngine):
        self.tokenizer, self.engine = tokenizer, engine


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
        """One episode: grades each reply from the row's spec (the ``label``)."""

        def __init__(self, *args: Any, **kwargs: Any):
            self._call = _CALL.get()
            self._episode: SpecEpisode | None = None

        async def reset(self, states: dict, **kwargs: Any) -> dict:
            self._episode = SpecEpisode(states["label"])
            return {"observation": states["observation"]}

        async def step(self, states: dict, **kwargs: Any) -> dict[str, Any]:
            episode = self._episode
            step = episode.reply(states["action_text"])
            feedback = ""
            if not step.terminated:
                last = self._call.engine.last
                output = last.outputs[0] if last is not None else None
                feedback = turn_suffix(self._call.tokenizer, step.message, _stop_text(self._call.tokenizer, output))
            success = torch.tensor(float(episode.success))
            return {
                "rewards": torch.tensor(float(step.grade.reward)),
                "scores": success,
                "environment_feedback": feedback,
                "done": step.terminated,
                "sampling_params": states.get("sampling_params"),
                "extra_logs": {"success": success},
            }

    class AgentExecutor(agent.MultiTurnAgentExecutor):
        """OpenRLHF agent executor over the suite's episodes (``--train.agent_func_path`` this file)."""

        def __init__(self) -> None:
            super().__init__(SpecAgentInstance)

        async def execute(self, prompt: Any, label: Any, sampling_params: Any, max_length: int, hf_tokenizer: Any,
                          llm_engine: Any, images: Any = None) -> dict[str, Any]:
            engine = _RecordingEngine(llm_engine)
            token = _CALL.set(_Call(hf_tokenizer, engine))
            try:
                return await super().execute(prompt, label, sampling_params, max_length, hf_tokenizer, engine,
                                             images=images)
            finally:
                _CALL.reset(token)

    for cls in (SpecAgentInstance, AgentExecutor):
        cls.__module__, cls.__qualname__ = __name__, cls.__name__
    return AgentExecutor


_BUILT: dict[str, type] = {}


def __getattr__(name: str) -> type:
    # Built on first access (OpenRLHF reads ``module.AgentExecutor``), so that this module imports without OpenRLHF.
    if name != "AgentExecutor":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in _BUILT:
        _BUILT[name] = _build_executor()
    return _BUILT[name]
