#!/usr/bin/env bash
# Create .venv-verl/: a veRL 0.9.1 test environment (CPU) with this project installed editable.
# veRL and OpenRLHF pin incompatible transformers versions, so each framework gets its own venv.
# Idempotent: a stamp file records the inputs; rerunning with the same inputs does nothing.
# The Python: $PYTHON if set, else the first Python 3.10 to 3.13 found (scripts/_python.sh); torch's
# CPU wheel must exist for it (on this project's machines it lies on local disk for 3.11 only).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/_python.sh"
VENV="$ROOT/.venv-verl"
PY="$(codegym_python)"
TORCH_SPEC="torch==2.13.0"
VERL_SPEC="verl[verl-core]==0.9.1"

STAMP="$VENV/.codegym-stamp"
WANT="$(printf '%s\n' "$TORCH_SPEC" "$VERL_SPEC" "$("$PY" --version 2>&1)" | cat - "$ROOT/pyproject.toml" "$0" \
    | sha256sum | cut -d' ' -f1)"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
    echo "venv-verl: up to date ($VENV)"
    exit 0
fi

echo "venv-verl: setting up $VENV (python: $("$PY" --version 2>&1))"
if [[ "$("$VENV/bin/python" --version 2>&1)" != "$("$PY" --version 2>&1)" ]]; then
    "$PY" -m venv --clear "$VENV"  # missing, or made by another Python
fi
pip_install() { codegym_pip "$VENV" "$@"; }
# torch first: the CPU wheel lies on local disk; letting verl resolve torch would pull CUDA builds.
pip_install "$TORCH_SPEC"
# The verl-core extra brings what veRL's agent-loop modules need on CPU (fastapi, uvicorn, cachetools).
pip_install "$VERL_SPEC"
PYTHONWARNINGS="ignore::UserWarning" pip_install -e "$ROOT[dev]"  # no "editable install" notice

echo "$WANT" > "$STAMP"
echo "venv-verl: ready ($VENV)"
