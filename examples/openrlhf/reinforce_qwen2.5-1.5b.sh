#!/usr/bin/env bash
# REINFORCE with a per-prompt baseline on CodeGym: Qwen2.5-1.5B-Instruct, one node, 4 GPUs, actor,
# reference and vLLM engines colocated. Needs a running Ray cluster (`ray start --head`), data from
# `codegym build-data --format openrlhf --out data ...` and OpenRLHF 0.10.2+ with vLLM.
source "$(dirname "${BASH_SOURCE[0]}")/_launch.sh"
MODEL="${MODEL:-Qwen/Qwen2.5-1.5B-Instruct}"
GPUS="${GPUS:-4}"

mapfile -d '' COMMON < <(common_args)
launch \
    --actor.model_name_or_path "$MODEL" \
    --actor.num_nodes 1 --actor.num_gpus_per_node "$GPUS" \
    --ref.num_nodes 1 --ref.num_gpus_per_node "$GPUS" \
    --vllm.num_engines "$GPUS" --vllm.tensor_parallel_size 1 --vllm.gpu_memory_utilization 0.6 \
    --train.colocate_all --vllm.enable_sleep --ds.enable_sleep \
    --algo.advantage.estimator reinforce_baseline \
    --algo.kl.init_coef 0 \
    --actor.adam.lr 1e-6 \
    --data.max_len 8192 \
    --rollout.max_new_tokens 1024 \
    --rollout.batch_size 32 --rollout.n_samples_per_prompt 8 --rollout.micro_batch_size 4 \
    --rollout.temperature 1.0 \
    --train.batch_size 256 --train.micro_batch_size 2 --train.max_epochs 1 --train.num_episodes 1 \
    --ds.zero_stage 3 --ds.param_dtype bf16 --actor.gradient_checkpointing_enable \
    "${COMMON[@]}"
