#!/usr/bin/env bash
# GRPO with OpenRLHF (0.11.x) on one of the suite's settings, one 80 GB GPU, the suite's multi-turn agent executor.
#
#   python examples/openrlhf/prepare_data.py gp --out ~/data/sftrl/openrlhf/gp   # once per setting
#   bash examples/openrlhf/run_grpo.sh gp                                          # gp | gp-vl | virl | virl-vl
#   bash examples/openrlhf/run_grpo.sh gp --dry-run          # print the arguments, one a line; run nothing
#   bash examples/openrlhf/run_grpo.sh gp --train.seed 1     # extra train_ppo_ray arguments go last
#
# Every episode is played whole by the AgentExecutor of sftrl_train/openrlhf.py (--train.agent_func_path): the model
# replies, the reply is graded from the row's episode spec (its label) exactly as env.step grades it, the env's
# feedback (or a V-IRL route's next point) becomes the next user turn, until the episode ends; the episode's return
# is the sample's reward and its success the score. Budgets, memory and what success looks like: docs/launch.md. Environment variables (defaults in
# brackets): MODEL [Qwen/Qwen2.5-1.5B-Instruct for text, Qwen/Qwen3.5-0.8B for pictures], DATA_DIR
# [~/data/sftrl/openrlhf/SETTING], OUT [runs/openrlhf/SETTING], PROMPTS [a step: 32 GeneralPoints, 16 V-IRL], GROUP
# [8 replies a prompt], EPISODES [1 pass over train.jsonl: 300 steps], LR [1e-6], KL [0.001; 0 drops the KL loss and
# the reference model], GPU_MEM [0.5 of the GPU for vLLM], PYTHON [python3].
set -euo pipefail

usage="usage: bash examples/openrlhf/run_grpo.sh gp|gp-vl|virl|virl-vl [--dry-run] [train_ppo_ray arguments...]"
setting=${1:?$usage}
shift
dry_run=0
if [[ ${1:-} == --dry-run ]]; then
    dry_run=1
    shift
fi

PYTHON=${PYTHON:-python3}
DATA_DIR=${DATA_DIR:-$HOME/data/sftrl/openrlhf/$setting}
OUT=${OUT:-runs/openrlhf/$setting}
GROUP=${GROUP:-8}
EPISODES=${EPISODES:-1}
LR=${LR:-1e-6}
KL=${KL:-0.001}
GPU_MEM=${GPU_MEM:-0.5}

# Per setting: the model, prompts a step and the token budget of a whole episode (prompt, every reply, every next user
# turn: GeneralPoints up to 5 attempts; a whole V-IRL route shows each new point's whole prompt, about 9,500 tokens
# for the median route and 20,000 at the 90th percentile, so a longer route ends at the budget with the return it has).
case $setting in
    gp) model=Qwen/Qwen2.5-1.5B-Instruct; prompts=32; max_len=3072; pictures=0 ;;
    gp-vl) model=Qwen/Qwen3.5-0.8B; prompts=32; max_len=3584; pictures=1; image_key=images ;;
    virl) model=Qwen/Qwen2.5-1.5B-Instruct; prompts=16; max_len=17920; pictures=0 ;;
    virl-vl) model=Qwen/Qwen3.5-0.8B; prompts=16; max_len=26624; pictures=40; image_key=point_images ;;
    *) echo "$usage" >&2; exit 2 ;;
esac
MODEL=${MODEL:-$model}
PROMPTS=${PROMPTS:-$prompts}
if (( pictures )); then
    # OpenRLHF's tested Qwen3.5 recipe: eager attention (hybrid linear attention); no sequence packing for pictures,
    # so one sequence a micro-batch. A whole V-IRL route shows a picture at every point (up to 31): its rows'
    # point_images column holds them all, and the executor shows each when the walk reaches its point.
    modality=(--data.image_key "$image_key" --data.max_images_per_prompt "$pictures" --ds.attn_implementation eager
              --vllm.enforce_eager --train.micro_batch_size 1 --rollout.micro_batch_size 2)
else
    # Text: sequences packed by token count (a whole V-IRL route is up to max_len tokens).
    modality=(--ds.packing_samples --train.dynamic_batch_enable --train.max_tokens_per_gpu $((max_len + 4096))
              --rollout.max_tokens_per_gpu $((2 * max_len)) --train.micro_batch_size 4 --rollout.micro_batch_size 8)
fi
if [[ $KL == 0 ]]; then
    kl=(--algo.kl.init_coef 0)
else
    kl=(--algo.kl.use_loss --algo.kl.estimator k3 --algo.kl.init_coef "$KL")
fi
agent=$("$PYTHON" -c 'import sftrl_train.openrlhf as m; print(m.__file__)')

args=(
    # One GPU: actor, reference and vLLM colocated; vLLM and DeepSpeed sleep while the other works.
    --actor.num_nodes 1 --actor.num_gpus_per_node 1
    --ref.num_nodes 1 --ref.num_gpus_per_node 1
    --vllm.num_engines 1 --vllm.tensor_parallel_size 1
    --vllm.gpu_memory_utilization "$GPU_MEM"
    --vllm.enable_prefix_caching
    --vllm.enable_sleep --ds.enable_sleep
    --train.colocate_all
    # Model: full fine-tuning, DeepSpeed ZeRO-2 in bf16, gradient checkpointing.
    --actor.model_name_or_path "$MODEL"
    --ds.zero_stage 2 --ds.param_dtype bf16
    --actor.gradient_checkpointing_enable
    "${modality[@]}"
    # The suite's multi-turn agent executor, and the prompts and labels it reads.
    --train.agent_func_path "$agent"
    --data.prompt_dataset "$DATA_DIR/train.jsonl"
    --data.input_key prompt --data.label_key label --data.apply_chat_template
    --data.max_len "$max_len"
    # GRPO: group-normalised returns, PROMPTS prompts x GROUP replies a step, two optimizer steps per rollout.
    --algo.advantage.estimator group_norm
    --rollout.batch_size "$PROMPTS" --rollout.n_samples_per_prompt "$GROUP"
    --rollout.temperature 1.0 --rollout.top_p 1.0
    --train.batch_size $((PROMPTS * GROUP / 2))
    --train.num_episodes "$EPISODES" --train.max_epochs 1 --train.seed 0
    --actor.adam.lr "$LR" --actor.lr_warmup_ratio 0.0 --actor.entropy_coef 0
    "${kl[@]}"
    # The suite's returns are not in [-10, 10] (GeneralPoints: 5 wrong attempts, V-IRL: +1 a point on a long route).
    --reward.clip_range -100 100
    # Evaluation on the in-distribution and OOD ids (eval_<env id>_pass1: mean return), greedy, every 25 steps.
    --eval.dataset "$DATA_DIR/val.jsonl" --eval.steps 25
    --eval.n_samples_per_prompt 1 --eval.temperature 0
    # Checkpoints and logs.
    --ckpt.output_dir "$OUT/model" --ckpt.path "$OUT/ckpt"
    --ckpt.save_steps 100 --ckpt.max_num 2 --ckpt.save_hf
    --logger.logging_steps 1 --logger.tensorboard_dir "$OUT/tensorboard"
)

if (( dry_run )); then
    printf '%s\n' "${args[@]}" "$@"
    exit 0
fi
for file in "$DATA_DIR/train.jsonl" "$DATA_DIR/val.jsonl"; do
    if [[ ! -f $file ]]; then
        echo "$file is missing: python examples/openrlhf/prepare_data.py $setting --out $DATA_DIR" >&2
        exit 1
    fi
done
mkdir -p "$OUT"
exec "$PYTHON" -m openrlhf.cli.train_ppo_ray "${args[@]}" "$@"
