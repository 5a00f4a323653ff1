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
in a warm-up first). Memory is the peak of the summed PSS of the processes that run env code
(sandbox workers and their template, forked step processes: they share most pages), sampled every
50 ms; this process's RSS is reported apart. At C > 1 the latency includes
waiting behind the other sessions' steps, so compare runtimes there by steps/s.

Then, for issue 10 (:func:`isolation`), this checkout's per-source workers against the base
commit's shared workers (its ``codegym_adapters`` exported with ``git archive``, run in subprocesses
alternating with ours, on the same envs): single-session step p50 (and a direct call's, in the same
rounds), the time to open a session of an env source the runtime has not seen, and the total PSS of
every worker process with 4,096 live sessions over 512 and over 8 distinct sources.

Run: ``python benchmarks/bench_runtime.py [--quick] [--isolation-only [--against REF]] [--memory-only REF]``;
prints a markdown table and writes ``benchmarks/results/runtime.json`` (``isolation.json`` with
``--isolation-only``, ``memory.json`` with ``--memory-only``).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
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
# CODEGYM_BENCH_ROOT: import the runtime from another checkout (the base commit's design), same envs
sys.path.insert(0, os.environ.get("CODEGYM_BENCH_ROOT", str(REPO)))

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
                        pids: Callable[[], list[int]], pss: bool = False) -> Result:
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

        with Sampler(pids, pss=pss) as sampler:
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


# -- issue 10: one worker per env source, against the base commit's shared workers ----------------
BASE_COMMIT = "7076953"


def variant_envs(episodes: list[Episode], count: int, folder: Path) -> list[Episode]:
    """``count`` distinct env sources: the bundled envs' files, each copy with its own comment (so its
    own content hash), with the original's first solvable episode."""
    first = {e.spec.name: e for e in reversed(episodes)}
    originals = list(first.values())
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        e = originals[k % len(originals)]
        code = e.spec.code_id
        (folder / f"{code}v{k:04d}__{e.spec.class_name}.py").write_text(e.spec.source + f"\n# variant {k}\n")
    catalog = Catalog.from_paths([folder])
    by_class = {e.spec.class_name: e for e in originals}
    variants = sorted(catalog, key=lambda spec: spec.code_id)
    return [Episode(spec, by_class[spec.class_name].options, by_class[spec.class_name].calls) for spec in variants]


async def c1_rounds(chosen: list[Episode], rounds: int) -> dict[str, list[float]]:
    """Single-session step p50 (us) of direct and sandbox, in alternating rounds, warm."""
    catalog = Catalog.from_paths([REPO / "envs"])
    host, sandbox = EnvHost(), SandboxRuntime(catalog)
    for e in distinct_envs(chosen):
        host.load(e.spec.source_hash, e.spec.source, e.spec.class_name, e.spec.name)
        session = await sandbox.open((e.spec, e.options))
        await session.step(e.calls[0])
        await session.close()
    out: dict[str, list[float]] = {"direct": [], "sandbox": []}
    for _ in range(rounds):
        for name in out:
            latencies = []
            for e in chosen:
                if name == "direct":
                    host.open("s", e.spec.source_hash, e.options, e.spec.name)
                    for call in e.calls:
                        t = time.perf_counter()
                        host.step("s", call.name, call.arguments)
                        latencies.append(time.perf_counter() - t)
                    continue
                session = await sandbox.open((e.spec, e.options))
                for call in e.calls:
                    t = time.perf_counter()
                    await session.step(call)
                    latencies.append(time.perf_counter() - t)
                await session.close()
            out[name].append(sorted(latencies)[len(latencies) // 2] * 1e6)
    await sandbox.close()
    return out


async def open_new_sources(variants: list[Episode], paced_s: float) -> list[float]:
    """Seconds to open a session of a source the runtime has not seen (step one call, close)."""
    runtime = SandboxRuntime(Catalog.from_paths([REPO / "envs"]))
    await runtime.start()
    times = []
    for e in variants:
        if paced_s:
            await asyncio.sleep(paced_s)
        t = time.perf_counter()
        session = await runtime.open((e.spec, e.options))
        times.append(time.perf_counter() - t)
        await session.step(e.calls[0])
        await session.close()
    await runtime.close()
    return times


def runtime_pids(runtime: Any) -> list[int]:
    pool = getattr(runtime, "_pool", None)
    template = getattr(pool, "template", None)
    compiler = pool.compiler_pid() if hasattr(pool, "compiler_pid") else None  # compiles every source
    return runtime.worker_pids() + ([template.pid] if template is not None else []) + ([compiler] if compiler else [])


def private_by_mapping(pid: int) -> dict[str, int]:
    """Private dirty KB of one process by kind of mapping: ``heap`` (malloc's), ``anon`` (Python's
    object arenas and other anonymous maps), ``stack``, ``files`` (the writable data of libraries)."""
    out = {"heap": 0, "anon": 0, "stack": 0, "files": 0}
    kind = "anon"
    try:
        for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
            fields = line.split()
            if not fields[0].endswith(":"):
                name = fields[5] if len(fields) > 5 else ""
                kind = ("heap" if name == "[heap]" else "stack" if name.startswith("[stack") else
                        "anon" if not name or name.startswith("[") else "files")
            elif fields[0] == "Private_Dirty:":
                out[kind] += int(fields[1])
    except (OSError, ValueError, IndexError):
        pass
    return out


async def live_memory(variants: list[Episode], sources: int, sessions: int) -> dict[str, Any]:
    """Total PSS (MB) of every process running env code (and the template) with ``sessions`` live
    sessions spread over ``sources`` env sources, each stepped once."""
    runtime = SandboxRuntime(Catalog.from_paths([REPO / "envs"]))
    await runtime.start()
    chosen = [variants[i % sources] for i in range(sessions)]
    live = []
    t = time.perf_counter()
    for batch in range(0, sessions, 256):
        opened = await asyncio.gather(*(runtime.open((e.spec, e.options)) for e in chosen[batch:batch + 256]))
        await asyncio.gather(*(s.step(e.calls[0]) for s, e in zip(opened, chosen[batch:batch + 256], strict=True)))
        live += opened
    elapsed = time.perf_counter() - t
    pids = runtime_pids(runtime)
    pss = sum(pss_mb(p) for p in pids)
    rss = sum(rss_mb(p) for p in pids)
    private: dict[str, int] = {}
    for p in runtime.worker_pids():
        for kind, kb in private_by_mapping(p).items():
            private[kind] = private.get(kind, 0) + kb
    per_worker_kb = {kind: round(kb / max(1, len(runtime.worker_pids()))) for kind, kb in private.items()}
    for session in live:
        await session.close()
    await runtime.close()
    return {"sources": sources, "sessions": sessions, "processes": len(pids), "pss_mb": round(pss, 1),
            "rss_mb": round(rss, 1), "open_and_step_s": round(elapsed, 2),
            "worker_private_dirty_kb": per_worker_kb}


async def isolation_probe(args: argparse.Namespace) -> dict[str, Any]:
    """What one checkout's runtime gives (run in a subprocess per checkout)."""
    catalog = Catalog.from_paths([REPO / "envs"])
    episodes = workload(catalog)
    if args.probe == "c1":
        return await c1_rounds(pick(episodes, 10), args.rounds)
    variants = variant_envs(episodes, 512, Path(args.variants))
    if args.probe == "open":
        return {"back_to_back": await open_new_sources(variants[:args.opens], 0.0),
                "paced": await open_new_sources(variants[args.opens:2 * args.opens], 0.05)}
    return {"512": await live_memory(variants, 512, 4096), "8": await live_memory(variants, 8, 4096)}


def probe(root: Path, what: str, variants: Path, rounds: int = 1, opens: int = 100) -> Any:
    import subprocess

    env = {**os.environ, "CODEGYM_BENCH_ROOT": str(root)}
    # cwd: a template started with ``python -m`` imports from its working folder first (REF's runtime
    # does not choose its own), so each checkout runs from its own folder
    out = subprocess.run([sys.executable, __file__, "--probe", what, "--variants", str(variants), "--rounds",
                          str(rounds), "--opens", str(opens)], env=env, capture_output=True, text=True, check=True,
                         cwd=root)
    return json.loads(out.stdout.strip().splitlines()[-1])


def base_checkout(folder: Path, commit: str = BASE_COMMIT) -> Path:
    """A commit's ``codegym_adapters`` (by default the base commit's shared-worker sandbox), exported
    with git archive."""
    import subprocess

    folder.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit, "codegym_adapters"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def isolation(quick: bool, against: str = BASE_COMMIT) -> dict[str, Any]:
    """Per-source workers (this checkout) against commit ``against``'s runtime (by default the base
    commit's shared workers), in one run."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="codegym-bench-") as tmp:
        base, variants = base_checkout(Path(tmp) / "base", against), Path(tmp) / "variants"
        rounds = 2 if quick else 3
        c1: dict[str, list[float]] = {"old_sandbox": [], "new_sandbox": [], "old_direct": [], "new_direct": []}
        for _ in range(2):  # alternate the checkouts: both see the same background load
            for name, root in (("old", base), ("new", REPO)):
                got = probe(root, "c1", variants, rounds)
                c1[f"{name}_sandbox"] += got["sandbox"]
                c1[f"{name}_direct"] += got["direct"]
        med = {k: round(statistics.median(v), 1) for k, v in c1.items()}
        opens = {name: probe(root, "open", variants, opens=50 if quick else 100)
                 for name, root in (("old", base), ("new", REPO))}
        memory = {name: probe(root, "memory", variants) for name, root in (("old", base), ("new", REPO))}

    def p50_ms(values: list[float]) -> float:
        return round(sorted(values)[len(values) // 2] * 1e3, 2)

    return {
        "c1_step_p50_us": med, "c1_rounds_us": c1,
        "new_over_old_sandbox_p50": round(med["new_sandbox"] / med["old_sandbox"], 2),
        "new_sandbox_over_direct_p50": round(med["new_sandbox"] / med["new_direct"], 1),
        "open_new_source_p50_ms": {name: {mode: p50_ms(v) for mode, v in o.items()} for name, o in opens.items()},
        "open_new_source_p90_ms": {name: {mode: round(sorted(v)[int(len(v) * 0.9)] * 1e3, 2) for mode, v in o.items()}
                                   for name, o in opens.items()},
        "memory": memory,
    }


def memory_only(ref: str, rounds: int) -> dict[str, Any]:
    """Live-session PSS (512 and 8 sources) of this checkout against commit ``ref``'s, alternating
    ``rounds`` times in one run."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="codegym-bench-") as tmp:
        base, variants = base_checkout(Path(tmp) / "base", ref), Path(tmp) / "variants"
        runs: dict[str, list[Any]] = {ref: [], "this checkout": []}
        for _ in range(rounds):
            for name, root in ((ref, base), ("this checkout", REPO)):
                runs[name].append(probe(root, "memory", variants))
    return runs


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
                result = await bench_runtime(name, runtime, chosen, concurrency, functools.partial(runtime_pids, runtime),
                                             pss=True)
                sandbox_info = {"workers": runtime.workers, "protections": runtime.protections or sandbox_info.get(
                    "protections"), "counters": runtime.counters()}
            else:
                result = await bench_fork(chosen, concurrency, max_calls)
            results.append(result)
            row = result.row()
            print(f"  {name:14s} C={concurrency:5d}: p50 {row['p50_us']:9.1f} us  p99 {row['p99_us']:9.1f} us  "
                  f"{row['steps_per_s']:7d} steps/s  env mem {row['env_rss_mb']:7.1f} MB", flush=True)
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
        out["C=4096: sandbox PSS MB, all workers and the template"] = sb4096["env_rss_mb"]
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| runtime | C | episodes | steps | p50 µs | p99 µs | steps/s | env PSS MB | parent RSS MB | note |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        env = r["env_rss_mb"]
        if r["runtime"] in ("direct", "inprocess"):
            env = "(in parent)"
        elif r["runtime"] == "fork_per_step" and not env:
            env = "not caught (ms-lived)"
        lines.append(f"| {r['runtime']} | {r['concurrency']} | {r['episodes']} | {r['steps']} | {r['p50_us']} | "
                     f"{r['p99_us']} | {r['steps_per_s']} | {env} | {r['parent_rss_mb']} | {r['note']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer episodes; the baseline at C=1 and 64 only")
    parser.add_argument("--workers", type=int, default=None, help="sandbox workers (default: the runtime's own)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "runtime.json")
    parser.add_argument("--isolation-only", action="store_true",
                        help="only per-source workers against the base commit's design (issue 10)")
    parser.add_argument("--against", metavar="REF", default=BASE_COMMIT,
                        help="with --isolation-only: the commit to compare with (default: the base design's)")
    parser.add_argument("--memory-only", metavar="REF", default="",
                        help="only the 512/8-source live-session PSS, this checkout against commit REF "
                             "(alternating --rounds times)")
    parser.add_argument("--probe", choices=("c1", "open", "memory"), help=argparse.SUPPRESS)
    parser.add_argument("--variants", default="", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=3, help=argparse.SUPPRESS)
    parser.add_argument("--opens", type=int, default=100, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        print(json.dumps(asyncio.run(isolation_probe(args))))
        return
    if args.memory_only:
        report = {"memory": memory_only(args.memory_only, args.rounds)}
        print(json.dumps(report["memory"], indent=2))
        args.out = args.out.with_name("memory.json")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.out}")
        return
    if args.isolation_only:
        report = {"isolation": isolation(args.quick, args.against), "against": args.against}
        print(json.dumps(report["isolation"], indent=2))
        args.out = args.out.with_name("isolation.json")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.out}")
        return
    report = asyncio.run(main_async(args))
    report["isolation"] = isolation(args.quick)
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
