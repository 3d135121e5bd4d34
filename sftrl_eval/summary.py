"""Summary statistics of a setting's episode records: success rate, per-step and recognition accuracy, replies."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from sftrl_core.registry import PROTOCOLS, SUITE

from .settings import SEED_LIST_VERSION, Setting, get_setting

__all__ = ["summarize", "records_protocol", "UNPARSEABLE_VERDICTS"]

#: Verdicts that mean the reply could not be read as an answer at all.
UNPARSEABLE_VERDICTS = frozenset({"no_formula", "illegal_formula", "invalid"})


def _rate(values: list[bool]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    p = sum(values) / len(values)
    return p, math.sqrt(p * (1 - p) / len(values))


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def records_protocol(records: Iterable[dict[str, Any]]) -> str:
    """The protocol a setting's records were played under (records without one, written before protocols
    existed, are ``"suite"``).

    Raises:
        ValueError: the records mix protocols (the harness never writes such a file).
    """
    found = {str(r.get("protocol", SUITE.name)) for r in records}
    if len(found) > 1:
        raise ValueError(f"these results mix protocols ({', '.join(sorted(found))}): their numbers cannot be pooled")
    return found.pop() if found else SUITE.name


def _reproduces_paper(protocol: str) -> bool:
    """Whether ``protocol`` is one that reproduces the paper (a name this suite does not know does not)."""
    return protocol in PROTOCOLS and PROTOCOLS[protocol].reproduces_paper


def _per_step(records: list[dict[str, Any]], protocol: str) -> tuple[float | None, float | None]:
    if not _reproduces_paper(protocol):
        return _rate([c for r in records for c in r.get("step_correct", [])])
    # The authors' evaluator counts one more wrong call per point whose attempts ran out (each record's
    # exhausted_points): virl_env.paper_step_accuracy.
    from virl_env import paper_step_accuracy

    accuracy = paper_step_accuracy(records)
    calls = sum(len(r["step_correct"]) + r["exhausted_points"] for r in records)
    return accuracy, None if accuracy is None else math.sqrt(accuracy * (1 - accuracy) / calls)


def summarize(records: Iterable[dict[str, Any]], setting: str | Setting, agent: str) -> dict[str, Any]:
    """Summary statistics of a setting's episode records.

    Returns a dict with ``protocol``, ``success_rate`` and its standard error (binomial, over episodes),
    ``per_step_accuracy`` (V-IRL, whose episodes are routes: over every graded step, else ``None``; under the
    paper protocol as the authors' evaluator computes it, a wrong extra call counted for every point whose
    attempts ran out) with its standard error, ``recognition_accuracy`` (image modes: over replies that
    reported cards, else ``None``), ``mean_attempts`` (replies per episode), ``unparseable_rate`` (replies with no readable answer),
    ``mean_agent_seconds`` per reply and, when the agent reported them, ``mean_prompt_tokens`` and
    ``mean_completion_tokens`` per reply (else ``None``).

    Raises:
        ValueError: the records mix protocols.
    """
    setting = get_setting(setting)
    records = list(records)
    protocol = records_protocol(records)
    replies = [step for r in records for step in r["steps"]]
    success, success_se = _rate([r["success"] for r in records])
    step_acc, step_se = _per_step(records, protocol) if setting.game.walks_routes else (None, None)
    recognition, _ = _rate([s["recognized"] for s in replies if s.get("recognized") is not None])
    unparseable, _ = _rate([s["verdict"] in UNPARSEABLE_VERDICTS for s in replies])
    return {
        "setting": setting.name,
        "agent": agent,
        "protocol": protocol,
        "episode_list": next((r["episode_list"] for r in records if "episode_list" in r), None),
        "split": setting.split,
        "episodes": len(records),
        "success_rate": success,
        "success_stderr": success_se,
        "per_step_accuracy": step_acc,
        "per_step_stderr": step_se,
        "recognition_accuracy": recognition if setting.image else None,
        "mean_attempts": (len(replies) / len(records)) if records else None,
        "unparseable_rate": unparseable,
        "mean_agent_seconds": (sum(s["agent_seconds"] for s in replies) / len(replies)) if replies else None,
        **{f"mean_{key}": _mean([s[key] for s in replies if key in s]) for key in ("prompt_tokens",
                                                                                  "completion_tokens")},
        "seed_list_version": SEED_LIST_VERSION,
    }
