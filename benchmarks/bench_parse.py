"""How reading a turn scales with its length: time per character at 10 kB, 100 kB, 1 MB and 10 MB.

Each input is bracket-heavy reasoning prose (``dp[i] = max(dp[i-1], ...)``), repeated to the size, with
one well-formed call at the end, in each format; plus two hostile shapes (many broken call objects,
deep nesting). Linear parsing shows as a flat time per character: the table prints each size's
ns/char and its ratio to the 10 kB figure of the same input (the baseline, in the same run).

Run: ``python benchmarks/bench_parse.py [--repeat R]``. Times are the best of R runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from codegym_adapters.calls import ToolCall, parse_call, render_call  # noqa: E402

SIZES = (10_000, 100_000, 1_000_000, 10_000_000)
LINE = "Step: dp[i] = max(dp[i-1], dp[i-2] + h[i]) {keep best} so far [i, i+1].\n"
CALL = ToolCall("Observe", {})


def inputs(size: int) -> dict[str, tuple[str, str]]:
    prose = (LINE * (size // len(LINE) + 1))[:size]
    broken = ('{"name": "A", "arguments": {"v": "' * (size // 34 + 1))[:size]
    deep = ('{"name": "A", "arguments": ' + "[" * size)[:size]
    out = {f"prose+{fmt}": (prose + render_call(CALL, fmt), fmt) for fmt in ("codegym", "hermes", "json")}
    out["prose+json (auto)"] = (prose + render_call(CALL, "json"), "auto")
    out["broken calls"] = (broken, "json")
    out["deep nesting"] = (deep, "auto")
    return out


def best_of(repeat: int, text: str, fmt: str) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        parse_call(text, fmt, (("<think>", "</think>"),))
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best counts")
    args = parser.parse_args()
    table: dict[str, list[float]] = {}
    for size in SIZES:
        for name, (text, fmt) in inputs(size).items():
            table.setdefault(name, []).append(best_of(args.repeat, text, fmt) / len(text) * 1e9)
    print("| input | " + " | ".join(f"{s:,} chars ns/char (x 10 kB)" for s in SIZES) + " |")
    print("|---|" + "---|" * len(SIZES))
    for name, per_char in table.items():
        cells = [f"{v:.1f} ({v / per_char[0]:.2f}x)" for v in per_char]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
