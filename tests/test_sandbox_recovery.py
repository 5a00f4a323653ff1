"""Recovery by replay: workers killed from outside in the middle of many concurrent sessions."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

import pytest
from test_sandbox_support import all_worker_pids, catalog, clean_episodes, drive, own_sandbox_dirs, wait_gone

from codegym_adapters.runtime.sandbox import SandboxRuntime

pytestmark = pytest.mark.timeout(180)
SESSIONS = 200


def run_many(kill_after_steps: list[int], workers: int = 3) -> tuple[list[list[tuple]], dict, set[int]]:
    """Run SESSIONS clean episodes at once; SIGKILL a live worker each time the total number of
    finished steps passes one of ``kill_after_steps``."""
    episodes = clean_episodes(SESSIONS)

    async def main():
        async with SandboxRuntime(catalog(), workers=workers, step_timeout=5.0) as runtime:
            sessions = await asyncio.gather(*(runtime.open((e.spec, e.options)) for e in episodes))
            done = 0
            pending = sorted(kill_after_steps)

            async def episode(session, calls):
                nonlocal done
                results = []
                for call in calls:
                    results.append((await drive(session, [call]))[0])
                    done += 1
                    if pending and done >= pending[0]:
                        pending.pop(0)
                        live = runtime._pool.alive_workers()
                        if live:
                            with contextlib.suppress(ProcessLookupError):  # it may have just died
                                os.kill(max(live, key=lambda w: len(w.inflight)).pid, signal.SIGKILL)
                return results

            results = await asyncio.gather(*(episode(s, e.calls) for s, e in zip(sessions, episodes, strict=True)))
            await asyncio.gather(*(s.close() for s in sessions))
            return results, runtime.counters(), all_worker_pids(runtime)

    return asyncio.run(main())


def test_kill_9_of_a_worker_mid_run_loses_no_session():
    total = sum(len(e.calls) for e in clean_episodes(SESSIONS))
    results, counters, pids = run_many([total // 2])
    assert results == [e.expected for e in clean_episodes(SESSIONS)]
    assert counters["workers_lost_crashed"] == 1
    assert counters["replays"] >= 1
    assert counters.get("env_failures", 0) == 0  # nobody was blamed for an outside kill
    assert wait_gone(pids) == [] and own_sandbox_dirs() == []


def test_repeated_kills_including_during_replays_lose_no_session():
    total = sum(len(e.calls) for e in clean_episodes(SESSIONS))
    kills = [total // 5, total // 5 + 5, 2 * total // 5, 3 * total // 5, 3 * total // 5 + 1, 4 * total // 5]
    results, counters, pids = run_many(kills, workers=2)
    assert results == [e.expected for e in clean_episodes(SESSIONS)]
    assert counters["workers_lost_crashed"] >= 2  # some kills may land on a worker already dying
    assert wait_gone(pids) == []
