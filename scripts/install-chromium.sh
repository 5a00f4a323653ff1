#!/usr/bin/env bash
# Installs Debian's headless-capable `chromium` (used by tests/test_report.py) if it is missing.
#   bash scripts/install-chromium.sh
# Needs apt-get and root (or sudo). Prints the path of the browser on success.
set -euo pipefail

find_chromium() {
  local name
  for name in chromium chromium-browser google-chrome-stable google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then
      command -v "$name"
      return 0
    fi
  done
  return 1
}

if path="$(find_chromium)"; then
  echo "chromium already installed: $path"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: chromium is missing and apt-get is not available; install chromium with your package manager" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "error: installing chromium needs root; run this script as root or install sudo" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium fonts-dejavu-core

if path="$(find_chromium)"; then
  echo "chromium installed: $path"
else
  echo "error: apt-get finished but no chromium binary is on PATH" >&2
  exit 1
fi
