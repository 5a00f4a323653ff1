#!/usr/bin/env bash
# GRPO-style training (group-normalised advantages, no KL, groups that are all solved or all failed
# filtered out) on CodeGym: Qwen2.5-7B-Instruct, one node, 8 GPUs, everything colocated, 2-way
# tensor-parallel vLLM engines. Needs a running Ray cluster (`ray start --head`), data from
# `codegym build-data --format openrlhf --out data ...` and OpenRLHF 0.10.2+ with vLLM.
source "$(dirname "${BASH_SOURCE[0]}")/_launch.sh"
MODEL="${MODEL:-Qwen/Qwen2.5-7B-Instruct}"
GPUS="${GPUS:-8}"
TP="${TP:-2}"

mapfile -d '' COMMON < <(common_args)
launch \
    --actor.model_name_or_path "$MODEL" \
    --actor.num_nodes 1 --actor.num_gpus_per_node "$GPUS" \
    --ref.num_nodes 1 --ref.num_gpus_per_node "$GPUS" \
    --vllm.num_engines "$((GPUS / TP))" --vllm.tensor_parallel_size "$TP" --vllm.gpu_memory_utilization 0.5 \
    --train.colocate_all --vllm.enable_sleep --ds.enable_sleep \
    --algo.advantage.estimator group_norm \
    --algo.kl.init_coef 0 \
    --algo.dynamic_filtering_enable --algo.dynamic_filtering_range 0 1 \
    --actor.adam.lr 1e-6 \
    --data.max_len 16384 \
    --rollout.max_new_tokens 2048 \
    --rollout.batch_size 64 --rollout.n_samples_per_prompt 8 --rollout.micro_batch_size 2 \
    --rollout.temperature 1.0 \
    --train.batch_size 512 --train.micro_batch_size 1 --train.max_epochs 1 --train.num_episodes 1 \
    --ds.zero_stage 3 --ds.param_dtype bf16 --actor.gradient_checkpointing_enable --ds.packing_samples \
    "${COMMON[@]}"
