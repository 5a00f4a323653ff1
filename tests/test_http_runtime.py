"""The http runtime against our own server on loopback: the same session and episode contract as the
local runtimes, sessions kept through a server restart and a server lost (replay elsewhere),
retries while a server comes up, bearer tokens."""

from __future__ import annotations

import asyncio
import threading

import pytest
from runtime_contract import contract
from serve_support import ServerProcess
from test_sandbox_support import catalog, clean_episodes, drive

from codegym_adapters.errors import EnvLoadError
from codegym_adapters.runtime import make_runtime
from codegym_adapters.runtime.http_runtime import HttpRuntime

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def server():
    with ServerProcess(workers=2, step_timeout=3.0) as proc:
        yield proc


def http(*urls: str, **options) -> HttpRuntime:
    return make_runtime("http", catalog(), urls=list(urls), **options)


def through(runtime) -> dict:
    async def main():
        async with runtime:
            return await contract(runtime)
    return asyncio.run(main())


def test_the_http_runtime_keeps_the_contract_of_the_local_runtimes(server):
    local = through(make_runtime("inprocess", catalog()))
    assert through(make_runtime("sandbox", catalog(), workers=2, step_timeout=3.0)) == local
    assert through(http(server.url)) == local


def run_halves(runtime: HttpRuntime, count: int, between) -> tuple[list, list]:
    """Open ``count`` clean episodes, run their first halves, call ``between(sessions)``, run the
    second halves; returns (results, expected)."""
    episodes = clean_episodes(count)

    async def main():
        async with runtime:
            sessions = await asyncio.gather(*(runtime.open((e.spec, e.options)) for e in episodes))
            halves = [len(e.calls) // 2 for e in episodes]
            first = await asyncio.gather(*(drive(s, e.calls[:h]) for s, e, h in zip(sessions, episodes, halves, strict=True)))
            await asyncio.to_thread(between, sessions)
            second = await asyncio.gather(*(drive(s, e.calls[h:]) for s, e, h in zip(sessions, episodes, halves, strict=True)))
            await asyncio.gather(*(s.close() for s in sessions))
            return [a + b for a, b in zip(first, second, strict=True)]

    return asyncio.run(main()), [e.expected for e in episodes]


def test_a_restarted_server_loses_no_session_they_are_replayed():
    proc = ServerProcess(workers=1).start()
    runtime = http(proc.url, backoff_s=0.2, retries=8)

    def restart(_sessions):
        proc.kill()
        proc.start()

    try:
        results, expected = run_halves(runtime, 30, restart)
    finally:
        proc.stop()
    assert results == expected
    assert runtime.stats["rebuilds"] >= 30


def test_sessions_of_a_lost_server_move_to_another_server():
    a, b = ServerProcess(workers=1).start(), ServerProcess(workers=1).start()
    runtime = http(a.url, b.url, backoff_s=0.05, retries=3)
    on_a = []

    def lose_a(sessions):
        on_a.extend(s for s in sessions if s.server == a.url)
        a.kill()

    try:
        results, expected = run_halves(runtime, 30, lose_a)
    finally:
        a.stop()
        b.stop()
    assert results == expected
    assert on_a and all(s.server == b.url for s in on_a)  # session affinity moved with the rebuild
    assert runtime.stats["failovers"] >= len(on_a)


def test_requests_are_retried_with_backoff_while_a_server_comes_up():
    proc = ServerProcess(workers=1)
    e = clean_episodes(1)[0]
    runtime = http(proc.url, backoff_s=0.5, retries=10)
    starter = threading.Timer(1.0, proc.start)

    async def main():
        async with runtime:
            starter.start()
            async with await runtime.open((e.spec, e.options)) as session:
                return await drive(session, e.calls)

    try:
        results = asyncio.run(main())
    finally:
        starter.join()
        proc.stop()
    assert results == e.expected and runtime.stats["retries"] >= 1


def test_a_token_server_needs_the_token_and_a_dead_fleet_is_a_clear_error():
    e = clean_episodes(1)[0]

    async def play(runtime):
        async with runtime:
            async with await runtime.open((e.spec, e.options)) as session:
                return await drive(session, e.calls)

    with ServerProcess("--token", "t0ken", workers=1) as proc:
        assert asyncio.run(play(http(proc.url, token="t0ken"))) == e.expected
        with pytest.raises(EnvLoadError, match="401"):
            asyncio.run(play(http(proc.url)))
    with pytest.raises(EnvLoadError, match="did not answer after 2 tries"):
        asyncio.run(play(http(proc.url, retries=2, backoff_s=0.01)))


def test_trainer_settings_choose_the_remote_runtimes_with_their_options():
    from codegym_adapters.runtime.ray_runtime import RayRuntime
    from openrlhf_plugin.settings import AgentSettings
    from verl_plugin.settings import settings_from_mapping

    env = {"CODEGYM_RUNTIME": "http", "CODEGYM_STEP_TIMEOUT": "4",
           "CODEGYM_RUNTIME_OPTIONS": '{"urls": ["http://10.0.0.5:8000", "http://10.0.0.6:8000"], "token": "t"}'}
    agent = AgentSettings.from_environ(env)
    runtime = make_runtime(agent.runtime, catalog(), **dict(agent.runtime_options))
    assert isinstance(runtime, HttpRuntime) and runtime.urls == ["http://10.0.0.5:8000", "http://10.0.0.6:8000"]
    assert runtime.step_timeout == 4.0 and runtime.token == "t"
    settings = settings_from_mapping({"runtime": "ray", "workers": 3, "runtime_options": {
        "actors": 8, "num_cpus": 0, "resources": {"codegym_env": 1}}})
    fleet = settings.make_runtime()
    assert isinstance(fleet, RayRuntime) and fleet.actors == 8
    assert fleet._placement[:2] == (0, {"codegym_env": 1}) and fleet._sandbox_options["workers"] == 3
    with pytest.raises(ValueError, match="at least one server url"):
        make_runtime("http", catalog(), urls=[])
