#!/usr/bin/env bash
# The main job on a laptop: no GPU, no model. Sets up .venv, then runs real CodeGym episodes of the
# bundled envs with scripted policies standing in for the model, and writes the trajectories.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
cd "$ROOT"
OUT="${1:-codegym-out}"
mkdir -p "$OUT"
export PATH="$VENV/bin:$PATH"
echo "==> bundled envs"
codegym list
for policy in oracle wrong random; do
  echo "==> eval: policy=$policy (trajectories in $OUT/eval-$policy.jsonl)"
  codegym eval --policy "$policy" --out "$OUT/eval-$policy.jsonl" --progress
done
