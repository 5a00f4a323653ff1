#!/usr/bin/env bash
# Times the README's two commands as a newcomer meets them: each in its own fresh clone, cold (no
# venvs yet; pip's download cache as this machine has it) and then warm (the same command again),
# and prints the README's "Measured" table with the machine it ran on. Takes as long as both, twice.
#
#   bash scripts/measure-times.sh [REPO] [WORK]     REPO: what to clone (default: this checkout)
#                                                   WORK: where the clones go (default: a temp folder)
set -euo pipefail
REPO="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
WORK="${2:-$(mktemp -d)}"
LOG="$WORK/measure.log"
mkdir -p "$WORK"
: > "$LOG"

# seconds COMMAND...: run it, its output to the log; prints the wall-clock seconds, fails if it fails.
seconds() {
  local start=$SECONDS
  echo "==> $* (in $PWD)" >> "$LOG"
  "$@" >> "$LOG" 2>&1
  echo $((SECONDS - start))
}

mmss() { printf '%d min %02d s' $(($1 / 60)) $(($1 % 60)); }

declare -A took commits
for what in demo test; do
  clone="$WORK/$what"
  rm -rf "$clone"
  git clone --quiet "$REPO" "$clone"
  cd "$clone"
  commits[$what]="$(git rev-parse --short HEAD)"
  took[$what-cold]="$(seconds bash "scripts/$what.sh")"
  took[$what-warm]="$(seconds bash "scripts/$what.sh")"
  echo "$what: cold $(mmss "${took[$what-cold]}"), warm $(mmss "${took[$what-warm]}")" >&2
done

commit="${commits[demo]}"
[ "${commits[demo]}" = "${commits[test]}" ] || commit="${commits[demo]} (demo) and ${commits[test]} (test)"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo
echo "| command | cold: fresh clone, no venvs | warm: the same again |"
echo "|---|---|---|"
echo "| \`bash scripts/demo.sh\` | $(mmss "${took[demo-cold]}") | $(mmss "${took[demo-warm]}") |"
echo "| \`bash scripts/test.sh\` | $(mmss "${took[test-cold]}") | $(mmss "${took[test-warm]}") |"
echo
echo "Measured $(date -u +%Y-%m-%d) at commit $commit on $(nproc) cores ($cpu), $(free -g | awk '/Mem:/ {print $2}') GB,"
echo "$(python3 --version 2>&1), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; log: $LOG"
