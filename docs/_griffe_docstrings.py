"""A griffe extension for the API pages: reads the packages' docstrings as Markdown without editing them.

The docstrings use a few reStructuredText habits that Markdown renders wrongly: Sphinx roles
(``:class:`~gpoints_env.Verdict```), bare doctest lines (``>>> env.reset(seed=0)[1]["numbers"]``, whose
``[1]["numbers"]`` Markdown reads as a reference link) and simple tables (rows between ``====  ====`` rules). This
extension turns roles into code spans (the last name, for a ``~`` role), wraps each run of doctest lines in a
``pycon`` code block, and rewrites simple tables as Markdown tables. Nothing else changes.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?[a-z]+:`(~?)([^`<]*?)\s*(?:<([^>`]+)>)?`")
_FENCE = re.compile(r"^\s*(```|~~~)")
_RULE = re.compile(r"^=+(?: +=+)+ *$")  # a simple table's rule: runs of "=" separated by spaces


def _role(match: re.Match[str]) -> str:
    tilde, text, target = match.groups()
    if target:  # :class:`shown text <target>`
        return f"`{text.strip()}`"
    name = text.strip()
    if tilde:
        name = name.rsplit(".", 1)[-1]
    return f"`{name}`"


def _fence_doctests(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    in_fence = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if _FENCE.match(line):
            in_fence = not in_fence
        if in_fence or not line.lstrip().startswith(">>>"):
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        block = []
        while i < len(lines) and lines[i].strip() and lines[i].startswith(indent):
            block.append(lines[i][len(indent):])
            i += 1
        if out and out[-1].strip():
            out.append("")
        out += [f"{indent}```pycon", *(indent + b for b in block), f"{indent}```"]
        if i < len(lines) and lines[i].strip():
            out.append("")
    return "\n".join(out)


def _simple_tables(text: str) -> str:
    """Rewrite reStructuredText simple tables (a rule, a header row, a rule, rows, a rule) as Markdown tables."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        rule = lines[i]
        ends = [j for j in range(i + 2, len(lines)) if lines[j] == rule] if _RULE.match(rule) else []
        if len(ends) < 2 or lines[i + 2] != rule:
            out.append(rule)
            i += 1
            continue
        starts = [m.start() for m in re.finditer(r"=+", rule)]

        def cells(row: str) -> list[str]:
            bounds = [*starts[1:], None]
            return [row[a:b].strip().replace("|", "\\|") for a, b in zip(starts, bounds)]

        header, body = lines[i + 1], lines[i + 3 : ends[1]]
        out += ["| " + " | ".join(cells(header)) + " |", "|" + "---|" * len(starts)]
        out += ["| " + " | ".join(cells(row)) + " |" for row in body if row.strip()]
        i = ends[1] + 1
    return "\n".join(out)


def markdown_docstring(text: str) -> str:
    """The docstring with Sphinx roles as code spans, doctest runs fenced and simple tables in Markdown."""
    return _simple_tables(_fence_doctests(_ROLE.sub(_role, text)))


class MarkdownDocstrings(griffe.Extension):
    """Rewrite every loaded docstring with :func:`markdown_docstring` before it is parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_docstring(obj.docstring.value)
