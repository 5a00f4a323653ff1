# Sourced by the venv scripts here: which Python makes the venvs, and a quiet pip.
#
#   codegym_python              prints the interpreter to use: $PYTHON if set, else the first of
#                               python3.11 python3.12 python3.10 python3.13 python3 python that runs and
#                               is 3.10 to 3.13 (3.11 first: the version the trainers' suites are run on)
#   codegym_pip VENV ARGS...    `pip install --quiet ARGS` into VENV, without the lines this machine's
#                               local package mirrors add for every package they lack
CODEGYM_PYTHONS=(python3.11 python3.12 python3.10 python3.13 python3 python)

_codegym_python_ok() {  # exit 0 if "$1" runs and is a supported version
  "$1" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] <= (3, 13) else 1)' >/dev/null 2>&1
}

codegym_python() {
  if [ -n "${PYTHON:-}" ]; then
    if ! _codegym_python_ok "$PYTHON"; then
      echo "error: PYTHON=$PYTHON is not a Python 3.10 to 3.13 that runs" >&2
      return 1
    fi
    echo "$PYTHON"
    return 0
  fi
  local candidate
  for candidate in "${CODEGYM_PYTHONS[@]}"; do
    if command -v "$candidate" >/dev/null 2>&1 && _codegym_python_ok "$candidate"; then
      echo "$candidate"
      return 0
    fi
  done
  echo "error: no Python 3.10 to 3.13 found (tried ${CODEGYM_PYTHONS[*]}); install one, or set PYTHON=/path/to/python3.X" >&2
  return 1
}

codegym_pip() {
  local venv="$1"
  shift
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
