"""Write a benchmark's figures into the docs' results page (``docs/results.md``), dated, with the machine and the
command that measured them.

Each benchmark script owns one or more sections of that page, each between two HTML comments::

    <!-- results:bench_gpoints:start -->
    ...
    <!-- results:bench_gpoints:end -->

``--write-results`` on a script replaces what lies between its markers and leaves the rest of the page (notes,
earlier measurements) as it is. Nothing here measures anything.
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

#: The results page, in the repository's docs.
RESULTS_PATH = Path(__file__).resolve().parents[1] / "docs" / "results.md"

#: The option every benchmark script takes to rewrite its sections.
WRITE_OPTION = "--write-results"

# The 1-minute load average when the script imported this module, before it measured anything: the figures move
# with load on a shared machine, so the page states it.
_START_LOAD = os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def add_write_option(parser) -> None:
    """Add ``--write-results`` to a script's argument parser."""
    parser.add_argument(WRITE_OPTION, action="store_true",
                        help=f"also write the figures, dated, into {RESULTS_PATH.relative_to(RESULTS_PATH.parents[1])}")


def cpu_model() -> str:
    """The CPU's model name, as the operating system reports it (or the machine type if it reports none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine(**versions: str) -> str:
    """One line on the machine: cores, CPU model, OS, Python, numpy, then ``versions`` (name -> version)."""
    cores = os.cpu_count() or 0
    parts = [f"{cores} cores ({cpu_model()})", f"{platform.system()} {platform.machine()}",
             f"Python {platform.python_version()}", f"numpy {np.__version__}"]
    parts += [f"{name} {version}" for name, version in versions.items()]
    if _START_LOAD is not None:
        parts.append(f"load average {_START_LOAD:.1f} at the start")
    return ", ".join(parts)


def command(argv: Sequence[str] | None = None) -> str:
    """The command that ran the benchmark, as one would type it from the repository root (without the writer's
    own option, which changes nothing measured)."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve()
    try:
        script_text = str(script.relative_to(RESULTS_PATH.parents[1]))
    except ValueError:
        script_text = argv[0]
    args = [a for a in argv[1:] if a != WRITE_OPTION]
    return " ".join(["python", shlex.quote(script_text), *map(shlex.quote, args)])


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]], align: str = "") -> str:
    """A Markdown table; ``align`` holds one letter per column, ``l`` or ``r`` (default: first left, rest right)."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def rate(value: float) -> str:
    """A rate as the results page prints it: thousands separated, no decimals above 100."""
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def markers(key: str) -> tuple[str, str]:
    """The start and end markers of section ``key``."""
    return f"<!-- results:{key}:start -->", f"<!-- results:{key}:end -->"


def replace_section(text: str, key: str, body: str) -> str:
    """``text`` with what lies between section ``key``'s markers replaced by ``body``.

    Raises:
        ValueError: The markers are missing, repeated or out of order.
    """
    start, end = markers(key)
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(f"the results page needs exactly one {start} ... {end} pair, in that order")
    head, rest = text.split(start)
    _, tail = rest.split(end)
    return f"{head}{start}\n{body.strip()}\n{end}{tail}"


def write_section(key: str, body: str, *, versions: dict[str, str] | None = None, path: Path = RESULTS_PATH,
                  when: datetime.date | None = None, argv: Sequence[str] | None = None) -> None:
    """Rewrite section ``key`` of the results page: a dated line (date, command, machine) above ``body``.

    Args:
        key: the section's name in its markers (``bench_gpoints``...).
        body: the figures, as Markdown.
        versions: further package versions for the machine line (gymnasium, Pillow, numba...).
        path: the results page.
        when: the date to state (default: today, UTC).
        argv: the command line to state (default: this process's).
    """
    when = when or datetime.datetime.now(datetime.timezone.utc).date()
    stamp = f"*Measured {when.isoformat()} with `{command(argv)}` on {machine(**(versions or {}))}.*"
    text = replace_section(path.read_text(encoding="utf-8"), key, f"{stamp}\n\n{body.strip()}\n")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    print(f"wrote section {key!r} of {path}")
