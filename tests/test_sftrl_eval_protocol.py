"""The harness under the paper protocol: the authors' episode lists, their per-step accuracy, one protocol per
results file, and the paper's published numbers in the report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gymnasium as gym
import pytest

from gpoints_env.protocols import paper_eval_hands, paper_prompt
from sftrl_eval import SETTINGS, ResultsError, evaluate, get_setting, load_records, report, summarize
from sftrl_eval.cli import main
from sftrl_eval.settings import PAPER_RESULTS, EpisodeList
from sftrl_core.registry import PAPER
from virl_env import RouteDataset, paper_evaluation_draws, paper_step_accuracy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "tests"))
from agents import ForwardAgent, OracleAgent  # noqa: E402
from test_virl_data import build_dataset, make_routes  # noqa: E402

FAST_SETTINGS = ["GP-L", "GP-L-RuleOOD", "GP-VL", "GP-VL-RuleOOD", "GP-VL-VisualOOD", "VIRL-L", "VIRL-L-RuleOOD"]


class Recorder(OracleAgent):
    """The oracle, noting what it was shown at the first reply of each episode."""

    name = "oracle"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[object, dict, dict | None]] = []  # observation, info, the dealt hand
        self.new_episode = False

    def begin_episode(self, env) -> None:
        super().begin_episode(env)
        self.new_episode = True

    def __call__(self, observation, info):
        if self.new_episode:
            hand = getattr(self.env, "hand", None)
            dealt = None if hand is None else {"cards": [c.rank for c in hand], "suits": [c.suit for c in hand]}
            self.seen.append((observation, dict(info), dealt))
            self.new_episode = False
        return super().__call__(observation, info)


@pytest.mark.parametrize("protocol", ["suite", "paper"])
@pytest.mark.parametrize("name", list(SETTINGS))
def test_oracle_scores_100_percent_under_both_protocols(name, protocol):
    episodes = 8 if name in FAST_SETTINGS else 2  # street views take longer to draw
    summary = evaluate(OracleAgent(), name, episodes=episodes, progress=False, protocol=protocol)
    assert summary["success_rate"] == 1.0 and summary["episodes"] == episodes
    assert summary["protocol"] == protocol and summary["unparseable_rate"] == 0.0
    if get_setting(name).game.walks_routes:
        assert summary["per_step_accuracy"] == 1.0
    elif get_setting(name).image:
        assert summary["recognition_accuracy"] == 1.0


@pytest.mark.parametrize("name", ["GP-L", "GP-L-RuleOOD", "GP-VL-VisualOOD"])
def test_paper_protocol_replays_the_authors_hands_in_order(name, tmp_path):
    agent = Recorder()
    evaluate(agent, name, episodes=15, out_dir=tmp_path, progress=False, protocol="paper")
    hands = paper_eval_hands(name)[:15]
    assert [dealt for _, _, dealt in agent.seen] == hands  # ranks and suits, duplicates included, in order
    if not get_setting(name).image:  # the prompt is the authors' template for that hand
        rules = agent.env.active_rules
        assert [obs for obs, _, _ in agent.seen] == [paper_prompt(rules, h["cards"]) for h in hands]
    records = load_records(tmp_path / f"{name}.jsonl")
    assert {r["protocol"] for r in records} == {"paper"}
    meta = json.loads((tmp_path / f"{name}.meta.json").read_text())
    assert meta["protocol"] == PAPER.name and meta["episode_list"].startswith("authors' hands v")


def test_paper_gp_lists_hold_234_hands_and_the_harness_refuses_more():
    for name in ("GP-L", "GP-VL-RuleOOD"):
        assert EpisodeList(get_setting(name), "paper").max_episodes == 234 == get_setting(name).episodes
        with pytest.raises(ValueError, match="234 hands"):
            evaluate(OracleAgent(), name, episodes=235, progress=False, protocol="paper")
    assert EpisodeList(get_setting("GP-L"), "suite").max_episodes is None  # suite seeds go on


def test_bad_protocol_arguments():
    with pytest.raises(ValueError, match=r"protocol must be one of \['suite', 'paper'\], got 'Paper'"):
        evaluate(OracleAgent(), "GP-L", episodes=1, progress=False, protocol="Paper")
    with pytest.raises(ValueError, match="protocol=...") as err:
        evaluate(OracleAgent(), "GP-L", episodes=1, progress=False, env_kwargs={"protocol": "paper"})
    assert "not in env_kwargs" in str(err.value)
    with pytest.raises(ValueError, match="GeneralPoints setting"):
        evaluate(OracleAgent(), "GP-L", episodes=1, progress=False, dataset_dir="nowhere")


class WrongFromPoint:
    """Answers V-IRL with the expert action up to rail point ``k``, then with a wrong action."""

    name = "wrong-from-k"

    def __init__(self, k: int):
        self.k, self.env = k, None

    def begin_episode(self, env):
        self.env = env.unwrapped

    def __call__(self, observation, info):
        expert = self.env.expert_action()
        if self.env.point_index < self.k:
            return json.dumps({"action": expert})
        return json.dumps({"action": "stop()" if expert != "stop()" else "forward()"})


def test_paper_per_step_accuracy_counts_the_authors_extra_call():
    # Hand-computed: points 0 and 1 right (2 calls), point 2 wrong twice (2 calls) and the authors' evaluator
    # makes one more, ungraded call that it counts wrong: 2 of 5. The episode ends there.
    summary = evaluate(WrongFromPoint(2), "VIRL-L", episodes=1, progress=False, protocol="paper")
    assert summary["per_step_accuracy"] == pytest.approx(2 / 5) and summary["success_rate"] == 0.0
    assert summary["mean_attempts"] == 4  # the extra call is counted, never made
    # Under the suite protocol the point is failed and the agent moves on, so later points count too.
    suite = evaluate(WrongFromPoint(2), "VIRL-L", episodes=1, progress=False)
    assert suite["mean_attempts"] > 4 and suite["per_step_accuracy"] == pytest.approx(2 / suite["mean_attempts"])


def test_paper_per_step_accuracy_is_virl_envs_metric_and_the_forward_floor_vanishes(tmp_path):
    paper = evaluate(ForwardAgent(), "VIRL-L", episodes=12, out_dir=tmp_path / "paper", progress=False,
                     protocol="paper")
    records = load_records(tmp_path / "paper" / "VIRL-L.jsonl")
    assert paper["per_step_accuracy"] == paper_step_accuracy(records) == 0.0  # every route starts with a turn
    assert all(r["exhausted_points"] == 1 and r["replies"] == 2 for r in records)
    mixed = evaluate(WrongFromPoint(3), "VIRL-L-RuleOOD", episodes=6, out_dir=tmp_path / "mixed", progress=False,
                     protocol="paper")
    records = load_records(tmp_path / "mixed" / "VIRL-L-RuleOOD.jsonl")
    correct = sum(sum(r["step_correct"]) for r in records)
    calls = sum(len(r["step_correct"]) + r["exhausted_points"] for r in records)
    assert mixed["per_step_accuracy"] == pytest.approx(correct / calls) and 0 < correct < calls
    suite = evaluate(ForwardAgent(), "VIRL-L", episodes=12, progress=False)
    assert suite["per_step_accuracy"] > 0.5  # the suite's floor (report.PER_STEP_FLOORS)


def test_paper_protocol_on_released_data_plays_the_authors_route_draws(tmp_path):
    root = build_dataset(tmp_path / "data", make_routes() * 6)  # 18 routes: enough for the visual-OOD list
    dataset = RouteDataset.load(root)
    for name, visual in (("VIRL-L", False), ("VIRL-L-RuleOOD", False), ("VIRL-VL-VisualOOD", True)):
        episodes = 6 if visual else 48
        agent = Recorder()
        summary = evaluate(agent, name, episodes=episodes, out_dir=tmp_path / "runs", progress=False,
                           protocol="paper", dataset_dir=root, env_kwargs={"view_size": 32} if visual else None)
        assert summary["success_rate"] == 1.0 and summary["per_step_accuracy"] == 1.0
        draws = paper_evaluation_draws(dataset, visual_ood=visual, episodes=get_setting(name).episodes)[:episodes]
        assert [info["route"] for _, info, _ in agent.seen] == [d.route for d in draws]
        meta = json.loads((tmp_path / "runs" / f"{name}.meta.json").read_text())
        assert meta["env_kwargs"]["dataset_dir"] == str(root) and "route draws" in meta["episode_list"]
    text = report([tmp_path / "runs"], paper_reference=True)
    assert "| per-step 80.8 \u2192 91.8 / 1.3 |" in text and "| success 16.7 \u2192 77.8 / 11.1 |" in text
    assert "generated routes" not in text
    assert [d.route for d in paper_evaluation_draws(dataset, visual_ood=True)] == list(range(18))


def test_one_results_file_never_mixes_protocols(tmp_path):
    evaluate(OracleAgent(), "GP-L", episodes=2, out_dir=tmp_path, progress=False)
    with pytest.raises(ResultsError, match="never mixes protocols") as err:
        evaluate(OracleAgent(), "GP-L", episodes=2, out_dir=tmp_path, progress=False, protocol="paper")
    assert "\n" not in str(err.value) and "'suite'" in str(err.value) and "'paper'" in str(err.value)
    evaluate(OracleAgent(), "GP-L-RuleOOD", episodes=2, out_dir=tmp_path, progress=False, protocol="paper")
    with pytest.raises(ResultsError, match="never mixes protocols"):
        evaluate(OracleAgent(), "GP-L-RuleOOD", episodes=3, out_dir=tmp_path, progress=False)
    # A results file from before protocols existed holds suite results: it resumes as suite, never as paper.
    meta_path = tmp_path / "GP-L.meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["protocol"]
    meta_path.write_text(json.dumps(meta))
    records = [{k: v for k, v in r.items() if k != "protocol"} for r in load_records(tmp_path / "GP-L.jsonl")]
    (tmp_path / "GP-L.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(ResultsError, match="never mixes protocols"):
        evaluate(OracleAgent(), "GP-L", episodes=3, out_dir=tmp_path, progress=False, protocol="paper")
    assert evaluate(OracleAgent(), "GP-L", episodes=3, out_dir=tmp_path, progress=False)["episodes"] == 3
    # Without its meta file, the records themselves say which protocol they hold.
    (tmp_path / "GP-L-RuleOOD.meta.json").unlink()
    with pytest.raises(ResultsError, match="never mixes protocols"):
        evaluate(OracleAgent(), "GP-L-RuleOOD", episodes=3, out_dir=tmp_path, progress=False)


def test_report_prints_the_papers_numbers_beside_paper_runs_only(tmp_path):
    evaluate(OracleAgent(), "GP-L-RuleOOD", episodes=3, out_dir=tmp_path / "paper", progress=False,
             protocol="paper")
    evaluate(OracleAgent(), "GP-L-RuleOOD", episodes=3, out_dir=tmp_path / "suite", progress=False)
    evaluate(OracleAgent(), "GP-L", episodes=3, out_dir=tmp_path / "paper", progress=False, protocol="paper")
    text = report([tmp_path / "paper", tmp_path / "suite"], paper_reference=True)
    rows = {line.split(" | ")[2] + " " + line.split(" | ")[1]: line for line in text.splitlines()
            if line.startswith("| oracle") and line.count("|") > 10}
    assert rows["paper GP-L-RuleOOD"].endswith("| success 11.5 \u2192 15.0 / 3.4 |")
    assert rows["suite GP-L-RuleOOD"].endswith("| not comparable (suite protocol) |")
    assert rows["paper GP-L"].endswith("| - |")  # the paper publishes no in-distribution number
    assert "| *paper: RL* | - | 15.0 |" in text and "| *paper: SFT* | - | 3.4 |" in text
    assert "suite protocol (GP-L-RuleOOD): these numbers are not comparable with the paper's" in text
    plain = report([tmp_path / "paper"])
    assert "paper:" not in plain and "not comparable" not in plain and "| paper |" in plain
    assert set(PAPER_RESULTS) <= set(SETTINGS)


def test_command_line_paper_protocol_worked_example(tmp_path, capsys):
    out = tmp_path / "runs"
    argv = ["run", "--agent", str(ROOT / "examples" / "agents.py") + ":OracleAgent", "--settings",
            "GP-L-RuleOOD,VIRL-L-RuleOOD", "--episodes", "4", "--protocol", "paper", "--paper-reference",
            "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "| success 11.5 \u2192 15.0 / 3.4 |" in text
    # V-IRL without the released data: the authors' protocol on the suite's routes, and the report says so.
    assert "| per-step 80.8 \u2192 91.8 / 1.3 (their protocol, our generated routes) |" in text
    assert "not comparable" not in text
    assert json.loads((out / "VIRL-L-RuleOOD.meta.json").read_text())["protocol"] == PAPER.name
    assert main(["report", str(out), "--paper-reference", "--markdown", str(tmp_path / "r.md")]) == 0
    assert "| *paper: initial* | 11.5 | - (80.8) |" in (tmp_path / "r.md").read_text()
    # The same folder under the other protocol: refused in one line, exit status 2.
    capsys.readouterr()
    assert main(argv[:-6] + ["--protocol", "suite", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "never mixes protocols" in err
    assert main(argv[:4] + ["GP-L", "--episodes", "235", "--protocol", "paper", "--out", str(out)]) == 2
    assert "234 hands" in capsys.readouterr().err
    assert main(argv[:4] + ["GP-L", "--dataset-dir", str(tmp_path), "--out", str(out)]) == 2
    assert "names no V-IRL setting" in capsys.readouterr().err


def test_paper_envs_are_the_registered_ids_with_protocol_paper():
    for setting in SETTINGS.values():
        env = gym.make(setting.env_id, protocol="paper")
        assert env.unwrapped.protocol == PAPER.name
        env.close()


def _played(record: dict) -> tuple:
    return record["seed"], record["protocol"], [(s["reply"], s["verdict"], s["reward"]) for s in record["steps"]]


def test_concurrent_async_agents_play_the_same_paper_episodes(tmp_path):
    from test_sftrl_eval import AsyncOracle

    for name in ("GP-L-RuleOOD", "VIRL-L-RuleOOD"):
        evaluate(AsyncOracle(), name, episodes=8, out_dir=tmp_path / "a", progress=False, concurrency=4,
                 protocol="paper")
        evaluate(OracleAgent(), name, episodes=8, out_dir=tmp_path / "s", progress=False, protocol="paper")
        concurrent = {r["index"]: _played(r) for r in load_records(tmp_path / "a" / f"{name}.jsonl")}
        sequential = {r["index"]: _played(r) for r in load_records(tmp_path / "s" / f"{name}.jsonl")}
        assert concurrent == sequential and len(concurrent) == 8


def test_summaries_never_pool_protocols():
    suite = evaluate(OracleAgent(), "VIRL-L", episodes=1, progress=False)
    records = [{"index": 0, "protocol": "paper", "success": True, "steps": [], "step_correct": [],
                "exhausted_points": 0}, {"index": 1, "success": True, "steps": [], "step_correct": []}]
    with pytest.raises(ValueError, match="mix protocols"):
        summarize(records, "VIRL-L", "x")
    assert suite["protocol"] == "suite" and suite["episode_list"] is None
