"""Problems per minute through ``codegym synthesize``'s gates, against a fake model with a fixed latency.

The problems are the canned test cases of ``tests/synth_fake.py`` (2 good envs and 15 that each stop at
one gate: env, unit tests, oracle, rounds, verify), repeated under new names up to ``--problems``. The
fake model answers every request after ``--latency`` seconds, over real HTTP on loopback; all generated
code runs in the sandbox runtime (2 workers), with the test limits (2 oracle candidates, a 3 s step
deadline, 0.2 s for a reference answer). For each ``--concurrency`` C it reports problems per
minute, model calls, and the ratio of the wall time to the model-only floor (every problem's calls
made one after another at the fixed latency, C problems at a time): 1.0 would mean the gates cost
nothing beyond waiting for the model.

Run: ``python benchmarks/bench_synth.py [--problems N] [--latency S] [--concurrency 1,8]``.
Writes ``benchmarks/results/synth.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import logging
import math
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import synth_fake  # noqa: E402
from fake_openai_server import FakeOpenAIServer  # noqa: E402

from codegym_adapters.cli import main  # noqa: E402


def problems(n: int) -> list[synth_fake.Case]:
    base = synth_fake.cases()
    out = []
    for i in range(n):
        case = base[i % len(base)]
        tag = f"R{i:03d}"
        cls = case.class_name.replace("Env", f"{tag}Env")
        out.append(dataclasses.replace(
            case, id=f"{case.id}_{tag}", question=f"{case.question} [{tag}]", class_name=cls,
            env=case.env.replace(case.class_name, cls)))
    return out


def run_once(cases: list[synth_fake.Case], latency: float, concurrency: int, folder: Path) -> dict:
    model = synth_fake.CannedModel(cases, latency_s=latency)
    file = synth_fake.write_problems(folder / "problems.jsonl", cases)
    out = folder / f"out-c{concurrency}"
    with FakeOpenAIServer(model) as server:
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            code = main(["synthesize", "--problems", str(file), "--model", server.url, "--out", str(out),
                         "--no-progress", "--oracle-candidates", "2", "--step-timeout", "3", "--ref-time-limit", "0.2",
                         "--concurrency", str(concurrency), "--workers", "2"])
        wall = time.perf_counter() - start
    summary = json.loads((out / "summary.json").read_text())
    per_problem: dict[str, int] = {}
    for (pid, _call), n in model.counts.items():
        per_problem[pid] = per_problem.get(pid, 0) + n
    # the floor: each problem's calls in sequence, C problems at a time, packed greedily (longest first)
    lanes = [0.0] * concurrency
    for calls in sorted(per_problem.values(), reverse=True):
        lanes[lanes.index(min(lanes))] += calls * latency
    floor = max(lanes)
    return {"concurrency": concurrency, "exit_code": code, "problems": len(cases), "verified": summary["verified"],
            "model_calls": sum(model.counts.values()), "wall_s": round(wall, 2),
            "problems_per_min": round(len(cases) / wall * 60, 1), "model_floor_s": round(floor, 2),
            "wall_over_floor": round(wall / floor, 2) if floor else math.nan}


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=30)
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per model request")
    parser.add_argument("--concurrency", default="1,8", help="comma-separated problem concurrencies")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # deadline warnings of the looping-oracle cases
    cases = problems(args.problems)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for c in (int(x) for x in args.concurrency.split(",")):
            rows.append(run_once(cases, args.latency, c, Path(tmp)))
    print(f"{args.problems} problems, fake model latency {args.latency} s, sandbox with 2 workers\n")
    print("| concurrency | problems/min | wall s | model calls | model-only floor s | wall / floor | verified |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['concurrency']} | {r['problems_per_min']} | {r['wall_s']} | {r['model_calls']} | "
              f"{r['model_floor_s']} | {r['wall_over_floor']} | {r['verified']} |")
    results = REPO / "benchmarks" / "results" / "synth.json"
    results.parent.mkdir(exist_ok=True)
    results.write_text(json.dumps({"latency_s": args.latency, "runs": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main_bench()
