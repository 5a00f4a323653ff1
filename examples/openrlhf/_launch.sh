# Sourced by the example scripts here. Sets the CodeGym defaults, finds the agent file, and submits
# OpenRLHF's PPO trainer as a Ray job whose runtime_env carries every CODEGYM_* variable to the
# driver and to every vLLM engine actor (where the agent reads them).
#   PRINT_ARGS=1 bash <script>   prints the trainer's arguments (NUL-separated) instead of submitting.
#
# A Ray job runs in a working folder of Ray's choosing, on whichever node: every path handed to it is
# made absolute here (relative ones are taken from the folder you submit from), and must be on
# storage the job's node can read (on a cluster: storage every node mounts at the same path).
# WORKING_DIR=DIR also ships DIR to the job as its Ray working_dir (for your own code or envs).
set -euo pipefail

# absolute PATH: PATH itself if absolute, else under the folder this script was started from.
absolute() {
    case "$1" in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s\n' "$PWD/${1#./}" ;;
    esac
}

DATA_DIR="$(absolute "${DATA_DIR:-data}")"     # from: codegym build-data --format openrlhf --out data ...
SAVE_DIR="$(absolute "${SAVE_DIR:-runs/codegym-openrlhf}")"
WORKING_DIR="${WORKING_DIR:+$(absolute "$WORKING_DIR")}"
RAY_ADDRESS="${RAY_ADDRESS:-http://127.0.0.1:8265}"
AGENT="$(absolute "${AGENT:-$(codegym openrlhf-agent-path)}")"
if [[ ! -s "$DATA_DIR/train.jsonl" ]]; then
    echo "error: no $DATA_DIR/train.jsonl: make it with \`codegym build-data --format openrlhf --out $DATA_DIR ...\`" \
        "or set DATA_DIR" >&2
    exit 2
fi

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
    # {"env_vars": {CODEGYM_*...}} (checked first), and "working_dir" when WORKING_DIR is set
    runtime_env="$(codegym openrlhf-runtime-env ${WORKING_DIR:+--working-dir "$WORKING_DIR"})"
    echo "agent: $AGENT"
    echo "runtime_env: $runtime_env"
    ray job submit --address="$RAY_ADDRESS" --runtime-env-json="$runtime_env" \
        -- python3 -m openrlhf.cli.train_ppo_ray "$@"
}
