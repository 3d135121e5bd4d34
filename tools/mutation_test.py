#!/usr/bin/env python
"""Mutation testing of the modules that decide verdicts, rewards, episode ends and resumes, with mutmut.

Each module group (the modules and the test files that test them) is mutated in its own temporary copy of the
working tree (tracked and untracked-but-not-ignored files as they are on disk; never ``.git`` or ``mutants/``), so
the checkout itself is never touched. The copy's packages shadow the editable install: mutmut puts the copy's
``mutants/`` first on ``sys.path``, and a small pytest plugin written into the copy refuses to run when any
project package imports from outside it.

Usage::

    python tools/mutation_test.py                              # every group, two children
    python tools/mutation_test.py --module gpoints-checker     # one group (or a module path: gpoints_env/checker.py)
    python tools/mutation_test.py --module sftrl_eval/results.py --max-children 1 --keep
    python tools/mutation_test.py --rev HEAD                   # a commit instead of the working tree
    python tools/mutation_test.py --write-docs                 # also rewrite the score table in docs/mutation.md

Prints, per module: mutants, killed, survived, timeouts, no tests, score ((killed + timeouts) / mutants), then
each survivor with its diff (``mutmut show``). Needs mutmut 3 (``pip install mutmut``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("gpoints_env", "virl_env", "sftrl_core", "sftrl_eval", "sftrl_train")
DOCS_PAGE = REPO / "docs" / "mutation.md"
TABLE_START = "<!-- mutation-scores:start -->"
TABLE_END = "<!-- mutation-scores:end -->"
GUARD_PLUGIN = "_mutation_guard"


@dataclass(frozen=True)
class Group:
    """Modules mutated together and the test files that test them."""

    modules: tuple[str, ...]
    #: Test files, or single tests of a file (pytest node ids, ``file::test``).
    tests: tuple[str, ...]
    #: Per module, the functions to mutate (mutmut's mangled names, fnmatch globs); absent: the whole module.
    functions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: More pytest arguments of the test selection (``-k``, ``--deselect``): slow tests left out of the group.
    select: tuple[str, ...] = ()


def _deselect(*node_ids: str) -> tuple[str, ...]:
    return tuple(arg for node in node_ids for arg in ("--deselect", node))


# tests/test_fuzz_gpoints.py (Hypothesis, a few seconds a run) is left out of the checker group: it is slow per
# mutant and the table-driven checker tests kill what it kills (measured: see docs/mutation.md).
GROUPS: dict[str, Group] = {
    "gpoints-checker": Group(("gpoints_env/checker.py", "gpoints_env/paper_checker.py"),
                             ("tests/test_gpoints_checker.py", "tests/test_gpoints_paper.py",
                              "tests/test_mutation_gaps_gpoints.py")),
    "eval-resume": Group(("sftrl_eval/results.py", "sftrl_eval/harness.py"),
                         ("tests/test_sftrl_eval.py", "tests/test_harness_resume.py", "tests/test_harness_records.py",
                          "tests/test_harness_disk_full.py", "tests/test_harness_registry.py",
                          "tests/test_mutation_gaps_eval.py"),
                         # harness.py: only the resume path (what is already done, what is left, filing a record)
                         {"sftrl_eval/harness.py": ("x__prepare__mutmut_*", "xǁ_Runǁkeep__mutmut_*")}),
    # The hostile-spec fuzzers and the cache-stream test (15-40 s each), V-IRL's hostile tests and six of the ten
    # spec-versus-env.step games (1-3.5 s each; the two kept cover text and VL, the paper and suite protocols and a
    # rule wrapper) are left out: every survivor pays for every test that reaches it (measured: docs/mutation.md).
    "gpoints-specs": Group(("gpoints_env/specs.py",),
                           ("tests/test_specs_gpoints.py", "tests/test_specs_hostile.py",
                            "tests/test_mutation_gaps_specs.py"),
                           select=("-k", "not virl", *_deselect(
                               "tests/test_specs_hostile.py::test_mutated_specs_get_a_verdict_or_a_spec_error",
                               "tests/test_specs_hostile.py::test_a_stream_of_distinct_specs_stays_within_the_cache",
                               *[f"tests/test_specs_gpoints.py::test_grade_from_spec_equals_env_step[GeneralPoints-{g}]"
                                 for g in ("RuleOOD-v0-paper", "RuleOOD-v0-suite", "VL-VisualOOD-v0-paper",
                                           "VL-VisualOOD-v0-suite", "VL-RuleOOD-v0-suite", "VL-v0-paper",
                                           "VL-v0-suite", "v0-paper")]))),
    "virl-task": Group(("virl_env/task/checker.py", "virl_env/task/navigation.py", "virl_env/protocols/paper.py",
                        "virl_env/protocols/base.py"),
                       ("tests/test_virl_checker.py", "tests/test_virl_task.py", "tests/test_virl_env.py",
                        "tests/test_virl_paper.py", "tests/test_mutation_gaps_virl.py"),
                       # the protocols: only what grades a reply and ends a route
                       {"virl_env/protocols/paper.py": ("x_parse_paper_reply__mutmut_*", "x_paper_grade__mutmut_*"),
                        "virl_env/protocols/base.py": ("xǁProtocolǁends_route__mutmut_*",)}),
    # Route specs are walked by the episode session and the whole-route datasets, V-IRL's named faults are in the
    # hostile-spec file. Left out, as for gpoints-specs: the V-IRL fuzzer (25 s), six of the ten spec-versus-env.step
    # games (1-3 s each), six of the ten session walks (0.8-5.3 s each; the four kept cover text and image mode, both
    # protocols and a rule wrapper) and two GeneralPoints-only dataset tests (1-2 s; measured: docs/mutation.md).
    "virl-specs": Group(("virl_env/specs.py",),
                        ("tests/test_specs_virl.py", "tests/test_session_virl.py", "tests/test_train_datasets.py",
                         "tests/test_specs_hostile.py::test_virl_named_faults_are_refused_naming_the_field",
                         "tests/test_specs_hostile.py::test_the_virl_spec_cache_stays_within_its_bytes",
                         "tests/test_specs_hostile.py::test_the_virl_cache_charge_bounds_what_a_checked_spec_keeps",
                         "tests/test_mutation_gaps_specs.py"),
                        select=_deselect(
                            *[f"tests/test_specs_virl.py::test_grade_from_spec_equals_env_step[VIRL-{g}]"
                              for g in ("VL-RuleOOD-v0-suite", "VL-RuleOOD-v0-paper", "VL-VisualOOD-v0-suite",
                                        "VL-VisualOOD-v0-paper", "RuleOOD-v0-paper", "VL-v0-paper")],
                            *[f"tests/test_session_virl.py::test_session_walks_routes_as_the_live_env[VIRL-{g}]"
                              for g in ("VL-VisualOOD-v0-suite", "VL-RuleOOD-v0-suite", "VL-v0-suite",
                                        "RuleOOD-v0-suite", "VL-RuleOOD-v0-paper", "VL-VisualOOD-v0-paper")],
                            "tests/test_train_datasets.py::test_openrlhf_reward_func_call_shape",
                            "tests/test_train_datasets.py::test_files_and_hf_dataset_round_trip")),
}
#: Least likely to be changing first.
DEFAULT_ORDER = ("gpoints-checker", "eval-resume", "gpoints-specs", "virl-task", "virl-specs")

# mutmut's exit-code meanings (mutmut.stats.status_by_exit_code), copied so this script imports nothing of mutmut.
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 2: "interrupted", None: "not checked",
          33: "no tests", 34: "skipped", 35: "suspicious", 36: "timeout", 37: "type check", -24: "timeout",
          24: "timeout", 152: "timeout", 255: "timeout", -11: "segfault", -9: "segfault"}


@dataclass
class ModuleScore:
    module: str
    status_by_mutant: dict[str, str]

    def count(self, *statuses: str) -> int:
        return sum(s in statuses for s in self.status_by_mutant.values())

    @property
    def total(self) -> int:
        return len(self.status_by_mutant)

    @property
    def score(self) -> float:
        return (self.count("killed", "timeout", "type check") / self.total) if self.total else float("nan")

    @property
    def survivors(self) -> list[str]:
        return sorted(k for k, s in self.status_by_mutant.items() if s in ("survived", "no tests", "suspicious"))


def _files_to_copy(rev: str | None) -> list[str]:
    if rev is not None:
        return []
    out = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         check=True, capture_output=True).stdout.decode()
    return [p for p in out.split("\0") if p and not p.startswith(("mutants/", ".git/"))]


def make_copy(dest: Path, rev: str | None) -> None:
    """The working tree as it is on disk (or commit ``rev``) into ``dest``."""
    if rev is not None:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        return
    for rel in _files_to_copy(rev):
        src = REPO / rel
        if not src.is_file():  # deleted in the working tree, or a submodule
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)


def _guard_plugin(root: Path) -> str:
    return f'''"""Refuse to run the tests against anything but this copy (the editable install points at the checkout)."""
import importlib
from pathlib import Path

ROOT = Path({str(root)!r}).resolve()


def pytest_configure(config):
    for name in {PACKAGES!r}:
        where = Path(importlib.import_module(name).__file__).resolve()
        assert ROOT in where.parents, f"{{name}} imports from {{where}}, outside the mutation copy {{ROOT}}"
'''


def write_config(root: Path, group: Group) -> list[str]:
    """mutmut's setup.cfg in the copy; returns the tests (files, or single tests of files) that exist there."""
    tests = [t for t in group.tests if (root / t.partition("::")[0]).is_file()]
    (root / f"{GUARD_PLUGIN}.py").write_text(_guard_plugin(root))
    also_copy = [p for p in (*PACKAGES, "examples", "assets", f"{GUARD_PLUGIN}.py", "conftest.py")
                 if (root / p).exists()]
    lines = ["[mutmut]",
             "source_paths =", *[f"    {m}" for m in group.modules],
             "only_mutate =", *[f"    {m}" for m in group.modules],
             "also_copy =", *[f"    {p}" for p in also_copy],
             "pytest_add_cli_args_test_selection =", *[f"    {t}" for t in (*tests, *group.select)],
             "pytest_add_cli_args =", "    -p", "    no:cacheprovider", "    -q", "    -p", f"    {GUARD_PLUGIN}",
             "use_git_change_detection = false",
             ""]
    (root / "setup.cfg").write_text("\n".join(lines))
    return tests


_SHOW_DIFFS = """
import json, sys
from mutmut.mutation.diff_apply import get_diff_for_mutant
for module, mutant, status in json.loads(sys.argv[1]):
    print(f"-- {mutant}: {status}")
    print("\\n".join(get_diff_for_mutant(mutant, path=module).splitlines()[2:]))
"""


def _dotted(module: str) -> str:
    return module[:-3].replace("/", ".").removesuffix(".__init__")


def check_shadowing(root: Path, env: dict[str, str]) -> None:
    """The copy's packages, not the editable install's, are what ``import`` finds."""
    code = ("import importlib, sys; from pathlib import Path; root = Path(sys.argv[1]).resolve()\n"
            f"for name in {PACKAGES!r}:\n"
            "    where = Path(importlib.import_module(name).__file__).resolve()\n"
            "    assert root in where.parents, (name, str(where))\n")
    subprocess.run([sys.executable, "-c", code, str(root)], cwd=root, env=env, check=True)


def read_scores(root: Path, group: Group) -> list[ModuleScore]:
    scores = []
    for module in group.modules:
        meta = root / "mutants" / (module + ".meta")
        codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
        prefix = _dotted(module) + "."
        globs = group.functions.get(module)
        chosen = {k: STATUS.get(v, "suspicious") for k, v in codes.items()
                  if not globs or any(fnmatch.fnmatch(k.removeprefix(prefix), g) for g in globs)}
        scores.append(ModuleScore(module, chosen))
    return scores


def run_group(name: str, group: Group, *, max_children: int, keep: bool, rev: str | None,
              show_diffs: bool) -> tuple[list[ModuleScore], float]:
    root = Path(tempfile.mkdtemp(prefix=f"mutation-{name}-"))
    try:
        make_copy(root, rev)
        tests = write_config(root, group)
        env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
        check_shadowing(root, env)
        mutmut = [sys.executable, "-c", "import sys; from mutmut.__main__ import cli; sys.exit(cli())"]
        selection: list[str] = []
        for module, globs in group.functions.items():  # naming mutants makes mutmut run only those
            selection += [f"{_dotted(module)}.{g}" for g in globs]
        if selection:
            selection += [f"{_dotted(m)}.*" for m in group.modules if m not in group.functions]
        print(f"== {name}: {', '.join(group.modules)}\n   tests: {' '.join((*tests, *group.select))}\n   copy: {root}",
              flush=True)
        start = time.monotonic()
        proc = subprocess.run([*mutmut, "run", "--max-children", str(max_children), *selection], cwd=root, env=env,
                              capture_output=True, text=True)
        elapsed = time.monotonic() - start
        if proc.returncode != 0 and not (root / "mutants").exists():
            print(proc.stdout[-4000:], proc.stderr[-4000:], sep="\n")
            raise SystemExit(f"mutmut run failed for {name} (exit {proc.returncode})")
        tail = [ln for ln in proc.stdout.replace("\r", "\n").splitlines() if ln.strip()][-3:]
        print("   " + "\n   ".join(tail), flush=True)
        scores = read_scores(root, group)
        print_table(scores)
        survivors = [(s.module, m, s.status_by_mutant[m]) for s in scores for m in s.survivors]
        if show_diffs and survivors:
            # One process for every diff (what `mutmut show NAME` prints; a process per survivor takes minutes).
            shown = subprocess.run([sys.executable, "-c", _SHOW_DIFFS, json.dumps(survivors)], cwd=root, env=env,
                                   capture_output=True, text=True)
            print(shown.stdout if shown.returncode == 0 else shown.stdout + shown.stderr, end="")
        else:
            for _, mutant, status in survivors:
                print(f"-- {mutant}: {status}")
        print(f"   {name}: {elapsed / 60:.1f} min", flush=True)
        return scores, elapsed
    finally:
        if keep:
            print(f"   kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def table_rows(scores: list[ModuleScore]) -> list[str]:
    rows = ["| module | mutants | killed | survived | timeouts | no tests | score |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for s in scores:
        rows.append(f"| `{s.module}` | {s.total} | {s.count('killed', 'type check')} | "
                    f"{s.count('survived', 'suspicious')} | {s.count('timeout')} | {s.count('no tests')} | "
                    f"{100 * s.score:.1f}% |")
    return rows


def print_table(scores: list[ModuleScore]) -> None:
    print("\n".join(table_rows(scores)), flush=True)


def write_docs(scores: list[ModuleScore], command: str, rev: str | None) -> None:
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", rev or "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = "" if rev else subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                                          capture_output=True, text=True).stdout.strip()
    stamp = (f"Measured {_dt.date.today().isoformat()} on commit `{commit}`"
             f"{' plus working-tree changes' if dirty else ''}, with `{command}`.")
    block = "\n".join([TABLE_START, stamp, "", *table_rows(scores), TABLE_END])
    text = DOCS_PAGE.read_text() if DOCS_PAGE.exists() else f"# Mutation testing\n\n{TABLE_START}\n{TABLE_END}\n"
    if TABLE_START not in text:
        text += f"\n{TABLE_START}\n{TABLE_END}\n"
    text = re.sub(re.escape(TABLE_START) + ".*?" + re.escape(TABLE_END), lambda _: block, text, flags=re.S)
    DOCS_PAGE.write_text(text)
    print(f"wrote {DOCS_PAGE}")


def resolve_groups(names: list[str]) -> list[tuple[str, Group]]:
    """Group names as given; a module path selects the group that holds it, mutating only that module."""
    chosen: list[tuple[str, Group]] = []
    for n in names:
        if n in GROUPS:
            chosen.append((n, GROUPS[n]))
            continue
        owner = next((k for k, g in GROUPS.items() if n in g.modules), None)
        if owner is None:
            raise SystemExit(f"unknown module {n!r}: give a group ({', '.join(GROUPS)}) or one of their modules")
        g = GROUPS[owner]
        chosen.append((f"{owner}:{Path(n).stem}",
                       Group((n,), g.tests, {n: g.functions[n]} if n in g.functions else {}, g.select)))
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="append", default=[],
                        help=f"a group ({', '.join(GROUPS)}) or one module of a group; repeatable "
                             "(default: every group)")
    parser.add_argument("--max-children", type=int, default=2, help="mutmut worker processes (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copies (mutmut show/apply there)")
    parser.add_argument("--rev", help="mutate this commit (git archive) instead of the working tree")
    parser.add_argument("--no-diffs", action="store_true", help="list survivors without their diffs")
    parser.add_argument("--write-docs", action="store_true", help="rewrite the score table in docs/mutation.md")
    args = parser.parse_args(argv)
    groups = resolve_groups(args.module or list(DEFAULT_ORDER))
    all_scores: list[ModuleScore] = []
    total_time = 0.0
    for name, group in groups:
        scores, elapsed = run_group(name, group, max_children=args.max_children, keep=args.keep, rev=args.rev,
                                    show_diffs=not args.no_diffs)
        all_scores += scores
        total_time += elapsed
    print(f"\n== all groups ({total_time / 60:.1f} min)")
    print_table(all_scores)
    if args.write_docs:
        command = "python tools/mutation_test.py " + " ".join(sys.argv[1:] if argv is None else argv)
        write_docs(all_scores, command.strip(), args.rev)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
