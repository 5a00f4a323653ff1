#!/usr/bin/env bash
# The main job: train for real. Verifies the bundled envs in the sandbox, builds training data from
# them, makes a tiny random Qwen2 policy, runs veRL 0.9.1's own trainer (`main_ppo +env=codegym`:
# GRPO, vLLM rollout server, our codegym_agent loop, sandbox runtime, FSDP actor) for a few steps,
# then writes an HTML report: training metrics per step plus every episode. No GPU needed: on CPU it
# uses vLLM's CPU build and the bridges in scripts/cpu_bridge; where torch sees a GPU (and the
# training venv has a CUDA vLLM, see scripts/venv-train.sh) the same command trains there.
#
#   bash scripts/demo.sh [OUT]              train (default OUT: codegym-out)
#   bash scripts/demo.sh --dry-run [OUT]    the quick option: scripted policies through veRL's real
#                                           AgentLoopWorker, no model, no trainer (about 25 s warm)
#   CODEGYM_DEMO_STEPS=3                    GRPO steps (each: 2 prompts x 4 rollouts)
#   CODEGYM_DEMO_ROWS=64                    dry run: rows per trainer
#   CODEGYM_DEMO_OPENRLHF=1                 dry run: also set up .venv-openrlhf and run OpenRLHF's
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MODE=train
if [ "${1:-}" = "--dry-run" ]; then
    MODE=dry-run
    shift
fi
OUT_ARG="${1:-codegym-out}"
STEPS="${CODEGYM_DEMO_STEPS:-3}"
STARTED=$SECONDS
STEP="starting"
trap 'rc=$?; if [ $rc -ne 0 ]; then echo; echo "demo.sh: FAILED in step \"$STEP\" (exit $rc); see the output above." >&2; fi' EXIT

step() {
    STEP="$1"
    printf '\n==> %s  [%ds]\n' "$1" "$((SECONDS - STARTED))"
}

if [ "$MODE" = dry-run ]; then
    exec bash "$HERE/demo-dry-run.sh" "$OUT_ARG"
fi

step "core environment (.venv)"
source "$HERE/_venv.sh"  # sets ROOT and VENV; makes .venv if missing or stale
cd "$ROOT"
echo "ready: $VENV"
mkdir -p "$OUT_ARG"
OUT="$(cd "$OUT_ARG" && pwd)"

step "training environment (.venv-train: veRL 0.9.1, vLLM, the CPU bridges)"
bash "$ROOT/scripts/venv-train.sh"
TRAIN_PY="$ROOT/.venv-train/bin/python"

step "codegym verify envs (sandbox: oracle solves every configuration, wrong answers get 0)"
"$VENV/bin/codegym" verify envs --runtime sandbox --report "$OUT/verify-report.json" --no-progress

step "codegym build-data (veRL parquet, 2 held-out envs for validation)"
rm -rf "$OUT/data"
"$VENV/bin/codegym" build-data --envs envs --out "$OUT/data" --format verl --val-envs 2 --no-progress

step "tiny policy (random Qwen2, hidden 128, 2 layers, float32, the project's tiny tokenizer)"
rm -rf "$OUT/model"
"$TRAIN_PY" -m codegym_cpu_bridge.tiny_policy "$OUT/model"

step "veRL trainer: $STEPS GRPO steps (main_ppo +env=codegym; log: $OUT/train/train.log)"
CODEGYM_TRAIN_QUIET=1 "$TRAIN_PY" -m codegym_cpu_bridge.train --data "$OUT/data" --model "$OUT/model" \
    --out "$OUT/train" --steps "$STEPS" \
    || { echo "the trainer failed; the end of its log:" >&2; tail -n 40 "$OUT/train/train.log" >&2; exit 1; }

step "codegym report"
"$VENV/bin/codegym" report "$OUT/train/episodes.jsonl" --training "$OUT/train/training.json" \
    -o "$OUT/report.html" --title "CodeGym: veRL GRPO training"

step "summary"
"$VENV/bin/python" - "$OUT/train/training.json" <<'PY'
import json
import sys

training = json.load(open(sys.argv[1]))
print(f"{'step':>4} {'reward':>8} {'pg loss':>9} {'grad norm':>9} {'|dlogp|':>8}  done reasons")
for s in training["steps"]:
    reasons = ", ".join(f"{k} {v}" for k, v in s.get("done_reasons", {}).items())
    cells = [s.get(k) for k in ("reward_mean", "pg_loss", "grad_norm", "logprob_abs_diff_mean")]
    text = [f"{c:>8.3f}" if isinstance(c, float) and i < 3 else (f"{c:>8.1e}" if c is not None else f"{'-':>8}")
            for i, c in enumerate(cells)]
    print(f"{s['step']:>4} {text[0]} {text[1]:>9} {text[2]:>9} {text[3]}  {reasons}")
print(f"trainer: {training['device']}, {training['trainer_seconds']:.0f}s, "
      f"peak memory {training.get('peak_memory_gib', 0):.1f} GiB (all its processes)")
PY
echo
echo "report:       $OUT/report.html"
echo "episodes:     $OUT/train/episodes.jsonl"
echo "metrics:      $OUT/train/metrics.jsonl (veRL's), $OUT/train/training.json (per step)"
echo "done in $((SECONDS - STARTED))s"
