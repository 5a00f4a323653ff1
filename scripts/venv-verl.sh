#!/usr/bin/env bash
# Create .venv-verl/: a veRL 0.9.1 test environment (CPU) with this project installed editable.
# veRL and OpenRLHF pin incompatible transformers versions, so each framework gets its own venv.
# Idempotent: a stamp file records the inputs; rerunning with the same inputs does nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-verl"
PY="${PYTHON:-python3.11}"
TORCH_SPEC="torch==2.13.0"
VERL_SPEC="verl[verl-core]==0.9.1"

STAMP="$VENV/.codegym-stamp"
WANT="$(printf '%s\n' "$TORCH_SPEC" "$VERL_SPEC" | cat - "$ROOT/pyproject.toml" "$0" | sha256sum | cut -d' ' -f1)"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
    echo "venv-verl: up to date ($VENV)"
    exit 0
fi

[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
# Local wheel mirrors make pip warn about every missing index folder; keep the rest of stderr.
pip_install() {
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@" \
        2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
# torch first: the CPU wheel lies on local disk; letting verl resolve torch would pull CUDA builds.
pip_install "$TORCH_SPEC"
# The verl-core extra brings what veRL's agent-loop modules need on CPU (fastapi, uvicorn, cachetools).
pip_install "$VERL_SPEC"
pip_install -e "$ROOT[dev]"

echo "$WANT" > "$STAMP"
echo "venv-verl: ready ($VENV)"
