"""Command line: ``python -m sftrl_eval {list,run,report}`` (also installed as ``sftrl-eval``)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import json
import sys
from pathlib import Path
from typing import Any

from .harness import evaluate
from .report import report
from .settings import SETTINGS, get_setting

__all__ = ["main", "load_agent"]


def load_agent(spec: str, kwargs: dict[str, Any] | None = None) -> Any:
    """Load ``module:name`` or ``path/to/file.py:name``. A class is instantiated (with ``kwargs``); a function
    given ``kwargs`` is called with them as a factory; otherwise the named object is the agent itself.

    Raises:
        ValueError: the spec is malformed or names nothing.
    """
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise ValueError(f"agent must be 'module:name' or 'file.py:name', got {spec!r}")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise ValueError(f"no such file: {path}")
        # A private module name: never shadow an installed module that happens to share the file's name.
        name = f"_sftrl_eval_agent_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module  # dataclasses and pickling look modules up by name
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    if not hasattr(module, attr):
        raise ValueError(f"{target} has no attribute {attr!r}")
    obj = getattr(module, attr)
    if inspect.isclass(obj):
        return obj(**(kwargs or {}))
    if kwargs:
        return obj(**kwargs)
    return obj


def _settings(text: str) -> list[str]:
    if text.strip().lower() == "all":
        return list(SETTINGS)
    return [get_setting(name.strip()).name for name in text.split(",") if name.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sftrl_eval", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the settings")
    run = sub.add_parser("run", help="evaluate an agent on settings (resumes an interrupted run)")
    run.add_argument("--agent", required=True, help="module:name or path/file.py:name of the agent")
    run.add_argument("--agent-kwargs", default="{}", help="JSON keyword arguments for an agent class or factory")
    run.add_argument("--name", help="agent name in results (default: the agent's name)")
    run.add_argument("--settings", default="all", help="comma-separated setting names, or 'all'")
    run.add_argument("--episodes", type=int, help="episodes per setting (default: the paper's number)")
    run.add_argument("--out", required=True, help="results directory")
    run.add_argument("--concurrency", type=int, default=1, help="episodes in flight, for agents with async acall")
    run.add_argument("--env-kwargs", default="{}", help="JSON gym.make arguments, e.g. '{\"resolution\": 1200}'")
    run.add_argument("--no-progress", action="store_true")
    rep = sub.add_parser("report", help="write the Markdown table and PNG chart of result directories")
    rep.add_argument("dirs", nargs="+")
    rep.add_argument("--markdown", default="report.md")
    rep.add_argument("--png", default="report.png")
    args = parser.parse_args(argv)

    if args.command == "list":
        for s in SETTINGS.values():
            print(f"{s.name:<20} {s.env_id:<40} {s.split:<10} {s.episodes:>4} episodes")
        return 0
    if args.command == "run":
        agent = load_agent(args.agent, json.loads(args.agent_kwargs))
        summaries = [
            evaluate(agent, name, args.episodes, args.out, args.name, True, not args.no_progress, args.concurrency,
                     json.loads(args.env_kwargs))
            for name in _settings(args.settings)
        ]
        out = Path(args.out)
        print(report(summaries, out / "report.md", out / "report.png"))
        print(f"wrote {out / 'report.md'} and {out / 'report.png'}")
        return 0
    print(report(args.dirs, args.markdown, args.png))
    print(f"wrote {args.markdown} and {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
