"""The adversarial env corpus (tests/adversarial_envs) against the sandbox runtime.

For each env: the bad call returns an error observation within the deadline + 2 s; 50 clean
episodes running at the same time on the same pool give exactly their clean results; nothing is
written outside the sandbox; no connection reaches a listener; no process is left over.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
from pathlib import Path

import pytest
from test_sandbox_support import (
    all_worker_pids,
    catalog,
    own_sandbox_dirs,
    wait_gone,
    with_bystanders,
)

from codegym_adapters.calls import ToolCall
from codegym_adapters.errors import EnvLoadError
from codegym_adapters.runtime.base import CRASHED, EXCEPTION, LIMIT, NONDETERMINISTIC, TIMEOUT, StepResult
from codegym_adapters.runtime.sandbox import SandboxRuntime

DEADLINE = 1.0
BYSTANDERS = 50
pytestmark = pytest.mark.timeout(120)


class Listener:
    """A TCP listener on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.sock.close()


def attack_run(env: str, arguments: dict, **limits) -> tuple[StepResult, float, StepResult, SandboxRuntime]:
    """Open ``env``, run its Attack alongside the bystanders, then Observe; closes the runtime and
    checks that nothing is left behind."""
    limits.setdefault("step_timeout", DEADLINE)

    async def main():
        runtime = SandboxRuntime(catalog(), workers=2, **limits)
        async with runtime:
            session = await runtime.open(f"{env}@{{}}")
            result, elapsed = await with_bystanders(
                runtime, BYSTANDERS, lambda: session.step(ToolCall("Attack", arguments)))
            after = await session.step(ToolCall("Observe", {}))
        return result, elapsed, after, runtime

    result, elapsed, after, runtime = asyncio.run(main())
    assert isinstance(result, StepResult)
    assert elapsed <= runtime.limits.step_timeout + 2.0, f"the attack took {elapsed:.1f} s"
    assert wait_gone(all_worker_pids(runtime)) == []
    assert own_sandbox_dirs() == []
    return result, elapsed, after, runtime


def assert_error(result: StepResult, *kinds: str) -> None:
    assert result.observation.startswith("Error:"), result.observation[:300]
    assert result.error in kinds, (result.error, result.observation[:300])
    assert not result.fatal


def test_infinite_loop_in_an_action_times_out_and_names_env_call_and_deadline():
    result, _, after, _ = attack_run("LoopActionEnv", {})
    assert_error(result, TIMEOUT)
    assert "Attack on Adv_01__LoopActionEnv exceeded the 1.0 s step deadline" in result.observation
    assert "not applied" in result.observation
    assert after.observation == "7"


def test_memory_bomb_hits_the_memory_limit():
    result, _, after, runtime = attack_run("MemoryBombEnv", {}, memory_mb=512, step_timeout=8.0)
    assert_error(result, LIMIT)
    assert "MB" in result.observation and "limit" in result.observation
    assert after.observation == "7"


def test_fork_bomb_forks_nothing():
    result, _, after, runtime = attack_run("ForkBombEnv", {"kind": "fork"})
    assert result.observation.startswith("Error:") and "fork" in result.observation
    assert after.observation == "7"


@pytest.mark.skipif(os.geteuid() != 0, reason="RLIMIT_NPROC binds a dropped uid; as another user it may not")
def test_threads_cannot_start_either():
    # no audit event covers thread starts: this is RLIMIT_NPROC=0 for the unprivileged worker
    result, _, after, runtime = attack_run("ForkBombEnv", {"kind": "thread"})
    assert result.observation.startswith("Error:") and "thread" in result.observation
    assert after.observation == "7"


@pytest.mark.parametrize("env,detail", [("HardExitEnv", "exited with status 3"), ("SegfaultEnv", "SIGSEGV")])
def test_a_call_that_kills_its_worker_is_answered_with_a_crash_error(env, detail):
    result, _, after, runtime = attack_run(env, {})
    assert_error(result, CRASHED)
    assert detail in result.observation and env in result.observation
    assert after.observation == "7"
    assert runtime.counters()["crash_retries"] >= 1  # retried once elsewhere before being blamed


@pytest.mark.parametrize("kind,raised", [("exit", "SystemExit"), ("interrupt", "KeyboardInterrupt")])
def test_system_exit_and_keyboard_interrupt_in_an_action_are_env_errors(kind, raised):
    result, _, after, _ = attack_run("RaiseExitEnv", {"kind": kind})
    assert_error(result, EXCEPTION)
    assert raised in result.observation
    assert after.observation == "7"


def test_writes_outside_the_working_folder_do_not_happen(tmp_path: Path):
    targets = [tmp_path / "pwned.txt", Path(f"/tmp/codegym-pwned-{os.getpid()}.txt"), Path("/work/pwned.txt")]
    for target in targets:
        result, _, after, _ = attack_run("WriteOutsideEnv", {"path": str(target)})
        assert "written" not in result.observation, result.observation
        assert "not allowed" in result.observation
        for path in (target, Path(f"{target}.2")):
            assert not path.exists()


def test_no_connection_reaches_a_local_listener():
    listener = Listener()
    try:
        result, _, after, _ = attack_run("SocketEnv", {"port": listener.port})
        assert result.observation.startswith("Error:")
        assert "connected" not in result.observation
    finally:
        listener.close()
    assert listener.accepted == 0


def test_subprocess_run_is_refused(tmp_path: Path):
    target = tmp_path / "from-shell.txt"
    result, _, after, _ = attack_run("SubprocessEnv", {"path": str(target)})
    assert result.observation.startswith("Error:") and "not allowed" in result.observation
    assert not target.exists()


def test_a_100_mb_observation_is_capped_with_a_marker():
    result, _, after, runtime = attack_run("HugeObservationEnv", {})
    assert len(result.observation) <= runtime.limits.max_observation_chars
    assert "[observation truncated" in result.observation
    assert after.observation == "7"


def test_printing_megabytes_does_not_disturb_the_channel():
    result, _, after, runtime = attack_run("PrintFloodEnv", {})
    assert result.observation == "printed" and result.error is None
    assert runtime.counters().get("workers_lost_crashed", 0) == 0


def test_deep_recursion_is_an_error_observation():
    result, _, after, _ = attack_run("DeepRecursionEnv", {})
    assert result.observation.startswith("Error:") and "recursion" in result.observation
    unlimited, _, after, _ = attack_run("DeepRecursionEnv", {"unlimited": True})
    assert_error(unlimited, TIMEOUT, CRASHED, LIMIT)
    assert after.observation == "7"


def test_garbage_written_into_the_channel_is_a_crash_not_a_corrupted_parent():
    result, _, after, _ = attack_run("ChannelForgeEnv", {})
    assert_error(result, CRASHED)
    assert "channel" in result.observation
    assert after.observation == "7"


@pytest.mark.parametrize("env,stage", [("LoopResetEnv", "opening (creating and resetting the env) on"),
                                       ("LoopImportEnv", "importing the env source on")])
def test_open_that_never_finishes_fails_with_a_load_error(env, stage):
    async def main():
        runtime = SandboxRuntime(catalog(), workers=2, step_timeout=DEADLINE)
        async with runtime:
            error, elapsed = await with_bystanders(runtime, BYSTANDERS, lambda: runtime.open(f"{env}@{{}}"))
        return error, elapsed, runtime

    error, elapsed, runtime = asyncio.run(main())
    assert isinstance(error, EnvLoadError)
    assert stage in str(error) and env in str(error) and "deadline" in str(error)
    assert elapsed <= DEADLINE + 2.0
    assert wait_gone(all_worker_pids(runtime)) == []


def test_a_nondeterministic_env_fails_cleanly_when_replayed():
    async def main():
        runtime = SandboxRuntime(catalog(), workers=2, step_timeout=DEADLINE)
        async with runtime:
            session = await runtime.open("NondeterministicEnv@{}")
            first = await session.step(ToolCall("Observe", {}))

            async def attack():
                for pid in runtime.worker_pids():  # every session must be rebuilt by replay
                    os.kill(pid, signal.SIGKILL)
                return await session.step(ToolCall("Observe", {}))

            result, elapsed = await with_bystanders(runtime, BYSTANDERS, attack)
            again = await session.step(ToolCall("Observe", {}))
        return first, result, elapsed, again, runtime

    first, result, elapsed, again, runtime = asyncio.run(main())
    assert first.error is None
    assert result.error == NONDETERMINISTIC and result.fatal
    assert "not deterministic" in result.observation and "NondeterministicEnv" in result.observation
    assert again.fatal and again.error == NONDETERMINISTIC
    assert elapsed <= DEADLINE + 2.0
    assert wait_gone(all_worker_pids(runtime)) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="home folders are hidden only where workers start as root")
def test_home_folders_are_hidden_and_unimported_modules_still_load():
    secret = Path(f"/root/.codegym-secret-{os.getpid()}")
    secret.write_text("TOKEN=hunter2")
    secret.chmod(0o600)
    try:
        result, _, after, runtime = attack_run("ReadSecretEnv", {"path": str(secret)})
        stdlib, *_ = attack_run("ReadSecretEnv", {"path": os.__file__})  # in the worker's read-only view
    finally:
        secret.unlink()
    assert result.observation.startswith("Error:") and "hunter2" not in result.observation
    assert stdlib.observation == Path(os.__file__).read_text()[:200]  # the env loaded: imports worked after confinement
