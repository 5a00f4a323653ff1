#!/usr/bin/env bash
# The quick option of the main job (`bash scripts/demo.sh --dry-run`): no GPU, no model, no trainer.
# Verifies the bundled envs in the sandbox, builds training data from them, runs a batch of real
# CodeGym episodes through veRL's real AgentLoopWorker (and OpenRLHF's MultiTurnAgentExecutor where
# .venv-openrlhf exists or CODEGYM_DEMO_OPENRLHF=1) with scripted policies standing in for the model,
# then writes an HTML report and prints a summary.
#
#   bash scripts/demo.sh --dry-run [OUT]    (default OUT: codegym-out)
#   CODEGYM_DEMO_ROWS=64                rows per trainer (policies oracle, wrong, malformed, random in turn)
#   CODEGYM_DEMO_OPENRLHF=1             also set up .venv-openrlhf and run the OpenRLHF dry run
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT_ARG="${1:-codegym-out}"
ROWS="${CODEGYM_DEMO_ROWS:-64}"
STARTED=$SECONDS
STEP="starting"
trap 'rc=$?; if [ $rc -ne 0 ]; then echo; echo "demo.sh: FAILED in step \"$STEP\" (exit $rc); see the output above." >&2; fi' EXIT

step() {
    STEP="$1"
    printf '\n==> %s  [%ds]\n' "$1" "$((SECONDS - STARTED))"
}

step "core environment (.venv)"
source "$HERE/_venv.sh"  # sets ROOT and VENV; makes .venv if missing or stale
cd "$ROOT"
echo "ready: $VENV"
mkdir -p "$OUT_ARG"
OUT="$(cd "$OUT_ARG" && pwd)"

step "veRL environment (.venv-verl)"
bash "$ROOT/scripts/venv-verl.sh"

OPENRLHF=0
if [ -d "$ROOT/.venv-openrlhf" ] || [ "${CODEGYM_DEMO_OPENRLHF:-0}" = "1" ]; then
    OPENRLHF=1
    step "OpenRLHF environment (.venv-openrlhf)"
    bash "$ROOT/scripts/venv-openrlhf.sh"
fi

step "codegym verify envs (sandbox: oracle solves every configuration, wrong answers get 0)"
"$VENV/bin/codegym" verify envs --runtime sandbox --report "$OUT/verify-report.json" --no-progress

step "codegym build-data (veRL parquet + OpenRLHF jsonl, 2 held-out envs for validation)"
rm -rf "$OUT/data"
"$VENV/bin/codegym" build-data --envs envs --out "$OUT/data" --format both --val-envs 2 --no-progress

RECORDS=("$OUT/verl-episodes.jsonl")
step "veRL dry run: $ROWS rows through the real AgentLoopWorker (codegym_agent, sandbox runtime)"
"$ROOT/.venv-verl/bin/python" -m verl_plugin.dry_run --data "$OUT/data/train.parquet" \
    --out "$OUT/verl-episodes.jsonl" --limit "$ROWS"

if [ "$OPENRLHF" = "1" ]; then
    RECORDS+=("$OUT/openrlhf-episodes.jsonl")
    step "OpenRLHF dry run: $ROWS rows through the real MultiTurnAgentExecutor (sandbox runtime)"
    "$ROOT/.venv-openrlhf/bin/python" -m openrlhf_plugin.dry_run --data "$OUT/data/train.jsonl" \
        --out "$OUT/openrlhf-episodes.jsonl" --limit "$ROWS"
else
    echo
    echo "(OpenRLHF dry run skipped: no .venv-openrlhf; run with CODEGYM_DEMO_OPENRLHF=1 to set it up and include it)"
fi

step "codegym report"
"$VENV/bin/codegym" report "${RECORDS[@]}" -o "$OUT/report.html" --title "CodeGym dry run"

step "summary"
"$VENV/bin/python" - "${RECORDS[@]}" <<'PY'
import sys
from collections import defaultdict
from pathlib import Path

from codegym_adapters.report import read_records, summarize

records, _ = read_records([Path(p) for p in sys.argv[1:]])
by_trainer = defaultdict(list)
for r in records:
    by_trainer[r.get("trainer", "?")].append(r)
print(f"{'trainer':<9} {'episodes':>8} {'accuracy':>8} {'avg turns':>9}  done reasons")
for trainer, rs in by_trainer.items():
    s = summarize(rs)
    reasons = ", ".join(f"{k} {v}" for k, v in s["done_reasons"].items() if v)
    print(f"{trainer:<9} {s['episodes']:>8} {s['accuracy']:>8.3f} {s['avg_turns']:>9.1f}  {reasons}")
    policies = ", ".join(f"{p} {m['accuracy']:.2f}" for p, m in s["per_policy"].items())
    print(f"{'':<9} accuracy per policy: {policies}")
PY
echo
echo "report:       $OUT/report.html"
echo "episodes:     ${RECORDS[*]}"
echo "data:         $OUT/data (train/val parquet + jsonl, manifest.json)"
echo "done in $((SECONDS - STARTED))s"
