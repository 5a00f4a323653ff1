"""The ray runtime on a real local Ray cluster (a head and a second node on this machine, started and
stopped here): the session contract of the local runtimes, 500 concurrent episodes equal to the
sandbox runtime's, actors placed on both nodes by a custom resource or a placement group, a fleet
shared between processes, and an actor killed mid-run without losing an episode."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
from ray_cluster import LocalCluster
from runtime_contract import contract
from test_sandbox_support import REPO, catalog, clean_episodes, drive

from codegym_adapters.runtime import make_runtime
from codegym_adapters.runtime.ray_runtime import RayRuntime

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.timeout(600)
# each actor: no CPU of its own (nodes have one), one `codegym_env` slot (each node has one)
PLACEMENT = {"num_cpus": 0, "resources": {"codegym_env": 1}}


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(nodes=2) as c:
        ray.init(address=c.address, log_to_driver=False)
        try:
            yield c
        finally:
            ray.shutdown()


def fleet(name: str, **options) -> RayRuntime:
    options = {**PLACEMENT, "workers": 1, "step_timeout": 5.0, **options}
    return make_runtime("ray", catalog(), actors=2, fleet=name, **options)


def run_fleet(runtime: RayRuntime, body):
    async def main():
        try:
            return await body(runtime)
        finally:
            await runtime.close()
            await runtime.shutdown_fleet()
    return asyncio.run(main())


def test_the_ray_runtime_keeps_the_contract_of_the_local_runtimes(cluster):
    async def main():
        async with make_runtime("inprocess", catalog()) as local:
            return await contract(local)

    assert run_fleet(fleet("contract"), contract) == asyncio.run(main())


def test_500_concurrent_episodes_equal_the_sandbox_runtime_on_two_nodes(cluster):
    episodes = clean_episodes(500)

    async def play(runtime):
        sessions = await asyncio.gather(*(runtime.open((e.spec, e.options)) for e in episodes))
        results = await asyncio.gather(*(drive(s, e.calls) for s, e in zip(sessions, episodes, strict=True)))
        await asyncio.gather(*(s.close() for s in sessions))
        return results

    async def on_sandbox():
        async with make_runtime("sandbox", catalog(), workers=2) as runtime:
            return await play(runtime)

    async def on_ray(runtime):
        hello = await runtime.start()
        return hello, await play(runtime)

    hello, results = run_fleet(fleet("five-hundred"), on_ray)
    assert results == asyncio.run(on_sandbox()) == [e.expected for e in episodes]
    assert len({h["node_id"] for h in hello}) == 2  # one actor per node: the resource placed them


def test_ray_kill_of_an_actor_mid_run_loses_no_episode(cluster):
    episodes = clean_episodes(200)
    total = sum(len(e.calls) for e in episodes)

    async def body(runtime):
        before = await runtime.start()
        sessions = await asyncio.gather(*(runtime.open((e.spec, e.options)) for e in episodes))
        done = 0

        async def episode(session, calls):
            nonlocal done
            out = []
            for call in calls:
                out += await drive(session, [call])
                done += 1
                if done == total // 2:
                    ray.kill(ray.get_actor("kill-0", namespace="codegym"))
            return out

        results = await asyncio.gather(*(episode(s, e.calls) for s, e in zip(sessions, episodes, strict=True)))
        await asyncio.gather(*(s.close() for s in sessions))
        return before, await runtime.start(), results, runtime.counters()

    before, after, results, counters = run_fleet(fleet("kill"), body)
    assert results == [e.expected for e in episodes]
    assert counters["actors_lost"] >= 1 and counters["rebuilds"] >= 1
    assert before[0]["incarnation"] != after[0]["incarnation"]  # slot 0 holds a new actor
    assert before[1]["incarnation"] == after[1]["incarnation"]


_OTHER_PROCESS = """
import asyncio, json, sys
import ray
from codegym_adapters.catalog import Catalog
from codegym_adapters.runtime import make_runtime
ray.init(address=sys.argv[1], log_to_driver=False)
async def main():
    rt = make_runtime("ray", Catalog(), actors=2, fleet="shared", num_cpus=0, resources={"codegym_env": 1})
    print(json.dumps([h["pid"] for h in await rt.start()]))
asyncio.run(main())
"""


def test_processes_share_one_fleet_by_name(cluster):
    async def body(runtime):
        mine = [h["pid"] for h in await runtime.start()]
        other = subprocess.run([sys.executable, "-c", _OTHER_PROCESS, cluster.address], capture_output=True,
                               text=True, timeout=300, cwd=REPO)
        assert other.returncode == 0, other.stderr[-2000:]
        return mine, json.loads(other.stdout.strip().splitlines()[-1])

    mine, theirs = run_fleet(fleet("shared"), body)
    assert mine == theirs and len(set(mine)) == 2


def test_a_placement_group_spreads_the_actors_over_the_nodes(cluster):
    bundles = [{"codegym_env": 1}, {"codegym_env": 1}]
    e = clean_episodes(1)[0]

    async def body(runtime):
        hello = await runtime.start()
        async with await runtime.open((e.spec, e.options)) as session:
            return hello, await drive(session, e.calls)

    hello, results = run_fleet(fleet("grouped", placement_group=bundles, placement_strategy="STRICT_SPREAD"), body)
    assert results == e.expected and len({h["node_id"] for h in hello}) == 2
