"""Reports: a Markdown table and a PNG chart comparing agents across settings.

Inputs are summaries (from :func:`~sftrl_eval.harness.evaluate`) or folders, searched recursively for results
files (``<setting>.jsonl``), which are summarised afresh, so a report can be made at any time, even from an
interrupted run. Two runs with the same agent name from different folders are never merged: their rows are
labelled with their folders and the report says so.

Every row names its protocol. With ``paper_reference=True`` the report prints the paper's published numbers
(:data:`~sftrl_eval.settings.PAPER_RESULTS`) beside the runs measured under the paper protocol; runs under the
suite protocol are marked as not comparable with them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from sftrl_core.registry import SUITE

from .results import load_records
from .settings import PAPER_RESULTS, PAPER_VIRL_DATA_LIST, SETTINGS
from .summary import _reproduces_paper, summarize

__all__ = ["collect_summaries", "markdown_table", "paper_table", "draw_chart", "report", "PER_STEP_FLOORS"]

#: Per-step accuracy of an agent that always answers ``forward()`` (route success 0%), per V-IRL setting, under
#: the suite protocol: most points of a route expect ``forward()``, so per-step accuracy starts high. (Under the
#: paper protocol it is 0: the start point expects a turn, and the episode ends when its attempts run out.) Measured
#: with ``python -m sftrl_eval run --agent examples/agents.py:ForwardAgent --settings <setting> --out DIR``
#: (the test suite re-measures the text settings).
PER_STEP_FLOORS: dict[str, float] = {
    "VIRL-L": 0.637,  # 621 of 975 points
    "VIRL-L-RuleOOD": 0.637,
    "VIRL-VL": 0.637,
    "VIRL-VL-RuleOOD": 0.637,
    "VIRL-VL-VisualOOD": 0.597,  # 213 of 357 points
}

_PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
            (227, 119, 194), (127, 127, 127)]


def collect_summaries(sources: Iterable[dict[str, Any] | str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """Summaries from summary dicts and/or folders (every ``<setting>.jsonl`` under them, at any depth).

    A summary read from a folder carries ``"source"`` (the folder). When the same agent name appears for one
    setting in more than one folder, each such summary's ``agent`` becomes ``"name (folder)"`` and keeps the
    plain name in ``"agent_name"``, so no two runs are ever merged into one row.

    Each episode counts once: a line repeated in a results file is read once, and two lines that record one
    episode with different results are refused (see :func:`~sftrl_eval.results.load_records`).

    Raises:
        FileNotFoundError: a source is not a folder.
        ResultsError: a results file records one episode twice with different results.
    """
    out = []
    for source in sources:
        if isinstance(source, dict):
            out.append(source)
            continue
        directory = Path(source)
        if not directory.is_dir():
            raise FileNotFoundError(f"{directory} is not a results folder")
        for path in sorted(directory.rglob("*.jsonl")):
            if path.stem not in SETTINGS or not path.is_file():
                continue
            records = load_records(path, unique=True)  # a line repeated in the file counts once
            for agent in sorted({str(r.get("agent")) for r in records}):
                mine = sorted((r for r in records if str(r.get("agent")) == agent), key=lambda r: r["index"])
                out.append({**summarize(mine, path.stem, agent), "source": str(path.parent)})
    seen: dict[tuple[str, str], set[str]] = {}
    for s in out:
        seen.setdefault((s["agent"], s["setting"]), set()).add(s.get("source", ""))
    clashing = {key for key, folders in seen.items() if len(folders) > 1}
    for s in out:
        if (s["agent"], s["setting"]) in clashing:
            s["agent_name"], s["agent"] = s["agent"], f"{s['agent']} ({s.get('source') or 'given summary'})"
    return out


def _pct(value: float | None, stderr: float | None = None) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.1f}" + (f" ± {100 * stderr:.1f}" if stderr is not None else "")


def _paper_cell(summary: dict[str, Any]) -> str:
    reference = PAPER_RESULTS.get(summary["setting"])
    if reference is None:
        return "-"
    protocol = summary.get("protocol", SUITE.name)
    if not _reproduces_paper(protocol):
        return f"not comparable ({protocol} protocol)"
    if SETTINGS[summary["setting"]].game.walks_routes and summary.get("episode_list") != PAPER_VIRL_DATA_LIST:
        # Their protocol on the suite's generated cities: the routes, hence the difficulty, are not theirs.
        return reference.describe() + " (their protocol, our generated routes)"
    return reference.describe()


def markdown_table(summaries: list[dict[str, Any]], paper_reference: bool = False) -> str:
    """One row per (agent, setting) with every statistic; with ``paper_reference``, a last column with the
    paper's published result for the setting (initial model → RL / SFT, in %)."""
    lines = [
        "| agent | setting | protocol | episodes | success % | per-step acc. % | recognition % | replies/episode "
        "| unparseable % | s/reply | tokens/reply |" + (" paper % (initial → RL / SFT) |" if paper_reference else ""),
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---|" if paper_reference else ""),
    ]
    order = list(SETTINGS)
    for s in sorted(summaries, key=lambda s: (s["agent"], order.index(s["setting"]))):
        attempts = "-" if s["mean_attempts"] is None else f"{s['mean_attempts']:.2f}"
        seconds = s.get("mean_agent_seconds")
        seconds = "-" if seconds is None else (f"{seconds:.3f}" if seconds < 10 else f"{seconds:.1f}")
        tokens = s.get("mean_completion_tokens")
        tokens = "-" if tokens is None else f"{tokens:.0f}"
        lines.append(
            f"| {s['agent']} | {s['setting']} | {s.get('protocol', SUITE.name)} | {s['episodes']} | "
            f"{_pct(s['success_rate'], s['success_stderr'])} | "
            f"{_pct(s['per_step_accuracy'], s.get('per_step_stderr'))} | {_pct(s['recognition_accuracy'])} | "
            f"{attempts} | {_pct(s['unparseable_rate'])} | {seconds} | {tokens} |"
            + (f" {_paper_cell(s)} |" if paper_reference else "")
        )
    return "\n".join(lines) + "\n"


def paper_table(summaries: list[dict[str, Any]], paper_reference: bool = False) -> str:
    """The paper's layout: one row per agent, one column per setting: success %, and for V-IRL also the
    per-step accuracy in parentheses (the paper reports per-step accuracy for its rule-OOD V-IRL results and
    route success for the visual-OOD ones). With ``paper_reference``, three more rows give the paper's
    published numbers (its initial model, after RL, after SFT) in the same layout."""
    settings = [name for name in SETTINGS if any(s["setting"] == name for s in summaries)]
    agents = sorted({s["agent"] for s in summaries})
    lookup = {(s["agent"], s["setting"]): s for s in summaries}
    lines = ["| agent | " + " | ".join(settings) + " |", "|---|" + "---:|" * len(settings)]
    for agent in agents:
        cells = []
        for name in settings:
            s = lookup.get((agent, name))
            if s is None:
                cells.append("-")
            elif s["per_step_accuracy"] is not None:
                cells.append(f"{_pct(s['success_rate'])} ({_pct(s['per_step_accuracy'])})")
            else:
                cells.append(_pct(s["success_rate"]))
        lines.append(f"| {agent} | " + " | ".join(cells) + " |")
    if paper_reference and any(name in PAPER_RESULTS for name in settings):
        for label, field in (("initial", "initial"), ("RL", "rl"), ("SFT", "sft")):
            cells = []
            for name in settings:
                reference = PAPER_RESULTS.get(name)
                value = None if reference is None else f"{getattr(reference, field):.1f}"
                cells.append("-" if value is None else (value if reference.metric == "success" else f"- ({value})"))
            lines.append(f"| *paper: {label}* | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def draw_chart(summaries: list[dict[str, Any]], path: str | os.PathLike[str] | None = None) -> Image.Image:
    """Grouped bars of success rate (with ±1 standard error) per setting, one colour per agent."""
    settings = [name for name in SETTINGS if any(s["setting"] == name for s in summaries)]
    agents = sorted({s["agent"] for s in summaries})
    lookup = {(s["agent"], s["setting"]): s for s in summaries}
    bar_w = 20
    group_w = max(84, 24 + (bar_w + 2) * len(agents))  # wide enough for a label such as "VisualOOD"
    left, top, plot_h = 70, 60, 320
    title, small, tiny = _font(20), _font(14), _font(12)
    heading = "Success rate by setting (error bars: \u00b11 standard error)"
    title_w = ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(heading, font=title)
    width = int(max(left + group_w * len(settings) + 30, left + title_w + 30))
    height = top + plot_h + 80 + 22 * ((len(agents) + 2) // 3)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((left, 18), heading, fill="black", font=title)
    base = top + plot_h
    for tick in range(0, 101, 20):
        y = base - plot_h * tick / 100
        draw.line([(left, y), (width - 20, y)], fill=(225, 225, 225))
        draw.text((left - 8, y), f"{tick}%", fill=(80, 80, 80), font=small, anchor="rm")
    draw.line([(left, top), (left, base), (width - 20, base)], fill="black", width=2)
    for g, name in enumerate(settings):
        x0 = left + g * group_w + (group_w - len(agents) * (bar_w + 2)) / 2
        for a, agent in enumerate(agents):
            s = lookup.get((agent, name))
            if s is None or s["success_rate"] is None:
                continue
            x = x0 + a * (bar_w + 2)
            y = base - plot_h * s["success_rate"]
            draw.rectangle([x, y, x + bar_w, base], fill=_PALETTE[a % len(_PALETTE)])
            se = s["success_stderr"] or 0.0
            lo, hi = base - plot_h * max(s["success_rate"] - se, 0), base - plot_h * min(s["success_rate"] + se, 1)
            mid = x + bar_w / 2
            draw.line([(mid, lo), (mid, hi)], fill="black", width=1)
            draw.line([(mid - 4, hi), (mid + 4, hi)], fill="black")
            draw.line([(mid - 4, lo), (mid + 4, lo)], fill="black")
        label_x = x0 + (len(agents) * (bar_w + 2)) / 2
        for line_no, part in enumerate(name.replace("-RuleOOD", "\nRuleOOD").replace("-VisualOOD", "\nVisualOOD").split("\n")):
            draw.text((label_x, base + 8 + 15 * line_no), part, fill="black", font=tiny, anchor="ma")
    for a, agent in enumerate(agents):
        x = left + (a % 3) * 200
        y = base + 50 + 22 * (a // 3)
        draw.rectangle([x, y, x + 14, y + 14], fill=_PALETTE[a % len(_PALETTE)])
        draw.text((x + 20, y + 7), agent, fill="black", font=small, anchor="lm")
    if path is not None:
        image.save(path)
    return image


def _notes(summaries: list[dict[str, Any]]) -> str:
    """Warnings a reader needs next to the table: trivial floors, and runs that share an agent name."""
    notes = []
    floors = [f"{name} {100 * PER_STEP_FLOORS[name]:.1f}%" for name in SETTINGS
              if name in PER_STEP_FLOORS
              and any(s["setting"] == name and not _reproduces_paper(s.get("protocol", SUITE.name))
                      for s in summaries)]
    if floors:
        notes.append("Per-step accuracy has a high trivial floor: an agent that always answers forward() gets "
                     + ", ".join(floors) + " per step, with route success 0%. Compare per-step figures with "
                     "these floors, not with 0.")
    suite = sorted({s["setting"] for s in summaries if not _reproduces_paper(s.get("protocol", SUITE.name))},
                   key=list(SETTINGS).index)
    if suite:
        notes.append("Measured under the suite protocol (" + ", ".join(suite) + "): these numbers are not comparable "
                     "with the paper's; run with --protocol paper (protocol=\"paper\") for numbers that are.")
    renamed = sorted({s["agent_name"] for s in summaries if "agent_name" in s})
    if renamed:
        notes.append("Runs in different folders share the agent name " + ", ".join(repr(n) for n in renamed)
                     + "; their rows are labelled with their folders and never merged.")
    return "".join(f"\n{note}\n" for note in notes)


def report(
    sources: Iterable[dict[str, Any] | str | os.PathLike[str]],
    markdown_path: str | os.PathLike[str] | None = None,
    png_path: str | os.PathLike[str] | None = None,
    paper_reference: bool = False,
) -> str:
    """Write the Markdown report (both tables) and the PNG chart; return the Markdown.

    Args:
        sources: summaries and/or results folders (see :func:`collect_summaries`).
        markdown_path: where to write the Markdown (``None``: nowhere).
        png_path: where to write the chart (``None``: nowhere).
        paper_reference: print the paper's published numbers beside the runs'.
    """
    summaries = collect_summaries(sources)
    if not summaries:
        raise ValueError("no results to report")
    text = (
        "## Paper-style table\n\nSuccess % per setting; V-IRL cells also give the per-step accuracy % in "
        "parentheses.\n\n" + paper_table(summaries, paper_reference) + _notes(summaries)
        + "\n## All statistics\n\n" + markdown_table(summaries, paper_reference)
        + "\ns/reply: the agent's mean seconds per reply; tokens/reply: mean completion tokens, when the agent "
          "reports them.\n"
    )
    if markdown_path is not None:
        Path(markdown_path).write_text(text)
    if png_path is not None:
        draw_chart(summaries, png_path)
    return text
