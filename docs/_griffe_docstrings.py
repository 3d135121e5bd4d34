"""A griffe extension for the API pages: reads the packages' docstrings as Markdown without editing them.

The docstrings use a few reStructuredText habits that Markdown renders wrongly: Sphinx roles
(``:class:`~gpoints_env.Verdict```) and bare doctest lines (``>>> env.reset(seed=0)[1]["numbers"]``, whose
``[1]["numbers"]`` Markdown reads as a reference link). This extension turns roles into code spans (the last
name, for a ``~`` role) and wraps each run of doctest lines in a ``pycon`` code block. Nothing else changes.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?[a-z]+:`(~?)([^`<]*?)\s*(?:<([^>`]+)>)?`")
_FENCE = re.compile(r"^\s*(```|~~~)")


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


def markdown_docstring(text: str) -> str:
    """The docstring with Sphinx roles as code spans and doctest runs fenced."""
    return _fence_doctests(_ROLE.sub(_role, text))


class MarkdownDocstrings(griffe.Extension):
    """Rewrite every loaded docstring with :func:`markdown_docstring` before it is parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_docstring(obj.docstring.value)
