"""The docs' code examples run as written, and the docs' machinery works.

Every ```python block of README.md and docs/**/*.md runs: the blocks of a page in order, in one fresh interpreter per
page, in a temporary folder. A block that cannot run on a CPU test machine is marked ``<!-- no-test: NAME (reason)
-->`` on the line above it; those are few, and named here (NOT_RUN), so a new one is a decision, not an accident.
"""

from __future__ import annotations

import datetime
import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

#: The blocks that do not run in the tests: name -> the page that holds it. Each needs what a CPU test machine
#: lacks (the reason stands in the marker).
NOT_RUN = {
    "virl-paper-released-draws": "docs/PAPER_PROTOCOL.md",  # the authors' released routes
    "virl-released-routes": "docs/virl.md",  # the authors' released routes
    "llm-agent-evaluate": "docs/llm.md",  # a served chat model
    "trl-grpo": "docs/trainers.md",  # a model from the Hugging Face Hub, and training it
    "trl-environment": "docs/trainers.md",  # a tool-calling model from the Hub (tests/test_train_trl_env.py: tiny ones)
    "rllib-ppo": "docs/trainers.md",  # ray[rllib], whose gymnasium pin CI tests in its second venv
    "inspect-python": "docs/inspect.md",  # a served model (tests/test_standard_inspect.py runs it, a scripted one)
    "openenv-client": "docs/openenv.md",  # a running server (tests/test_standard_openenv.py runs it against one)
    "openenv-trl": "docs/openenv.md",  # a model from the Hugging Face Hub, and training it
    "episodes-trl-routes": "docs/episodes.md",
    "episodes-trl-environment": "docs/episodes.md",  # a tool-calling vision-language model, and training it
    # README's whole-episode trainer snippets: copies of docs/episodes.md's (tests/test_train_episode_snippets.py
    # checks they are the same code, and runs that code)
    "readme-trl-routes": "README.md",
    "readme-verl-routes": "README.md",
    "readme-openrlhf-routes": "README.md",  # a GRPO run (tests/test_train_episode_snippets.py runs it on a CPU)
}
#: What a page's examples import beyond the core install (extras), so that a venv without them skips the page (CI's
#: second venv has no ``examples`` extra).
PAGE_NEEDS = {
    "docs/examples.md": ["torch", "stable_baselines3"],
    "docs/trainers.md": ["pyarrow"],
    "docs/episodes.md": ["pyarrow", "trl"],
}
#: README's hard limit: a front page, not a manual.
README_MAX_LINES = 250

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
_NO_TEST = re.compile(r"^<!--\s*no-test:\s*([a-z0-9-]+)\s*\(([^)]+)\)\s*-->$")

# Runs the blocks given as JSON [page, [[first line, code], ...]] in one namespace, each compiled under the page's
# name with its line numbers, so a traceback points at the Markdown line.
_RUNNER = """
import json, sys
page, blocks = json.loads(sys.argv[1])
namespace = {"__name__": "__main__"}
for line, code in blocks:
    exec(compile("\\n" * (line - 1) + code, page, "exec"), namespace)
"""


@dataclass(frozen=True)
class Block:
    """A fenced code block: its language, its first code line (1-based), its text and its no-test name, if any."""

    language: str
    line: int
    code: str
    not_run: str | None = None


def code_blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown text, in order.

    Raises:
        ValueError: A fence is not closed, or a no-test marker does not stand right above a fence.
    """
    lines = text.split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        marker = _NO_TEST.match(lines[i].strip())
        if marker and not (i + 1 < len(lines) and _FENCE.match(lines[i + 1])):
            raise ValueError(f"line {i + 1}: a no-test marker must stand on the line right above a code block")
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence = opening.group(2)
        start = i + 1
        end = next((j for j in range(start, len(lines)) if lines[j].strip() == fence), None)
        if end is None:
            raise ValueError(f"line {i + 1}: the code block is never closed")
        above = _NO_TEST.match(lines[i - 1].strip()) if i else None
        indent = len(opening.group(1))
        code = "\n".join(line[indent:] for line in lines[start:end])
        blocks.append(Block(opening.group(3), start + 1, code, above.group(1) if above else None))
        i = end + 1
    return blocks


def _relative(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _runnable(page: Path) -> list[Block]:
    return [b for b in code_blocks(page.read_text(encoding="utf-8")) if b.language == "python" and not b.not_run]


def run_blocks(page_name: str, blocks: list[Block], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run ``blocks`` in order in a fresh interpreter, in ``cwd``."""
    env = dict(os.environ, VIRL_ENV_NUMBA="0", MPLBACKEND="Agg")  # numpy passes: the same pictures, no compile wait
    payload = json.dumps([page_name, [[b.line, b.code] for b in blocks]])
    return subprocess.run([sys.executable, "-c", _RUNNER, payload], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("page", [p for p in PAGES if _runnable(p)], ids=_relative)
def test_the_python_examples_of_a_page_run(page, tmp_path):
    for module in PAGE_NEEDS.get(_relative(page), []):
        pytest.importorskip(module)
    proc = run_blocks(_relative(page), _runnable(page), tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]


def test_every_code_block_names_its_language():
    unnamed = [f"{_relative(page)}:{b.line - 1}" for page in PAGES
               for b in code_blocks(page.read_text(encoding="utf-8")) if not b.language]
    assert unnamed == [], "write ```python, ```bash, ```text...: an unnamed block is neither run nor shown as code"


def test_the_blocks_that_do_not_run_are_few_and_named():
    found = {}
    for page in PAGES:
        for block in code_blocks(page.read_text(encoding="utf-8")):
            if block.not_run:
                assert block.language == "python", f"{_relative(page)}:{block.line}: only python blocks run anyway"
                assert block.not_run not in found, f"two blocks named {block.not_run}"
                found[block.not_run] = _relative(page)
    assert found == NOT_RUN


def test_the_runner_reports_a_failing_block_at_its_markdown_line(tmp_path):
    blocks = code_blocks("# Page\n\n```python\nx = 1\n```\n\ntext\n\n```python\nassert x == 2, 'x is 1'\n```\n")
    assert [(b.line, b.code) for b in blocks] == [(4, "x = 1"), (10, "assert x == 2, 'x is 1'")]
    proc = run_blocks("docs/fake.md", blocks, tmp_path)
    assert proc.returncode != 0
    assert 'File "docs/fake.md", line 10' in proc.stderr and "x is 1" in proc.stderr


def test_the_block_reader_sees_markers_and_refuses_stray_ones():
    text = "<!-- no-test: a-name (why) -->\n```python\nraise SystemExit\n```\n~~~bash\nls\n~~~\n"
    assert code_blocks(text) == [Block("python", 3, "raise SystemExit", "a-name"), Block("bash", 6, "ls")]
    with pytest.raises(ValueError, match="right above"):
        code_blocks("<!-- no-test: a-name (why) -->\n\n```python\npass\n```\n")
    with pytest.raises(ValueError, match="never closed"):
        code_blocks("```python\npass\n")


_PACKAGES = ("gpoints_env", "virl_env", "sftrl_eval", "sftrl_train", "sftrl_core")
_DOTTED = re.compile(r"`((?:" + "|".join(_PACKAGES) + r")(?:\.[A-Za-z_]\w*)+)")


def resolve(dotted: str) -> object:
    """The object a dotted name names: the longest importable module prefix, then attributes.

    Raises:
        ImportError: A module or attribute needs a package that is not installed (an optional extra).
        AttributeError, ModuleNotFoundError: The name does not exist (moved or renamed).
    """
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError as error:
            if error.name and error.name.split(".")[0] not in _PACKAGES:
                raise ImportError(f"{dotted} needs {error.name}") from error
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ModuleNotFoundError(dotted)


def test_every_dotted_name_in_the_docs_exists():
    """`virl_env.task.rules.PAPER_RULES` and the like, in the prose: a module that moved breaks this, not a reader."""
    missing = []
    for page in PAGES:
        prose = re.sub(r"^(`{3,}|~{3,}).*?^\1", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
        for dotted in sorted(set(_DOTTED.findall(prose))):
            try:
                resolve(dotted)
            except (AttributeError, ModuleNotFoundError) as error:
                missing.append(f"{_relative(page)}: {dotted} ({error})")
            except ImportError:
                pass  # needs an extra this venv lacks (verl's agent loop...)
    assert missing == []


def test_the_name_check_can_fail():
    assert resolve("gpoints_env.protocols.paper_eval_hands") is not None
    with pytest.raises(AttributeError):
        resolve("gpoints_env.protocols.no_such_name")
    with pytest.raises((AttributeError, ModuleNotFoundError)):
        resolve("virl_env.no_such_room.thing")


def test_the_readme_is_a_front_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= README_MAX_LINES
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme):
        if not re.match(r"[a-z]+:", target):  # a relative link: the file must exist
            assert (ROOT / target).exists(), target


# ---- the results page and its writer (benchmarks/_results.py) ------------------------------------------------------

def _results_module():
    spec = importlib.util.spec_from_file_location("_results", ROOT / "benchmarks" / "_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SECTIONS = {"bench_gpoints": "bench_gpoints.py", "bench_gpoints_render": "bench_gpoints_render.py",
            "bench_virl_text": "bench_virl.py", "bench_virl_vl": "bench_virl.py", "bench_specs": "bench_specs.py"}


def test_every_benchmark_section_has_its_markers_and_its_writer():
    results = _results_module()
    page = results.RESULTS_PATH.read_text(encoding="utf-8")
    for key, script in SECTIONS.items():
        start, end = results.markers(key)
        assert page.count(start) == 1 and page.count(end) == 1 and page.index(start) < page.index(end), key
        assert f'write_section("{key}"' in (ROOT / "benchmarks" / script).read_text(encoding="utf-8"), key


def test_the_writer_replaces_only_its_section(tmp_path):
    results = _results_module()
    page = tmp_path / "results.md"
    start, end = results.markers("bench_x")
    other_start, other_end = results.markers("bench_y")
    page.write_text(f"# Results\n\n{start}\nold figures\n{end}\n\nnotes\n\n{other_start}\nkept\n{other_end}\n",
                    encoding="utf-8")
    table = results.markdown_table(["figure", "per second"], [("reset", results.rate(48012.4))])
    results.write_section("bench_x", table, versions={"gymnasium": "1.4.0"}, path=page,
                          when=datetime.date(2026, 12, 7), argv=[str(ROOT / "benchmarks" / "bench_x.py"), "--quick",
                                                                 "--write-results"])
    text = page.read_text(encoding="utf-8")
    assert "old figures" not in text and "notes" in text and f"{other_start}\nkept\n{other_end}" in text
    stamp = text.split(start + "\n", 1)[1].splitlines()[0]
    assert stamp.startswith("*Measured 2026-12-07 with `python benchmarks/bench_x.py --quick` on ")
    assert f"{os.cpu_count()} cores" in stamp and "Python " in stamp and "numpy " in stamp and "gymnasium 1.4.0" in stamp
    assert "| reset | 48,012 |" in text
    with pytest.raises(ValueError, match="exactly one"):
        results.write_section("bench_z", "x", path=page)
