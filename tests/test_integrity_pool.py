"""Per-source workers: which process runs which env, how many live, and how they are retired."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from test_integrity_support import catalog, honest_episodes
from test_sandbox_support import all_worker_pids, drive, own_sandbox_dirs, wait_gone

from codegym_adapters.calls import ToolCall
from codegym_adapters.runtime.pool import RemoteError
from codegym_adapters.runtime.sandbox import SandboxRuntime

pytestmark = pytest.mark.timeout(120)


def distinct(count: int):
    seen, out = set(), []
    for e in honest_episodes():
        if e.spec.source_hash not in seen:
            seen.add(e.spec.source_hash)
            out.append(e)
    assert len(out) >= count
    return out[:count]


def test_sessions_of_one_source_share_a_worker_and_sources_never_share_one():
    a, b = distinct(2)

    async def main():
        async with SandboxRuntime(catalog()) as runtime:
            sessions = [await runtime.open((e.spec, e.options)) for e in (a, a, a, b, b)]
            for s in sessions:
                await s.step(ToolCall("Observe", {}))
            pids = [s._worker.pid for s in sessions]
            sources = {w.pid: w.source for w in runtime._pool.workers}
            # the parent never sends a worker a second source; if it did, the worker would refuse it
            worker_a = sessions[0]._worker
            worker_a.loaded = False
            with pytest.raises(RemoteError, match="serves env source"):
                await runtime._load(worker_a, b.spec)
            return pids, sources

    pids, sources = asyncio.run(main())
    assert pids[0] == pids[1] == pids[2] and pids[3] == pids[4] and pids[0] != pids[3]
    assert sources[pids[0]] == a.spec.source_hash and sources[pids[3]] == b.spec.source_hash


def test_beyond_max_workers_the_least_recently_used_are_retired_and_their_sessions_replayed():
    episodes = distinct(5)

    async def main():
        async with SandboxRuntime(catalog(), max_workers=2, spares=1) as runtime:
            most = 0

            async def sample():  # the most workers assigned to sources at once
                nonlocal most
                while True:
                    most = max(most, sum(w.alive for w in runtime._pool.workers))
                    await asyncio.sleep(0)

            sampler = asyncio.get_running_loop().create_task(sample())
            sessions = [await runtime.open((e.spec, e.options)) for e in episodes]
            halves = [len(e.calls) // 2 for e in episodes]
            first = [await drive(s, e.calls[:h]) for s, e, h in zip(sessions, episodes, halves, strict=True)]
            second = [await drive(s, e.calls[h:]) for s, e, h in zip(sessions, episodes, halves, strict=True)]
            sampler.cancel()
            for s in sessions:
                await s.close()
            return [a + b for a, b in zip(first, second, strict=True)], most, runtime.counters(), \
                all_worker_pids(runtime)

    results, most, counters, pids = asyncio.run(main())
    assert results == [e.expected for e in episodes]
    assert most <= 2
    assert counters["workers_retired"] >= 3 and counters["replays"] >= 3
    assert counters.get("env_failures", 0) == 0
    assert wait_gone(pids) == [] and own_sandbox_dirs() == []


def test_idle_workers_are_retired():
    (episode,) = distinct(1)

    async def main():
        async with SandboxRuntime(catalog(), idle_timeout=0.5) as runtime:
            session = await runtime.open((episode.spec, episode.options))
            await drive(session, episode.calls)
            pid = session._worker.pid
            await asyncio.sleep(1.0)
            kept = [w.pid for w in runtime._pool.workers]  # a worker hosting a live session stays
            await session.close()
            deadline = time.monotonic() + 5
            while pid in runtime.worker_pids() and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            return pid, kept, runtime.worker_pids(), runtime.counters()

    pid, kept, live, counters = asyncio.run(main())
    assert pid in kept and pid not in live
    assert counters["workers_retired"] >= 1
    assert not Path(f"/proc/{pid}/status").exists() or "Z" in Path(f"/proc/{pid}/status").read_text()


def test_a_template_killed_from_outside_is_restarted_and_no_episode_is_lost():
    import os
    import signal

    episodes = distinct(4)

    async def main():
        async with SandboxRuntime(catalog(), step_timeout=5.0) as runtime:
            sessions = [await runtime.open((e.spec, e.options)) for e in episodes]
            halves = [len(e.calls) // 2 for e in episodes]
            first = [await drive(s, e.calls[:h]) for s, e, h in zip(sessions, episodes, halves, strict=True)]
            old = runtime._pool.template.pid
            workers = runtime.worker_pids()
            os.kill(old, signal.SIGKILL)  # its workers die with it
            assert wait_gone([old, *workers]) == []  # before the second half: every call must find them gone
            second = [await drive(s, e.calls[h:]) for s, e, h in zip(sessions, episodes, halves, strict=True)]
            for s in sessions:
                await s.close()
            return [a + b for a, b in zip(first, second, strict=True)], old, runtime._pool.template.pid, \
                runtime.counters(), all_worker_pids(runtime)

    results, old, new, counters, pids = asyncio.run(main())
    assert results == [e.expected for e in episodes]
    assert new != old and counters.get("env_failures", 0) == 0 and counters["replays"] >= 1
    assert wait_gone(pids) == []
