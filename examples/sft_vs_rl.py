"""The paper's experiment in miniature: SFT vs RL, trained in distribution, evaluated in and out of distribution.

For each game a small MLP (two hidden layers of 128) is trained two ways on in-distribution data only:

* **SFT**: behaviour cloning of expert demonstrations (GeneralPoints: solver formulas as token sequences;
  V-IRL: ``expert_action()`` along training rails);
* **RL**: stable-baselines3 PPO on the numeric wrappers (:class:`gpoints_env.numeric.FormulaTokens`,
  :class:`virl_env.numeric.DiscreteNavigation`) with the games' own rewards.

An untrained MLP of the same shape (**init**) is the reference row. All three play through the benchmark
harness (:func:`sftrl_eval.evaluate`) via agent adapters (``examples/policies.py``) on GP-L, GP-L-RuleOOD,
VIRL-L and VIRL-L-RuleOOD (paper sizes by default: 234 hands, 48 routes), and the script prints the
paper-style table and writes ``report.md`` and ``report.png`` with :func:`sftrl_eval.report`.

Read the numbers for what they are: tiny numeric policies, not foundation models. GeneralPoints rule-OOD
changes J/Q/K to 11/12/13, values the MLP never saw; V-IRL rule-OOD asks for relative turn words, which are
not in a policy's action vocabulary when it was trained on compass words, so its turns are out of the action
space there. Nothing is tuned to reproduce the paper's conclusion.

    python examples/sft_vs_rl.py            # about 8 minutes on 2 shared CPU cores
    python examples/sft_vs_rl.py --quick    # a smoke run with tiny budgets (about 100 s of CPU time)
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import torch

from policies import (
    GPointsPolicyAgent,
    MLPPolicy,
    VIRLPolicyAgent,
    gp_demonstrations,
    make_gp_env,
    make_ppo,
    make_virl_env,
    mlp_probs,
    save_policy,
    sb3_probs,
    train_sft,
    virl_demonstrations,
)

GP_SETTINGS = ("GP-L", "GP-L-RuleOOD")
VIRL_SETTINGS = ("VIRL-L", "VIRL-L-RuleOOD")

DEFAULTS = {"gp_demos": 5000, "virl_demos": 400, "epochs": 30, "gp_timesteps": 250_000, "virl_timesteps": 60_000,
            "gp_episodes": 234, "virl_routes": 48}
QUICK = {"gp_demos": 1000, "virl_demos": 100, "epochs": 10, "gp_timesteps": 8192, "virl_timesteps": 16384,
         "gp_episodes": 60, "virl_routes": 16}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets: a smoke run (about 100 s of CPU time)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data, the models and PPO (default 0)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", default="runs/sft_vs_rl",
                        help="folder for the results and the report (default runs/sft_vs_rl)")
    parser.add_argument("--n-steps", type=int, default=2048, help="PPO rollout length per update")
    for key, value in DEFAULTS.items():
        parser.add_argument("--" + key.replace("_", "-"), type=int, default=None,
                            help=f"default {value} ({QUICK[key]} with --quick)")
    args = parser.parse_args(argv)
    budget = {k: getattr(args, k) if getattr(args, k) is not None else (QUICK if args.quick else DEFAULTS)[k]
              for k in DEFAULTS}
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    from sftrl_eval import evaluate, paper_table, report

    out = Path(args.out)
    start = time.perf_counter()
    clock = lambda: f"[{time.perf_counter() - start:6.0f} s]"  # noqa: E731
    print(f"SFT vs RL, seed {args.seed}, budgets {budget}")

    # ---- training (in distribution only) ----
    gp_env, virl_env = make_gp_env(), make_virl_env()
    gp_actions, virl_actions = gp_env.action_space.n, virl_env.action_space.n
    print(f"{clock()} SFT GeneralPoints: demonstrations from the solver on {budget['gp_demos']} hands")
    x, y = gp_demonstrations(budget["gp_demos"], seed=args.seed)
    sft_gp, losses = train_sft(x, y, gp_actions, epochs=budget["epochs"], seed=args.seed)
    print(f"{clock()}   {len(x)} samples, loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    print(f"{clock()} SFT V-IRL: expert rails of {budget['virl_demos']} training routes")
    x, y = virl_demonstrations(budget["virl_demos"], seed=args.seed)
    sft_virl, losses = train_sft(x, y, virl_actions, epochs=budget["epochs"], seed=args.seed)
    print(f"{clock()}   {len(x)} samples, loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    save_policy(sft_gp, out / "models" / "sft_gp.pt")
    save_policy(sft_virl, out / "models" / "sft_virl.pt")

    print(f"{clock()} PPO GeneralPoints: {budget['gp_timesteps']} steps")
    gp_env.reset(seed=args.seed)
    ppo_gp = make_ppo(gp_env, seed=args.seed, n_steps=args.n_steps, batch_size=min(256, args.n_steps))
    ppo_gp.learn(budget["gp_timesteps"])
    print(f"{clock()} PPO V-IRL: {budget['virl_timesteps']} steps")
    virl_env.reset(seed=args.seed)
    ppo_virl = make_ppo(virl_env, seed=args.seed, n_steps=args.n_steps, batch_size=min(256, args.n_steps))
    ppo_virl.learn(budget["virl_timesteps"])
    torch.save(ppo_gp.policy.state_dict(), out / "models" / "ppo_gp.pt")
    torch.save(ppo_virl.policy.state_dict(), out / "models" / "ppo_virl.pt")

    torch.manual_seed(args.seed)
    init_gp = MLPPolicy(gp_env.observation_space.shape[0], gp_actions).eval()
    init_virl = MLPPolicy(virl_env.observation_space.shape[0], virl_actions).eval()

    # ---- evaluation through the harness (ID and rule OOD) ----
    methods = {
        "init": (mlp_probs(init_gp), mlp_probs(init_virl)),
        "SFT": (mlp_probs(sft_gp), mlp_probs(sft_virl)),
        "RL (PPO)": (sb3_probs(ppo_gp), sb3_probs(ppo_virl)),
    }
    summaries = []
    for name, (gp_probs, virl_probs) in methods.items():
        run_dir = out / "results" / name.replace(" ", "_").replace("(", "").replace(")", "")
        shutil.rmtree(run_dir, ignore_errors=True)  # results of freshly trained models; never resume old ones
        for setting in GP_SETTINGS:
            agent = GPointsPolicyAgent(gp_probs, name=name, seed=args.seed)
            summaries.append(evaluate(agent, setting, episodes=budget["gp_episodes"], out_dir=run_dir,
                                      agent_name=name, progress=False))
            print(f"{clock()} {name:9s} {setting:15s} success {summaries[-1]['success_rate']:.3f}")
        for setting in VIRL_SETTINGS:
            agent = VIRLPolicyAgent(virl_probs, virl_env.actions, name=name)
            summaries.append(evaluate(agent, setting, episodes=budget["virl_routes"], out_dir=run_dir,
                                      agent_name=name, progress=False))
            print(f"{clock()} {name:9s} {setting:15s} success {summaries[-1]['success_rate']:.3f}, "
                  f"per-step accuracy {summaries[-1]['per_step_accuracy']:.3f}")

    report(summaries, markdown_path=out / "report.md", png_path=out / "report.png")
    print()
    print("Success % (V-IRL: route success, per-step accuracy % in parentheses)")
    print(paper_table(summaries))
    print(f"wrote {out / 'report.md'} and {out / 'report.png'}; total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
