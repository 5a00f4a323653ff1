# Sourced by the scripts in this folder: makes .venv (the project with its dev and release extras) if it is
# missing or older than pyproject.toml. Idempotent and quiet when there is nothing to do.
# The Python: $PYTHON if set, else the first Python 3.10 to 3.13 found (scripts/_python.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/_python.sh"
VENV="$ROOT/.venv"
STAMP="$VENV/.codegym-stamp"
want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  PYTHON="$(codegym_python)"
  echo "==> setting up $VENV (python: $("$PYTHON" --version 2>&1))"
  "$PYTHON" -m venv "$VENV"
  codegym_pip "$VENV" --upgrade pip
  # setuptools warns on every editable install that folders here could shadow the package: they are it.
  PYTHONWARNINGS="ignore::UserWarning" codegym_pip "$VENV" -e "$ROOT[dev,release]"
  echo "$want" > "$STAMP"
fi
