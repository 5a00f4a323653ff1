"""Scale-out runtimes at 1,024 live sessions: ``ray`` and ``http`` against the local sandbox, and
``codegym serve`` against the upstream server design, in one run.

Workload: the bundled envs' oracle episodes (recorded once in-process, as in ``bench_runtime.py``),
C = 1,024 sessions live at once, each running the first K calls of its episode (K = 4 by default:
on this 2-vCPU box the HTTP rows are bound by the client's CPU, and the full episodes would take
minutes per row). Rows:

* ``sandbox``: ``SandboxRuntime`` with 2 worker processes in this process (the baseline);
* ``ray``: ``RayRuntime``, 2 actors with 1 sandbox worker each, on a local Ray instance;
* ``http``: ``HttpRuntime`` against ``codegym serve`` (2 sandbox workers) on loopback;
* ``serve``/``upstream_design``: the same protocol client (per step: ``step`` then ``is_done``, as
  the upstream rollout client does) against ``codegym serve`` and against a server built the
  upstream way: every step forks a fresh process that unpickles the env, steps it and pickles it back
  (fork is the cheapest process start, and it keeps all envs in one server process instead of one
  server process per live episode: both favour the baseline).

Latency is one step as its caller sees it, queueing included (at C = 1,024 mostly queueing);
steps/s is all steps over the wall time, opens and closes included. Numbers from a shared box are
noisy: compare ratios within one run.

Run: ``python benchmarks/bench_scale.py [--quick]``; prints a markdown table and writes
``benchmarks/results/scale.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import http.client
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import httpx  # noqa: E402
from bench_runtime import Episode, ForkPerStep, Result, distinct_envs, pick, workload  # noqa: E402

from codegym_adapters.calls import ToolCall  # noqa: E402
from codegym_adapters.catalog import Catalog  # noqa: E402
from codegym_adapters.runtime import make_runtime  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- runtimes through the session API ---------------------------------------------------------------
async def bench_sessions(name: str, runtime: Any, chosen: list[Episode], k: int) -> Result:
    latencies: list[float] = []
    async with runtime:
        for e in distinct_envs(chosen):  # warm-up: workers start, every source is compiled
            session = await runtime.open((e.spec, e.options))
            await session.step(e.calls[0])
            await session.close()

        async def one(e: Episode) -> None:
            session = await runtime.open((e.spec, e.options))
            for call in e.calls[:k]:
                t = time.perf_counter()
                result = await session.step(call)
                latencies.append(time.perf_counter() - t)
                if result.error not in (None, "exception"):
                    raise RuntimeError(f"{name}: {e.spec.name}: {result.observation}")
            await session.close()

        start = time.perf_counter()
        await asyncio.gather(*(one(e) for e in chosen))
        wall = time.perf_counter() - start
        if hasattr(runtime, "shutdown_fleet"):
            await runtime.shutdown_fleet()
    return Result(name, len(chosen), len(chosen), len(latencies), wall, latencies)


# -- the protocol, as the upstream rollout client speaks it -----------------------------------------
class _Lane:
    """One keep-alive connection of the load generator (stdlib ``http.client``: about 0.2 ms of CPU
    per request here, against 1.5-5 ms for an async httpx client, which would make the client, not
    the server, the thing measured)."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        response = self.conn.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}: {payload[:300]!r}")
        return json.loads(payload)


def bench_protocol(name: str, port: int, chosen: list[Episode], k: int, lanes: int = 64) -> Result:
    """Every session leased and started (all live at once), then stepped round by round: per step
    ``step`` then ``is_done``, as the upstream rollout client does; then stopped and released."""
    latencies: list[float] = []
    pool = [_Lane(port) for _ in range(lanes)]

    def by_lane(job: Any) -> None:
        with concurrent.futures.ThreadPoolExecutor(lanes) as ex:
            list(ex.map(lambda j: job(pool[j], j), range(lanes)))

    def begin(lane: _Lane, j: int) -> None:
        for i in range(j, len(chosen), lanes):
            e = chosen[i]
            lease = lane.call("GET", "/get_instance")
            leases[i] = lease["uid"]
            lane.call("POST", "/start", {"session_id": f"s{i}", "env_str": f"{e.spec.class_name}@{e.options!r}",
                                         "env_name": e.spec.name})

    def play(lane: _Lane, j: int) -> None:
        for c in range(k):
            for i in range(j, len(chosen), lanes):
                calls = chosen[i].calls
                if c < len(calls):
                    t = time.perf_counter()
                    lane.call("POST", "/step", {"session_id": f"s{i}", "action": calls[c].to_action(), "timeout": 10})
                    lane.call("GET", f"/is_done?session_id=s{i}")
                    latencies.append(time.perf_counter() - t)
        for i in range(j, len(chosen), lanes):
            lane.call("POST", "/stop", {"session_id": f"s{i}"})
            lane.call("GET", f"/release_instance?uid={leases[i]}")

    leases: dict[int, str] = {}
    start = time.perf_counter()
    by_lane(begin)
    by_lane(play)
    wall = time.perf_counter() - start
    for lane in pool:
        lane.conn.close()
    return Result(name, len(chosen), len(chosen), len(latencies), wall, latencies)


class Server:
    """A server subprocess on loopback: ``codegym serve`` or this file's upstream-design server."""

    def __init__(self, args: list[str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, *args, "--port", str(self.port)], cwd=REPO,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(600):
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"server {args} did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def upstream_design_app(catalog: Catalog) -> Any:
    """The upstream server's design behind the same protocol: envs kept pickled, a forked process
    per step (unpickle, step, pickle back)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    fork, envs, port = ForkPerStep(), {}, int(os.environ["BENCH_PORT"])

    async def handle(request: Request) -> JSONResponse:
        body = json.loads(await request.body() or b"{}")
        name, q = request.url.path.strip("/"), request.query_params
        sid = q.get("session_id") or body.get("session_id")
        if name in ("health", "get_instance"):
            return JSONResponse({"status": "ok", "uid": "u", "port": port})
        if name == "release_instance":
            return JSONResponse({"uid": q.get("uid")})
        if name == "start":
            spec, options = catalog.resolve(f"{body['env_name']}@{body['env_str'].partition('@')[2]}")
            envs[sid] = fork.new_env(Episode(spec, options, []))
            return JSONResponse({"observation": "Environment has been reset."})
        if name == "step":
            action = json.loads(body["action"])
            envs[sid], observation = await fork.step(envs[sid], ToolCall(action["name"], action["parameters"]))
            return JSONResponse({"status": True, "observation": observation})
        if name == "is_done":
            return JSONResponse({"done": False})
        envs.pop(sid, None)
        return JSONResponse({"stopped": True})

    paths = ["health", "get_instance", "release_instance", "start", "step", "is_done", "stop"]
    return Starlette(routes=[Route(f"/{p}", handle, methods=["GET", "POST"]) for p in paths])


# -- main -------------------------------------------------------------------------------------------
def table(rows: list[dict[str, Any]]) -> str:
    head = "| runtime | C | steps | wall s | steps/s | p50 ms | p99 ms | vs baseline (steps/s) |\n|---|---|---|---|---|---|---|---|"
    lines = [head]
    for r in rows:
        lines.append(f"| {r['runtime']} | {r['concurrency']} | {r['steps']} | {r['wall_s']} | {r['steps_per_s']} | "
                     f"{r['p50_us'] / 1000:.1f} | {r['p99_us'] / 1000:.1f} | {r.get('ratio', '')} |")
    return "\n".join(lines)


async def run_all(sessions: int, k: int) -> list[dict[str, Any]]:
    import ray

    catalog = Catalog.default()
    chosen = pick(workload(catalog), sessions)
    rows = [(await bench_sessions("sandbox", make_runtime("sandbox", catalog, workers=2), chosen, k)).row()]
    ray.init(num_cpus=2, resources={"codegym_env": 2}, include_dashboard=False, object_store_memory=80_000_000,
             log_to_driver=False)
    try:
        fleet = make_runtime("ray", catalog, actors=2, num_cpus=0, resources={"codegym_env": 1}, workers=1,
                             fleet="bench")
        rows.append((await bench_sessions("ray", fleet, chosen, k)).row())
    finally:
        ray.shutdown()
    serve = Server(["-m", "codegym_adapters.cli", "serve", "--workers", "2"])
    try:
        client = make_runtime("http", catalog, urls=[serve.url], max_connections=64)
        rows.append((await bench_sessions("http", client, chosen, k)).row())
        rows.append((await asyncio.to_thread(bench_protocol, "serve (protocol client)", serve.port, chosen, k)).row())
    finally:
        serve.stop()
    upstream = Server([__file__, "--serve-upstream-design"])
    try:
        rows.append((await asyncio.to_thread(bench_protocol, "upstream_design (protocol client)", upstream.port,
                                             chosen, k)).row())
    finally:
        upstream.stop()
    for r in rows[1:3]:
        r["ratio"] = f"{r['steps_per_s'] / rows[0]['steps_per_s']:.2f}x sandbox"
    rows[4]["ratio"] = f"serve is {rows[3]['steps_per_s'] / rows[4]['steps_per_s']:.1f}x faster"
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="256 sessions, 4 calls each")
    p.add_argument("--sessions", type=int, default=1024)
    p.add_argument("--calls", type=int, default=4, help="calls per session (the first K of its oracle episode)")
    p.add_argument("--serve-upstream-design", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve_upstream_design:
        import uvicorn

        os.environ["BENCH_PORT"] = str(args.port)
        uvicorn.run(upstream_design_app(Catalog.default()), host="127.0.0.1", port=args.port, log_level="warning",
                    backlog=4096)
        return
    sessions, k = (256, 4) if args.quick else (args.sessions, args.calls)
    rows = asyncio.run(run_all(sessions, k))
    print(table(rows))
    out = REPO / "benchmarks" / "results" / "scale.json"
    out.write_text(json.dumps({"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                           "load_avg": os.getloadavg()},
                               "sessions": sessions, "calls_per_session": k, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
