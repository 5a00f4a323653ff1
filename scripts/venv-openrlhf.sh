#!/usr/bin/env bash
# Create .venv-openrlhf/: an OpenRLHF 0.11.2 test environment (CPU) with this project installed editable.
# OpenRLHF hard-requires flash-attn (CUDA-only build), so it is installed without its dependencies,
# plus the few that its agent executor, samples generator and PPO argument parser import on CPU.
# vLLM is not installed: the tests replace the engine. Idempotent: a stamp file records the inputs.
# The Python: as for scripts/venv-verl.sh (scripts/_python.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/_python.sh"
VENV="$ROOT/.venv-openrlhf"
PY="$(codegym_python)"
TORCH_SPEC="torch==2.13.0"
OPENRLHF_SPEC="openrlhf==0.11.2"
# What `openrlhf.utils` (math_utils, utils), `utils.agent`, `trainer.ppo_utils` and
# `trainer.ray.vllm_engine` import at module level, pinned as OpenRLHF 0.11.2 pins them.
DEP_SPECS=(transformers==5.15.0 "ray==2.55.0" aiohttp sympy pylatexenc jinja2 numpy tqdm packaging)

STAMP="$VENV/.codegym-stamp"
WANT="$(printf '%s\n' "$TORCH_SPEC" "$OPENRLHF_SPEC" "${DEP_SPECS[@]}" "$("$PY" --version 2>&1)" \
    | cat - "$ROOT/pyproject.toml" "$0" | sha256sum | cut -d' ' -f1)"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
    echo "venv-openrlhf: up to date ($VENV)"
    exit 0
fi

echo "venv-openrlhf: setting up $VENV (python: $("$PY" --version 2>&1))"
if [[ "$("$VENV/bin/python" --version 2>&1)" != "$("$PY" --version 2>&1)" ]]; then
    "$PY" -m venv --clear "$VENV"  # missing, or made by another Python
fi
# torch first: the CPU wheel lies on local disk; a newer torch would pull multi-GB CUDA builds.
codegym_pip "$VENV" "$TORCH_SPEC"
codegym_pip "$VENV" "$TORCH_SPEC" "${DEP_SPECS[@]}"
PYTHONWARNINGS="ignore::UserWarning" codegym_pip "$VENV" -e "$ROOT[dev]"  # no "editable install" notice
# OpenRLHF last and without its dependencies: pip checks the dependencies of what is already
# installed on every later install, and would report OpenRLHF's GPU-only ones (flash-attn, deepspeed,
# vllm, ...) as missing each time. With --no-deps it checks nothing.
codegym_pip "$VENV" --no-deps "$OPENRLHF_SPEC"

# The OpenRLHF wheel ships its own top-level `tests` package into site-packages; it would shadow
# any `import tests...` of ours, so remove it (OpenRLHF itself never imports it).
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
if [[ -f "$SITE/tests/test_agent.py" ]] && grep -q openrlhf "$SITE/tests/test_agent.py"; then
    rm -rf "$SITE/tests"
fi

echo "$WANT" > "$STAMP"
echo "venv-openrlhf: ready ($VENV)"
