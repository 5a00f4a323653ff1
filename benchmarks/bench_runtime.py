"""Runtime cost per env step: the sandbox pool against the in-process floor and the upstream design.

The workload is the bundled envs' oracle episodes (each config's ``solve()`` calls, recorded once
in-process), run with C sessions live at once, C in 1, 64, 1,024, 4,096. Runtimes:

* ``direct``:   ``EnvHost.step`` called in this process, synchronously (the floor);
* ``inprocess``: the trusted ``InProcessRuntime`` through its async API (a thread hop per call);
* ``sandbox``:  ``SandboxRuntime`` (confined worker processes, deadlines, replay log);
* ``fork_per_step``: the upstream server's design: every step forks a fresh process that unpickles
  the env, steps it and pickles it back with the answer (fork is the cheapest way to start a
  process, which favours the baseline).

Per-step latency is the time one ``step`` call takes as its caller sees it, queueing included;
steps/s is all steps over the wall time of the run (opens and closes included; sources are compiled
in a warm-up first). Memory is the peak of the summed RSS of the processes that run env code
(sandbox workers; for the forked step processes their PSS, as they share most pages with this
process), sampled every 50 ms; this process's RSS is reported apart. At C > 1 the latency includes
waiting behind the other sessions' steps, so compare runtimes there by steps/s.

Run: ``python benchmarks/bench_runtime.py [--quick]``; prints a markdown table and writes
``benchmarks/results/runtime.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pickle
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from codegym_adapters.calls import ToolCall  # noqa: E402
from codegym_adapters.catalog import Catalog, EnvSpec  # noqa: E402
from codegym_adapters.runtime.host import EnvHost  # noqa: E402
from codegym_adapters.runtime.inprocess import InProcessRuntime  # noqa: E402
from codegym_adapters.runtime.sandbox import SandboxRuntime  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")
LEVELS = (1, 64, 1024, 4096)


@dataclass
class Episode:
    spec: EnvSpec
    options: dict[str, Any]
    calls: list[ToolCall]


@dataclass
class Result:
    runtime: str
    concurrency: int
    episodes: int
    steps: int
    wall_s: float
    latencies: list[float] = field(repr=False)
    env_rss_mb: float = 0.0
    parent_rss_mb: float = 0.0
    note: str = ""

    def row(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        return {
            "runtime": self.runtime, "concurrency": self.concurrency, "episodes": self.episodes,
            "steps": self.steps, "wall_s": round(self.wall_s, 3),
            "p50_us": round(lat[len(lat) // 2] * 1e6, 1), "p99_us": round(lat[int(len(lat) * 0.99)] * 1e6, 1),
            "mean_us": round(statistics.fmean(lat) * 1e6, 1), "steps_per_s": round(self.steps / self.wall_s),
            "env_rss_mb": round(self.env_rss_mb, 1), "parent_rss_mb": round(self.parent_rss_mb, 1),
            "note": self.note,
        }


def rss_mb(pid: int | str = "self") -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def pss_mb(pid: int) -> float:
    """Proportional set size: a forked child's pages shared with its parent count in part only."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


class Sampler:
    """Peak summed memory (RSS, or PSS with ``pss=True``) of the pids ``pids()`` returns, and the
    RSS of this process."""

    def __init__(self, pids: Callable[[], list[int]], pss: bool = False) -> None:
        self.pids, self.peak, self.parent = pids, 0.0, 0.0
        self.measure = pss_mb if pss else rss_mb
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(0.05)

    def sample(self) -> None:
        self.peak = max(self.peak, sum(self.measure(p) for p in self.pids()))
        self.parent = max(self.parent, rss_mb())

    def __enter__(self) -> Sampler:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        self.sample()
        assert self._task is not None
        self._task.cancel()


# -- workload --------------------------------------------------------------------------------------
def workload(catalog: Catalog) -> list[Episode]:
    host = EnvHost()
    episodes = []
    for spec in catalog:
        host.load(spec.source_hash, spec.source, spec.class_name, spec.name)
        for options in host.module_info(spec.source_hash)["configs"]:
            trace = host.oracle(spec.source_hash, options, spec.name)
            if trace.ok:
                episodes.append(Episode(spec, options, trace.calls))
    if not episodes:
        raise SystemExit("no bundled env with a solvable config found")
    return episodes


def pick(episodes: list[Episode], count: int) -> list[Episode]:
    return [episodes[(i * 7) % len(episodes)] for i in range(count)]


async def drive(chosen: list[Episode], concurrency: int, run_one: Callable[[Episode, list[float]], Any]) -> float:
    """Run every episode, ``concurrency`` at a time; returns the wall time."""
    queue = list(reversed(chosen))
    latencies: list[float] = []

    async def lane() -> None:
        while queue:
            await run_one(queue.pop(), latencies)

    start = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(min(concurrency, len(chosen)))))
    return time.perf_counter() - start


# -- (a) direct ------------------------------------------------------------------------------------
def distinct_envs(chosen: list[Episode]) -> list[Episode]:
    return list({e.spec.name: e for e in chosen}.values())


async def bench_direct(chosen: list[Episode], concurrency: int) -> Result:
    host = EnvHost()
    ids = iter(range(10**9))
    latencies: list[float] = []
    for e in distinct_envs(chosen):  # warm-up: compile every source before the clock starts
        host.load(e.spec.source_hash, e.spec.source, e.spec.class_name, e.spec.name)

    async def one(e: Episode, _: list[float]) -> None:
        if not host.has_source(e.spec.source_hash):
            host.load(e.spec.source_hash, e.spec.source, e.spec.class_name, e.spec.name)
        sid = next(ids)
        host.open(sid, e.spec.source_hash, e.options, e.spec.name)
        for call in e.calls:
            t = time.perf_counter()
            host.step(sid, call.name, call.arguments)
            latencies.append(time.perf_counter() - t)
            await asyncio.sleep(0)  # let the other sessions in, as an async trainer would
        host.close(sid)

    wall = await drive(chosen, concurrency, one)
    return Result("direct", concurrency, len(chosen), len(latencies), wall, latencies, 0.0, rss_mb())


# -- (a') and (b): runtimes through the async session API ------------------------------------------
async def bench_runtime(name: str, runtime: Any, chosen: list[Episode], concurrency: int,
                        pids: Callable[[], list[int]]) -> Result:
    latencies: list[float] = []
    async with runtime:
        for e in distinct_envs(chosen):  # warm-up: workers start, every source is compiled
            session = await runtime.open((e.spec, e.options))
            await session.step(e.calls[0])
            await session.close()

        async def one(e: Episode, _: list[float]) -> None:
            session = await runtime.open((e.spec, e.options))
            for call in e.calls:
                t = time.perf_counter()
                result = await session.step(call)
                latencies.append(time.perf_counter() - t)
                if result.error not in (None, "exception"):
                    raise RuntimeError(f"{e.spec.name}: {result.observation}")
            await session.close()

        with Sampler(pids) as sampler:
            wall = await drive(chosen, concurrency, one)
    return Result(name, concurrency, len(chosen), len(latencies), wall, latencies, sampler.peak, sampler.parent)


# -- (c) the upstream design: a fresh process per step, the env pickled both ways -------------------
def _step_in_child(blob: bytes, action: str, out: int) -> None:
    env = pickle.loads(blob)
    _, observation = env.step(action)
    data = pickle.dumps((env, observation))
    view = memoryview(data)
    while view:
        view = view[os.write(out, view):]


class ForkPerStep:
    """Envs live pickled in this process; each step forks a process that unpickles, steps, pickles."""

    def __init__(self) -> None:
        self.host = EnvHost()  # only to compile env classes
        self.children: set[int] = set()

    def new_env(self, e: Episode) -> bytes:
        if not self.host.has_source(e.spec.source_hash):
            self.host.load(e.spec.source_hash, e.spec.source, e.spec.class_name, e.spec.name)
            module = self.host._classes[e.spec.source_hash].module
            sys.modules[module.__name__] = module  # so pickle finds the class
        env = self.host._classes[e.spec.source_hash].cls()
        env.reset(dict(e.options))
        return pickle.dumps(env)

    async def step(self, blob: bytes, call: ToolCall) -> tuple[bytes, str]:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            try:
                os.close(read_fd)
                _step_in_child(blob, call.to_action(), write_fd)
            finally:
                os._exit(0)
        os.close(write_fd)
        self.children.add(pid)
        loop = asyncio.get_running_loop()
        chunks: list[bytes] = []
        done = loop.create_future()

        def readable() -> None:
            data = os.read(read_fd, 1 << 20)
            if data:
                chunks.append(data)
            else:
                loop.remove_reader(read_fd)
                done.set_result(None)

        loop.add_reader(read_fd, readable)
        await done
        os.close(read_fd)
        os.waitpid(pid, 0)
        self.children.discard(pid)
        env, observation = pickle.loads(b"".join(chunks))
        return pickle.dumps(env), observation


async def bench_fork(chosen: list[Episode], concurrency: int, max_calls: int | None) -> Result:
    runtime = ForkPerStep()
    latencies: list[float] = []
    for e in distinct_envs(chosen):  # warm-up: compile every source before the clock starts
        runtime.new_env(e)

    async def one(e: Episode, _: list[float]) -> None:
        blob = runtime.new_env(e)
        for call in e.calls[:max_calls]:
            t = time.perf_counter()
            blob, _ = await runtime.step(blob, call)
            latencies.append(time.perf_counter() - t)

    with Sampler(lambda: list(runtime.children), pss=True) as sampler:
        wall = await drive(chosen, concurrency, one)
    note = f"first {max_calls} calls of each episode" if max_calls else ""
    return Result("fork_per_step", concurrency, len(chosen), len(latencies), wall, latencies, sampler.peak,
                  sampler.parent, note)


# -- C=1 latency, interleaved ---------------------------------------------------------------------
async def interleaved_c1(catalog: Catalog, chosen: list[Episode], rounds: int, workers: int | None) -> dict[str, Any]:
    """Single-session step latency of direct, inprocess and sandbox, measured in alternating rounds
    on warm runtimes, so that all three see the same background load (this box is shared)."""
    host = EnvHost()
    inprocess, sandbox = InProcessRuntime(catalog), SandboxRuntime(catalog, workers=workers)
    for e in distinct_envs(chosen):
        host.load(e.spec.source_hash, e.spec.source, e.spec.class_name, e.spec.name)
        for runtime in (inprocess, sandbox):
            session = await runtime.open((e.spec, e.options))
            await session.step(e.calls[0])
            await session.close()
    p50s: dict[str, list[float]] = {"direct": [], "inprocess": [], "sandbox": []}
    for _ in range(rounds):
        for name in p50s:
            latencies = []
            for e in chosen:
                if name == "direct":
                    host.open("s", e.spec.source_hash, e.options, e.spec.name)
                    for call in e.calls:
                        t = time.perf_counter()
                        host.step("s", call.name, call.arguments)
                        latencies.append(time.perf_counter() - t)
                    continue
                session = await (inprocess if name == "inprocess" else sandbox).open((e.spec, e.options))
                for call in e.calls:
                    t = time.perf_counter()
                    await session.step(call)
                    latencies.append(time.perf_counter() - t)
                await session.close()
            p50s[name].append(sorted(latencies)[len(latencies) // 2] * 1e6)
    await inprocess.close()
    await sandbox.close()
    out: dict[str, Any] = {name: {"p50_us_per_round": [round(v, 1) for v in values],
                                  "median_p50_us": round(statistics.median(values), 1),
                                  "best_p50_us": round(min(values), 1)} for name, values in p50s.items()}
    out["sandbox_over_direct_median"] = round(out["sandbox"]["median_p50_us"] / out["direct"]["median_p50_us"], 1)
    out["sandbox_over_direct_best"] = round(out["sandbox"]["best_p50_us"] / out["direct"]["best_p50_us"], 1)
    out["sandbox_over_inprocess_median"] = round(out["sandbox"]["median_p50_us"] / out["inprocess"]["median_p50_us"],
                                                 1)
    return out


# -- the run ---------------------------------------------------------------------------------------
def plan(quick: bool) -> dict[str, dict[int, tuple[int, int | None]]]:
    """runtime -> concurrency -> (episodes, calls per episode or None for all)."""
    if quick:
        levels = {1: (20, None), 64: (128, None), 1024: (1024, None), 4096: (4096, None)}
        fork = {1: (5, None), 64: (64, 8)}
    else:
        levels = {1: (100, None), 64: (512, None), 1024: (2048, None), 4096: (4096, None)}
        fork = {1: (20, None), 64: (128, None), 1024: (1024, 4)}
    return {"direct": levels, "inprocess": levels, "sandbox": levels, "fork_per_step": fork}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    catalog = Catalog.from_paths([REPO / "envs"])
    episodes = workload(catalog)
    calls = [len(e.calls) for e in episodes]
    print(f"workload: {len(episodes)} oracle episodes of {len(catalog)} bundled envs, "
          f"{statistics.fmean(calls):.1f} calls each on average", flush=True)
    results: list[Result] = []
    sandbox_info: dict[str, Any] = {}
    for name, levels in plan(args.quick).items():
        for concurrency, (count, max_calls) in levels.items():
            chosen = pick(episodes, count)
            if name == "direct":
                result = await bench_direct(chosen, concurrency)
            elif name == "inprocess":
                result = await bench_runtime(name, InProcessRuntime(catalog), chosen, concurrency, list)
            elif name == "sandbox":
                runtime = SandboxRuntime(catalog, workers=args.workers)
                result = await bench_runtime(name, runtime, chosen, concurrency, runtime.worker_pids)
                sandbox_info = {"workers": runtime.workers, "protections": runtime.protections or sandbox_info.get(
                    "protections"), "counters": runtime.counters()}
            else:
                result = await bench_fork(chosen, concurrency, max_calls)
            results.append(result)
            row = result.row()
            print(f"  {name:14s} C={concurrency:5d}: p50 {row['p50_us']:9.1f} us  p99 {row['p99_us']:9.1f} us  "
                  f"{row['steps_per_s']:7d} steps/s  env RSS {row['env_rss_mb']:7.1f} MB", flush=True)
    c1 = await interleaved_c1(catalog, pick(episodes, 10), 3 if args.quick else 7, args.workers)
    print(f"  C=1 interleaved: p50 direct {c1['direct']['median_p50_us']} us, inprocess "
          f"{c1['inprocess']['median_p50_us']} us, sandbox {c1['sandbox']['median_p50_us']} us (medians of rounds)")
    return {"results": [r.row() for r in results], "c1_interleaved": c1, "sandbox": sandbox_info}


def ratios(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by = {(r["runtime"], r["concurrency"]): r for r in rows}
    out: dict[str, Any] = {}
    for c in LEVELS:
        sb, fk, dr = by.get(("sandbox", c)), by.get(("fork_per_step", c)), by.get(("direct", c))
        if sb and fk:
            out[f"C={c}: fork_per_step p50 / sandbox p50"] = round(fk["p50_us"] / sb["p50_us"], 1)
            out[f"C={c}: sandbox steps/s / fork_per_step steps/s"] = round(sb["steps_per_s"] / fk["steps_per_s"], 1)
        if sb and dr:
            out[f"C={c}: sandbox p50 / direct p50"] = round(sb["p50_us"] / dr["p50_us"], 1)
            out[f"C={c}: direct steps/s / sandbox steps/s"] = round(dr["steps_per_s"] / sb["steps_per_s"], 1)
    sb4096 = by.get(("sandbox", 4096))
    if sb4096:
        out["C=4096: sandbox worker RSS MB, all workers (target < 2048)"] = sb4096["env_rss_mb"]
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| runtime | C | episodes | steps | p50 µs | p99 µs | steps/s | env RSS MB | parent RSS MB | note |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        env = r["env_rss_mb"]
        if r["runtime"] in ("direct", "inprocess"):
            env = "(in parent)"
        elif r["runtime"] == "fork_per_step":
            env = f"{env} (PSS)" if env else "not caught (ms-lived)"
        lines.append(f"| {r['runtime']} | {r['concurrency']} | {r['episodes']} | {r['steps']} | {r['p50_us']} | "
                     f"{r['p99_us']} | {r['steps_per_s']} | {env} | {r['parent_rss_mb']} | {r['note']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer episodes; the baseline at C=1 and 64 only")
    parser.add_argument("--workers", type=int, default=None, help="sandbox workers (default: the runtime's own)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "runtime.json")
    args = parser.parse_args()
    report = asyncio.run(main_async(args))
    report["ratios"] = ratios(report["results"])
    report["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                         "platform": platform.platform(), "quick": args.quick,
                         "load_average_after": os.getloadavg()}
    print()
    print(markdown(report["results"]))
    print()
    for key, value in report["ratios"].items():
        print(f"- {key}: {value}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
