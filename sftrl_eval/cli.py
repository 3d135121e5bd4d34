"""Command line: python -m sftrl_eval {list,run,report} (also installed as sftrl-eval)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import json
import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from sftrl_core.registry import DEFAULT_PROTOCOL

from .episode import AgentError
from .harness import BACKENDS, check_episodes, evaluate
from .report import report
from .results import _PRIVATE_MODULE_PREFIX, STORAGE_ERRNOS, ResultsError, ResultsWriteError
from .settings import PROTOCOLS, SETTINGS, EpisodeList, get_setting

__all__ = ["main", "load_agent", "load_agent_spec", "LoadedAgent", "UsageError", "EXIT_STORAGE"]

_DESCRIPTION = """\
Benchmark an agent on the paper's settings (GeneralPoints and V-IRL, in and out of distribution).

  list     the settings, their environments and sizes
  run      evaluate an agent (resumes an interrupted run in the same --out folder)
  report   tables and a chart of the runs found under one or more folders

Exit status: 0 done; 1 the agent failed; 2 a usage mistake (bad arguments, or a results folder that holds
another run or is in use); 3 the results could not be written (a full disk, a quota, an I/O error): the
episodes already written are intact, so free some space and run the same command again to resume.

Examples:
  python -m sftrl_eval run --agent examples/agents.py:OracleAgent --settings GP-L,VIRL-L --episodes 10 --out runs/oracle
  python -m sftrl_eval run --agent examples/agents.py:OracleAgent --settings GP-L-RuleOOD --protocol paper \
      --paper-reference --out runs/oracle-paper
"""


class UsageError(ValueError):
    """A mistake on the command line; the message names the problem and the fix."""


@dataclass
class LoadedAgent:
    """An agent loaded from a ``module:name`` spec, with what built it (for the results' identity)."""

    agent: Any
    factory: Any = None
    kwargs: dict[str, Any] = field(default_factory=dict)


def load_agent_spec(spec: str, kwargs: dict[str, Any] | None = None) -> LoadedAgent:
    """Load ``module:name`` or ``path/to/file.py:name``. A class is instantiated (with ``kwargs``); a function
    given ``kwargs`` is called with them as a factory; otherwise the named object is the agent itself.

    Raises:
        ValueError: the spec is malformed, or names no file, module or attribute.
    """
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise ValueError(f"agent must be 'module:name' or 'file.py:name', got {spec!r}")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise ValueError(f"no such file: {path} (the path is relative to {Path.cwd()})")
        # A private module name: never shadow an installed module that happens to share the file's name.
        name = f"{_PRIVATE_MODULE_PREFIX}{path.stem}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module  # dataclasses and pickling look modules up by name
        module_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as err:
            if err.name and target.split(".")[0] == err.name.split(".")[0]:
                raise ValueError(f"no module named {target!r} (looked in {Path.cwd()} and the installed packages;"
                                 " for a file write path/to/file.py:name)") from None
            raise
    if not hasattr(module, attr):
        raise ValueError(f"{target} has no attribute {attr!r}")
    obj = getattr(module, attr)
    kwargs = dict(kwargs or {})
    if inspect.isclass(obj):
        return LoadedAgent(obj(**kwargs), obj, kwargs)
    if kwargs:
        return LoadedAgent(obj(**kwargs), obj, kwargs)
    return LoadedAgent(obj)


def load_agent(spec: str, kwargs: dict[str, Any] | None = None) -> Any:
    """The agent of :func:`load_agent_spec` (without what built it)."""
    return load_agent_spec(spec, kwargs).agent


def _settings(text: str) -> list[str]:
    if text.strip().lower() == "all":
        return list(SETTINGS)
    names = [get_setting(name.strip()).name for name in text.split(",") if name.strip()]
    if not names:
        raise UsageError("--settings names no setting; see 'list'")
    return names


def _json_object(text: str, option: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as err:
        raise UsageError(f"{option} is not valid JSON ({err}); write e.g. {option} '{{\"seed\": 1}}' "
                         "(keys and strings in double quotes)") from None
    if not isinstance(value, dict):
        raise UsageError(f"{option} must be a JSON object such as '{{\"seed\": 1}}', got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse that reports a mistake in one line (and exit status 2), without the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    # SUPPRESS: "--debug" may come before or after the command without one resetting the other.
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of an error")
    parser = _Parser(prog="sftrl-eval", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
                     parents=[common])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="list the settings", parents=[common],
                   description="List the settings: name, environment id, split and the paper's number of episodes.")
    run = sub.add_parser("run", help="evaluate an agent on settings (resumes an interrupted run)", parents=[common],
                         description="Evaluate an agent on settings and write one results file per setting "
                         "into --out, then the report. Run the same command again to resume an interrupted run.")
    run.add_argument("--agent", required=True,
                     help="the agent as module:name (a module importable from the current folder or installed) "
                          "or path/to/file.py:name; a class is instantiated, a function is the agent itself "
                          "(or, with --agent-kwargs, a factory called with them)")
    run.add_argument("--agent-kwargs", default="{}", metavar="JSON",
                     help="keyword arguments for an agent class or factory, as a JSON object, e.g. '{\"seed\": 1}'")
    run.add_argument("--name", help="the agent's name in the results (default: its name attribute, else the "
                                    "factory's or class's name)")
    run.add_argument("--settings", default="all", help="comma-separated setting names (see 'list'), or 'all' "
                                                        "(default)")
    run.add_argument("--episodes", type=_positive_int, metavar="N",
                     help="episodes per setting (default: the paper's number; V-IRL allows no more than that)")
    run.add_argument("--out", required=True, metavar="DIR", help="results folder (one run per folder)")
    run.add_argument("--concurrency", type=_positive_int, default=1, metavar="N",
                     help="episodes in flight at once, for agents with an async acall method; helps only when "
                          "the model server answers requests in parallel (default 1)")
    run.add_argument("--env-kwargs", default="{}", metavar="JSON",
                     help="extra gym.make arguments as a JSON object, e.g. '{\"resolution\": 1200}'")
    run.add_argument("--protocol", choices=PROTOCOLS, default=DEFAULT_PROTOCOL,
                     help="'suite' (default): the suite's prompts and grading; 'paper': the authors' evaluation "
                          "(their prompts, grading, hand lists and V-IRL per-step accuracy), the only numbers "
                          "comparable with the paper's")
    run.add_argument("--dataset-dir", metavar="DIR",
                     help="the released V-IRL data for the V-IRL settings (with --protocol paper: the authors' "
                          "route draws on it); without it V-IRL plays the suite's generated routes")
    run.add_argument("--backend", choices=BACKENDS, default="local",
                     help="'local' (default), or 'ray': episodes on Ray actors (ray.init(): a local cluster, or "
                          "the one RAY_ADDRESS names; needs pip install ray)")
    run.add_argument("--workers", type=_positive_int, metavar="N",
                     help="with --backend ray: Ray actors playing at once (default: the cluster's CPUs)")
    run.add_argument("--paper-reference", action="store_true",
                     help="print the paper's published numbers beside the run's in the report")
    run.add_argument("--no-progress", action="store_true", help="print no progress on stderr")
    rep = sub.add_parser("report", help="write the Markdown table and PNG chart of result folders", parents=[common],
                         description="Summarise every run found under the given folders (searched recursively). "
                         "With neither --markdown nor --png, writes report.md and report.png here; with one of "
                         "them, only that file.")
    rep.add_argument("dirs", nargs="+", metavar="DIR", help="folders holding results (searched recursively)")
    rep.add_argument("--markdown", metavar="FILE", help="where to write the Markdown report")
    rep.add_argument("--png", metavar="FILE", help="where to write the PNG chart")
    rep.add_argument("--paper-reference", action="store_true",
                     help="print the paper's published numbers beside the runs' (runs under the suite protocol "
                          "are marked not comparable)")
    return parser


def _list() -> None:
    rows = [(s.name, s.env_id, s.split, f"{s.episodes} episodes") for s in SETTINGS.values()]
    header = ("setting", "environment", "split", "size")
    widths = [max(len(row[i]) for row in rows + [header]) for i in range(4)]
    for row in [header] + rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def _run(args: argparse.Namespace) -> None:
    kwargs = _json_object(args.agent_kwargs, "--agent-kwargs")
    env_kwargs = _json_object(args.env_kwargs, "--env-kwargs")
    names = _settings(args.settings)
    if args.workers is not None and args.backend != "ray":
        raise UsageError("--workers is the number of Ray actors; add --backend ray")
    if args.backend == "ray" and args.concurrency != 1:
        raise UsageError("--concurrency is for the local backend; with --backend ray use --workers")
    if args.dataset_dir is not None:
        if not Path(args.dataset_dir).is_dir():
            raise UsageError(f"--dataset-dir {args.dataset_dir} is not a folder")
        if not any(get_setting(name).game.walks_routes for name in names):  # the released data are routes
            raise UsageError("--dataset-dir is the released V-IRL data, and --settings names no V-IRL setting")
    for name in names:  # every mistake before the first episode, not after an hour of the first setting
        setting = get_setting(name)
        on_dataset = _dataset_dir(args, name) is not None
        check_episodes(setting, args.episodes, EpisodeList(setting, args.protocol, on_dataset))
    try:
        loaded = load_agent_spec(args.agent, kwargs)
    except ValueError as err:
        raise UsageError(f"--agent {args.agent}: {err}") from None
    except TypeError as err:  # the class or factory rejected the arguments
        raise UsageError(f"--agent {args.agent} with --agent-kwargs {args.agent_kwargs}: {err}") from None
    summaries = [
        evaluate(loaded.agent, name, args.episodes, args.out, args.name, True, not args.no_progress,
                 args.concurrency, env_kwargs, agent_factory=loaded.factory, agent_kwargs=loaded.kwargs,
                 protocol=args.protocol, dataset_dir=_dataset_dir(args, name), backend=args.backend,
                 workers=args.workers)
        for name in names
    ]
    out = Path(args.out)
    print(report(summaries, out / "report.md", out / "report.png", paper_reference=args.paper_reference))
    print(f"wrote {out / 'report.md'} and {out / 'report.png'}")


def _dataset_dir(args: argparse.Namespace, name: str) -> str | None:
    """``--dataset-dir`` for a V-IRL setting (GeneralPoints settings have no route data)."""
    return args.dataset_dir if get_setting(name).game.walks_routes else None


def _report(args: argparse.Namespace) -> None:
    markdown, png = args.markdown, args.png
    if markdown is None and png is None:
        markdown, png = "report.md", "report.png"
    for directory in args.dirs:
        if not Path(directory).is_dir():
            raise UsageError(f"{directory} is not a folder; pass the folders given to 'run --out'")
    print(report(args.dirs, markdown, png, paper_reference=args.paper_reference))
    print("wrote " + " and ".join(str(p) for p in (markdown, png) if p is not None))


#: Exit status when results (or the report) could not be written: a full disk, a full quota, an I/O error.
EXIT_STORAGE = 3


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status: 0 done, 1 the agent failed, 2 a usage mistake (bad
    arguments, or a results folder that holds another run or is in use), 3 (:data:`EXIT_STORAGE`) the results
    could not be written (a full disk, a full quota, an I/O error: the failed write is undone and the episodes
    already written stay intact, so running the same command again resumes). Each error is one line on stderr
    (``--debug`` adds the traceback)."""
    args = _parser().parse_args(argv)
    # Like `python -m sftrl_eval`, the installed script finds agent modules in the current folder.
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        if args.command == "list":
            _list()
        elif args.command == "run":
            _run(args)
        else:
            _report(args)
    except ResultsWriteError as err:
        return _fail(args, err, EXIT_STORAGE)
    except (UsageError, ResultsError, FileExistsError, FileNotFoundError) as err:
        return _fail(args, err, 2)
    except (ValueError, TypeError, ImportError) as err:  # argument checks, bad gym.make arguments, no Ray...
        return _fail(args, err, 2)
    except AgentError as err:
        return _fail(args, err, 1, " (finished episodes are saved: run the same command again to resume)")
    except OSError as err:  # the disk refused a file besides the results (the folder, its lock, the report)
        if err.errno not in STORAGE_ERRNOS:
            raise
        return _fail(args, err, EXIT_STORAGE, " (results already written are intact: free some space and run the "
                                              "same command again to resume)")
    return 0


def _fail(args: argparse.Namespace, err: BaseException, status: int, hint: str = "") -> int:
    if getattr(args, "debug", False):
        traceback.print_exception(err)
    print(f"sftrl-eval: error: {err}{hint}", file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
