#!/usr/bin/env bash
# The test command: sets up what it needs, then lints and runs every test suite.
#   bash scripts/test.sh            everything (core, veRL and OpenRLHF suites, each in its own venv)
#   CODEGYM_TEST_ONLY=core bash scripts/test.sh    one suite: core | verl | openrlhf | train | openrlhf-train
# Extra arguments go to every pytest run (e.g. -x, -k name).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
cd "$ROOT"
only="${CODEGYM_TEST_ONLY:-all}"
failed=()

# pytest exits 5 when it collected no tests: for us that is a broken suite, never a pass.
run_suite() {
  local name="$1"; shift
  echo "==> $name tests"
  set +e
  "$@"
  local rc=$?
  set -e
  if [ "$rc" -eq 5 ]; then
    echo "!! $name: pytest collected no tests; treating that as a failure" >&2
    failed+=("$name")
  elif [ "$rc" -ne 0 ]; then
    failed+=("$name")
  fi
}

if [ "$only" = all ] || [ "$only" = core ]; then
  # The report test renders in headless Chromium. Once Chromium is here, the test may not skip.
  echo "==> chromium (for the report test)"
  if bash scripts/install-chromium.sh; then
    export CODEGYM_REQUIRE_CHROMIUM=1
  elif [ -n "${CI:-}" ]; then
    failed+=("chromium")
  else
    echo "!! no chromium: the report's browser test will be skipped" >&2
  fi
  echo "==> ruff"
  "$VENV/bin/ruff" check . || failed+=("ruff")
  run_suite core "$VENV/bin/pytest" tests --ignore=tests/verl --ignore=tests/openrlhf --ignore=tests/train \
    --ignore=tests/openrlhf_train -q "$@"  # the trainer suites run below, each in its own venv
fi
# Disk: the train venv needs about 10 GB while it is built (torch 2.11.0 with its CUDA libraries). Where
# the disk is short, make room first: pip's cache, then (under CI only, where nothing is kept) the venvs
# of the suites that already ran. Elsewhere, only say so: your venvs are yours.
free_gb() { echo $(( $(df -Pk "$ROOT" | awk 'NR==2 {print $4}') / 1024 / 1024 )); }
make_room() {
  local need="$1"; shift
  [ "$(free_gb)" -ge "$need" ] && return 0
  echo "==> disk: $(free_gb) GB free, the next venv needs about $need GB: clearing pip's cache"
  "$VENV/bin/python" -m pip cache purge >/dev/null 2>&1 || true
  for done_venv in "$@"; do
    [ "$(free_gb)" -ge "$need" ] && return 0
    if [ -n "${CI:-}" ] && [ -d "$done_venv" ]; then
      echo "==> disk: $(free_gb) GB free: removing $done_venv (its suite has run; CI keeps nothing)"
      rm -rf "$done_venv"
    fi
  done
  [ "$(free_gb)" -ge "$need" ] || echo "!! disk: only $(free_gb) GB free; the next venv needs about $need GB" >&2
}

ran=()
# openrlhf-train: .venv-openrlhf-train, tests/openrlhf_train (an overlay over .venv-train).
for trainer in verl openrlhf train openrlhf-train; do
  if { [ "$only" = all ] || [ "$only" = "$trainer" ]; } && [ -f "scripts/venv-$trainer.sh" ]; then
    if [ "$trainer" = train ] && [ ! -d "$ROOT/.venv-train" ]; then make_room 10 "${ran[@]}"; fi
    bash "scripts/venv-$trainer.sh"
    run_suite "$trainer" "$ROOT/.venv-$trainer/bin/pytest" "tests/${trainer//-/_}" -q -p no:cacheprovider "$@"
    ran+=("$ROOT/.venv-$trainer")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "all suites passed"
