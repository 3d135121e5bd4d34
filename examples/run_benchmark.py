"""The main job: benchmark the oracle and random agents on every paper setting and write the report.

    python examples/run_benchmark.py [--gp-episodes 20] [--virl-episodes 8] [--out runs/main]

Small sizes by default so it finishes in about a minute on a laptop; pass ``--paper-sizes`` for the paper's
234 GeneralPoints episodes and 48 / 18 V-IRL routes. Results are resumable: run it again to finish an
interrupted run. It writes ``report.md`` (tables) and ``report.png`` (chart) into ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sftrl_core.registry import GENERAL_POINTS, VIRL
from sftrl_eval import SETTINGS, evaluate, report

sys.path.insert(0, str(Path(__file__).resolve().parent))
from agents import OracleAgent, RandomAgent  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="The main job: benchmark the oracle and random agents on every paper setting and write the "
                    "report (report.md and report.png in --out). Run it again to resume an interrupted run.")
    parser.add_argument("--gp-episodes", type=int, default=20, help="episodes per GeneralPoints setting (default 20)")
    parser.add_argument("--virl-episodes", type=int, default=8,
                        help="routes per V-IRL setting (default 8; at most the setting's 48, or 18 for VisualOOD)")
    parser.add_argument("--paper-sizes", action="store_true",
                        help="the paper's evaluation sizes (234 GeneralPoints episodes, 48 or 18 V-IRL routes)")
    parser.add_argument("--out", default="runs/main", help="results folder (default runs/main)")
    parser.add_argument("--no-progress", action="store_true", help="print no progress on stderr")
    args = parser.parse_args(argv)

    out = Path(args.out)
    asked = {GENERAL_POINTS: args.gp_episodes, VIRL: args.virl_episodes}
    for agent in (OracleAgent(), RandomAgent(seed=0)):
        for setting in SETTINGS.values():
            episodes = setting.episodes if args.paper_sizes else asked[setting.game]
            if setting.game.walks_routes:  # a setting's routes past its evaluation list are training routes
                episodes = min(episodes, setting.episodes)
            evaluate(agent, setting, episodes, out / agent.name, progress=not args.no_progress)
    text = report([out / "oracle", out / "random"], out / "report.md", out / "report.png")
    print(text)
    print(f"wrote {out / 'report.md'} and {out / 'report.png'}")


if __name__ == "__main__":
    main()
