"""``codegym serve`` on loopback, driven by a client written from the upstream protocol description:
oracle episodes reach reward 1, wrong answers 0, every endpoint answers with the protocol's fields,
limits and auth hold, idle sessions expire, and a killed sandbox worker loses no session."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys

import aiohttp
import httpx
import pytest
from serve_support import REPO, ServerProcess, UpstreamClient, kill_pid
from test_sandbox_support import clean_episodes

from codegym_adapters.policies import perturb

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def server():
    with ServerProcess(workers=2, step_timeout=2.0) as proc:
        yield proc


def env_str(episode) -> str:
    return f"{episode.spec.class_name}@{episode.options!r}"


def calls_of(episode) -> list[tuple[str, dict]]:
    return [(c.name, c.arguments) for c in episode.calls]


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.M)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


def session(connections: int = 256) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections),
                                 timeout=aiohttp.ClientTimeout(total=300))


async def many(url: str, jobs, connections: int = 256):
    async with session(connections) as http:
        return await asyncio.gather(*(job(UpstreamClient(http, url), i) for i, job in enumerate(jobs)))


def test_upstream_client_runs_oracle_episodes_to_reward_1_and_wrong_answers_to_0(server):
    episodes = clean_episodes(24)

    def oracle(e):
        return lambda c, i: c.episode(f"oracle-{i}", env_str(e), e.spec.name, calls_of(e))

    def wrong(e):
        *head, (name, params) = calls_of(e)
        bad = {k: perturb(v) for k, v in params.items()}
        return lambda c, i: c.episode(f"wrong-{i}", env_str(e), e.spec.name, [*head, (name, bad)])

    results = asyncio.run(many(server.url, [oracle(e) for e in episodes] + [wrong(e) for e in episodes]))
    for e, (observations, done, reward) in zip(episodes, results[: len(episodes)], strict=True):
        assert observations[1:] == [x[0] for x in e.expected], e.spec.name
        assert (done, reward) == (True, 1)
    for (observations, done, reward), e in zip(results[len(episodes) :], episodes, strict=True):
        assert observations[1:-1] == [x[0] for x in e.expected[:-1]]
        assert (done, reward) == (True, 0), e.spec.name
    assert server.health()["sessions"] == 0  # every session was stopped


def test_every_endpoint_answers_with_the_protocol_fields(server):
    e = clean_episodes(1)[0]

    async def main():
        async with session() as http:
            c = UpstreamClient(http, server.url)
            await c.lease()
            reset_observation = await c.start("fields", env_str(e), e.spec.name)
            assert (await c.get("is_done", "fields")) == {"done": False}
            assert (await c.get("reward", "fields")) == {"reward": 0.0}
            assert (await c.get("is_success", "fields")) == {"success": False}
            ref = (await c.get("get_attribute", "fields", name="get_ref_answer"))["attribute"]
            for name, params in calls_of(e):
                status, _ = await c.step("fields", name, params)
                assert status is True
            assert (await c.get("is_success", "fields")) == {"success": True}
            assert (await c.post("reset", {"session_id": "fields"})) == {"observation": reset_observation}
            assert (await c.get("is_done", "fields")) == {"done": False}
            assert (await c.post("stop", {"session_id": "fields"})) == {"stopped": True}
            released = await c._call("GET", f"{server.url}/release_instance", params={"uid": c.uid})
            return ref, released

    ref, released = asyncio.run(main())
    assert ref == json.loads(json.dumps(ref)) and released == {"uid": released["uid"], "released": True}


def test_bad_requests_get_clear_errors_and_a_deadline_breaker_only_its_own_step(server):
    async def main():
        async with httpx.AsyncClient(timeout=30.0) as http, session() as aio:
            c = UpstreamClient(aio, server.url)
            await c.lease()
            unknown = await http.post(f"{c.base}/step", json={"session_id": "nobody", "action": "{}"})
            no_env = await http.post(f"{c.base}/start", json={"session_id": "x", "env_str": "NoSuchEnv@{}"})
            not_json = await http.post(f"{c.base}/start", content=b"{oops", headers={"content-type": "application/json"})
            too_big = await http.post(f"{c.base}/start", json={"session_id": "x", "pad": "x" * (2 << 20)})
            await c.start("spin", "LoopActionEnv@{}", "Adv_01__LoopActionEnv")
            bad_action = (await http.post(f"{c.base}/step", json={"session_id": "spin", "action": "not json"})).json()
            spin = (await http.post(f"{c.base}/step", json={"session_id": "spin", "timeout": 10,
                                                            "action": json.dumps({"name": "Attack", "parameters": {}})})).json()
            after = await c.step("spin", "Observe", {})
            await c.stop("spin")
            return unknown, no_env, not_json, too_big, bad_action, spin, after

    unknown, no_env, not_json, too_big, bad_action, spin, after = asyncio.run(main())
    assert unknown.status_code == 404 and "unknown session 'nobody'" in unknown.json()["error"]
    assert no_env.status_code == 400 and "NoSuchEnv" in no_env.json()["error"]
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["error"]
    assert too_big.status_code == 413
    assert bad_action["status"] is False and bad_action["observation"].startswith("Error: the action is not valid JSON")
    assert spin["status"] is False and spin["error"] == "timeout" and "deadline" in spin["observation"]
    assert after == (True, "7")  # the env lives on (rebuilt by replay after its worker was killed)
    text = httpx.get(f"{server.url}/metrics").text
    assert metric(text, "codegym_step_timeouts_total") >= 1
    assert metric(text, 'codegym_worker_restarts_total{reason="timeout"}') >= 1
    assert "codegym_step_latency_seconds_bucket" in text and "codegym_live_sessions" in text
    assert "codegym_quarantined_envs" in text and "codegym_steps_per_second" in text


def test_killing_a_worker_under_the_server_loses_no_session(server):
    episodes = clean_episodes(60)
    total = sum(len(e.calls) for e in episodes)
    done = 0

    async def job(c: UpstreamClient, i: int):
        nonlocal done
        e = episodes[i]
        await c.lease()
        observations = [await c.start(f"kill-{i}", env_str(e), e.spec.name)]
        for name, params in calls_of(e):
            observations.append((await c.step(f"kill-{i}", name, params))[1])
            done += 1
            if done == total // 2:
                # every worker: with one worker per env source, any single one may host no live session now
                for pid in (await c._call("GET", f"{server.url}/health"))["worker_pids"]:
                    kill_pid(pid)
        reward = (await c.get("reward", f"kill-{i}"))["reward"]
        await c.stop(f"kill-{i}")
        return observations[1:], reward

    before = metric(httpx.get(f"{server.url}/metrics").text, 'codegym_session_replays_total')
    results = asyncio.run(many(server.url, [job] * len(episodes)))
    assert [r[0] for r in results] == [[x[0] for x in e.expected] for e in episodes]
    assert all(r[1] == 1.0 for r in results)
    text = httpx.get(f"{server.url}/metrics").text
    assert metric(text, 'codegym_worker_restarts_total{reason="crashed"}') >= 1
    assert metric(text, "codegym_session_replays_total") > before


def test_load_1000_concurrent_sessions_complete_without_error(server):
    """1,000 sessions live at once, each running its first two calls; stops by itself."""
    episodes = clean_episodes(1000)

    async def main():
        async with session(256) as http:
            clients = [UpstreamClient(http, server.url) for _ in episodes]

            async def begin(c: UpstreamClient, i: int) -> None:
                await c.lease()
                await c.start(f"load-{i}", env_str(episodes[i]), episodes[i].spec.name)

            async def play(c: UpstreamClient, i: int) -> list[str]:
                out = [(await c.step(f"load-{i}", name, params))[1] for name, params in calls_of(episodes[i])[:2]]
                await c.stop(f"load-{i}")
                await c.release()
                return out

            await asyncio.gather(*(begin(c, i) for i, c in enumerate(clients)))
            live = (await clients[0]._call("GET", f"{server.url}/health"))["sessions"]
            return live, await asyncio.gather(*(play(c, i) for i, c in enumerate(clients)))

    live, results = asyncio.run(main())
    assert live == 1000
    assert results == [[x[0] for x in e.expected[:2]] for e in episodes]
    assert server.health()["sessions"] == 0
    text = httpx.get(f"{server.url}/metrics").text
    assert metric(text, 'codegym_requests_total{endpoint="start",status="200"}') >= 1000
    assert 'status="5' not in text  # no server errors at all


def test_token_is_required_when_set_and_idle_sessions_expire():
    e = clean_episodes(1)[0]
    with ServerProcess("--token", "s3cret", "--idle-timeout", "0.5", workers=1) as proc:
        anonymous = httpx.get(f"{proc.url}/get_instance")
        wrong = httpx.get(f"{proc.url}/get_instance", headers={"Authorization": "Bearer nope"})
        metrics = httpx.get(f"{proc.url}/metrics")
        auth = {"Authorization": "Bearer s3cret"}
        ok = httpx.get(f"{proc.url}/get_instance", headers=auth)
        started = httpx.post(f"{proc.url}/start", headers=auth, timeout=30,
                             json={"session_id": "idle", "env_str": env_str(e), "env_name": e.spec.name})
        asyncio.run(asyncio.sleep(1.5))
        gone = httpx.get(f"{proc.url}/is_done", params={"session_id": "idle"}, headers=auth)
        text = httpx.get(f"{proc.url}/metrics", headers=auth).text
        health = httpx.get(f"{proc.url}/health")
    assert anonymous.status_code == wrong.status_code == metrics.status_code == 401
    assert ok.status_code == 200 and started.status_code == 200 and health.status_code == 200
    assert gone.status_code == 404 and "expired" in gone.json()["error"]
    assert metric(text, "codegym_sessions_expired_total") == 1


def test_serve_refuses_a_non_loopback_address_without_a_token():
    out = subprocess.run([sys.executable, "-m", "codegym_adapters.cli", "serve", "--host", "0.0.0.0"],
                         capture_output=True, text=True, cwd=REPO, timeout=60,
                         env={k: v for k, v in os.environ.items() if k != "CODEGYM_SERVE_TOKEN"})
    assert out.returncode == 2 and "without a token" in out.stderr


def test_serve_on_a_taken_port_says_so_and_prints_no_url():
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "codegym_adapters.cli", "serve", "--port", str(port)],
                              capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 2 and done.stdout == ""
    assert f"cannot listen on 127.0.0.1:{port}: the port is in use" in done.stderr
