"""Benchmark any agent on the paper's settings (GeneralPoints and V-IRL, in and out of distribution).

    from sftrl_eval import evaluate, report
    summary = evaluate(my_agent, "GP-L-RuleOOD", out_dir="runs/my_agent")   # 234 episodes, resumable
    report(["runs/my_agent", "runs/baseline"], markdown_path="report.md", png_path="report.png")

or from the command line: ``python -m sftrl_eval run --agent my_module:my_agent --settings GP-L,GP-L-RuleOOD``.
``protocol="paper"`` (``--protocol paper``) plays the paper authors' evaluation, the only numbers comparable
with the paper's; ``backend="ray"`` (``--backend ray``) plays a setting's episodes across a Ray cluster. The
protocols and the games are those of :mod:`sftrl_core.registry`.
"""

from __future__ import annotations

from .episode import AgentError, public_info
from .harness import BACKENDS, aevaluate, evaluate
from .report import collect_summaries, draw_chart, markdown_table, paper_table, report
from .results import ResultsError, ResultsInUseError, ResultsWriteError, agent_identity, load_meta, load_records
from .settings import (
    PAPER_RESULTS,
    PROTOCOLS,
    SEED_LIST_VERSION,
    SETTINGS,
    EpisodeList,
    PaperResult,
    Setting,
    check_protocol,
    get_setting,
)
from .summary import UNPARSEABLE_VERDICTS, records_protocol, summarize

__all__ = [
    "evaluate",
    "aevaluate",
    "summarize",
    "load_records",
    "load_meta",
    "public_info",
    "records_protocol",
    "agent_identity",
    "AgentError",
    "ResultsError",
    "ResultsInUseError",
    "ResultsWriteError",
    "UNPARSEABLE_VERDICTS",
    "report",
    "collect_summaries",
    "markdown_table",
    "paper_table",
    "draw_chart",
    "SETTINGS",
    "Setting",
    "get_setting",
    "SEED_LIST_VERSION",
    "PROTOCOLS",
    "check_protocol",
    "EpisodeList",
    "PaperResult",
    "PAPER_RESULTS",
    "BACKENDS",
]
