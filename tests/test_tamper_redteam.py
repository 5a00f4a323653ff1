"""Red-team tests of the worker tripwire (runtime/tamper.py, wired in runtime/worker.py): honest env
code that must not trip it, and tampering it should catch. Each runs the real sandbox runtime beside
the honest episodes of the integrity suite (:func:`test_integrity_support.run_attack`).

Every finding of the red team is a test here. The ones still marked ``xfail(strict=True)`` are the
documented limits of an in-process detector (runtime/tamper.py's docstring): a targeted attacker can
still reach its own source's sessions. They assert what should happen, so they fail; strict, so the
mark must go if one is ever fixed.
"""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from test_integrity_support import catalog, pause, run_attack, step

from codegym_adapters.errors import CodeGymError, EnvLoadError
from codegym_adapters.runtime.base import StepResult
from codegym_adapters.runtime.sandbox import SandboxRuntime

pytestmark = pytest.mark.timeout(240)
ROUND = [step("Attack"), step("Observe"), step("Done", answer=8)]  # 8 is wrong: the value is 7
RIGHT = [step("Observe"), step("Done", answer=7)]
TAMPERED = "env code tampered with its worker process: "


def rewarded(run) -> list[str]:
    return [what for what, r, _ in run.steps if isinstance(r, StepResult) and r.reward > 0]


# -- A. honest env code must not trip the tripwire -----------------------------------------------------
@pytest.mark.parametrize("what", ["all", "imports", "caches", "noise", "threads", "errors", "raise", "exit"])
def test_ordinary_env_code_trips_nothing(what):
    run = run_attack("KitchenSinkEnv", [step("Attack", what=what), *RIGHT], sessions=3)
    assert run.quarantined == {} and run.failures == {}
    assert [r.reward for what_, r, _ in run.steps if what_ == "Done"] == [1.0, 1.0, 1.0]
    assert all(not r.fatal for r in run.results)


def test_oracle_attributes_and_replay_of_an_honest_env_trip_nothing():
    """solve() in a worker, attribute reads between calls, several sessions of one source on one
    worker, and the sessions rebuilt (replayed) on a fresh worker after their worker is killed."""
    async def main():
        async with SandboxRuntime(catalog(), step_timeout=5.0) as runtime:
            trace = await runtime.oracle("KitchenSinkEnv")
            sessions = [await runtime.open("KitchenSinkEnv") for _ in range(3)]
            seen = []
            for s in sessions:
                seen.append((await s.step(step("Attack", what="all"))).error)
                seen.append(await s.attribute("get_ref_answer"))
                seen.append(await s.attribute("finished"))
                seen.append(await s.attribute("table"))
            for pid in runtime.worker_pids():
                os.kill(pid, signal.SIGKILL)
            for s in sessions:
                seen.append((await s.step(step("Observe"))).observation)
                seen.append((await s.step(step("Done", answer=7))).reward)
                await s.close()
            return trace, seen, runtime.quarantined(), runtime.counters()

    trace, seen, quarantined, counters = asyncio.run(main())
    assert trace.error is None and trace.reward == 1.0
    assert quarantined == {} and counters.get("env_failures", 0) == 0 and counters.get("tampering", 0) == 0
    assert seen.count("7") == 3 and seen.count(1.0) == 3


DATACLASS_ENV = """
from dataclasses import dataclass, field


@dataclass
class Move:
    name: str
    tags: list = field(default_factory=list)


class MoveEnv:
    pass
"""


def test_an_env_with_a_dataclass_loads():
    from codegym_adapters.catalog import load_env_module

    module = load_env_module(DATACLASS_ENV, "MoveEnv", "MoveEnv")
    assert module.Move("a").tags == []


# -- A'. honest env code the tripwire quarantines today (false positives) -------------------------------
def test_teaching_json_numpy_is_not_tampering():
    run = run_attack("NumpyJsonEnv", [step("Attack"), *RIGHT])
    assert run.quarantined == {}
    assert run.results[1].observation == '{"grid": [0, 1, 2], "best": 7}' and run.results[-1].reward == 1.0


def test_a_time_limit_is_not_tampering():
    run = run_attack("ClockEnv", [step("Observe"), pause(0.6), step("Observe")], options={"time_limit": 0.3})
    assert run.quarantined == {}
    assert run.results[-1].finished and not run.results[-1].fatal


def test_state_shared_by_sessions_of_one_env_is_not_called_tampering():
    run = run_attack("SharedMovesEnv", [step("Observe"), step("Observe"), step("Observe")], options={"max_moves": 3},
                     sessions=2)
    reason = next(iter(run.quarantined.values()), "")
    assert not reason.startswith(TAMPERED), reason


def test_a_worker_started_under_a_tracer_is_not_tampering(tmp_path, monkeypatch):
    """FP-4 (infrastructure): a worker whose Python starts with a trace function (a debugger that
    follows subprocesses, e.g. debugpy's subProcess, or coverage's subprocess start-up through a
    sitecustomize / .pth) reports tampering on every request: the check wants no tracer at all rather
    than the tracer it found before env code ran. Here a sitecustomize on PYTHONPATH stands in for it."""
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.settrace(lambda *a: None)\n")
    os.chmod(tmp_path, 0o755)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))

    async def main():
        async with SandboxRuntime(catalog(), step_timeout=5.0) as runtime:
            try:
                async with await runtime.open("MonthDaysEnv") as session:
                    result = await session.step(step("Observe"))
            except EnvLoadError as exc:  # today: quarantined on its load, before any call
                result = StepResult(str(exc), fatal=True)
            return result, runtime.quarantined()

    result, quarantined = asyncio.run(main())
    assert quarantined == {} and not result.fatal, quarantined


# -- B. tampering the tripwire misses (or that fails without a quarantine) ------------------------------
QUIET = ["encoder_instance", "kwdefaults", "worker_global", "check_hook"]  # found and fixed
LIMITS = {
    "tripwire_off": "the Tripwire's own state is reachable (frame walk) and can be switched off",
    "deferred_sibling": "a sibling env's own state (not its status) can be set so its NEXT call rewards",
    "alarm_forge": "a signal handler (an interval timer) edits the reply dict in the worker's frame after "
                   "the env code ran: nothing is replaced, so nothing is seen, and every later reply is forged",
}


@pytest.mark.parametrize("kind", QUIET + [pytest.param(k, marks=pytest.mark.xfail(
    strict=True, reason=f"documented limit (same source only): {why}")) for k, why in LIMITS.items()])
def test_quiet_tampering_is_caught(kind):
    run = run_attack("QuietTamperEnv", [step("Attack", kind=kind), step("Observe"), step("Done", answer=8)],
                     sessions=2)
    # what should happen: the tampering is caught, and no call is rewarded but (at most) the Attack that
    # rewards its own session (an env's verdict on itself); today: no quarantine, and Done(8) or a
    # sibling's Observe is reported with reward 1.0
    assert run.quarantined.get(run.spec.source_hash, "").startswith(TAMPERED), rewarded(run)
    assert rewarded(run) in ([], ["Attack"])


LOUD = {  # found and fixed
    "huge_message": "a tampering report over the message limit arrived as MessageTooLarge: no quarantine",
    "base_exception": "a BaseException raised inside the check killed the worker with no report",
    "close_del": "a tampering found after a close was dropped by session.close(): no quarantine",
}


@pytest.mark.parametrize("kind", list(LOUD))
def test_caught_tampering_always_quarantines(kind):
    run = run_attack("QuietTamperEnv", [step("Attack", kind=kind), step("Observe"), step("Done", answer=8)])
    assert run.quarantined.get(run.spec.source_hash, "").startswith(TAMPERED), run.quarantined


def test_an_attribute_read_does_not_launder_a_siblings_tampering():
    """Found and fixed: an attribute read recorded a session's status without comparing it first, so
    reading any attribute of a sibling-tampered session laundered the tampered reward."""
    async def main():
        async with SandboxRuntime(catalog(), step_timeout=5.0) as runtime:
            a, b = await runtime.open("FrameWalkEnv"), await runtime.open("FrameWalkEnv")
            await a.step(step("Attack"))  # rewards every env of its worker, b's included
            with pytest.raises(CodeGymError, match="not deterministic.*changed between its own calls"):
                await b.attribute("value")  # e.g. the HTTP server's get_attribute, or rounds.py's step_count
            result = await b.step(step("Observe"))
            return result, runtime.counters()

    result, counters = asyncio.run(main())
    assert (result.reward, result.fatal, result.error) == (0.0, True, "nondeterministic")
    assert counters["env_failures"] == 1


def test_a_check_that_never_ends_ends_at_the_deadline():
    """Held: a lying sys.modules entry that spins inside the check breaks its worker's deadline; the
    call returns in time, nobody else is blamed (run_attack asserts both)."""
    run = run_attack("QuietTamperEnv", [step("Attack", kind="check_hang"), step("Observe")])
    assert run.ended_badly()


# -- the attacker is the policy: an honest-looking env evals its expressions (builtins removed) ----------
_JSON = ("[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'catch_warnings'][0]"
         ".__init__.__globals__['sys'].modules['json']")
NAIVE_ESCAPE = "(lambda J: J.__setattr__('dumps', (lambda o, r=J.dumps, **k: r(o, **k))))(" + _JSON + ")"
QUIET_ESCAPE = ("(lambda E: E.__setattr__('encode', (lambda o, r=E.encode: r(o).replace("
                "'\"finished\": true, \"reward\": 0.0', '\"finished\": true, \"reward\": 1.0'))))("
                + _JSON + "._default_encoder)")


def _policy_escape(expression: str):
    """Session a (one sample) sends ``expression``; then session b (another sample of the same prompt,
    same worker) submits a wrong answer. Returns b's result and the quarantines."""
    async def main():
        async with SandboxRuntime(catalog(), step_timeout=5.0) as runtime:
            a, b = await runtime.open("EvalCalcEnv"), await runtime.open("EvalCalcEnv")
            await a.step(step("Calculate", expression=expression))
            result = await b.step(step("Done", answer=85))  # 12 * 7 = 84
            return result, runtime.quarantined()

    return asyncio.run(main())


def test_a_policy_escaping_an_eval_naively_is_caught():
    """Held: the tripwire's point. Replacing json.dumps through the escape quarantines the env."""
    result, quarantined = _policy_escape(NAIVE_ESCAPE)
    assert result.reward == 0.0 and result.fatal
    assert next(iter(quarantined.values())).startswith(TAMPERED + "json.dumps was replaced")


def test_a_policy_escaping_an_eval_quietly_does_not_reward_another_sample():
    result, quarantined = _policy_escape(QUIET_ESCAPE)
    assert result.reward == 0.0 or quarantined, (result, quarantined)
