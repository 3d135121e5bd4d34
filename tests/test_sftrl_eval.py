"""The benchmark harness: settings, resumable results, summaries, reports, the command line."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import gymnasium as gym
import pytest
from PIL import Image

from sftrl_eval import (
    SETTINGS,
    AgentError,
    ResultsError,
    ResultsInUseError,
    aevaluate,
    agent_identity,
    evaluate,
    get_setting,
    load_records,
    public_info,
    report,
    summarize,
)
from sftrl_core.registry import GENERAL_POINTS
from sftrl_eval.cli import load_agent, main
from sftrl_eval.report import PER_STEP_FLOORS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
from agents import ForwardAgent, OracleAgent, RandomAgent  # noqa: E402

FAST_SETTINGS = ["GP-L", "GP-L-RuleOOD", "GP-VL", "GP-VL-RuleOOD", "GP-VL-VisualOOD", "VIRL-L", "VIRL-L-RuleOOD"]


def test_every_paper_setting_is_registered_with_the_paper_size():
    assert list(SETTINGS) == ["GP-L", "GP-L-RuleOOD", "GP-VL", "GP-VL-RuleOOD", "GP-VL-VisualOOD", "VIRL-L",
                              "VIRL-L-RuleOOD", "VIRL-VL", "VIRL-VL-RuleOOD", "VIRL-VL-VisualOOD"]
    assert {s.episodes for s in SETTINGS.values() if s.game is GENERAL_POINTS} == {234}
    assert SETTINGS["VIRL-L"].episodes == 48 and SETTINGS["VIRL-VL-VisualOOD"].episodes == 18
    for setting in SETTINGS.values():
        assert setting.env_id.split(":")[1] in gym.registry or setting.env_id.split(":")[0] in ("virl_env",)
    assert get_setting("gp-l-ruleood") is SETTINGS["GP-L-RuleOOD"]
    with pytest.raises(ValueError, match="known"):
        get_setting("GP-XL")


def test_seed_lists_are_stable():
    """Version 1 of the episode lists. If this fails, episodes changed: bump SEED_LIST_VERSION."""
    assert [SETTINGS["GP-L"].seed(i) for i in (0, 1, 233)] == [1_000_000, 1_000_001, 1_000_233]
    assert SETTINGS["VIRL-L"].seed(5) == 2_000_005 and SETTINGS["VIRL-L"].reset_options(5) == {"route": 5}
    env = gym.make(SETTINGS["GP-L"].env_id)
    hands = [env.reset(seed=SETTINGS["GP-L"].seed(i))[1]["cards"] for i in range(3)]
    again = [gym.make(SETTINGS["GP-L"].env_id).reset(seed=SETTINGS["GP-L"].seed(i))[1]["cards"] for i in range(3)]
    assert hands == again
    out = subprocess.run(
        [sys.executable, "-c", "import gymnasium as gym; e = gym.make('gpoints_env:GeneralPoints-v0'); "
         "print([e.reset(seed=1_000_000 + i)[1]['cards'] for i in range(3)])"],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "7"},
    )
    assert out.stdout.strip() == str(hands)


@pytest.mark.parametrize("name", list(SETTINGS))
def test_oracle_scores_100_percent(name):
    episodes = 12 if name in FAST_SETTINGS else 2  # street views take longer to draw
    summary = evaluate(OracleAgent(), name, episodes=episodes, progress=False)
    assert summary["success_rate"] == 1.0 and summary["episodes"] == episodes
    assert summary["unparseable_rate"] == 0.0
    if get_setting(name).image and not get_setting(name).game.walks_routes:  # V-IRL replies report no cards
        assert summary["recognition_accuracy"] == 1.0
    if get_setting(name).game.walks_routes:
        assert summary["per_step_accuracy"] == 1.0


def test_random_agent_is_a_real_baseline():
    summary = evaluate(RandomAgent(seed=0), "GP-L", episodes=30, progress=False)
    assert summary["success_rate"] < 0.5 and summary["mean_attempts"] > 4


def test_public_info_hides_what_the_picture_shows():
    info = {"cards": ["A"], "numbers": [1], "suits": ["spades"], "solution": "1", "messages": [], "target": 24}
    assert set(public_info(info, SETTINGS["GP-VL"])) == {"messages", "target"}
    assert set(public_info(info, SETTINGS["GP-L"])) == {"cards", "numbers", "suits", "messages", "target"}

    seen = []

    def spy(observation, info):
        seen.append(set(info))
        return "1+1"

    evaluate(spy, "GP-VL", episodes=1, progress=False)
    assert seen and all("cards" not in keys and "numbers" not in keys for keys in seen)


class Killer:
    """Plays like the oracle but kills its own process (no cleanup at all) at a chosen episode."""

    name = "oracle"

    def __init__(self, kill_at: int):
        self.oracle, self.kill_at, self.episode = OracleAgent(), kill_at, -1

    def begin_episode(self, env):
        self.episode += 1
        self.oracle.begin_episode(env)

    def __call__(self, observation, info):
        if self.episode == self.kill_at:
            os.kill(os.getpid(), 9)
        return self.oracle(observation, info)


def test_resume_after_a_killed_run_loses_and_duplicates_nothing(tmp_path):
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2]);"
        "from test_sftrl_eval import Killer; from sftrl_eval import evaluate;"
        "evaluate(Killer(7), 'GP-L', episodes=20, out_dir=sys.argv[3], progress=False)"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(ROOT / "tests"), str(ROOT / "examples"), str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr  # really killed
    path = tmp_path / "GP-L.jsonl"
    before = load_records(path)
    assert [r["index"] for r in before] == list(range(7))
    # A run can also die in the middle of writing a line.
    with open(path, "a") as f:
        f.write('{"setting": "GP-L", "index": 7, "succ')
    summary = evaluate(Killer(-1), "GP-L", episodes=20, out_dir=tmp_path, progress=False)  # the same agent
    after = load_records(path)
    assert [r["index"] for r in after] == list(range(20))  # each exactly once, in order of completion
    assert after[:7] == before  # finished episodes were kept, not replayed
    assert summary["episodes"] == 20 and summary["success_rate"] == 1.0
    assert path.read_text().count("\n") == 20 and "succ\n" not in path.read_text()
    # Asking for more episodes later extends the same file; asking again adds nothing.
    evaluate(Killer(-1), "GP-L", episodes=25, out_dir=tmp_path, progress=False)
    evaluate(Killer(-1), "GP-L", episodes=25, out_dir=tmp_path, progress=False)
    assert [r["index"] for r in load_records(path)] == list(range(25))
    runs = json.loads((tmp_path / "GP-L.meta.json").read_text())["runs"]
    assert [run["episodes_already_done"] for run in runs] == [0, 7, 20]  # the last run played nothing


def test_results_files_protect_other_runs(tmp_path):
    evaluate(OracleAgent(), "GP-L", episodes=2, out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="another run"):
        evaluate(RandomAgent(), "GP-L", episodes=2, out_dir=tmp_path, progress=False)
    with pytest.raises(FileExistsError):
        evaluate(OracleAgent(), "GP-L", episodes=2, out_dir=tmp_path, progress=False, resume=False)
    (tmp_path / "GP-L.jsonl").write_text('{"index": 0}\nnot json\n{"index": 1}\n')
    with pytest.raises(ValueError, match="line 2"):
        evaluate(OracleAgent(), "GP-L", episodes=2, out_dir=tmp_path, progress=False)


def test_records_hold_replies_verdicts_rewards_and_timing(tmp_path):
    evaluate(RandomAgent(seed=1), "GP-L", episodes=3, out_dir=tmp_path, progress=False)
    records = load_records(tmp_path / "GP-L.jsonl")
    step = records[0]["steps"][0]
    assert set(step) == {"reply", "verdict", "reward", "recognized", "agent_seconds"}
    assert records[0]["replies"] == len(records[0]["steps"]) and records[0]["seed"] == 1_000_000
    assert records[0]["return"] == sum(s["reward"] for s in records[0]["steps"])


class AsyncOracle(OracleAgent):
    """An async agent: the harness runs several episodes at once (one env each)."""

    def __init__(self):
        super().__init__()
        self.envs = {}

    def begin_episode(self, env):
        self.envs[id(asyncio.current_task())] = env.unwrapped

    async def acall(self, observation, info):
        await asyncio.sleep(0)  # let other episodes interleave
        self.env = self.envs[id(asyncio.current_task())]
        return self(observation, info)


def test_async_agents_run_concurrently_with_the_same_results(tmp_path):
    summary = evaluate(AsyncOracle(), "GP-L", episodes=16, out_dir=tmp_path / "a", progress=False, concurrency=4)
    assert summary["success_rate"] == 1.0
    concurrent = {r["index"]: r["steps"] for r in load_records(tmp_path / "a" / "GP-L.jsonl")}
    evaluate(OracleAgent(), "GP-L", episodes=16, out_dir=tmp_path / "s", progress=False)
    sequential = {r["index"]: r["steps"] for r in load_records(tmp_path / "s" / "GP-L.jsonl")}
    strip = lambda steps: [(s["reply"], s["verdict"], s["reward"]) for s in steps]  # noqa: E731
    assert {i: strip(s) for i, s in concurrent.items()} == {i: strip(s) for i, s in sequential.items()}
    with pytest.raises(TypeError):
        asyncio.run(aevaluate(OracleAgent(), "GP-L", episodes=1, progress=False))


def test_bad_agents_and_arguments():
    with pytest.raises(TypeError, match="str"):
        evaluate(lambda obs, info: 42, "GP-L", episodes=1, progress=False)
    with pytest.raises(ValueError, match="episodes"):
        evaluate(OracleAgent(), "GP-L", episodes=0, progress=False)
    with pytest.raises(TypeError):
        evaluate("not an agent", "GP-L", episodes=1, progress=False)


def test_summary_statistics():
    records = [
        {"index": 0, "success": True, "steps": [{"verdict": "correct", "recognized": True, "agent_seconds": 1.0}]},
        {"index": 1, "success": False, "steps": [{"verdict": "no_formula", "recognized": None, "agent_seconds": 1.0},
                                                  {"verdict": "wrong_cards", "recognized": False, "agent_seconds": 3.0}]},
    ]
    s = summarize(records, "GP-VL", "x")
    assert s["success_rate"] == 0.5 and s["success_stderr"] == pytest.approx(0.5 / 2 ** 0.5)
    assert s["recognition_accuracy"] == 0.5 and s["unparseable_rate"] == pytest.approx(1 / 3)
    assert s["mean_attempts"] == 1.5 and s["mean_agent_seconds"] == pytest.approx(5 / 3)
    virl = summarize([{"index": 0, "success": False, "steps": [], "step_correct": [True, True, False, True]}],
                     "VIRL-L", "x")
    assert virl["per_step_accuracy"] == 0.75 and virl["recognition_accuracy"] is None


def test_report_and_chart(tmp_path):
    evaluate(OracleAgent(), "GP-L", episodes=4, out_dir=tmp_path / "oracle", progress=False)
    evaluate(RandomAgent(), "GP-L", episodes=4, out_dir=tmp_path / "random", progress=False)
    evaluate(RandomAgent(), "VIRL-L", episodes=2, out_dir=tmp_path / "random", progress=False)
    text = report([tmp_path / "oracle", tmp_path / "random"], tmp_path / "r.md", tmp_path / "r.png")
    assert "| oracle | 100.0 | - |" in text and "| random |" in text and "| 0.0 (" in text
    assert (tmp_path / "r.md").read_text() == text
    chart = Image.open(tmp_path / "r.png")
    assert chart.size[0] > 300 and chart.size[1] > 300
    pixels = chart.convert("RGB").getcolors(1_000_000)
    assert any(colour == (31, 119, 180) and count > 1000 for count, colour in pixels)  # the oracle's bars
    with pytest.raises(ValueError):
        report([])


def test_command_line(tmp_path, capsys):
    agents = str(ROOT / "examples" / "agents.py")
    assert main(["run", "--agent", f"{agents}:OracleAgent", "--settings", "GP-L,VIRL-L", "--episodes", "3",
                 "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "| oracle | 100.0 | 100.0 (100.0) |" in out
    assert (tmp_path / "report.md").exists() and (tmp_path / "report.png").exists()
    assert main(["report", str(tmp_path), "--markdown", str(tmp_path / "x.md"), "--png", str(tmp_path / "x.png")]) == 0
    loaded = load_agent(f"{agents}:RandomAgent", {"seed": 3})
    assert type(loaded).__name__ == "RandomAgent" and loaded(None, {"numbers": [1, 2, 3, 4]}).startswith("{")
    assert sys.modules["agents"].RandomAgent is RandomAgent  # loading by path shadows no module
    with pytest.raises(ValueError):
        load_agent("no_colon")
    with pytest.raises(ValueError):
        load_agent(f"{agents}:Missing")


# ---- faults found by outside testing (issue 13) -------------------------------------------------------------


class Reentrant(OracleAgent):
    """While its own run holds the results file, starts a second run into the same folder."""

    def __init__(self, out_dir):
        super().__init__()
        self.out_dir, self.refusal = out_dir, None

    def __call__(self, observation, info):
        if self.refusal is None:
            try:
                evaluate(OracleAgent(), "GP-L", episodes=3, out_dir=self.out_dir, progress=False)
            except ResultsInUseError as err:
                self.refusal = err
        return super().__call__(observation, info)


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_writes(tmp_path):
    agent = Reentrant(tmp_path)
    evaluate(agent, "GP-L", episodes=3, out_dir=tmp_path, progress=False)
    assert agent.refusal is not None and f"process {os.getpid()}" in str(agent.refusal)
    assert "another run" in str(agent.refusal) and "another output folder" in str(agent.refusal)
    assert [r["index"] for r in load_records(tmp_path / "GP-L.jsonl")] == [0, 1, 2]  # no episode twice
    assert sorted(p.name for p in tmp_path.iterdir()) == ["GP-L.jsonl", "GP-L.meta.json"]  # the lock is gone
    again = Reentrant(tmp_path)
    again.refusal = "do not try"
    evaluate(again, "GP-L", episodes=4, out_dir=tmp_path, progress=False)  # free again afterwards
    assert [r["index"] for r in load_records(tmp_path / "GP-L.jsonl")] == [0, 1, 2, 3]


GATED = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from agents import OracleAgent
    from sftrl_eval import evaluate

    class Gated(OracleAgent):
        def __call__(self, observation, info):
            Path(sys.argv[3], "started").touch()
            while not Path(sys.argv[3], "go").exists():
                time.sleep(0.01)
            return super().__call__(observation, info)

    evaluate(Gated(), "GP-L", episodes=5, out_dir=sys.argv[2], progress=False, agent_name="oracle")
""")


def test_two_processes_into_one_folder_never_duplicate_episodes(tmp_path):
    out, flags = tmp_path / "out", tmp_path / "flags"
    flags.mkdir()
    first = subprocess.Popen([sys.executable, "-c", GATED, str(ROOT / "examples"), str(out), str(flags)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(3000):  # the first run is inside its first episode
            if (flags / "started").exists() or first.poll() is not None:
                break
            time.sleep(0.01)
        assert (flags / "started").exists(), first.communicate()
        with pytest.raises(ResultsInUseError, match=f"process {first.pid}"):
            evaluate(OracleAgent(), "GP-L", episodes=5, out_dir=out, progress=False)
    finally:
        (flags / "go").touch()
        _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert [r["index"] for r in load_records(out / "GP-L.jsonl")] == list(range(5))


def test_a_killed_meta_write_leaves_no_half_file(tmp_path, monkeypatch):
    import sftrl_eval.harness as harness

    def killed(fd):
        raise KeyboardInterrupt  # as if the process died after writing part of the file

    monkeypatch.setattr(harness.os, "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        evaluate(OracleAgent(), "GP-L", episodes=2, out_dir=tmp_path, progress=False)
    assert not (tmp_path / "GP-L.meta.json").exists() and not any(tmp_path.glob(".*tmp"))


def test_a_damaged_meta_file_gets_an_error_that_says_how_to_recover(tmp_path):
    evaluate(OracleAgent(), "GP-L", episodes=3, out_dir=tmp_path, progress=False)
    meta = tmp_path / "GP-L.meta.json"
    meta.write_text('{"setting": "GP-L", "env_')  # what a kill during a plain write leaves
    with pytest.raises(ResultsError, match="damaged.*delete GP-L.meta.json and run again"):
        evaluate(OracleAgent(), "GP-L", episodes=5, out_dir=tmp_path, progress=False)
    meta.unlink()  # the advice works: the episodes are kept and the meta file is rewritten
    summary = evaluate(OracleAgent(), "GP-L", episodes=5, out_dir=tmp_path, progress=False)
    assert summary["episodes"] == 5 and len(load_records(tmp_path / "GP-L.jsonl")) == 5
    assert json.loads(meta.read_text())["agent"] == "oracle"
    meta.unlink()
    with pytest.raises(ResultsError, match="holds episodes of agent 'oracle'"):  # but only for the same agent
        evaluate(RandomAgent(), "GP-L", episodes=5, out_dir=tmp_path, progress=False)


class Configured:
    """An agent whose behaviour depends on a setting, which it exposes as ``config``."""

    name = "configured"

    def __init__(self, temperature=0.0):
        self.config = {"temperature": temperature}

    def __call__(self, observation, info):
        return '{"formula": "1+2+3+4"}'


def test_the_identity_covers_name_factory_arguments_and_config(tmp_path):
    evaluate(RandomAgent(seed=1), "GP-L", episodes=2, out_dir=tmp_path / "a", progress=False,
             agent_factory=RandomAgent, agent_kwargs={"seed": 1})
    with pytest.raises(ResultsError, match=r'agent_kwargs: \{"seed": 1\} there, \{"seed": 2\} now'):
        evaluate(RandomAgent(seed=2), "GP-L", episodes=2, out_dir=tmp_path / "a", progress=False,
                 agent_factory=RandomAgent, agent_kwargs={"seed": 2})
    # Another agent under a reused name.
    evaluate(OracleAgent(), "GP-L", episodes=2, out_dir=tmp_path / "b", progress=False, agent_name="mine")
    with pytest.raises(ResultsError, match="agent_factory: \"agents:OracleAgent\" there, \"agents:RandomAgent\" now"):
        evaluate(RandomAgent(), "GP-L", episodes=2, out_dir=tmp_path / "b", progress=False, agent_name="mine")
    # The same class with another configuration.
    evaluate(Configured(0.0), "GP-L", episodes=2, out_dir=tmp_path / "c", progress=False)
    with pytest.raises(ResultsError, match="agent_config"):
        evaluate(Configured(1.0), "GP-L", episodes=2, out_dir=tmp_path / "c", progress=False)
    evaluate(Configured(0.0), "GP-L", episodes=3, out_dir=tmp_path / "c", progress=False)  # the same: resumes
    assert len(load_records(tmp_path / "c" / "GP-L.jsonl")) == 3
    assert agent_identity(lambda o, i: "", factory=make_closure_agent)["agent"] == "make_closure_agent"


def make_closure_agent(**kwargs):
    def agent(observation, info):
        return "1+2"
    return agent


def test_virl_refuses_episodes_past_the_evaluation_routes():
    with pytest.raises(ValueError, match="48 evaluation routes.*training routes 48..59"):
        evaluate(OracleAgent(), "VIRL-L", episodes=60, progress=False)
    with pytest.raises(ValueError, match="18 evaluation routes"):
        evaluate(OracleAgent(), "VIRL-VL-VisualOOD", episodes=19, progress=False)
    assert evaluate(OracleAgent(), "GP-L", episodes=240, progress=False)["episodes"] == 240  # seeds never run out


class Failing(OracleAgent):
    def __call__(self, observation, info):
        raise ConnectionRefusedError("server down")


def test_an_agent_that_fails_at_once_leaves_no_files(tmp_path):
    out = tmp_path / "new"
    with pytest.raises(AgentError, match="GP-L episode 0, reply 1: the agent failed: ConnectionRefusedError: "
                                         "server down") as caught:
        evaluate(Failing(), "GP-L", episodes=3, out_dir=out, progress=False)
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)
    assert not out.exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(AgentError):
        evaluate(Failing(), "GP-L", episodes=3, out_dir=existing, progress=False)
    assert list(existing.iterdir()) == []


def test_progress_is_shown_after_every_reply_and_a_resume_says_what_was_done(tmp_path, capsys, monkeypatch):
    import sftrl_eval.harness as harness

    monkeypatch.setattr(harness._Progress, "LOG_SECONDS", 0.0)  # a slow model: every reply is worth a line
    evaluate(RandomAgent(seed=1), "GP-L", episodes=1, out_dir=tmp_path, progress=True)
    lines = capsys.readouterr().err.splitlines()
    replies = len(load_records(tmp_path / "GP-L.jsonl")[0]["steps"])
    assert replies > 1
    assert any("0/1 episodes, 1 replies" in line and "s/reply" in line for line in lines)
    assert any(f"1/1 episodes, {replies} replies" in line for line in lines)
    evaluate(RandomAgent(seed=1), "GP-L", episodes=3, out_dir=tmp_path, progress=True)
    err = capsys.readouterr().err
    assert "resuming" in err and "1 of 3 episodes already done" in err


class Usage(OracleAgent):
    """Replies that carry token counts, as the LLM agent's do; settings exposed as config and provenance."""

    config = {"temperature": 0.5, "max_tokens": 64}
    provenance = {"endpoint": "http://127.0.0.1:1/v1/chat/completions"}

    def __call__(self, observation, info):
        class Reply(str):
            pass

        reply = Reply(super().__call__(observation, info))
        reply.usage = {"prompt_tokens": 100, "completion_tokens": 7}
        return reply


def test_results_record_the_agents_settings_and_token_counts(tmp_path):
    summary = evaluate(Usage(), "GP-L", episodes=2, out_dir=tmp_path, progress=False)
    step = load_records(tmp_path / "GP-L.jsonl")[0]["steps"][0]
    assert step["prompt_tokens"] == 100 and step["completion_tokens"] == 7 and type(step["reply"]) is str
    meta = json.loads((tmp_path / "GP-L.meta.json").read_text())
    assert meta["agent_config"] == {"temperature": 0.5, "max_tokens": 64}
    assert meta["runs"][0]["provenance"]["endpoint"].startswith("http://127.0.0.1:1/")
    assert summary["mean_completion_tokens"] == 7 and summary["mean_prompt_tokens"] == 100
    text = report([tmp_path])
    assert "| s/reply | tokens/reply |" in text and "| 7 |" in text


def test_report_states_the_per_step_floor(tmp_path):
    summary = evaluate(ForwardAgent(), "VIRL-L", progress=False)
    assert summary["success_rate"] == 0.0
    assert summary["per_step_accuracy"] == pytest.approx(PER_STEP_FLOORS["VIRL-L"], abs=5e-4)
    rule = evaluate(ForwardAgent(), "VIRL-L-RuleOOD", progress=False)
    assert rule["per_step_accuracy"] == pytest.approx(PER_STEP_FLOORS["VIRL-L-RuleOOD"], abs=5e-4)
    text = report([summary])
    assert "always answers forward() gets VIRL-L 63.7% per step" in text
    assert "trivial floor" not in report([evaluate(OracleAgent(), "GP-L", episodes=1, progress=False)])
