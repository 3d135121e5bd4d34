"""Playing a run's episodes on Ray actors (``evaluate(..., backend="ray")``).

Each actor holds one environment and a copy of the agent; the driver alone writes the results file, so
resuming, locks and identities work as with the local backend.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from pathlib import Path
from typing import Any, Protocol

from .episode import AgentError, _make_env, _play, _play_async, _Progress
from .settings import EpisodeList, Setting

__all__: list[str] = []


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError("backend='ray' needs Ray: pip install ray (plain Ray is enough; the suite's `ray` extra "
                          "adds RLlib, which pins an older gymnasium)") from None
    return ray


class _Run(Protocol):
    """What the Ray driver needs of a run (the harness's run, described here so neither module imports the
    other)."""

    episodes: EpisodeList
    name: str
    kwargs: dict[str, Any]
    todo: list[int]
    bar: _Progress

    @property
    def setting(self) -> Setting: ...

    def keep(self, record: dict[str, Any]) -> None: ...


class _EpisodeWorker:
    """A Ray actor: one environment and a copy of the agent; plays the episodes it is given, one at a time."""

    def __init__(self, agent: Any, episodes: EpisodeList, name: str, kwargs: dict[str, Any]):
        self.agent, self.episodes, self.name = agent, episodes, name
        self.env = _make_env(episodes.setting, kwargs, episodes.protocol)
        self.quiet = _Progress("", 0, 0, enabled=False)

    def play(self, index: int) -> tuple[str, Any]:
        """``("record", record)``, or ``("agent_error", message)`` when the agent failed (the driver raises)."""
        try:
            if callable(self.agent):
                return "record", _play(self.env, self.agent, self.episodes, self.name, index, self.quiet)
            return "record", asyncio.run(_play_async(self.env, self.agent, self.episodes, self.name, index,
                                                     self.quiet))
        except AgentError as err:
            return "agent_error", str(err)


#: Packages Ray workers import by name (the suite itself); other agent modules outside site-packages are sent.
_SUITE_PACKAGES = frozenset({"sftrl_eval", "sftrl_core", "gpoints_env", "virl_env", "sftrl_train"})


def _ship_by_value(ray: Any, agent: Any) -> None:
    """Send the agent's modules (its class's and its base classes') by value when Ray workers may not import
    them by name: a file the command line loaded (a private module name), or a test or script folder added to
    ``sys.path`` only in this process. Installed packages (site-packages) and the suite itself are imported by
    name as usual."""
    target = agent if inspect.isclass(agent) or inspect.isfunction(agent) else type(agent)
    for owner in getattr(target, "__mro__", (target,)):
        module = sys.modules.get(getattr(owner, "__module__", None) or "")
        if module is None or module.__name__ in ("__main__", "builtins") \
                or module.__name__.split(".")[0] in _SUITE_PACKAGES:
            continue  # __main__ is always sent by value
        path = Path(getattr(module, "__file__", None) or "")
        if path.name and not {"site-packages", "dist-packages"} & set(path.parts):
            ray.cloudpickle.register_pickle_by_value(module)


def _play_on_ray(ray: Any, agent: Any, run: _Run, workers: int | None) -> None:
    """Play ``run.todo`` on Ray actors; the driver writes each record as it arrives (one writer, one lock)."""
    if not run.todo:
        return
    # Bad environment arguments fail here, as with the local backend, not inside an actor.
    _make_env(run.setting, run.kwargs, run.episodes.protocol).close()
    if not ray.is_initialized():
        ray.init(include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    if workers is None:
        workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    elif isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    _ship_by_value(ray, agent)
    actor = ray.remote(num_cpus=1)(_EpisodeWorker)
    agent_ref = ray.put(agent)
    actors = [actor.remote(agent_ref, run.episodes, run.name, run.kwargs)
              for _ in range(min(workers, len(run.todo)))]
    queue = iter(run.todo)
    pending: dict[Any, Any] = {}
    try:
        for worker, index in zip(actors, queue):
            pending[worker.play.remote(index)] = worker
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            worker = pending.pop(ready[0])
            kind, value = ray.get(ready[0])
            if kind == "agent_error":
                raise AgentError(value)
            for step in value["steps"]:
                run.bar.reply(step["agent_seconds"])
            run.keep(value)
            index = next(queue, None)
            if index is not None:
                pending[worker.play.remote(index)] = worker
    finally:
        for worker in actors:  # episodes still in flight are dropped: a resume plays them again
            ray.kill(worker)
