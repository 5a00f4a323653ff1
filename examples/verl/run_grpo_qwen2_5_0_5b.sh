#!/usr/bin/env bash
# A small GRPO run on CodeGym for Qwen2.5-0.5B-Instruct on one GPU (config/codegym_grpo_qwen2_5_0_5b.yaml).
# For 1.5B: actor_rollout_ref.model.path=Qwen/Qwen2.5-1.5B-Instruct. Extra arguments are veRL overrides.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DATA="${DATA:-data/codegym-small}"

if [[ ! -f "$DATA/train.parquet" ]]; then
    ENVS="$(python -c 'import codegym_adapters.envs as e, os; print(os.path.dirname(e.__file__))')"
    codegym build-data --format verl --envs "$ENVS" --out "$DATA" --per-env 16 --max-rounds 64 --val-envs 2
fi

python -m verl_plugin.main_ppo \
    --config-path "$HERE/config" --config-name codegym_grpo_qwen2_5_0_5b \
    data.train_files="$DATA/train.parquet" data.val_files="$DATA/val.parquet" "$@"
