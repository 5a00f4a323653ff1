"""veRL's real AgentLoopWorker with env sessions off this process: ``env.runtime=ray`` (a fleet of
env actors on a real two-node local Ray cluster) and ``env.runtime=http`` (a real ``codegym serve``
on loopback). Trajectories, masks, rewards and episode fields must equal the core's own run."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from harness import HOUSES, Case, compose_config, reference
from test_agent_loop_worker import Run, assert_matches_core

from codegym_adapters.episode import EpisodeConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the core tests' cluster and server helpers
from ray_cluster import LocalCluster  # noqa: E402
from serve_support import ServerProcess  # noqa: E402

pytestmark = pytest.mark.timeout(600)
SMALL = HOUSES + '@{"houses": [2, 7, 9, 3, 1]}'
LONG = HOUSES + '@{"houses": [4, 8, 15, 16, 23, 42, 8, 15, 4, 16, 23, 42, 1, 2, 3, 4]}'


def _hydra(value) -> str:
    """A value in Hydra's override grammar (bare keys, quoted strings)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_hydra(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_hydra(v) for v in value) + "]"
    if isinstance(value, str):
        return "'" + value + "'"
    return json.dumps(value)


def _options(**options) -> str:
    return "++env.runtime_options=" + _hydra(options)  # ++: set the whole mapping (the group has {})


@contextlib.contextmanager
def ray_backend() -> Iterator[list[str]]:
    import ray

    from codegym_adapters.catalog import Catalog
    from codegym_adapters.runtime.ray_runtime import RayRuntime

    # detached: the fleet outlives the agent loop's runtime (non-detached actors die with the last
    # handle of the process that made them), so it can be inspected, then stopped, here
    options = {"address": None, "actors": 2, "fleet": "verl-envs", "num_cpus": 0, "resources": {"codegym_env": 1},
               "detached": True}
    with LocalCluster(nodes=2) as cluster:
        options["address"] = cluster.address
        used: list[int] = []

        async def probe_and_stop(runtime: RayRuntime) -> None:
            await runtime.start()
            used.extend(c["counters"].get("sources_sent", 0) for c in await runtime.fleet_counters())
            await runtime.shutdown_fleet()

        try:
            yield ["env.runtime=ray", "env.workers=1", _options(**options)], used
        finally:  # the agent loop closed its sessions; the fleet itself is ours to stop
            if ray.is_initialized():
                asyncio.run(probe_and_stop(RayRuntime(Catalog(), **options)))
                ray.shutdown()


@contextlib.contextmanager
def http_backend() -> Iterator[list[str]]:
    with ServerProcess(workers=1) as server:
        used: list[int] = []
        yield ["env.runtime=http", _options(urls=[server.url])], used
        text = httpx.get(f"{server.url}/metrics").text
        used.append(int(float(re.search(r"^codegym_steps_total (\S+)$", text, re.M).group(1))))


@pytest.mark.parametrize("backend", [ray_backend, http_backend], ids=["ray", "http"])
def test_agent_loop_worker_runs_episodes_on_the_remote_runtime(model_dir: Path, tmp_path: Path, backend) -> None:
    cases = [Case("oracle-0", SMALL, policy="oracle"), Case("wrong-1", SMALL, policy="wrong"),
             Case("oracle-2", LONG, policy="oracle")]
    backend_cm = backend()
    with backend_cm as (overrides, used):
        run = Run(compose_config(model_dir, *overrides), cases, tmp_path)
    for i, case in enumerate(cases):
        ref = asyncio.run(reference(case, EpisodeConfig()))
        assert ref["reward"] == (0.0 if case.tag.startswith("wrong") else 1.0)
        assert_matches_core(run, i, ref)
    assert sum(used) > 0  # env work really happened on the fleet / the server
