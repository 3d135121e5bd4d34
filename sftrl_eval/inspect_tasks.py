"""Inspect (``inspect_ai``) tasks for the paper's settings: the harness's evaluation episodes, played by any model
Inspect serves, scored as the harness scores them.

    pip install "sft-rl-generalization-envs[inspect]"
    inspect eval sftrl_eval/generalpoints -T setting=GP-L-RuleOOD -T protocol=paper --model openai-api/local/my-model
    inspect eval sftrl_eval/virl -T setting=VIRL-VL --model openai-api/local/my-model
    inspect view

Task arguments (``-T name=value``): ``setting`` (a paper setting of the task's game, :data:`sftrl_eval.SETTINGS`),
``protocol`` (``suite``, the default, or ``paper``: the authors' prompts, grading and evaluation lists), ``episodes``
(default: the setting's whole list; ``--limit`` also works), ``env_kwargs`` (``gym.make`` arguments) and, for V-IRL,
``dataset_dir`` (the released routes; under ``paper`` their route draws).

A sample is one episode of the setting's list (:class:`sftrl_eval.EpisodeList`: the same seed and options as
``sftrl_eval run`` plays for that index). The solver (:func:`play_episode`) plays it as the harness's agents do: the
model sees the env's conversation (``info["messages"]``; image settings: the picture as image content in the first
user turn) and each raw reply goes to ``env.step``, retry after retry, point after point of a V-IRL route. The
scorers report success, return and (V-IRL) per-step accuracy with their standard errors, computed as the harness's
summary computes them (:func:`sftrl_eval.summarize`; under ``paper``, per-step accuracy as the authors' evaluator
counts it), so the same replies give the same numbers in both. ``inspect view`` shows each episode as one
conversation: every prompt, reply and the env's feedback.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageUser,
    Content,
    ContentImage,
    ContentText,
    get_model,
)
from inspect_ai.scorer import Metric, SampleScore, Score, Scorer, Target, mean, metric, scorer, stderr
from inspect_ai.solver import Generate, Solver, TaskState, solver

from sftrl_core.registry import DEFAULT_PROTOCOL, GENERAL_POINTS, VIRL, GameInfo, get_protocol_info
from sftrl_train.episodes import EpisodeSession, message_text

from .episode import _make_env
from .harness import _env_kwargs, check_episodes
from .settings import SEED_LIST_VERSION, SETTINGS, EpisodeList, Setting, get_setting

__all__ = [
    "generalpoints",
    "virl",
    "episode_task",
    "play_episode",
    "episode_score",
    "route_score",
    "binomial_stderr",
    "step_accuracy",
    "step_accuracy_stderr",
]

#: Where the solver leaves an episode's results for the scorer (``state.store``).
_STORE_KEY = "sftrl_episode"


def _task_name(name: str) -> str:
    """The name to register a task under so that Inspect knows it as ``sftrl_eval/<name>`` however the suite is
    installed: Inspect adds the package's prefix itself to a module in site-packages, and to no other (an editable
    install or a source tree, where the distribution's name is not the package's), so the prefix is given here."""
    installed = any(part in ("site-packages", "dist-packages") for part in Path(__file__).parts)
    return name if installed else f"sftrl_eval/{name}"


# ---- the tasks --------------------------------------------------------------------------------------------------


@task(name=_task_name("generalpoints"))
def generalpoints(setting: str = "GP-L", protocol: str = DEFAULT_PROTOCOL, episodes: int | None = None,
                  env_kwargs: dict[str, Any] | str | None = None) -> Task:
    """A GeneralPoints setting's evaluation hands: each a sample the model plays to its end (every attempt and the
    env's feedback); scored by success and return.

    Args:
        setting: ``GP-L``, ``GP-L-RuleOOD``, ``GP-VL``, ``GP-VL-RuleOOD`` or ``GP-VL-VisualOOD``.
        protocol: ``suite`` (default) or ``paper`` (the authors' 234 hands, prompts and grading).
        episodes: how many of the list's hands (default: all: the paper's 234).
        env_kwargs: ``gym.make`` arguments (a dict, or JSON text from the command line).
    """
    return episode_task(setting, GENERAL_POINTS, protocol, episodes, env_kwargs)


@task(name=_task_name("virl"))
def virl(setting: str = "VIRL-L", protocol: str = DEFAULT_PROTOCOL, episodes: int | None = None,
         env_kwargs: dict[str, Any] | str | None = None, dataset_dir: str | None = None) -> Task:
    """A V-IRL setting's evaluation routes: each a sample the model walks to its end (every point, every attempt
    and the env's feedback); scored by success, return and per-step accuracy.

    Args:
        setting: ``VIRL-L``, ``VIRL-L-RuleOOD``, ``VIRL-VL``, ``VIRL-VL-RuleOOD`` or ``VIRL-VL-VisualOOD``.
        protocol: ``suite`` (default) or ``paper`` (the authors' rails, prompts, grading and per-step accuracy).
        episodes: how many of the list's routes (default: all: 48, 18 for visual OOD).
        env_kwargs: ``gym.make`` arguments (a dict, or JSON text from the command line).
        dataset_dir: the released V-IRL data; under ``paper`` the authors' route draws on it are played.
    """
    return episode_task(setting, VIRL, protocol, episodes, env_kwargs, dataset_dir)


def episode_task(setting: str | Setting, game: GameInfo | None = None, protocol: str = DEFAULT_PROTOCOL,
                 episodes: int | None = None, env_kwargs: Mapping[str, Any] | str | None = None,
                 dataset_dir: str | None = None) -> Task:
    """The task of a setting's first ``episodes`` episodes under ``protocol`` (what :func:`generalpoints` and
    :func:`virl` return).

    Raises:
        ValueError: the setting belongs to another game, or a bad protocol, episode count or ``env_kwargs``.
    """
    chosen = get_setting(setting)
    if game is not None and chosen.game != game:
        names = ", ".join(name for name, s in SETTINGS.items() if s.game == game)
        raise ValueError(f"{chosen.name} is a {chosen.game.name} setting; this task plays {game.name}: {names}")
    protocol = get_protocol_info(protocol).name
    if isinstance(env_kwargs, str):
        try:
            env_kwargs = json.loads(env_kwargs)
        except ValueError as err:
            raise ValueError(f"env_kwargs must be a JSON object, e.g. '{{\"resolution\": 1200}}': {err}") from None
    if env_kwargs is not None and not isinstance(env_kwargs, Mapping):
        raise ValueError(f"env_kwargs must be a dict (a JSON object), got {env_kwargs!r}")
    kwargs = _env_kwargs(chosen, dict(env_kwargs or {}), dataset_dir)
    episode_list = EpisodeList(chosen, protocol, on_dataset=kwargs.get("dataset_dir") is not None)
    count = check_episodes(chosen, episodes, episode_list)
    return Task(
        dataset=_episode_dataset(episode_list, count, kwargs),
        solver=play_episode(chosen.name, protocol, kwargs),
        scorer=route_score() if chosen.game.walks_routes else episode_score(),
        display_name=f"{chosen.name} ({protocol})",
        version=SEED_LIST_VERSION,
        metadata={"setting": chosen.name, "env_id": chosen.env_id, "split": chosen.split, **episode_list.identity(),
                  "seed_list_version": SEED_LIST_VERSION},
    )


def _episode_dataset(episode_list: EpisodeList, count: int, kwargs: Mapping[str, Any]) -> MemoryDataset:
    """One sample per episode: its first prompt's text as the input, the index, seed and options as metadata."""
    setting, protocol = episode_list.setting, episode_list.protocol
    env = _make_env(setting, kwargs, protocol)
    samples = []
    try:
        for index in range(count):
            seed, options = episode_list.reset_args(index, env)
            observation, _ = env.reset(seed=seed, options=options)
            text = observation["text"] if isinstance(observation, Mapping) else observation
            samples.append(Sample(id=index, input=text, metadata={
                "setting": setting.name, "protocol": protocol, "episode": index, "seed": seed,
                "options": json.loads(json.dumps(options)) if options is not None else None}))
    finally:
        env.close()
    return MemoryDataset(samples, name=f"{setting.name}-{protocol}")


# ---- playing an episode -----------------------------------------------------------------------------------------


class _Picture:
    """The current picture of a session as a PNG data URL, encoded once per picture."""

    def __init__(self) -> None:
        self._array: Any = None
        self._url: str | None = None

    def url(self, session: EpisodeSession) -> str:
        image = session.image
        if image is None:
            raise RuntimeError("an image part without a picture")
        if image is not self._array:
            import base64
            import io

            from PIL import Image

            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="PNG")
            self._array, self._url = image, "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
        assert self._url is not None
        return self._url


def _chat_messages(messages: list[dict[str, Any]], session: EpisodeSession, picture: _Picture) -> list[ChatMessage]:
    """The session's messages as Inspect's: an image part is the session's current picture (as it is in
    :attr:`EpisodeSession.messages`)."""
    converted: list[ChatMessage] = []
    for message in messages:
        content, role = message["content"], message["role"]
        if role == "user" and isinstance(content, list) and any(p.get("type") == "image" for p in content):
            parts: list[Content] = [ContentImage(image=picture.url(session)) if p.get("type") == "image"
                                    else ContentText(text=p.get("text") or "") for p in content]
            converted.append(ChatMessageUser(content=parts))
        elif role == "assistant":
            converted.append(ChatMessageAssistant(content=message_text(message)))
        elif role == "system":
            converted.append(ChatMessageSystem(content=message_text(message)))
        else:
            converted.append(ChatMessageUser(content=message_text(message)))
    return converted


class _EnvPool:
    """Envs of one task, one per episode in flight (samples run concurrently; an env plays one at a time)."""

    def __init__(self, setting: Setting, protocol: str, kwargs: Mapping[str, Any]):
        self.setting, self.protocol, self.kwargs = setting, protocol, dict(kwargs)
        self.free: list[gym.Env] = []

    def take(self) -> gym.Env:
        return self.free.pop() if self.free else _make_env(self.setting, self.kwargs, self.protocol)

    def give(self, env: gym.Env) -> None:
        self.free.append(env)


@solver
def play_episode(setting: str, protocol: str = DEFAULT_PROTOCOL, env_kwargs: Mapping[str, Any] | None = None
                 ) -> Solver:
    """Play the sample's episode to its end with the task's model: each call shows the model the env's
    conversation (the current V-IRL point's, as ``info["messages"]``), each raw reply goes to ``env.step``, and the
    sample's messages become the whole episode (:attr:`EpisodeSession.transcript`).

    Args:
        setting: the setting whose episode list the samples index.
        protocol: ``suite`` or ``paper``.
        env_kwargs: ``gym.make`` arguments, as the harness takes them.
    """
    chosen = get_setting(setting)
    protocol = get_protocol_info(protocol).name
    kwargs = dict(env_kwargs or {})
    episode_list = EpisodeList(chosen, protocol, on_dataset=kwargs.get("dataset_dir") is not None)
    pool = _EnvPool(chosen, protocol, kwargs)
    counts_exhausted = get_protocol_info(protocol).reproduces_paper

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        model = get_model()
        index = int(state.metadata["episode"])
        env = pool.take()
        try:
            seed, options = episode_list.reset_args(index, env)
            session = EpisodeSession.from_env(env, seed=seed, options=options)
            picture = _Picture()
            state.messages = _chat_messages(session.messages, session, picture)
            while not session.done:
                output = await model.generate(_chat_messages(session.messages, session, picture))
                state.output = output
                turn = session.reply(output.completion)
                state.messages.append(ChatMessageAssistant(content=output.completion, model=model.name))
                state.messages.extend(_chat_messages(list(turn.next_messages), session, picture))
                await asyncio.sleep(0)  # let the other episodes' replies in between two of this one's steps
            if session.turns and session.turns[-1].feedback:
                state.messages.append(ChatMessageUser(content=session.turns[-1].feedback))
            state.store.set(_STORE_KEY, _results(session, counts_exhausted))
        finally:
            pool.give(env)
        return state

    return solve


def _results(session: EpisodeSession, counts_exhausted: bool) -> dict[str, Any]:
    """A finished episode's figures as the harness's record has them."""
    info = session.info
    results: dict[str, Any] = {
        "success": session.success, "return": session.total_reward, "replies": len(session.turns),
        "verdicts": [None if t.verdict is None else str(t.verdict) for t in session.turns],
        "last_reply": session.turns[-1].reply if session.turns else None,
        "feedback": session.turns[-1].feedback if session.turns else None,
        "truncated": session.truncated,
    }
    if "step_correct" in info:  # V-IRL: the counts behind per-step accuracy (the harness's record and summary)
        graded = [bool(x) for x in info["step_correct"]]
        exhausted = [bool(x) for x in info.get("points_solved", ())].count(False)
        results.update(step_correct=graded, exhausted_points=exhausted, correct_steps=sum(graded),
                       step_calls=len(graded) + (exhausted if counts_exhausted else 0))
    return results


# ---- scoring ----------------------------------------------------------------------------------------------------


@metric
def binomial_stderr() -> Metric:
    """The standard error of a rate over 0/1 values, ``sqrt(p (1 - p) / n)``, as the harness reports success."""

    def compute(scores: list[SampleScore]) -> float:
        values = [score.score.as_float() for score in scores]
        if not values:
            return float("nan")
        p = sum(values) / len(values)
        return math.sqrt(p * (1 - p) / len(values))

    return compute


def _step_counts(scores: list[SampleScore]) -> tuple[int, int]:
    metadata = [score.score.metadata or {} for score in scores]
    return sum(m.get("correct_steps", 0) for m in metadata), sum(m.get("step_calls", 0) for m in metadata)


@metric
def step_accuracy() -> Metric:
    """Per-step accuracy pooled over every graded step of the routes, as the harness's summary computes it
    (under ``paper``, a wrong call counted for each point whose attempts ran out)."""

    def compute(scores: list[SampleScore]) -> float:
        correct, calls = _step_counts(scores)
        return correct / calls if calls else float("nan")

    return compute


@metric
def step_accuracy_stderr() -> Metric:
    """The binomial standard error of :func:`step_accuracy` over the steps it pools."""

    def compute(scores: list[SampleScore]) -> float:
        correct, calls = _step_counts(scores)
        if not calls:
            return float("nan")
        p = correct / calls
        return math.sqrt(p * (1 - p) / calls)

    return compute


def _score(state: TaskState, walks_routes: bool) -> Score:
    results = state.store.get(_STORE_KEY)
    if results is None:
        raise RuntimeError("the sample has no episode results: score it after the play_episode solver")
    value: dict[str, float] = {"success": float(results["success"]), "return": float(results["return"])}
    if walks_routes:
        calls = results["step_calls"]
        value["step_accuracy"] = results["correct_steps"] / calls if calls else float("nan")
    outcome = "succeeded" if results["success"] else "failed"
    return Score(value=value, answer=results["last_reply"],
                 explanation=f"{outcome} after {results['replies']} replies; last feedback: {results['feedback']}",
                 metadata={key: results[key] for key in ("replies", "verdicts", "truncated", "step_correct",
                                                         "exhausted_points", "correct_steps", "step_calls")
                           if key in results})


@scorer(metrics={"success": [mean(), binomial_stderr()], "return": [mean(), stderr()]})
def episode_score() -> Scorer:
    """A GeneralPoints episode's success (0/1) and return (its rewards summed)."""

    async def score(state: TaskState, target: Target) -> Score:
        return _score(state, walks_routes=False)

    return score


@scorer(metrics={"success": [mean(), binomial_stderr()], "return": [mean(), stderr()],
                 "step_accuracy": [step_accuracy(), step_accuracy_stderr()]})
def route_score() -> Scorer:
    """A V-IRL route's success (every point solved), return and per-step accuracy (pooled over routes)."""

    async def score(state: TaskState, target: Target) -> Score:
        return _score(state, walks_routes=True)

    return score
