"""The typed client of the suite's OpenEnv server (a persistent WebSocket session per client).

>>> from sftrl_openenv import SuiteAction, SuiteEnv
>>> with SuiteEnv(base_url="http://127.0.0.1:8000").sync() as env:  # doctest: +SKIP
...     result = env.reset(setting="GP-L-RuleOOD", protocol="paper", episode=0)
...     while not result.done:
...         result = env.step(SuiteAction(reply=my_model(result.observation.messages)))

``SuiteEnv`` is async by default (``await env.reset(...)``); ``.sync()`` gives the blocking client.
"""

from __future__ import annotations

from typing import Any

from openenv.core import EnvClient
from openenv.core.client_types import StepResult

from .models import SuiteAction, SuiteObservation, SuiteState

__all__ = ["SuiteEnv"]


class SuiteEnv(EnvClient[SuiteAction, SuiteObservation, SuiteState]):
    """Client of the suite's OpenEnv server: ``reset(env_id=..., protocol=..., seed=...)`` or
    ``reset(setting=..., episode=...)``, then ``step(SuiteAction(reply=...))`` until ``done``; each client is one
    session with its own environment on the server."""

    def _step_payload(self, action: SuiteAction) -> dict[str, Any]:
        return action.model_dump()

    def _parse_result(self, payload: dict[str, Any]) -> StepResult[SuiteObservation]:
        fields = dict(payload.get("observation") or {})
        fields.setdefault("metadata", payload.get("metadata") or {})
        observation = SuiteObservation(**fields, reward=payload.get("reward"), done=bool(payload.get("done")))
        return StepResult(observation=observation, reward=payload.get("reward"), done=bool(payload.get("done")),
                          metadata=payload.get("metadata"))

    def _parse_state(self, payload: dict[str, Any]) -> SuiteState:
        return SuiteState(**payload)
