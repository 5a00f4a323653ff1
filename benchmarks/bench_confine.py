"""What ``confine()`` costs per worker start, in the fork-server design.

This process plays the template: it preloads the worker's modules and calls ``limits.prepare()``.
For each variant it forks children one at a time; each child confines itself and writes one byte
on a pipe. The time is from just before the fork to that byte; ``fork only`` (no ``confine``) is the
baseline, measured in the same interleaved rounds. CPU ms is the CPU time of every process of one
start (the fork's parent side, the child, a keeper and its inner process, reaped here as subreaper):
unlike the wall time, it hardly depends on what else the machine runs. ``pidns.fork`` forks the child straight into a
new PID namespace (no keeper process); plain ``os.fork`` makes ``confine`` fork once more. Memory is the Private_Dirty of the tracked
process (the PID namespace's keeper) and of the worker, right after start (from smaps_rollup).

    python benchmarks/bench_confine.py            # 7 rounds of 10 starts per variant; needs root
    python benchmarks/bench_confine.py --rounds 3

Writes benchmarks/results/confine.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from codegym_adapters.runtime import limits, pidns, worker

VARIANTS = {
    "fork only (baseline)": None,
    "pidns.fork, confine: every layer": {"_fork": pidns.fork},
    "pidns.fork, confine: no network namespace": {"_fork": pidns.fork, "isolate_network": False},
    "confine: every layer": {},
    "confine: no PID namespace": {"pid_namespace": False},
    "confine: no mount view": {"private_tmp": False},
    "confine: seccomp and rlimits only": {"pid_namespace": False, "private_tmp": False, "isolate_network": False},
}


def private_dirty_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Private_Dirty:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def inner_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = f.read().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def start_one(root: str, options: dict | None) -> tuple[float, int, int]:
    workdir = tempfile.mkdtemp(dir=root)
    os.chown(workdir, 65534, 65534)
    options = dict(options) if options is not None else None
    fork = options.pop("_fork", os.fork) if options is not None else os.fork
    config = limits.SandboxLimits(**(options or {})).worker_config(workdir, os.getpid())
    r, w = os.pipe()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time()
    start = time.perf_counter()
    pid = fork()
    cpu = time.process_time() - cpu  # the fork's parent side (copying page tables)
    if pid == 0:
        try:
            os.close(r)
            os.setsid()
            if options is not None:
                limits.confine(config)
            os.write(w, b"!")  # not reached if confine raised: then the read below sees end-of-file
            time.sleep(60)
        finally:
            os._exit(0)
    os.close(w)
    if os.read(r, 1) != b"!":
        raise RuntimeError(f"a worker failed to confine itself ({options})")
    elapsed = (time.perf_counter() - start) * 1000
    os.close(r)
    inner = inner_of(pid)
    keeper_kb, worker_kb = (private_dirty_kb(pid), private_dirty_kb(inner)) if inner else (0, private_dirty_kb(pid))
    os.killpg(pid, signal.SIGKILL)
    while True:  # the worker and, as subreaper, a keeper's orphaned inner process
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu += sum(getattr(after, f) - getattr(before, f) for f in ("ru_utime", "ru_stime"))
    os.rmdir(workdir)
    return elapsed, keeper_kb, worker_kb, cpu * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--per-round", type=int, default=10)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_confine.py needs root (every layer is measured)")
    for name in worker._PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: reap (and count) every worker process
    limits.prepare()
    limits.SandboxLimits().worker_config("/", 0)  # compile the seccomp program once, as the parent does
    root = tempfile.mkdtemp(prefix="bench-confine-")
    os.chmod(root, 0o711)  # workers dropped to nobody must reach their folder (as the pool does)
    samples: dict[str, list[tuple[float, int, int, float]]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):  # interleaved: every variant sees the same background load
        for name, options in VARIANTS.items():
            samples[name] += [start_one(root, options) for _ in range(args.per_round)]
    os.rmdir(root)
    base = statistics.median(s[0] for s in samples["fork only (baseline)"])
    rows = []
    for name, got in samples.items():
        times = sorted(s[0] for s in got)
        rows.append({"variant": name, "starts": len(times), "cpu_ms_p50": statistics.median(s[3] for s in got),
                     "p50_ms": statistics.median(times),
                     "p90_ms": times[int(len(times) * 0.9)], "min_ms": times[0],
                     "x_fork_only": statistics.median(times) / base,
                     "keeper_private_dirty_kb": statistics.median(s[1] for s in got),
                     "worker_private_dirty_kb": statistics.median(s[2] for s in got)})
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    result = {"machine": f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average {' '.join(load)}",
              "rows": rows}
    out = Path(__file__).parent / "results" / "confine.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(result["machine"])
    print("| variant | starts | CPU ms p50 | wall p50 ms | p90 ms | min ms | x fork only | keeper private KB "
          "| worker private KB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['variant']} | {r['starts']} | {r['cpu_ms_p50']:.2f} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {r['min_ms']:.2f} | "
              f"{r['x_fork_only']:.1f} | {r['keeper_private_dirty_kb']:.0f} | {r['worker_private_dirty_kb']:.0f} |")


if __name__ == "__main__":
    main()
