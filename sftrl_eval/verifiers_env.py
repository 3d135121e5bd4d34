"""The paper's settings as `verifiers <https://github.com/PrimeIntellect-ai/verifiers>`_ 0.4 environments
(the ``verifiers.v1`` API): the glue that the two installable environment packages, ``sftrl-generalpoints`` and
``sftrl-virl`` (``environments/``), build on.

A setting's evaluation list (:class:`~sftrl_eval.settings.EpisodeList`, in order, as ``sftrl_eval`` plays it) is the
taskset: one task per episode, whose prompt is the episode's first observation (image settings: the env's own
picture as an ``image_url`` part) and whose data hold the episode's seed, reset options and spec. The environment
(:class:`GameEnv`) plays the whole episode with the model as the player: each reply goes to the live env
(:class:`sftrl_train.EpisodeSession`), and the env's next user turn comes back (a retry's feedback; a new V-IRL
point's prompt and picture) until the episode ends. The task scores the episode by replaying the trace's replies
on the spec: ``success`` (reward, weight 1), ``episode_return`` (reward, weight 0: switch weights to train on the
shaped return) and, for V-IRL, ``per_step_accuracy`` (metric, computed as :func:`sftrl_eval.summarize` computes it
under the setting's protocol), with ``correct_steps``/``step_calls`` to pool it over episodes as the harness does.

Install with the ``verifiers`` extra (``pip install "sft-rl-generalization-envs[verifiers]"``); this module imports
verifiers at import time, so it fails at once without it.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Literal

try:
    import verifiers.v1 as vf
except ImportError as error:  # the extra is missing: say which one
    raise ImportError("sftrl_eval.verifiers_env needs verifiers 0.4 (the verifiers.v1 API): "
                      "pip install 'sft-rl-generalization-envs[verifiers]'") from error

import gymnasium as gym
import numpy as np

from sftrl_core.registry import DEFAULT_PROTOCOL, get_protocol_info
from sftrl_train.episodes import EpisodeSession

from .episode import _make_env
from .harness import _env_kwargs, check_episodes
from .settings import EpisodeList, Setting, check_protocol, get_setting
from .summary import summarize

__all__ = [
    "SettingTasksetConfig",
    "EpisodeData",
    "EpisodeTask",
    "SettingTaskset",
    "ChatHarnessConfig",
    "ChatHarness",
    "GameEnvConfig",
    "GameEnv",
    "episode_figures",
    "wire_messages",
]

#: The key of the episode's figures in a trace's ``info`` (what the replay of its replies gave).
INFO_KEY = "sftrl"
#: Where :class:`GameEnv` puts, in a trace's ``info``, the conversation the env shows before each turn (its
#: ``info["messages"]`` in wire form); :class:`ChatHarness` takes it out and sends it as it is.
CONVERSATION_KEY = "sftrl_conversation"


# ---- messages -------------------------------------------------------------------------------------------------------

def _png_data_url(image: Any) -> str:
    """A picture (PIL image or HWC ``uint8`` array) as a lossless ``data:image/png;base64,...`` URL."""
    from PIL import Image

    picture = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, dtype=np.uint8))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def wire_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Chat messages as the session gives them (image mode: content parts with ``{"type": "image", "image": ...}``)
    in the OpenAI wire form verifiers takes: each picture an ``image_url`` part holding a PNG data URL."""
    wired = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str) or content is None:
            wired.append({"role": message["role"], "content": content or ""})
            continue
        parts: list[dict[str, Any]] = []
        for part in content:
            if part.get("type") == "image":
                if part.get("image") is None:
                    raise ValueError("an image part without its picture cannot be sent to a model")
                parts.append({"type": "image_url", "image_url": {"url": _png_data_url(part["image"])}})
            elif part.get("type") == "text":
                parts.append({"type": "text", "text": part.get("text") or ""})
        wired.append({"role": message["role"], "content": parts})
    return wired


# ---- the figures of an episode ----------------------------------------------------------------------------------------

def episode_figures(session: EpisodeSession, setting: str | Setting, protocol: str = DEFAULT_PROTOCOL) -> dict[str, Any]:
    """An episode's figures as the harness computes them: ``success``, ``return``, ``replies``, the verdicts and,
    for V-IRL, ``per_step_accuracy`` (:func:`sftrl_eval.summarize` on the episode's record, so the paper
    protocol's extra wrong call per exhausted point counts), ``correct_steps`` and ``step_calls`` (its numerator
    and denominator, to pool over episodes).

    Args:
        session: the episode, played as far as it went.
        setting: the setting it belongs to.
        protocol: the protocol it was played under.
    """
    setting = get_setting(setting)
    info = session.info
    record: dict[str, Any] = {
        "protocol": protocol,
        "success": bool(session.success),
        "return": session.total_reward,
        "steps": [{"reply": t.reply, "verdict": None if t.verdict is None else str(t.verdict), "reward": t.reward,
                   "recognized": t.info.get("recognized"), "agent_seconds": 0.0} for t in session.turns],
    }
    figures: dict[str, Any] = {"success": record["success"], "return": record["return"],
                               "replies": len(session.turns), "done": session.done,
                               "verdicts": [s["verdict"] for s in record["steps"]]}
    if setting.game.walks_routes:
        step_correct = [bool(x) for x in info.get("step_correct", [t.success for t in session.turns])]
        exhausted = [bool(x) for x in info.get("points_solved", [])].count(False)
        record.update(step_correct=step_correct, exhausted_points=exhausted)
        # The harness's own summary gives the figure; the counts are its numerator and denominator (the paper's
        # evaluator counts one wrong call more for each point whose attempts ran out).
        accuracy = summarize([record], setting, "episode")["per_step_accuracy"] if session.turns else None
        calls = len(step_correct) + (exhausted if get_protocol_info(protocol).reproduces_paper else 0)
        figures.update(per_step_accuracy=0.0 if accuracy is None else float(accuracy),
                       correct_steps=sum(step_correct), step_calls=calls)
    return figures


# ---- the taskset ----------------------------------------------------------------------------------------------------

class SettingTasksetConfig(vf.TasksetConfig):
    """Which evaluation list the taskset holds (``--env.taskset.*``); each game's package narrows ``setting``."""

    setting: str = ""
    """The paper setting (``sftrl_eval.SETTINGS``) whose evaluation episodes are the tasks, in order."""
    protocol: Literal["suite", "paper"] = "suite"
    """``suite`` (the suite's prompts and grading) or ``paper`` (the authors' evaluation and episode lists)."""


class EpisodeData(vf.TaskData):
    """One episode of a setting: what plays it again exactly (the harness's reset arguments) and its spec."""

    setting: str
    protocol: str = DEFAULT_PROTOCOL
    episode: int
    """The episode's index in the setting's evaluation list."""
    seed: int
    reset_options: dict[str, Any] | None = None
    env_kwargs: dict[str, Any] = {}
    """``gym.make`` arguments beyond the setting's (the released V-IRL data's folder)."""
    spec: str
    """The episode spec (JSON), taken at reset: scoring replays the replies on it, with no env."""


class EpisodeTask(vf.Task[EpisodeData, vf.State, vf.TaskConfig]):
    """An episode of a setting, scored by replaying the trace's replies on its spec."""

    @property
    def key(self) -> str:
        return self.data.id or super().key

    def figures(self, trace: vf.Trace) -> dict[str, Any]:
        """The episode's figures (:func:`episode_figures`) from the trace's replies, kept in ``trace.info``."""
        cached = trace.info.get(INFO_KEY)
        if cached is None:
            session = EpisodeSession(self.data.spec)
            for message in trace.assistant_messages:
                if session.done:
                    break
                session.reply(message.content or "")
            cached = trace.info[INFO_KEY] = episode_figures(session, self.data.setting, self.data.protocol)
        return cached

    @vf.reward
    async def success(self, trace: vf.Trace) -> float:
        """1 when the episode succeeded (GeneralPoints: a correct formula; V-IRL: every point of the route)."""
        return float(self.figures(trace)["success"])

    @vf.reward(weight=0.0)
    async def episode_return(self, trace: vf.Trace) -> float:
        """The episode's return, the env's per-reply rewards summed (weight 0: recorded, not optimised)."""
        return float(self.figures(trace)["return"])

    @vf.metric
    async def steps(self, trace: vf.Trace) -> dict[str, float]:
        """Replies and, for V-IRL, per-step accuracy with its counts (``correct_steps`` of ``step_calls``)."""
        figures = self.figures(trace)
        keys = ("replies", "per_step_accuracy", "correct_steps", "step_calls")
        return {key: float(figures[key]) for key in keys if key in figures}


class SettingTaskset(vf.Taskset):
    """The evaluation list of a paper setting, in the harness's order; a game's package binds ``GAME`` and its
    config (``class GeneralPointsTaskset(SettingTaskset, vf.Taskset[EpisodeTask, GeneralPointsConfig])``)."""

    GAME: ClassVar[str] = ""

    def load(self) -> Iterator[EpisodeTask]:
        setting = get_setting(self.config.setting)
        if self.GAME and setting.game.name != self.GAME:
            raise ValueError(f"{setting.name} is a {setting.game.name} setting; this taskset plays {self.GAME}")
        protocol = check_protocol(self.config.protocol)
        kwargs = _env_kwargs(setting, None, getattr(self.config, "dataset_dir", None))
        episodes = EpisodeList(setting, protocol, on_dataset=kwargs.get("dataset_dir") is not None)
        count = check_episodes(setting, None, episodes)
        env = _make_env(setting, kwargs, protocol)
        try:
            for index in range(count):
                seed, options = episodes.reset_args(index, env)
                session = EpisodeSession.from_env(env, seed=seed, options=options)
                yield EpisodeTask(EpisodeData(
                    id=f"{setting.name}/{protocol}/{index}", name=f"{setting.name} episode {index}",
                    prompt=wire_messages(session.messages), setting=setting.name, protocol=protocol,
                    episode=index, seed=seed, reset_options=options,
                    env_kwargs={k: v for k, v in kwargs.items() if k not in setting.env_kwargs},
                    spec=json.dumps(env.unwrapped.episode_spec())), self.config.task)
        finally:
            env.close()


# ---- the player's harness: one chat completion per turn, in process ----------------------------------------------------

class ChatHarnessConfig(vf.HarnessConfig):
    """The chat harness has no knobs: the run's model and sampling apply (``-m``, ``--sampling.*``)."""


class ChatHarness(vf.Harness[ChatHarnessConfig]):
    """The model answers each turn with one chat completion, and no tools: the game's harness by default.

    It runs in process (verifiers allows that: every model call still goes through the rollout's interception
    endpoint, which records it on the trace and applies the run's model and sampling), so a turn costs one request,
    not a program launch; a V-IRL route is dozens of turns. The built-in ``null`` harness plays the same game
    through its chat program (``--env.player.harness.id null``; it installs that program with uv)."""

    APPENDS_SYSTEM_PROMPT = True
    SUPPORTS_RESUME = True
    EXECUTES_CODE = False
    NEEDS_CONTAINER = False

    async def launch(self, ctx: vf.ModelContext, trace: vf.Trace, runtime: vf.Runtime, endpoint: str, secret: str,
                     mcp_urls: dict[str, str], data: vf.TaskData) -> vf.ProgramResult:
        from openai import AsyncOpenAI  # a dependency of verifiers

        system, prompt = self.resolve_prompt(data)
        messages = [{"role": "system", "content": system}] if system else []
        if isinstance(prompt, str):
            messages.append({"role": "user", "content": prompt})
        else:
            messages.extend(m if isinstance(m, dict) else m.model_dump(exclude_none=True) for m in prompt or [])
        async with AsyncOpenAI(base_url=endpoint, api_key=secret, max_retries=2) as client:
            await client.chat.completions.create(model=ctx.model, messages=messages)
        return vf.ProgramResult(exit_code=0, stdout="", stderr="")

    async def resume(self, ctx: vf.ModelContext, trace: vf.Trace, runtime: vf.Runtime, endpoint: str, secret: str,
                     mcp_urls: dict[str, str], data: vf.TaskData, messages: vf.Messages,
                     tool_interception_url: str | None = None) -> vf.ProgramResult:
        """The next turn, on the conversation the env shows now (:data:`CONVERSATION_KEY`: the env's
        ``info["messages"]``, which restart at a new V-IRL point), else on the conversation so far and ``messages``."""
        shown = trace.info.pop(CONVERSATION_KEY, None)
        if shown is None:
            return await super().resume(ctx, trace, runtime, endpoint, secret, mcp_urls, data, messages,
                                        tool_interception_url)
        return await self.launch(ctx, trace, runtime, endpoint, secret, mcp_urls,
                                 data.model_copy(update={"prompt": shown}))


# ---- the environment: the game plays the user ------------------------------------------------------------------------

class GameEnvConfig(vf.EnvConfig):
    """The one seat, ``player`` (``--env.player.*``): by default the taskset's own harness (:class:`ChatHarness`)
    in the local runtime, since the game needs no tools and no sandbox."""

    player: vf.AgentConfig = vf.AgentConfig(runtime=vf.SubprocessConfig())


class GameEnv(vf.Env[GameEnvConfig]):
    """Plays a whole episode: the model replies, the live env grades the reply and answers with its next user
    turn (a retry's feedback, or a new V-IRL point's prompt and picture), until the episode ends."""

    def __init__(self, config: GameEnvConfig) -> None:
        super().__init__(config)
        self._idle: dict[str, list[gym.Env]] = {}

    def _borrow(self, data: EpisodeData) -> tuple[str, gym.Env]:
        setting = get_setting(data.setting)
        kwargs = {**setting.env_kwargs, **data.env_kwargs}
        key = json.dumps([setting.name, data.protocol, kwargs], sort_keys=True)
        idle = self._idle.setdefault(key, [])
        return key, (idle.pop() if idle else _make_env(setting, kwargs, data.protocol))

    async def run(self, task: EpisodeTask, agents: vf.Agents) -> None:
        data = task.data
        key, env = self._borrow(data)
        try:
            session = await asyncio.to_thread(EpisodeSession.from_env, env, seed=data.seed,
                                              options=data.reset_options)
            async with agents.player.interaction(task) as interaction:
                segment = await interaction.turn()  # the task's prompt is the first observation
                while not segment.terminated:
                    turn = await asyncio.to_thread(session.reply, _reply_text(segment))
                    if turn.done:
                        break
                    # The env's own conversation: it restarts at a new V-IRL point, and a retry there shows the
                    # point's prompt as the env then writes it; harnesses that keep their own history get the turn.
                    interaction.trace.info[CONVERSATION_KEY] = wire_messages(session.messages)
                    segment = await interaction.turn(wire_messages(turn.next_messages))
                    interaction.trace.info.pop(CONVERSATION_KEY, None)  # unread by another harness: not kept
        finally:
            self._idle[key].append(env)

    async def stop(self) -> None:
        for envs in self._idle.values():
            for env in envs:
                env.close()
        self._idle.clear()


def _reply_text(segment: vf.Segment) -> str:
    """The model's raw reply in a segment (unstripped, as the harness hands it to ``env.step``)."""
    for message in reversed(segment.messages):
        if isinstance(message, vf.AssistantMessage):
            return message.content or ""
    return ""
