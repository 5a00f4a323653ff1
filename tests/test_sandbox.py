"""The sandbox runtime: the session contract, protections, limits on calls, quarantine, shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_sandbox_support import (
    REPO,
    all_worker_pids,
    catalog,
    clean_episodes,
    drive,
    open_fds,
    own_sandbox_dirs,
    wait_gone,
)

from codegym_adapters.calls import ToolCall
from codegym_adapters.errors import CodeGymError, EnvLoadError, EnvQuarantined, RuntimeClosed
from codegym_adapters.runtime import make_runtime
from codegym_adapters.runtime.base import CLOSED, LIMIT, QUARANTINED, TIMEOUT
from codegym_adapters.runtime.inprocess import InProcessRuntime
from codegym_adapters.runtime.limits import SandboxLimits
from codegym_adapters.runtime.sandbox import SandboxRuntime

pytestmark = pytest.mark.timeout(120)
GOOD = "CarelessCounterEnv"


def run(coro):
    return asyncio.run(coro)


def sandbox(**options) -> SandboxRuntime:
    options.setdefault("step_timeout", 2.0)
    return SandboxRuntime(catalog(), workers=options.pop("workers", 2), **options)


# -- the contract ---------------------------------------------------------------------------------
def test_sessions_give_the_same_results_as_the_inprocess_runtime():
    episodes = clean_episodes(12)

    async def through(runtime):
        async with runtime:
            out = []
            for e in episodes:
                async with await runtime.open((e.spec, e.options)) as session:
                    out.append((session.info.reset_observation, [a.name for a in session.info.actions],
                                session.info.task, await drive(session, e.calls),
                                await session.attribute("get_ref_answer")))
            return out

    assert run(through(sandbox())) == run(through(InProcessRuntime(catalog())))
    assert [o[3] for o in run(through(sandbox()))] == [e.expected for e in episodes]


def test_oracle_module_info_and_generate_config_run_in_workers():
    async def main():
        async with sandbox() as runtime:
            trace = await runtime.oracle(f"{GOOD}@{{\"target\": 3}}")
            info = await runtime.module_info(f"{GOOD}@{{}}")
            spinning = await runtime.oracle("LoopActionEnv@{}")
            return trace, info, spinning, runtime

    trace, info, spinning, runtime = run(main())
    assert trace.ok and [c.name for c in trace.calls] == ["Observe", "Add", "Add", "Add", "CountTo", "Done"]
    assert info["configs"] == [{"target": 3}, {"target": 6}, {"target": 9}] and info["task"].startswith("Add")
    assert spinning.ok  # its solve() never calls Attack
    bundled = [s for s in catalog() if s.code_id.startswith("Bundled_")]
    if bundled:
        async def generate():
            async with sandbox() as rt:
                return await rt.generate_config((bundled[0], {}), 3, 5), await rt.module_info((bundled[0], {}))

        config, info = run(generate())
        assert isinstance(config, dict) and info["has_generator"]


def test_make_runtime_builds_a_sandbox_with_limits():
    runtime = make_runtime("sandbox", catalog(), step_timeout=3.0, memory_mb=512)
    assert isinstance(runtime, SandboxRuntime)
    assert runtime.limits.step_timeout == 3.0 and runtime.limits.memory_mb == 512
    with pytest.raises(ValueError, match="step_timeout"):
        SandboxLimits(step_timeout=0)


def test_protections_are_reported_and_logged(caplog):
    caplog.set_level("INFO", logger="codegym_adapters.runtime.sandbox")

    async def main():
        async with sandbox() as runtime:
            await runtime.start()
            return runtime.protections

    protections = run(main())
    assert protections["audit_hook"] is True
    assert protections["RLIMIT_AS"] == 1024 * 2**20 and protections["RLIMIT_NPROC"] in (0, "set, but ignored by the "
                                                                                        "kernel for root")
    for key in ("network", "private_tmp", "user", "RLIMIT_NOFILE", "RLIMIT_FSIZE", "step_deadline_s"):
        assert key in protections
    assert any("protections" in r.getMessage() for r in caplog.records)
    if os.geteuid() == 0:  # root here: namespaces and the drop to nobody must have worked
        assert protections["network"].startswith("private network namespace")
        assert protections["user"].startswith("nobody")
        assert protections["RLIMIT_NPROC"] == 0


def test_env_source_is_compiled_once_per_worker():
    async def main():
        async with sandbox(workers=2) as runtime:
            sessions = [await runtime.open(f"{GOOD}@{{\"target\": {i}}}") for i in range(20)]
            for s in sessions:
                await s.step(ToolCall("Observe", {}))
            return runtime.counters()["sources_sent"]

    assert run(main()) == 2


def test_steps_of_one_session_stay_in_order_when_issued_concurrently():
    async def main():
        async with sandbox() as runtime:
            session = await runtime.open(f"{GOOD}@{{}}")
            results = await asyncio.gather(*(session.step(ToolCall("Add", {"x": 1})) for _ in range(50)))
            return [r.observation for r in results]

    assert run(main()) == [str(i) for i in range(1, 51)]


def test_the_event_loop_keeps_running_during_a_hanging_step():
    async def main():
        async with sandbox(step_timeout=1.0) as runtime:
            session = await runtime.open("LoopActionEnv@{}")
            ticks = 0

            async def ticker():
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            task = asyncio.get_running_loop().create_task(ticker())
            result = await session.step(ToolCall("Attack", {}))
            task.cancel()
            return result, ticks

    result, ticks = run(main())
    assert result.error == TIMEOUT and ticks >= 30


# -- adversarial calls against a good env ----------------------------------------------------------
NESTED = 100_000


def deep(n: int):
    value: list = []
    for _ in range(n):
        value = [value]
    return value


ADVERSARIAL_CALLS = [
    ToolCall("NoSuchAction", {}),
    ToolCall("", {}),
    ToolCall('Observe"}, {"name": "Done', {}),
    ToolCall("Add", {}),  # missing parameter
    ToolCall("Add", {"y": 1}),  # unknown parameter
    ToolCall("Add", {"x": "1"}),  # mistyped
    ToolCall("Add", {"x": None}),
    ToolCall("Add", {"x": float("inf")}),  # accepted by the env: total = inf
    ToolCall("Add", {"x": float("-inf")}),  # total = nan
    ToolCall("Add", {"x": 10**5000}),  # more digits than JSON encoding allows
    ToolCall("Add", {"x": "a" * 10_000_000}),  # a 10 MB string
    ToolCall("Echo", {"text": "b" * 10_000_000}),
    ToolCall("Add", {"x": deep(NESTED)}),  # JSON nested 100,000 deep
    ToolCall("Add", [1, 2]),  # parameters that are not an object
    ToolCall("Add", "x=1"),
    ToolCall("Fill", {"n": 10**9}),  # 8 GB list: over the memory cap
    ToolCall("Fill", {"n": 10**12}),
    ToolCall("CountTo", {"n": 10**9}),  # loops for minutes
    ToolCall("Observe", {"extra": {"a": [1, 2, {"b": None}]}}),
    ToolCall("Echo", {"text": "lone surrogate \ud800 and \u00e9\u4e2d"}),
]


def test_adversarial_calls_get_error_observations_and_the_session_goes_on():
    async def main():
        async with sandbox(step_timeout=1.0) as runtime:
            session = await runtime.open(f"{GOOD}@{{\"target\": 2}}")
            results = []
            for call in ADVERSARIAL_CALLS:
                start = time.monotonic()
                result = await session.step(call)
                results.append((call, result, time.monotonic() - start))
            state = await session.step(ToolCall("Observe", {}))
            done = await session.step(ToolCall("Done", {"answer": 2}))
            return results, state, done

    results, state, done = run(main())
    for i, (call, result, elapsed) in enumerate(results):
        label = f"call #{i} ({call.name})"
        assert elapsed <= 1.0 + 2.0, label
        assert not result.fatal, label
        assert len(result.observation) <= 20_000, label
        if call.name == "Echo" and len(call.arguments["text"]) < 100:
            # unicode survives both ways; a lone surrogate (not encodable as UTF-8) becomes U+FFFD
            assert result.observation == call.arguments["text"].replace("\ud800", "\ufffd")
        elif call.name == "Echo":
            assert "[observation truncated" in result.observation
        elif call.name == "Add" and isinstance(call.arguments, dict) and isinstance(call.arguments.get("x"), float):
            assert result.observation in ("inf", "nan")
        else:
            assert result.observation.startswith("Error"), (label, result.observation[:200])
    kinds = {(r[0].name, i): r[1].error for i, r in enumerate(results)}
    assert kinds[("CountTo", 17)] == TIMEOUT
    assert kinds[("Add", 9)] == kinds[("Add", 12)] == LIMIT  # 5000 digits, 100,000 deep: cannot even be sent
    # inf then nan were added: the total is nan, and the session still works to the end
    assert json.loads(state.observation)["total"] != json.loads(state.observation)["total"]
    assert done.finished and done.reward == 1.0


# -- failures and quarantine -----------------------------------------------------------------------
def test_an_env_that_keeps_failing_is_quarantined():
    async def main():
        async with sandbox(step_timeout=0.5, quarantine_after=2) as runtime:
            bad = await runtime.open("LoopActionEnv@{}")
            good = await runtime.open(f"{GOOD}@{{}}")
            first = await bad.step(ToolCall("Attack", {}))
            second = await bad.step(ToolCall("Attack", {}))
            third = await bad.step(ToolCall("Observe", {}))
            with pytest.raises(EnvQuarantined, match="quarantined"):
                await runtime.open("LoopActionEnv@{}")
            with pytest.raises(EnvQuarantined):
                await runtime.oracle("LoopActionEnv@{}")
            fine = await good.step(ToolCall("Add", {"x": 5}))
            return first, second, third, fine, runtime.quarantined()

    first, second, third, fine, quarantined = run(main())
    assert first.error == second.error == TIMEOUT
    assert third.error == QUARANTINED and third.fatal and "quarantined" in third.observation
    assert fine.observation == "5"
    assert len(quarantined) == 1


def test_a_syntax_error_is_a_load_error_naming_the_env(tmp_path: Path):
    (tmp_path / "Bad_1__BrokenEnv.py").write_text("class BrokenEnv(:\n    pass\n")
    from codegym_adapters.catalog import Catalog

    async def main():
        async with SandboxRuntime(Catalog.from_paths([tmp_path]), workers=1) as runtime:
            with pytest.raises(EnvLoadError, match="BrokenEnv.*syntax error"):
                await runtime.open("BrokenEnv@{}")
            with pytest.raises(EnvLoadError, match="syntax error"):  # remembered, not recompiled
                await runtime.open("BrokenEnv@{}")

    run(main())


def test_a_step_cancelled_by_its_caller_is_still_committed():
    async def main():
        async with sandbox(step_timeout=2.0) as runtime:
            session = await runtime.open(f"{GOOD}@{{}}")
            task = asyncio.get_running_loop().create_task(session.step(ToolCall("CountTo", {"n": 3_000_000})))
            await asyncio.sleep(0.05)
            task.cancel()
            await session.step(ToolCall("Add", {"x": 2}))
            for pid in runtime.worker_pids():  # force a replay: it must include the cancelled call
                os.kill(pid, signal.SIGKILL)
            return await session.step(ToolCall("Add", {"x": 3})), runtime.counters()

    result, counters = run(main())
    assert result.observation == "5" and result.error is None
    assert counters["replays"] >= 1


# -- shutdown --------------------------------------------------------------------------------------
def test_close_leaves_no_process_folder_or_descriptor():
    fds = open_fds()

    async def main():
        runtime = sandbox()
        session = await runtime.open(f"{GOOD}@{{}}")
        await session.step(ToolCall("Observe", {}))
        pids = set(runtime.worker_pids())
        assert pids and all(Path(f"/proc/{p}").exists() for p in pids)
        await runtime.close()
        await runtime.close()  # idempotent
        late = await session.step(ToolCall("Observe", {}))
        with pytest.raises(RuntimeClosed):
            await runtime.open(f"{GOOD}@{{}}")
        return runtime, late

    runtime, late = run(main())
    assert late.error == CLOSED and late.fatal
    assert wait_gone(all_worker_pids(runtime)) == []
    assert own_sandbox_dirs() == []
    assert open_fds() <= fds


PARENT = """
import asyncio, json, os, sys, time
sys.path.insert(0, {tests!r})
from test_sandbox_support import catalog
from codegym_adapters.runtime.sandbox import SandboxRuntime

async def main():
    runtime = SandboxRuntime(catalog(), workers=2)
    session = await runtime.open("CarelessCounterEnv@{{}}")
    await session.step(__import__("codegym_adapters.calls").calls.ToolCall("Observe", {{}}))
    print(json.dumps({{"pids": runtime.worker_pids(), "root": runtime._pool.root}}), flush=True)
    if {interrupt}:
        raise KeyboardInterrupt
    time.sleep(60)

asyncio.run(main())
"""


@pytest.mark.parametrize("how", ["sigkill", "keyboard_interrupt"])
def test_workers_die_with_their_parent(how):
    script = PARENT.format(tests=str(REPO / "tests"), interrupt=how == "keyboard_interrupt")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              cwd=REPO, text=True)
    try:
        line = parent.stdout.readline()
        state = json.loads(line)
        if how == "sigkill":
            parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
    finally:
        parent.kill()
    assert wait_gone(set(state["pids"])) == []
    if how == "keyboard_interrupt":  # atexit cleaned up
        assert not Path(state["root"]).exists()
    else:  # a SIGKILLed parent cannot clean up: the next runtime sweeps its folder
        async def start_another():
            async with sandbox(workers=1) as runtime:
                await runtime.start()

        run(start_another())
        assert not Path(state["root"]).exists()


def test_a_runtime_restarts_its_workers_when_its_event_loop_is_gone():
    runtime = sandbox(workers=1)

    async def use():
        session = await runtime.open(f"{GOOD}@{{}}")
        return (await session.step(ToolCall("Add", {"x": 4}))).observation, set(runtime.worker_pids())

    first, first_pids = run(use())  # the loop closes with the runtime still open
    second, second_pids = run(use())
    run(runtime.close())
    assert first == second == "4"
    assert first_pids.isdisjoint(second_pids)
    assert wait_gone(all_worker_pids(runtime) | first_pids) == []


@pytest.mark.parametrize("python,message", [("/nonexistent/python3", "cannot start a sandbox worker"),
                                            ("/bin/false", "died while starting")])
def test_workers_that_cannot_start_give_a_clear_error(python, message):
    async def main():
        runtime = SandboxRuntime(catalog(), workers=1, python=python)
        with pytest.raises(CodeGymError, match=message):
            await runtime.open(f"{GOOD}@{{}}")
        with pytest.raises(CodeGymError, match=message):  # tried again, not stuck
            await runtime.open(f"{GOOD}@{{}}")
        await runtime.close()

    run(main())
    assert own_sandbox_dirs() == []
