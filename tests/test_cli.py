"""The command line as a new user meets it: one-line errors, agents from the current folder, reports of folders,
help texts, and the help of every example script."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sftrl_eval import SETTINGS, load_records
from sftrl_eval.cli import main

ROOT = Path(__file__).resolve().parents[1]
AGENTS = str(ROOT / "examples" / "agents.py")


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        status = main(list(argv))
    except SystemExit as exit_:  # argparse's own errors
        status = exit_.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


MISTAKES = [
    (["--settings", "GP-X"], "unknown setting 'GP-X'; known: GP-L"),
    (["--agent", "examples/agent.py:OracleAgent"], "no such file: examples/agent.py"),
    (["--agent", f"{AGENTS}:Oracle"], "has no attribute 'Oracle'"),
    (["--agent", "no_such_module_here:agent"], "no module named 'no_such_module_here'"),
    (["--agent", "oracle"], "agent must be 'module:name' or 'file.py:name'"),
    (["--agent-kwargs", "{seed: 1}"], "--agent-kwargs is not valid JSON"),
    (["--agent-kwargs", "[1]"], "--agent-kwargs must be a JSON object"),
    (["--agent-kwargs", '{"sede": 1}'], "unexpected keyword argument 'sede'"),
    (["--episodes", "0"], "--episodes: expected a positive integer, got '0'"),
    (["--settings", "VIRL-L", "--episodes", "60"], "VIRL-L has 48 evaluation routes"),
    (["--env-kwargs", '{"resolutio": 64}'], "resolutio"),
]


@pytest.mark.parametrize(("extra", "message"), MISTAKES)
def test_every_user_mistake_gets_one_line_and_status_2(tmp_path, capsys, extra, message):
    argv = {"--agent": f"{AGENTS}:RandomAgent", "--settings": "GP-L", "--episodes": "2",
            "--out": str(tmp_path / "out"), "--agent-kwargs": "{}"}
    for key, value in zip(extra[::2], extra[1::2]):
        argv[key] = value
    status, out, err = run_main(capsys, "run", "--no-progress", *[x for kv in argv.items() for x in kv])
    assert status == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err and message in err, err
    assert not (tmp_path / "out").exists()


def test_a_mismatched_results_folder_is_one_line_and_debug_shows_the_traceback(tmp_path, capsys):
    common = ["run", "--settings", "GP-L", "--episodes", "2", "--out", str(tmp_path), "--no-progress"]
    assert run_main(capsys, *common, "--agent", f"{AGENTS}:RandomAgent", "--agent-kwargs", '{"seed": 1}')[0] == 0
    status, _, err = run_main(capsys, *common, "--agent", f"{AGENTS}:RandomAgent", "--agent-kwargs", '{"seed": 2}')
    assert status == 2 and err.count("\n") == 1 and "describes another run" in err and "agent_kwargs" in err
    status, _, err = run_main(capsys, *common, "--agent", f"{AGENTS}:OracleAgent", "--name", "random")
    assert status == 2 and "agent_factory" in err  # a reused --name does not hide another agent
    status, _, err = run_main(capsys, "--debug", *common, "--agent", f"{AGENTS}:OracleAgent", "--name", "random")
    assert status == 2 and "Traceback" in err and "ResultsError" in err
    status, _, err = run_main(capsys, *common, "--agent", f"{AGENTS}:OracleAgent", "--name", "random", "--debug")
    assert status == 2 and "Traceback" in err  # --debug after the command works too


def test_a_server_that_is_down_is_one_line_and_leaves_no_files(tmp_path, capsys):
    llm = str(ROOT / "examples" / "llm_agent.py")
    kwargs = json.dumps({"model": "m", "base_url": f"http://127.0.0.1:{_free_port()}/v1", "environ": {}})
    out = tmp_path / "out"
    status, _, err = run_main(capsys, "run", "--agent", f"{llm}:OpenAIChatAgent", "--agent-kwargs", kwargs,
                              "--settings", "GP-L", "--episodes", "2", "--out", str(out), "--no-progress")
    assert status == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "nothing answers at http://127.0.0.1" in err and "is the server running" in err
    assert not out.exists()


def test_a_factorys_results_are_filed_under_the_factorys_name(tmp_path, capsys, monkeypatch):
    (tmp_path / "my_factory.py").write_text(textwrap.dedent("""
        def make_agent(answer="1+2+3+4"):
            def agent(observation, info):
                return answer
            return agent
    """))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    status, _, err = run_main(capsys, "run", "--agent", "my_factory:make_agent", "--agent-kwargs",
                              '{"answer": "1+2"}', "--settings", "GP-L", "--episodes", "2", "--out", "runs",
                              "--no-progress")
    assert status == 0, err
    assert {r["agent"] for r in load_records(tmp_path / "runs" / "GP-L.jsonl")} == {"make_agent"}
    meta = json.loads((tmp_path / "runs" / "GP-L.meta.json").read_text())
    assert (meta["agent_factory"], meta["agent_kwargs"]) == ("my_factory:make_agent", {"answer": "1+2"})


def test_the_installed_script_imports_agents_from_the_current_folder(tmp_path):
    (tmp_path / "here_agent.py").write_text("def agent(observation, info):\n    return '1+2+3+4'\n")
    script = shutil.which("sftrl-eval", path=str(Path(sys.executable).parent))
    # Without the script, -P gives the same sys.path a console script has: no current folder in it.
    command = [script] if script else [sys.executable, "-P", "-c", "import sys; from sftrl_eval.cli import main; "
                                       "sys.exit(main())"]
    if not script and sys.version_info < (3, 11):
        pytest.skip("needs the installed sftrl-eval script or Python 3.11's -P")
    proc = subprocess.run(command + ["run", "--agent", "here_agent:agent", "--settings", "GP-L", "--episodes", "1",
                                     "--out", "runs", "--no-progress"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert len(load_records(tmp_path / "runs" / "GP-L.jsonl")) == 1


def test_report_finds_runs_under_a_folder_and_never_merges_two_runs_of_one_name(tmp_path, capsys):
    for folder, agent in (("a/oracle", "OracleAgent"), ("b/deep/oracle", "RandomAgent")):
        status, _, err = run_main(capsys, "run", "--agent", f"{AGENTS}:{agent}", "--name", "oracle", "--settings",
                                  "GP-L", "--episodes", "3", "--out", str(tmp_path / folder), "--no-progress")
        assert status == 0, err
    md = tmp_path / "only.md"
    status, out, err = run_main(capsys, "report", str(tmp_path), "--markdown", str(md))
    assert status == 0, err
    rows = [line for line in md.read_text().splitlines() if line.startswith("| oracle (") and "| GP-L |" in line]
    assert len(rows) == 2 and any("a/oracle) |" in row and "| 100.0 ± 0.0 |" in row for row in rows)
    assert any("b/deep/oracle) |" in row and "| 0.0 ± 0.0 |" in row for row in rows)
    assert "share the agent name 'oracle'" in md.read_text()
    # --markdown alone: no PNG (only the two runs' own reports exist)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png")) == [
        "a/oracle/report.png", "b/deep/oracle/report.png"]
    assert f"wrote {md}" in out and ".png" not in out.splitlines()[-1]


def test_a_resumed_run_says_how_many_episodes_were_done(tmp_path, capsys):
    common = ["run", "--agent", f"{AGENTS}:OracleAgent", "--settings", "GP-L", "--out", str(tmp_path)]
    assert run_main(capsys, *common, "--episodes", "2")[0] == 0
    status, _, err = run_main(capsys, *common, "--episodes", "3")
    assert status == 0 and "resuming" in err and "2 of 3 episodes already done" in err


def test_help_is_plain_text_and_list_is_aligned(capsys):
    for argv in ([], ["run"], ["report"], ["list"]):
        with pytest.raises(SystemExit) as exit_:
            main([*argv, "--help"])
        assert exit_.value.code == 0
        text = capsys.readouterr().out
        assert "``" not in text and ":func:" not in text and ":class:" not in text
    status, out, _ = run_main(capsys, "list")
    lines = out.splitlines()
    assert status == 0 and len(lines) == len(SETTINGS) + 1
    starts = {tuple(m.start() for m in re.finditer(r"(?<=  )\S", line)) for line in lines}
    assert len(starts) == 1  # every column starts at the same place on every line


def _options_without_help(text: str) -> list[str]:
    """Options in an argparse --help text that have no description."""
    lines = text.split("options:", 1)[1].splitlines()[1:]
    missing, current, described = [], None, False
    for line in lines + ["  -end"]:
        if re.match(r"^  -", line):
            if current is not None and not described:
                missing.append(current)
            parts = re.split(r"\s{2,}", line.strip(), maxsplit=1)
            current, described = parts[0], len(parts) > 1
        elif line.strip() and current is not None:
            described = True
    return missing


SCRIPTS = ["examples/run_benchmark.py", "examples/llm_agent.py", "examples/fake_llm_server.py",
           "examples/play_gpoints.py", "examples/make_gpoints_assets.py", "examples/ppo.py", "examples/sft.py",
           "examples/sft_vs_rl.py", "benchmarks/bench_gpoints.py", "benchmarks/bench_gpoints_render.py",
           "benchmarks/bench_virl.py"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_scripts_help_is_complete(script):
    if script.endswith(("ppo.py", "sft.py", "sft_vs_rl.py")):
        pytest.importorskip("torch")
        pytest.importorskip("stable_baselines3")
    proc = subprocess.run([sys.executable, str(ROOT / script), "--help"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert _options_without_help(proc.stdout) == []
    assert "``" not in proc.stdout and ":class:" not in proc.stdout


def test_the_help_checker_can_fail():
    assert _options_without_help("usage: x\n\noptions:\n  -h, --help  show help\n  --seed SEED\n") == ["--seed SEED"]


def test_readme_snippets_that_use_gym_import_it():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks
    missing = [block[:80] for block in blocks
               if re.search(r"\bgym\.", block) and "import gymnasium as gym" not in block]
    assert missing == []
