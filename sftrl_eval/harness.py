"""Evaluate any agent on a paper setting, one JSON line per finished episode, resumable after any interruption.

An agent is a callable ``(observation, info) -> reply``: it sees exactly what a model sees (the prompt, or the
prompt and the picture) and answers in free text. Optional extras:

* ``agent.begin_episode(env)`` is called after every reset with the environment, for privileged agents
  (oracles, adapters of numeric policies) that read ``env.unwrapped`` state;
* ``async agent.acall(observation, info)`` lets :func:`evaluate` run ``concurrency`` episodes at once, for
  LLM servers that batch requests;
* ``agent.name`` names the agent in results (else pass ``agent_name``).

* ``agent.config`` (a JSON-able dict) is what defines the agent besides its name and factory (e.g. a model's
  temperature); it is part of the run's identity, so results of another configuration are never mixed in;
* ``agent.provenance`` (a JSON-able dict) is recorded with each run but not compared (e.g. the endpoint);
* a reply may be a ``str`` subclass with a ``usage`` dict (``prompt_tokens``, ``completion_tokens``): the
  token counts are recorded with the reply.

Results go to ``out_dir/<setting>.jsonl``, one line per finished episode, on disk as soon as it ends; running again
with the same ``out_dir`` resumes, and a run with another identity, or a second run into the same folder at the
same time, is refused (:mod:`sftrl_eval.results` keeps the files). Nothing is written before the first episode
ends: a run that fails at once (e.g. a model server that is down) leaves no files behind.

``protocol="paper"`` plays the authors' evaluation (their prompts, grading and episode lists, see
:class:`~sftrl_eval.settings.EpisodeList`) and computes V-IRL per-step accuracy as their evaluator does
(:func:`virl_env.paper_step_accuracy`). Results record the protocol; one results file never mixes
protocols. ``backend="ray"`` plays the episodes on Ray actors (``ray.init()``: a local cluster, or the one
``RAY_ADDRESS`` names); the driver alone writes the results file, so resuming, locks and identities work the
same way.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from sftrl_core.registry import DEFAULT_PROTOCOL

from .episode import _make_env, _play, _play_async, _Progress
from .ray_backend import _import_ray, _play_on_ray
from .results import _json_value, _ResultsFile, agent_identity
from .settings import SEED_LIST_VERSION, EpisodeList, Setting, check_protocol, get_setting
from .summary import summarize

# The evaluation API that lives in the modules beside this one stays importable from here (this was one module):
# the agent's view (.episode), the results store (.results) and summaries (.summary).
from .episode import AgentError, public_info  # noqa: F401
from .results import (  # noqa: F401
    _PRIVATE_MODULE_PREFIX,
    ResultsError,
    ResultsInUseError,
    ResultsWriteError,
    load_meta,
    load_records,
)
from .summary import UNPARSEABLE_VERDICTS, records_protocol  # noqa: F401

__all__ = ["evaluate", "aevaluate", "check_episodes", "BACKENDS"]

#: Where episodes are played: in this process, or on Ray actors.
BACKENDS = ("local", "ray")


def check_episodes(setting: Setting, episodes: int | None, episode_list: EpisodeList | None = None) -> int:
    """The number of episodes to play (default: the setting's size).

    Args:
        setting: the setting.
        episodes: the number asked for, or ``None``.
        episode_list: the list the episodes come from (default: the suite's).

    Raises:
        ValueError: not a positive integer, or more episodes than the evaluation list holds (V-IRL routes past
            it are training routes; the paper's GeneralPoints lists hold 234 hands).
    """
    n = setting.episodes if episodes is None else episodes
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
    most = (episode_list or EpisodeList(setting, DEFAULT_PROTOCOL)).max_episodes
    if most is not None and n > most:
        if setting.game.walks_routes:
            # Routes past the evaluation list are the training routes: playing them would score memorisation.
            raise ValueError(
                f"{setting.name} has {most} evaluation routes; episodes={n} would replay training routes "
                f"{most}..{n - 1}; ask for at most {most}")
        raise ValueError(f"{setting.name} under the paper protocol has the authors' {most} hands; episodes={n} "
                         f"asks for more; ask for at most {most}")
    return n


def _env_kwargs(setting: Setting, env_kwargs: Mapping[str, Any] | None,
                dataset_dir: str | os.PathLike[str] | None) -> dict[str, Any]:
    kwargs = {**setting.env_kwargs, **(env_kwargs or {})}
    if "protocol" in kwargs:
        raise ValueError("pass the protocol as protocol=... (--protocol), not in env_kwargs: results record it")
    if dataset_dir is not None:
        if not setting.game.walks_routes:  # the released data are routes
            raise ValueError(f"dataset_dir is the released V-IRL data; {setting.name} is a {setting.game.name} "
                             "setting")
        kwargs["dataset_dir"] = os.fspath(dataset_dir)
        if setting.split == "visual_ood":  # the released routes replace the generated visual-OOD benchmark
            kwargs["benchmark"] = None
    return kwargs


@dataclass
class _Run:
    """What :func:`_prepare` sets up for a run: the episodes to play and where their records go."""

    episodes: EpisodeList
    n: int
    name: str
    kwargs: dict[str, Any]
    results: _ResultsFile | None
    done: dict[int, dict[str, Any]]
    todo: list[int]
    bar: _Progress

    @property
    def setting(self) -> Setting:
        return self.episodes.setting

    def keep(self, record: dict[str, Any]) -> None:
        """File a finished episode: on disk (when writing to a folder) before the next episode starts.

        Raises:
            ResultsWriteError: the record could not be written (a full disk...); the file is as it was.
        """
        if self.results:
            self.results.append(record)
        self.done[record["index"]] = record
        self.bar.update(record["success"])

    def summary(self) -> dict[str, Any]:
        return summarize([self.done[i] for i in range(self.n)], self.setting, self.name)

    def close(self) -> None:
        if self.results:
            self.results.close()


def _prepare(agent, setting, episodes, out_dir, agent_name, resume, env_kwargs, progress, factory, factory_kwargs,
             protocol=DEFAULT_PROTOCOL, dataset_dir=None) -> _Run:
    setting = get_setting(setting)
    kwargs = _env_kwargs(setting, env_kwargs, dataset_dir)
    episode_list = EpisodeList(setting, check_protocol(protocol), on_dataset=kwargs.get("dataset_dir") is not None)
    n = check_episodes(setting, episodes, episode_list)
    if not callable(agent) and not hasattr(agent, "acall"):
        raise TypeError(f"agent must be a callable (observation, info) -> str, got {type(agent).__name__}")
    identity = agent_identity(agent, agent_name, factory, factory_kwargs)
    name = identity["agent"]
    # The run's identity: everything that must match for two runs to share a results file. New keys are added
    # here; a meta file that lacks them is compared on the keys it has (a missing protocol means "suite", the
    # protocol of every file written before protocols existed).
    meta = {"setting": setting.name, "env_id": setting.env_id, "env_kwargs": _json_value(kwargs, "env_kwargs"),
            "seed_list_version": SEED_LIST_VERSION, **identity, "protocol": episode_list.protocol}
    if episode_list.protocol != DEFAULT_PROTOCOL:  # default-protocol meta files keep their older identity
        meta["episode_list"] = episode_list.identity()["episode_list"]
    provenance = getattr(agent, "provenance", None)
    provenance = None if provenance is None else _json_value(provenance, "agent.provenance")
    results = _ResultsFile(out_dir, meta, resume, provenance) if out_dir is not None else None
    done = dict(results.records) if results else {}
    todo = [i for i in range(n) if i not in done]
    bar = _Progress(f"{setting.name} {name}", n, n - len(todo), progress)
    if results and done:
        bar.note(f"{setting.name} {name}: resuming {results.path}: {n - len(todo)} of {n} episodes already done"
                 + ("" if todo else ", nothing to play"))
    return _Run(episode_list, n, name, kwargs, results, done, todo, bar)


def evaluate(
    agent: Callable[[Any, dict[str, Any]], str],
    setting: str | Setting,
    episodes: int | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    agent_name: str | None = None,
    resume: bool = True,
    progress: bool = True,
    concurrency: int = 1,
    env_kwargs: dict[str, Any] | None = None,
    *,
    agent_factory: Any = None,
    agent_kwargs: Mapping[str, Any] | None = None,
    protocol: str = DEFAULT_PROTOCOL,
    dataset_dir: str | os.PathLike[str] | None = None,
    backend: str = "local",
    workers: int | None = None,
) -> dict[str, Any]:
    """Play episodes ``0 .. episodes-1`` of a setting with an agent and summarise them.

    Args:
        agent: a callable ``(observation, info) -> reply`` (see the module docstring for optional extras).
        setting: a name from :data:`~sftrl_eval.settings.SETTINGS` (e.g. ``"GP-L-RuleOOD"``) or a Setting.
        episodes: how many (default: the paper's number for the setting; V-IRL allows no more than that,
            since later routes are training routes; the paper protocol's GeneralPoints lists hold 234 hands).
        out_dir: where to write ``<setting>.jsonl``; ``None`` keeps results in memory only.
        agent_name: the name recorded in results (default: see :func:`agent_identity`).
        resume: continue an existing results file instead of refusing to touch it.
        progress: show progress on stderr (after every reply).
        concurrency: episodes in flight at once, for agents with ``async acall`` (one env each). It helps only
            when the agent's backend serves requests in parallel (see the docs' Language models page).
        env_kwargs: extra ``gym.make`` arguments (e.g. ``{"resolution": 1200}``); recorded with the results.
        agent_factory: the class or function that built the agent, for its identity (the command line passes it).
        agent_kwargs: the arguments the factory was called with, for its identity.
        protocol: ``"suite"`` (default) or ``"paper"``: the authors' evaluation (prompts, grading, episode
            lists and per-step accuracy as theirs), the only numbers comparable with the paper's table.
        dataset_dir: the released V-IRL data (``virl_env`` ``dataset_dir``); under ``"paper"`` the authors'
            route draws on it are played. Without it V-IRL plays the suite's generated evaluation routes.
        backend: ``"local"`` (default) or ``"ray"``: episodes on Ray actors, ``workers`` at a time (the agent is
            sent to each actor, so it must pickle; needs ``pip install ray``).
        workers: Ray actors (default: the cluster's CPU count, at most the episodes to play).

    Returns:
        The summary (see :func:`summarize`) over the requested episodes.

    Raises:
        AgentError: the agent raised (finished episodes are kept; run again to resume).
        ResultsError: ``out_dir`` holds another run's results (another protocol included), a damaged meta
            file, two different results for one episode, or is in use by another run.
        ResultsWriteError: the disk refused a write (e.g. ``ENOSPC``); finished episodes are intact, run
            again to resume.
        ValueError: a bad setting, protocol, backend or episode count.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, got {backend!r}")
    if backend == "ray":
        if concurrency != 1:
            raise ValueError("backend='ray' plays `workers` episodes at once on Ray actors; concurrency is for "
                             "the local backend")
        ray = _import_ray()
    elif workers is not None:
        raise ValueError("workers is the number of Ray actors; pass backend='ray'")
    if backend == "local" and concurrency > 1 and hasattr(agent, "acall"):
        return asyncio.run(aevaluate(agent, setting, episodes, out_dir, agent_name, resume, progress, concurrency,
                                     env_kwargs, agent_factory=agent_factory, agent_kwargs=agent_kwargs,
                                     protocol=protocol, dataset_dir=dataset_dir))
    run = _prepare(agent, setting, episodes, out_dir, agent_name, resume, env_kwargs, progress, agent_factory,
                   agent_kwargs, protocol, dataset_dir)
    try:
        if backend == "ray":
            _play_on_ray(ray, agent, run, workers)
        else:
            env = _make_env(run.setting, run.kwargs, run.episodes.protocol)
            try:
                for index in run.todo:
                    run.keep(_play(env, agent, run.episodes, run.name, index, run.bar))
            finally:
                env.close()
    finally:
        run.close()
    return run.summary()


async def aevaluate(
    agent: Any,
    setting: str | Setting,
    episodes: int | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    agent_name: str | None = None,
    resume: bool = True,
    progress: bool = True,
    concurrency: int = 8,
    env_kwargs: dict[str, Any] | None = None,
    *,
    agent_factory: Any = None,
    agent_kwargs: Mapping[str, Any] | None = None,
    protocol: str = DEFAULT_PROTOCOL,
    dataset_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """:func:`evaluate` for agents with ``async acall(observation, info)``: ``concurrency`` episodes in flight.

    Episodes finish in any order; each is written when it ends, so resuming works the same way.
    """
    if not hasattr(agent, "acall"):
        raise TypeError("aevaluate needs an agent with an async acall(observation, info) method")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a positive integer, got {concurrency!r}")
    run = _prepare(agent, setting, episodes, out_dir, agent_name, resume, env_kwargs, progress, agent_factory,
                   agent_kwargs, protocol, dataset_dir)
    pool: list[gym.Env] = []
    try:
        pool.extend(_make_env(run.setting, run.kwargs, run.episodes.protocol)
                    for _ in range(min(concurrency, max(len(run.todo), 1))))
        free = list(pool)
        slots = asyncio.Semaphore(len(pool))

        async def one(index: int) -> None:
            async with slots:
                env = free.pop()
                try:
                    record = await _play_async(env, agent, run.episodes, run.name, index, run.bar)
                finally:
                    free.append(env)
                run.keep(record)

        tasks = [asyncio.ensure_future(one(i)) for i in run.todo]
        try:
            await asyncio.gather(*tasks)
        finally:
            # On the first failure, stop the other episodes (their results so far are on disk) before closing.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for env in pool:
            env.close()
        run.close()
    return run.summary()
