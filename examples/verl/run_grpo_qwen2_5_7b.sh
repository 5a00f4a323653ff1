#!/usr/bin/env bash
# GRPO on CodeGym for Qwen2.5-7B-Instruct on one 8-GPU node (recipe: config/codegym_grpo_qwen2_5_7b.yaml).
# Needs codegym-adapters with the verl extra and a vLLM build in the same environment.
#   ROWS=task_en.parquet  convert the published CodeGym rows (paper filter: 32B pass rate <= 25%)
#   (unset)               build rows from the bundled envs instead
# Extra arguments are veRL overrides, e.g. trainer.nnodes=2 data.train_batch_size=512.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DATA="${DATA:-data/codegym}"

if [[ ! -f "$DATA/train.parquet" ]]; then
    if [[ -n "${ROWS:-}" ]]; then
        codegym build-data --format verl --convert "$ROWS" --out "$DATA" --max-pass-rate 0.25 --val-envs 50
    else
        ENVS="$(python -c 'import codegym_adapters.envs as e, os; print(os.path.dirname(e.__file__))')"
        codegym build-data --format verl --envs "$ENVS" --out "$DATA" --per-env 64 --val-envs 2
    fi
fi

python -m verl.trainer.main_ppo \
    --config-path "$HERE/config" --config-name codegym_grpo_qwen2_5_7b \
    data.train_files="$DATA/train.parquet" data.val_files="$DATA/val.parquet" "$@"
