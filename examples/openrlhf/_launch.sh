# Sourced by the example scripts here. Sets the CodeGym defaults, finds the agent file, and submits
# OpenRLHF's PPO trainer as a Ray job whose runtime_env carries every CODEGYM_* variable to the
# driver and to every vLLM engine actor (where the agent reads them).
#   PRINT_ARGS=1 bash <script>   prints the trainer's arguments (NUL-separated) instead of submitting.
set -euo pipefail

DATA_DIR="${DATA_DIR:-data}"          # from: codegym build-data --format openrlhf --out data ...
SAVE_DIR="${SAVE_DIR:-runs/codegym-openrlhf}"
RAY_ADDRESS="${RAY_ADDRESS:-http://127.0.0.1:8265}"
AGENT="${AGENT:-$(codegym openrlhf-agent-path)}"

# Agent options (openrlhf_plugin/README.md lists them all). Each row's turn limit reaches the agent in
# its `label` column (written by build-data); this default applies only to labels that carry none.
export CODEGYM_DEFAULT_TURN_LIMIT="${CODEGYM_DEFAULT_TURN_LIMIT:-256}"
export CODEGYM_STEP_TIMEOUT="${CODEGYM_STEP_TIMEOUT:-10}"

# What every CodeGym run passes: the agent file, the data layout, and logging.
common_args() {
    local args=(
        --train.agent_func_path "$AGENT"
        --data.prompt_dataset "$DATA_DIR/train.jsonl"
        --data.input_key prompt
        --data.label_key label
        --data.apply_chat_template
        --ckpt.output_dir "$SAVE_DIR/model"
        --ckpt.path "$SAVE_DIR/ckpt"
        --ckpt.save_steps 20
        --ckpt.save_hf
        --logger.logging_steps 1
    )
    if [[ -s "$DATA_DIR/val.jsonl" ]]; then
        args+=(--eval.dataset "$DATA_DIR/val.jsonl" --eval.steps 10 --eval.n_samples_per_prompt 4
               --eval.temperature 0.6)
    fi
    if [[ -n "${WANDB_API_KEY:-}" ]]; then
        args+=(--logger.wandb.key "$WANDB_API_KEY" --logger.wandb.project codegym)
    else
        args+=(--logger.tensorboard_dir "$SAVE_DIR/tensorboard")
    fi
    printf '%s\0' "${args[@]}"
}

# launch ARG...: submit `python3 -m openrlhf.cli.train_ppo_ray ARG...` as a Ray job.
launch() {
    if [[ -n "${PRINT_ARGS:-}" ]]; then
        printf '%s\0' "$@"
        return 0
    fi
    local runtime_env
    runtime_env="$(codegym openrlhf-runtime-env)"  # {"env_vars": {CODEGYM_*...}}, checked first
    echo "agent: $AGENT"
    echo "runtime_env: $runtime_env"
    ray job submit --address="$RAY_ADDRESS" --runtime-env-json="$runtime_env" \
        -- python3 -m openrlhf.cli.train_ppo_ray "$@"
}
