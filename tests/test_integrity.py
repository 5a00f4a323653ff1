"""Issue 10's acceptance suite: one attack env per class and variant, each run beside 20 honest
episodes of other envs (half answering wrongly) on one sandbox runtime.

For every attack (see :func:`test_integrity_support.run_attack`): every honest observation, reward
and done reason equals a clean in-process run; every attacking call returns within deadline + 2 s;
no honest env is blamed or quarantined; no process or folder survives. Each test then checks what
became of the attack itself: an error or a quarantine, or (for hostile values) the value made safe.
Tampering with shared modules reaches only the attacker's own process (one worker per env source),
so it shows up nowhere else; the kernel-level variants (ctypes, AF_UNIX, unshare, memfd, signals to
siblings through pidfd) are tested with the kernel layers.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from test_integrity_support import DEADLINE, Listener, catalog, outside_paths, pause, run_attack, step
from test_sandbox_support import outcome

from codegym_adapters.runtime.base import CRASHED, INVALID_REWARD, LIMIT, TIMEOUT, StepResult
from codegym_adapters.runtime.replies import REPLACEMENT
from codegym_adapters.runtime.sandbox import SandboxRuntime

pytestmark = pytest.mark.timeout(180)
ROUND = [step("Attack"), step("Observe"), step("Done", answer=8)]  # 8 is a wrong answer: the value is 7


# -- 1. cross-env tampering: only the attacker's own process is reached, and the worker notices -------
@pytest.mark.parametrize(("env", "sessions", "caught"), [
    ("JsonLoadsPatchEnv", 1, "json.loads was replaced"),
    ("HostPatchEnv", 1, "codegym_adapters.runtime.host.EnvHost._status was replaced"),
    ("SettraceEnv", 1, "a trace or profile function was installed"),
])
def test_tampering_with_the_worker_quarantines_the_attacker(env, sessions, caught):
    run = run_attack(env, ROUND, sessions=sessions)
    reason = run.quarantined.get(run.spec.source_hash, "")
    assert reason.startswith("env code tampered with its worker process: ") and caught in reason
    assert run.failures == {run.spec.source_hash: 1} and run.counters["tampering"] == 1
    ended = [r for _, r, _ in run.steps if not isinstance(r, StepResult) or r.fatal]
    assert ended and all(caught in str(r if not isinstance(r, StepResult) else r.observation) or
                         "quarantined" in str(r if not isinstance(r, StepResult) else r.observation) for r in ended)
    # every Done answers wrongly; an env may reward its own session on any call (FrameWalkEnv's Attack
    # does: that is its own verdict), but no reward reached a session through another one
    rewarded = [what for what, r, _ in run.steps if isinstance(r, StepResult) and r.reward > 0]
    assert rewarded in ([], ["Attack"])


def test_a_frame_walk_into_a_sibling_session_fails_that_session():
    run = run_attack("FrameWalkEnv", ROUND, sessions=2)  # each Attack rewards every env of its worker
    failed = [r for _, r, _ in run.steps if isinstance(r, StepResult) and r.fatal]
    assert failed and all(r.error == "nondeterministic" and "changed between its own calls" in r.observation
                          for r in failed)
    assert all(r.reward == 0.0 for r in failed)  # the reward put into the sibling never got out
    assert run.failures == {run.spec.source_hash: 1}  # counted toward its quarantine


def test_poisoning_a_module_in_place_reaches_no_other_env():
    # sys.modules["calendar"] = None at import: not looked for (tamper.py says why); it can only break
    # imports of its own source, and the honest MonthDaysEnv episodes (they import calendar) are clean
    run = run_attack("CalendarPoisonEnv", ROUND * 2)
    assert len(run.steps) == 7 and run.quarantined == {}


def test_a_heap_walk_is_refused_in_the_worker():
    run = run_attack("GcObjectsEnv", ROUND, sessions=2)
    attacks = [r for what, r, _ in run.steps if what == "Attack"]
    assert len(attacks) == 2 and all("no heap walk" in r.observation and "not allowed" in r.observation
                                     for r in attacks)
    assert [r.reward for what, r, _ in run.steps if what == "Done"] == [0.0, 0.0]


# -- 2. the channel: stolen requests, forged replies of every wrong shape -----------------------------
@pytest.mark.parametrize("shape", ["list_observation", "string_reward", "huge_reward", "nan_reward",
                                   "extra_key", "next_id", "absurd_rss"])
def test_a_forged_reply_kills_the_forger_and_the_call_still_returns(shape):
    run = run_attack("ChannelStealEnv", [step("Attack", shape=shape), step("Observe")])
    attack, after = run.results[1], run.results[2]
    assert attack.error == CRASHED and attack.observation.startswith("Error:")
    assert "channel" in attack.observation and "not applied" in attack.observation
    assert after.observation == "7"  # the session goes on, rebuilt on a fresh worker
    assert run.failures[run.spec.source_hash] == 1  # failed twice (on a fresh worker too): counted once
    assert run.counters["retries_on_fresh_worker"] >= 1


def test_a_forged_memory_report_is_a_limit_error_of_the_forger():
    run = run_attack("ChannelStealEnv", [step("Attack", shape="huge_rss"), step("Observe")])
    assert run.results[1].error == LIMIT
    assert run.results[2].observation == "7"


def test_reading_the_request_pipe_steals_nothing_of_other_envs():
    run = run_attack("ChannelStealEnv", [step("Attack", shape="steal"), step("Observe"), step("Done", answer=7)])
    assert run.results[-1].reward == 1.0 and run.results[-1].finished


# -- 3. blame shifting: what an env leaves behind stays in its own worker ------------------------------
def test_a_spinning_alarm_handler_breaks_only_the_attackers_calls():
    # the handler fires while the worker waits: the attacker's next call breaks its deadline, is
    # retried on a fresh worker (where the replay re-arms the timer, but the call is quicker) and
    # succeeds; nothing is counted against anyone, and no other env's worker is touched
    run = run_attack("AlarmSpinEnv", [step("Attack"), pause(0.4), step("Observe"), pause(0.4), step("Observe")])
    assert [r.observation for r in run.results[2:]] == ["7", "7"]
    assert run.counters["workers_lost_timeout"] >= 1 and run.counters["retries_on_fresh_worker"] >= 1


def test_a_timer_that_fires_during_every_replay_ends_the_attackers_session():
    run = run_attack("AlarmSpinEnv", [step("Attack", delay=0.001), pause(0.2), step("Observe"),
                                      step("Observe")])
    # The spin is always caught (the worker breaks its deadline and is replaced). Whether the retry on a
    # fresh worker also breaks depends on whether the re-armed 1 ms alarm fires before the retried call
    # is answered: a race on a loaded machine. Either way the call ends within its budget and the
    # attacker gets no clean ride: an error, or its spinning worker detected and replaced.
    assert run.counters["workers_lost_timeout"] >= 1
    assert run.ended_badly() or run.counters["retries_on_fresh_worker"] >= 1


def test_a_lazily_touched_mapping_breaks_only_the_attackers_memory_limit():
    run = run_attack("LazyMappingEnv", [step("Attack"), step("Attack"), step("Observe")], max_rss_mb=256,
                     step_timeout=5.0)
    assert run.results[1].observation == "mapped"
    # the touch breaks the memory limit; touching again on the fresh worker may run out of time first
    assert run.results[2].error in (LIMIT, TIMEOUT) and "not applied" in run.results[2].observation
    assert "memory" in run.results[2].observation or "deadline" in run.results[2].observation
    assert run.results[3].observation == "7"


def test_signalling_siblings_gets_no_honest_env_blamed():
    run = run_attack("SiblingSignalEnv", [step("Attack"), step("Observe"), step("Done", answer=7)])
    assert run.results[-1].reward == 1.0  # whatever it stopped, the attacker's own episode is intact


def test_a_stopped_worker_is_replaced_and_its_call_gives_the_clean_answer():
    """A SIGSTOP from outside (a sibling's pidfd_send_signal, an operator) makes an honest call
    break its deadline once; retried on a fresh worker it succeeds, and nobody is blamed."""
    from test_integrity_support import honest_episodes

    episode = honest_episodes()[0]

    async def main():
        async with SandboxRuntime(catalog(), step_timeout=DEADLINE) as runtime:
            session = await runtime.open((episode.spec, episode.options))
            results = [outcome(await session.step(episode.calls[0]))]
            for pid in runtime.worker_pids():
                os.kill(pid, signal.SIGSTOP)
            for call in episode.calls[1:]:
                results.append(outcome(await session.step(call)))
            return results, runtime.counters(), runtime.quarantined()

    results, counters, quarantined = asyncio.run(main())
    assert results == episode.expected
    assert counters.get("env_failures", 0) == 0 and quarantined == {}
    assert counters["workers_lost_timeout"] == 1 and counters["retries_on_fresh_worker"] == 1


# -- 4. the audit hook is not the boundary -----------------------------------------------------------
def test_disarming_the_audit_hook_writes_nothing_outside_and_connects_nowhere(tmp_path: Path):
    listener = Listener()
    try:
        for path in outside_paths(tmp_path):
            run = run_attack("AuditHookBypassEnv", [step("Attack", path=str(path), port=listener.port)])
            text = run.results[1].observation
            assert "connected" not in text and not path.exists(), text
            assert "replacing the __code__ of a function is not allowed" in text  # the swap itself is refused
    finally:
        listener.close()
    assert listener.accepted == 0


# -- 5. hostile return values -------------------------------------------------------------------------
def test_a_str_subclass_with_a_lying_len_is_capped():
    run = run_attack("LyingStrEnv", [step("Attack"), step("Observe")])
    text = run.results[1].observation
    assert type(text) is str and len(text) <= 20_000 and "[observation truncated" in text
    assert "of 5000000 characters" in text


def test_lone_surrogates_are_replaced_before_they_leave_the_runtime():
    run = run_attack("SurrogateEnv", [step("Attack")])
    for result in run.results:
        result.observation.encode("utf-8")  # would raise on a lone surrogate
    assert run.results[0].observation == f"reset {REPLACEMENT} text"
    assert run.results[1].observation == f"bad {REPLACEMENT} text {REPLACEMENT} end"


@pytest.mark.parametrize("bad", ["1e308", "nan", "inf", "two", "minus", "text"])
def test_a_reward_outside_the_range_ends_the_session_with_an_env_error(bad):
    run = run_attack("HugeRewardEnv", [step("Done", answer=7), step("Observe")], options={"bad_reward": bad})
    done, after = run.results[1], run.results[2]
    assert done.error == INVALID_REWARD and done.fatal and done.reward == 0.0
    assert "reward range [0, 1]" in done.observation or "not a number" in done.observation
    assert after.fatal and after.error == INVALID_REWARD


def test_the_inprocess_runtime_makes_values_safe_too():
    from codegym_adapters.runtime.inprocess import InProcessRuntime

    async def main():
        async with InProcessRuntime(catalog()) as runtime:
            liar = await runtime.open("LyingStrEnv@{}")
            surrogate = await runtime.open("SurrogateEnv@{}")
            reward = await runtime.open('HugeRewardEnv@{"bad_reward": "1e308"}')
            return ((await liar.step(step("Attack"))), surrogate.info.reset_observation,
                    (await reward.step(step("Done", answer=7))))

    liar, reset, reward = asyncio.run(main())
    assert len(liar.observation) <= 20_000 and "[observation truncated" in liar.observation
    assert reset == f"reset {REPLACEMENT} text"
    assert reward.error == INVALID_REWARD and reward.fatal and reward.reward == 0.0


def test_verify_rejects_an_env_whose_reward_is_out_of_range():
    from codegym_adapters.verify import verify_env

    async def main():
        async with SandboxRuntime(catalog(), step_timeout=5.0) as runtime:
            spec = catalog().resolve("HugeRewardEnv")[0]
            return await verify_env(runtime, spec)

    report = asyncio.run(main())
    assert not report.passed
    assert "reward" in report.detail and "range" in report.detail, (report.reason, report.detail)


def test_a_custom_reward_range_is_honoured():
    async def main():
        async with SandboxRuntime(catalog(), reward_range=(0.0, 1e308)) as runtime:
            session = await runtime.open('HugeRewardEnv@{"bad_reward": "1e308"}')
            return await session.step(step("Done", answer=7))

    done: StepResult = asyncio.run(main())
    assert done.error is None and done.reward == 1e308
    with pytest.raises(ValueError, match="reward_range"):
        SandboxRuntime(catalog(), reward_range=(1.0, 0.0))


@pytest.mark.parametrize("shape", ["list_observation", "string_reward"])
def test_an_episode_step_returns_within_its_deadline_whatever_the_worker_forges(shape):
    """The issue's example, through the real Episode: a forged reply of the wrong shape once made
    Episode.step wait forever; now the forger is killed and the turn returns an error in time."""
    import time

    from codegym_adapters.episode import Episode
    from codegym_adapters.tasks import Task

    def text(name: str, **params) -> str:
        import json

        return f'<|FunctionCallBegin|>[{json.dumps({"name": name, "parameters": params})}]<|FunctionCallEnd|>'

    async def main():
        async with SandboxRuntime(catalog(), step_timeout=DEADLINE) as runtime:
            episode = Episode(runtime, Task.from_env_string("ChannelStealEnv@{}"))
            await episode.start()
            start = time.monotonic()
            attack = await asyncio.wait_for(episode.step(text("Attack", shape=shape)), DEADLINE + 10)
            elapsed = time.monotonic() - start
            observe = await episode.step(text("Observe"))
            done = await episode.step(text("Done", answer=7))
            return attack, elapsed, observe, done, episode

    attack, elapsed, observe, done, episode = asyncio.run(main())
    assert elapsed <= DEADLINE + 2.0
    assert attack.observation.startswith("Error:") and "channel" in attack.observation
    assert observe.observation == "7" and done.reward == 1.0 and episode.done_reason == "done"
