#!/usr/bin/env bash
# GRPO with verl (0.9.x) on one of the suite's settings, one 80 GB GPU, the suite's multi-turn agent loop.
#
#   python examples/verl/prepare_data.py gp --out ~/data/sftrl/verl/gp   # once per setting
#   bash examples/verl/run_grpo.sh gp                                      # gp | gp-vl | virl | virl-vl
#   bash examples/verl/run_grpo.sh gp --dry-run                            # print the overrides, run nothing
#   bash examples/verl/run_grpo.sh gp trainer.total_training_steps=20      # extra Hydra overrides go last
#
# Every episode is played whole by sftrl_train.verl.EnvAgentLoop (rows carry agent_name=sftrl_env): the model
# replies, the reply is graded from the row's episode spec exactly as env.step grades it, the env's feedback (or a
# V-IRL route's next point) becomes the next user turn, until the episode ends; verl's reward worker then scores the
# trajectory with sftrl_train.rewards.verl_compute_score: the episode's return (success as "acc"). Budgets, memory and
# what success looks like: docs/launch.md. Environment variables (defaults in brackets):
#   MODEL [Qwen/Qwen2.5-1.5B-Instruct for text, Qwen/Qwen3.5-0.8B for pictures], DATA_DIR [~/data/sftrl/verl/SETTING],
#   OUT [runs/verl/SETTING], STEPS [300], PROMPTS [a step: 32 GeneralPoints, 16 V-IRL], GROUP [8 replies a prompt],
#   LR [1e-6], KL [0.001; 0 drops the KL loss and the reference model], GPU_MEM [0.5 of the GPU for vLLM],
#   LOGGER [["console"]; '["console","wandb"]' for Weights & Biases], PYTHON [python3].
set -euo pipefail

usage="usage: bash examples/verl/run_grpo.sh gp|gp-vl|virl|virl-vl [--dry-run] [hydra overrides...]"
setting=${1:?$usage}
shift
dry_run=0
if [[ ${1:-} == --dry-run ]]; then
    dry_run=1
    shift
fi

PYTHON=${PYTHON:-python3}
DATA_DIR=${DATA_DIR:-$HOME/data/sftrl/verl/$setting}
OUT=${OUT:-runs/verl/$setting}
STEPS=${STEPS:-300}
GROUP=${GROUP:-8}
LR=${LR:-1e-6}
KL=${KL:-0.001}
GPU_MEM=${GPU_MEM:-0.5}
LOGGER=${LOGGER:-'["console"]'}

# Per setting: the model, prompts a step and the token budgets. A prompt is one user turn (GeneralPoints ~300 tokens,
# a V-IRL route's first point ~450, a picture adds a few hundred). The response budget holds every reply and every
# next user turn of the episode: GeneralPoints up to 5 attempts; a whole V-IRL route shows each new point's whole
# prompt (its history grows), about 9,500 tokens for the median route and 20,000 at the 90th percentile, so a route
# longer than the budget ends there with the return it has (docs/launch.md).
case $setting in
    gp) model=Qwen/Qwen2.5-1.5B-Instruct; prompts=32; max_prompt=1024; max_response=2048; pack=16384 ;;
    gp-vl) model=Qwen/Qwen3.5-0.8B; prompts=32; max_prompt=1536; max_response=2048; pack=16384 ;;
    virl) model=Qwen/Qwen2.5-1.5B-Instruct; prompts=16; max_prompt=1536; max_response=16384; pack=24576 ;;
    virl-vl) model=Qwen/Qwen3.5-0.8B; prompts=16; max_prompt=2048; max_response=24576; pack=32768 ;;
    *) echo "$usage" >&2; exit 2 ;;
esac
MODEL=${MODEL:-$model}
PROMPTS=${PROMPTS:-$prompts}
case $setting in
    # Qwen3.5 pictures: 16 px patches; verl's Qwen3.5 recipe runs without remove_padding (hybrid linear attention).
    *-vl) vision=(data.image_key=images data.image_patch_size=16 actor_rollout_ref.model.use_remove_padding=False) ;;
    *) vision=(actor_rollout_ref.model.use_remove_padding=True) ;;
esac
if [[ $KL == 0 ]]; then use_kl=False; else use_kl=True; fi
agent_loop=$("$PYTHON" -c 'from sftrl_train.verl import agent_loop_config_path; print(agent_loop_config_path())')

overrides=(
    # GRPO: group-normalised advantages, no critic, no KL in the reward (the KL term is a loss, below).
    algorithm.adv_estimator=grpo
    algorithm.norm_adv_by_std_in_grpo=True
    algorithm.use_kl_in_reward=False
    # Data: the Parquet files of prepare_data.py; every prompt must fit (an overlong prompt is an error, not cut).
    data.train_files="$DATA_DIR/train.parquet"
    data.val_files="$DATA_DIR/val.parquet"
    data.train_batch_size="$PROMPTS"
    data.max_prompt_length="$max_prompt"
    data.max_response_length="$max_response"
    data.filter_overlong_prompts=True
    data.truncation=error
    data.return_raw_chat=True
    data.shuffle=True
    data.seed=0
    "${vision[@]}"
    # Model and actor: full fine-tuning with FSDP on one GPU, sequence packing by token count.
    actor_rollout_ref.model.path="$MODEL"
    actor_rollout_ref.model.enable_gradient_checkpointing=True
    actor_rollout_ref.actor.optim.lr="$LR"
    actor_rollout_ref.actor.ppo_mini_batch_size=$((PROMPTS / 2))
    actor_rollout_ref.actor.use_dynamic_bsz=True
    actor_rollout_ref.actor.ppo_max_token_len_per_gpu="$pack"
    actor_rollout_ref.actor.use_kl_loss="$use_kl"
    actor_rollout_ref.actor.kl_loss_coef="$KL"
    actor_rollout_ref.actor.kl_loss_type=low_var_kl
    actor_rollout_ref.actor.entropy_coeff=0
    actor_rollout_ref.actor.loss_agg_mode=token-mean
    actor_rollout_ref.actor.fsdp_config.param_offload=False
    actor_rollout_ref.actor.fsdp_config.optimizer_offload=False
    actor_rollout_ref.ref.fsdp_config.param_offload=True
    # Rollout: vLLM on the same GPU (asleep while the actor trains), GROUP replies per prompt.
    actor_rollout_ref.rollout.name=vllm
    actor_rollout_ref.rollout.mode=async
    actor_rollout_ref.rollout.tensor_model_parallel_size=1
    actor_rollout_ref.rollout.gpu_memory_utilization="$GPU_MEM"
    actor_rollout_ref.rollout.max_model_len=$((max_prompt + max_response))
    actor_rollout_ref.rollout.n="$GROUP"
    actor_rollout_ref.rollout.temperature=1.0
    actor_rollout_ref.rollout.top_p=1.0
    actor_rollout_ref.rollout.log_prob_use_dynamic_bsz=True
    actor_rollout_ref.rollout.val_kwargs.do_sample=False
    actor_rollout_ref.rollout.val_kwargs.temperature=0
    actor_rollout_ref.rollout.val_kwargs.n=1
    # The suite's agent loop (rows name it: agent_name=sftrl_env); it returns the episode's return as the reward.
    actor_rollout_ref.rollout.agent.agent_loop_config_path="$agent_loop"
    actor_rollout_ref.rollout.agent.default_agent_loop=sftrl_env
    actor_rollout_ref.rollout.agent.num_workers=4
    # The reward: the episode's return as the agent loop recorded it (a single_turn_agent row: its reply graded).
    reward.custom_reward_function.path=pkg://sftrl_train.rewards
    reward.custom_reward_function.name=verl_compute_score
    # Trainer: one GPU, STEPS steps, validation on the in-distribution and OOD ids every 25 steps.
    trainer.n_gpus_per_node=1
    trainer.nnodes=1
    trainer.total_training_steps="$STEPS"
    trainer.total_epochs=1000
    trainer.critic_warmup=0
    trainer.val_before_train=True
    trainer.test_freq=25
    trainer.save_freq=100
    trainer.max_actor_ckpt_to_keep=2
    trainer.logger="$LOGGER"
    trainer.project_name=sftrl
    trainer.experiment_name="grpo-$setting"
    trainer.default_local_dir="$OUT/checkpoints"
    trainer.validation_data_dir="$OUT/validation"
)

if (( dry_run )); then
    printf '%s\n' "${overrides[@]}" "$@"
    exit 0
fi
for file in "$DATA_DIR/train.parquet" "$DATA_DIR/val.parquet"; do
    if [[ ! -f $file ]]; then
        echo "$file is missing: python examples/verl/prepare_data.py $setting --out $DATA_DIR" >&2
        exit 1
    fi
done
mkdir -p "$OUT"
exec "$PYTHON" -m verl.trainer.main_ppo "${overrides[@]}" "$@"
