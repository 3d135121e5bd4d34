"""The paper's experiment with a language model: base model, SFT, then RL from the SFT checkpoint.

Three stages, each evaluated through the benchmark harness in distribution and out of distribution:

1. **base**: the model as it comes;
2. **SFT**: :func:`llm_sft.train_sft` on expert demonstrations of the in-distribution setting only;
3. **RL (GRPO)**: :func:`llm_grpo.train_grpo` from the SFT checkpoint (the paper's RL starts from SFT), with
   the game's own reward, on the same in-distribution setting.

Every stage plays the same fixed episodes (the harness's seed lists) of the game's in-distribution setting
and its rule-OOD variant (GeneralPoints: face cards count 11/12/13 instead of 10; V-IRL: relative turn
words instead of compass words), in-process with :class:`llm_models.TransformersChatAgent` (greedy, the
episodes of both settings batched into one ``generate`` call). The script prints the paper-style table and
writes ``report.md`` and ``report.png`` (:func:`sftrl_eval.report`), with each stage's wall time and the
process's peak memory. Visual OOD needs a vision-language model; this pipeline trains text-only chat models.

    python examples/llm_sft_vs_rl.py --smoke            # the packaged SmolLM2-135M on a CPU: every stage, tiny budgets
    python examples/llm_sft_vs_rl.py --model Qwen/Qwen2.5-0.5B-Instruct --game gp --out runs/qwen05   # a GPU

Budgets: ``--smoke`` is a check that every stage runs, not a result. The default (full) budgets are for a
GPU; docs/llm.md gives the commands and the memory and time they need. Every budget has a flag. Stages
whose checkpoint already exists with the same configuration are reused (``--retrain`` to redo them), and
an interrupted evaluation resumes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from llm_grpo import train_grpo
from llm_models import CHECKPOINT_INFO, TransformersChatAgent, load_model, set_threads
from llm_sft import train_sft

__all__ = ["Budget", "FULL", "SMOKE", "GAMES", "run_pipeline", "evaluate_stage", "main"]

#: Per game: the in-distribution setting trained on, and the settings every stage is evaluated on.
GAMES = {"gp": ("GP-L", ("GP-L", "GP-L-RuleOOD")), "virl": ("VIRL-L", ("VIRL-L", "VIRL-L-RuleOOD"))}
#: Agent names in the results and the table, by stage.
STAGE_NAMES = {"base": "base", "sft": "SFT", "rl": "RL (GRPO)"}


@dataclass(frozen=True)
class Budget:
    """Every budget of the pipeline (each has a command-line flag of the same name)."""

    sft_episodes: int
    sft_epochs: float
    sft_max_steps: int
    sft_batch_size: int
    sft_learning_rate: float
    rl_episodes: int
    rl_max_steps: int
    rl_num_generations: int
    rl_prompts_per_step: int
    rl_max_completion_length: int
    rl_learning_rate: float
    rl_multi_turn: bool
    eval_episodes: int | None  # None: the paper's number (GeneralPoints 234 hands, V-IRL 48 routes)
    max_new_tokens: int
    lora: int


#: For a GPU and a 0.5-1.5B instruct model (docs/llm.md gives the memory and time).
FULL = Budget(sft_episodes=20_000, sft_epochs=2.0, sft_max_steps=-1, sft_batch_size=16, sft_learning_rate=1e-5,
              rl_episodes=4_000, rl_max_steps=500, rl_num_generations=8, rl_prompts_per_step=4,
              rl_max_completion_length=1024, rl_learning_rate=1e-6, rl_multi_turn=True, eval_episodes=None,
              max_new_tokens=512, lora=0)
#: The packaged SmolLM2-135M on a 2-core CPU: every stage runs; the numbers mean nothing.
SMOKE = Budget(sft_episodes=32, sft_epochs=1.0, sft_max_steps=8, sft_batch_size=4, sft_learning_rate=1e-4,
               rl_episodes=8, rl_max_steps=2, rl_num_generations=4, rl_prompts_per_step=1,
               rl_max_completion_length=32, rl_learning_rate=1e-5, rl_multi_turn=False, eval_episodes=2,
               max_new_tokens=32, lora=0)


def _peak_memory_gb() -> float:
    """This process's peak resident memory (Linux reports kB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 30) if sys.platform == "darwin" else peak / (1 << 20)


def evaluate_stage(model: str, stage: str, settings: Sequence[str], out: Path, *, episodes: int | None,
                   max_new_tokens: int, device: str | None = None, protocol: str = "suite") -> list[dict[str, Any]]:
    """Evaluate a checkpoint on ``settings`` through the harness (resumable), all settings' episodes batched.

    Returns:
        The harness summaries, one per setting.
    """
    from sftrl_eval import aevaluate

    network, tokenizer = load_model(model, device=device)
    agent = TransformersChatAgent(network, tokenizer, max_new_tokens=max_new_tokens, name=STAGE_NAMES[stage],
                                  max_batch=32)
    agent.source = model  # the checkpoint, for the run's identity and provenance

    async def run_all() -> list[dict[str, Any]]:
        # Both settings' episodes in flight together: each generate call answers all of them at once.
        return list(await asyncio.gather(*(
            aevaluate(agent, name, episodes, out, progress=False, concurrency=64, protocol=protocol)
            for name in settings)))

    return asyncio.run(run_all())


def _stage_info(folder: Path) -> dict[str, Any] | None:
    path = folder / CHECKPOINT_INFO
    return json.loads(path.read_text()) if (folder / "config.json").is_file() and path.is_file() else None


def run_pipeline(model: str, out: str | Path, *, game: str = "gp", budget: Budget = FULL, seed: int = 0,
                 device: str | None = None, retrain: bool = False, protocol: str = "suite") -> dict[str, Any]:
    """Run base -> SFT -> RL with evaluations; write ``report.md``, ``report.png`` and ``pipeline.json``.

    ``protocol`` (``"suite"`` or ``"paper"``) is the environments' protocol for the training episodes and
    the harness's for the evaluations: the paper's prompts, grading and episode lists with ``"paper"``.

    Returns:
        ``{"stages": {stage: {"seconds", "checkpoint", ...}}, "table": markdown, "peak_memory_gb": float}``.
    """
    from sftrl_eval import report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    train_setting, settings = GAMES[game]
    wanted = {"model": model, "game": game, "seed": seed, "protocol": protocol, "budget": asdict(budget)}
    env_kwargs = {} if protocol == "suite" else {"protocol": protocol}
    stages: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()

    def evaluate(stage: str, checkpoint: str) -> None:
        begun = time.perf_counter()
        print(f"\n== evaluate {STAGE_NAMES[stage]} on {', '.join(settings)} ==", flush=True)
        summaries = evaluate_stage(checkpoint, stage, settings, out / "eval" / stage,
                                   episodes=budget.eval_episodes, max_new_tokens=budget.max_new_tokens,
                                   device=device, protocol=protocol)
        for s in summaries:
            print(f"  {s['setting']:<16} success {100 * s['success_rate']:5.1f}%  "
                  f"unparseable replies {100 * s['unparseable_rate']:5.1f}%  ({s['episodes']} episodes)")
        stages[stage]["eval_seconds"] = round(time.perf_counter() - begun, 1)

    def trained(stage: str, folder: Path, train: Any) -> str:
        info = _stage_info(folder)
        if info is not None and info.get("pipeline") == wanted and not retrain:
            print(f"\n== {STAGE_NAMES[stage]}: reusing {folder} ==", flush=True)
            stages[stage] = {"checkpoint": str(folder), "train_seconds": 0.0, "reused": True}
            return str(folder)
        # A new checkpoint makes this stage's and later stages' results stale: never resume into them.
        for later in list(STAGE_NAMES)[list(STAGE_NAMES).index(stage):]:
            shutil.rmtree(out / "eval" / later, ignore_errors=True)
        print(f"\n== train {STAGE_NAMES[stage]} ==", flush=True)
        begun = time.perf_counter()
        train()
        info = json.loads((folder / CHECKPOINT_INFO).read_text())
        (folder / CHECKPOINT_INFO).write_text(json.dumps({**info, "pipeline": wanted}, indent=1, sort_keys=True)
                                              + "\n")
        stages[stage] = {"checkpoint": str(folder), "train_seconds": round(time.perf_counter() - begun, 1),
                         "train_log": info.get("log")}
        return str(folder)

    stages["base"] = {"checkpoint": model, "train_seconds": 0.0}
    evaluate("base", model)
    sft = trained("sft", out / "sft", lambda: train_sft(
        model, out / "sft", setting=train_setting, episodes=budget.sft_episodes, epochs=budget.sft_epochs,
        max_steps=budget.sft_max_steps, batch_size=budget.sft_batch_size, learning_rate=budget.sft_learning_rate,
        lora=budget.lora, seed=seed, device=device, env_kwargs=env_kwargs))
    evaluate("sft", sft)
    rl = trained("rl", out / "rl", lambda: train_grpo(
        sft, out / "rl", setting=train_setting, episodes=budget.rl_episodes, max_steps=budget.rl_max_steps,
        num_generations=budget.rl_num_generations, prompts_per_step=budget.rl_prompts_per_step,
        max_completion_length=budget.rl_max_completion_length, multi_turn=budget.rl_multi_turn,
        learning_rate=budget.rl_learning_rate, lora=budget.lora, seed=seed + 1_000, device=device,
        env_kwargs=env_kwargs))
    evaluate("rl", rl)
    table = report([out / "eval"], out / "report.md", out / "report.png")
    result = {"pipeline": wanted, "stages": stages, "seconds": round(time.perf_counter() - started, 1),
              "peak_memory_gb": round(_peak_memory_gb(), 2), "table": table}
    (out / "pipeline.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    return result


def _yes_no(text: str) -> bool:
    if text.lower() in ("yes", "true", "1"):
        return True
    if text.lower() in ("no", "false", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected yes or no, got {text!r}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true",
                        help="tiny budgets on the packaged SmolLM2-135M: checks every stage on a CPU")
    parser.add_argument("--model", help="base model: Hugging Face id, local folder or .gguf, or a packaged alias "
                                        "(default smollm2-135m)")
    parser.add_argument("--game", choices=sorted(GAMES), default="gp",
                        help="gp: train on GP-L, evaluate GP-L and GP-L-RuleOOD; virl: VIRL-L and VIRL-L-RuleOOD")
    parser.add_argument("--out", help="output folder (default runs/llm_sft_vs_rl[_smoke]/GAME)")
    parser.add_argument("--protocol", choices=("suite", "paper"), default="suite",
                        help="suite (default) or paper: the authors' prompts, grading and evaluation episodes, "
                             "for training and evaluation alike")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", help="cpu, cuda... (default: the GPU when there is one)")
    parser.add_argument("--threads", type=int,
                        help="torch threads on a CPU (default: the idle cores; 0: every core)")
    parser.add_argument("--retrain", action="store_true", help="train every stage again even if its checkpoint "
                                                               "exists with the same configuration")
    for field in fields(Budget):  # one flag per budget, overriding --smoke's or the full value
        kind, flag = str(field.type), "--" + field.name.replace("_", "-")
        if "bool" in kind:
            parser.add_argument(flag, type=_yes_no, metavar="yes|no")
        else:
            parser.add_argument(flag, type=float if "float" in kind else int, metavar="N")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    budget = SMOKE if args.smoke else FULL
    budget = replace(budget, **{f.name: getattr(args, f.name) for f in fields(Budget)
                                if getattr(args, f.name) is not None})
    model = args.model or "smollm2-135m"
    out = Path(args.out or f"runs/llm_sft_vs_rl{'_smoke' if args.smoke else ''}/{args.game}")
    set_threads(args.threads)
    print(f"{model}: base -> SFT -> RL on {GAMES[args.game][0]}, evaluated on {', '.join(GAMES[args.game][1])} "
          f"({'smoke' if args.smoke else 'full'} budgets) -> {out}")
    print("budgets: " + ", ".join(f"{k}={v}" for k, v in asdict(budget).items()), flush=True)
    result = run_pipeline(model, out, game=args.game, budget=budget, seed=args.seed, device=args.device,
                          retrain=args.retrain, protocol=args.protocol)
    print("\n" + result["table"].split("\n## All statistics")[0].strip())
    print("\nwall clock per stage (train + evaluate):")
    for stage, info in result["stages"].items():
        print(f"  {STAGE_NAMES[stage]:<10} train {info['train_seconds']:7.1f} s   evaluate "
              f"{info.get('eval_seconds', 0.0):7.1f} s" + ("  (reused checkpoint)" if info.get("reused") else ""))
    print(f"total {result['seconds']:.0f} s, peak memory {result['peak_memory_gb']:.2f} GB; wrote "
          f"{out / 'report.md'}, {out / 'report.png'} and {out / 'pipeline.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
