"""The kernel layers of the sandbox (issue 10, Build item 2 and Why item 4), tried from inside real
worker processes: each attack runs with the audit hook disabled first (the way the issue describes),
so that what stops it is the kernel: seccomp, the PID namespace, the read-only view of the file
system, no capabilities, and the memory limit."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path

import pytest
from kernel_probe_env import SOURCE
from test_sandbox_support import all_worker_pids, clean_episodes, own_sandbox_dirs, wait_gone, with_bystanders

from codegym_adapters.calls import ToolCall
from codegym_adapters.catalog import Catalog
from codegym_adapters.runtime import make_runtime

pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel layers are Linux's")]
ROOT = os.geteuid() == 0


@pytest.fixture(scope="module")
def env_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("kernel_envs")
    (folder / "Kern_01__KernelProbeEnv.py").write_text(SOURCE)
    return folder


def probe(env_folder: Path, attacks: list[tuple[str, object]], unhook: bool = True, bystanders: int = 0,
          **limits) -> tuple[list[dict], dict]:
    """Run ``attacks`` ((kind, arg) pairs) in one session on a 2-worker sandbox; return their
    reports and the runtime's protections. With ``bystanders``, the attacks run alongside that many
    honest episodes, which must give exactly their clean results."""
    catalog = Catalog.from_paths([env_folder, Path(__file__).parent / "adversarial_envs"])
    limits.setdefault("step_timeout", 5.0)
    limits.setdefault("audit_hook", not unhook)  # unhooked: the kernel layers alone
    if bystanders:
        clean_episodes(bystanders)  # computed before the runtime starts

    async def main():
        runtime = make_runtime("sandbox", catalog, workers=2, **limits)
        async with runtime:
            session = await runtime.open("KernelProbeEnv@{}")
            reports = []

            async def attack():
                for kind, arg in attacks:
                    arg = arg(runtime.worker_pids()) if callable(arg) else arg  # siblings of other sources too
                    text = json.dumps(arg) if not isinstance(arg, str) else arg
                    result = await session.step(ToolCall("Attack", {"kind": kind, "arg": text, "unhook": unhook}))
                    assert result.error is None, result.observation
                    reports.append(json.loads(result.observation))
                return reports

            if bystanders:
                outcome, _ = await with_bystanders(runtime, bystanders, attack)
                assert outcome is reports, outcome
            else:
                await attack()
            after = await session.step(ToolCall("Observe", {}))
            assert after.observation == "7"
        return reports, runtime.protections, runtime

    reports, protections, runtime = asyncio.run(main())
    assert wait_gone(all_worker_pids(runtime)) == []
    assert own_sandbox_dirs() == []
    if unhook:
        assert all(r["unhooked"] for r in reports), "the audit hook was not disabled: the test proves nothing"
    return [r["results"] for r in reports], protections


def refused(outcome: str, *words: str) -> bool:
    return outcome.startswith("refused:") and all(w in outcome for w in words)


# -- seccomp ------------------------------------------------------------------------------------
def test_a_call_the_seccomp_filter_denies_fails_with_eperm_in_a_worker(env_folder):
    (ctypes_calls, status), protections = probe(env_folder, [("ctypes", "1"), ("status", "")])
    assert protections["seccomp"].startswith("on (")
    assert status["Seccomp"] == "2" and status["NoNewPrivs"] == "1"
    for name in ("socket", "ptrace", "unshare_user", "fork"):
        assert refused(ctypes_calls[name], "Operation not permitted"), (name, ctypes_calls[name])


def test_seccomp_without_a_pid_namespace_still_confines_signals_to_the_worker_itself(env_folder):
    parent = os.getpid()
    (signals, itself), protections = probe(env_folder, [("signals", [parent]), ("self", "")], pid_namespace=False)
    assert protections["pid_namespace"].startswith("missing") and protections["seccomp"].startswith("on (")
    assert "pid_namespace" in protections["missing"]
    for name, outcome in signals[str(parent)].items():
        assert refused(outcome, "Operation not permitted"), (name, outcome)
    assert itself["kill_self_0"].startswith("ok") and itself["nice_self"].startswith("ok")
    assert itself["getpid"] != 1


# -- issue 10, Why item 4: with the audit hook replaced, the kernel still refuses --------------------
def test_ctypes_and_unshare_of_a_user_namespace_fail(env_folder):
    (ctypes_calls, unshare), _ = probe(env_folder, [("ctypes", "1"), ("unshare", "")])
    assert refused(ctypes_calls["unshare_user"], "Operation not permitted")
    assert refused(unshare["unshare_user"], "Operation not permitted") and refused(unshare["setns"])


def test_af_unix_sockets_fail_and_reach_no_listener(env_folder):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    address = f"\0codegym-kernel-test-{os.getpid()}"  # abstract: no file system view hides it
    listener.bind(address)
    listener.listen(4)
    listener.setblocking(False)
    try:
        (unix,), _ = probe(env_folder, [("unix_socket", address)])
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()
    for name in ("socket", "connect", "socketpair"):
        assert refused(unix[name], "Operation not permitted"), (name, unix[name])


@pytest.mark.parametrize("unhook", [True, False], ids=["hook replaced", "hook on"])
def test_writes_and_mkdir_with_dir_fd_outside_the_working_folder_fail(env_folder, tmp_path, unhook):
    package = Path(__file__).resolve().parents[1] / "codegym_adapters"
    targets = [str(tmp_path / "pwned.txt"), str(package / "pwned.py"), f"{sys.prefix}/pwned.txt", "/pwned.txt",
               "/etc/pwned"]
    folders = ["/", str(package), sys.prefix, str(tmp_path)]
    (writes, mkdirs), protections = probe(env_folder, [("write", targets), ("mkdir_dir_fd", folders)], unhook=unhook)
    assert protections["filesystem"].startswith("on (")
    for target in targets:
        assert refused(writes[target]), (target, writes[target])
        assert not Path(target).exists()
    for folder in folders:
        assert refused(mkdirs[folder]), (folder, mkdirs[folder])
        assert not Path(folder, "pwned-dir").exists()
    assert "Read-only file system" in mkdirs["/"] and "Read-only file system" in mkdirs[str(package)]


def test_memfd_create_cannot_hold_750_mb_over_a_512_mb_cap(env_folder):
    (memory,), protections = probe(env_folder, [("memory", "750")], memory_mb=512, step_timeout=20.0)
    assert protections["memory"].startswith("on (") and "memfd_create" in protections["memory"]
    assert refused(memory["memfd"], "Operation not permitted"), memory["memfd"]
    assert refused(memory["shared_map"]), memory["shared_map"]  # RLIMIT_AS counts shared mappings
    assert refused(memory["tmpfs"], "No space left"), memory["tmpfs"]  # the tmpfs is capped


def test_signals_priorities_and_affinity_do_not_reach_siblings_or_the_parent(env_folder):
    parent = os.getpid()
    before = (os.getpriority(os.PRIO_PROCESS, parent), os.sched_getaffinity(parent))
    (signals, processes), _ = probe(env_folder, [("signals", lambda pids: [parent, *pids]), ("processes", "")],
                                    bystanders=20)
    assert (os.getpriority(os.PRIO_PROCESS, parent), os.sched_getaffinity(parent)) == before
    assert len(signals) >= 3 and str(parent) in signals  # the parent, its own workers and other sources' workers
    for pid, outcomes in signals.items():
        for name, outcome in outcomes.items():
            assert refused(outcome, "Operation not permitted"), (pid, name, outcome)
    assert processes == [1]  # its own PID namespace: nothing else to see


def test_etc_shadow_and_the_trainers_files_cannot_be_read(env_folder, tmp_path):
    checkpoint = tmp_path / "checkpoint.pt"
    checkpoint.write_text("weights")
    paths = ["/etc/shadow", str(checkpoint), "/root/.bash_history", "/etc/passwd"]
    (reads,), _ = probe(env_folder, [("read", paths)])
    for path in paths:
        assert refused(reads[path], "No such file"), (path, reads[path])


def test_the_worker_holds_no_capability(env_folder):
    (status,), protections = probe(env_folder, [("status", "")])
    for key in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
        assert int(status[key], 16) == 0, (key, status[key])
    assert protections["capabilities"] == "none"


def test_honest_env_code_still_works_inside_the_view(env_folder):
    """numpy (its bundled libraries too), standard-library modules the worker never preloaded, and
    files in the working folder: what env code does legitimately must keep working."""
    (honest,), _ = probe(env_folder, [("honest", "")], unhook=False)
    assert honest["numpy"] == "ok: [5.0, 850624, 6.0]", honest["numpy"]
    assert honest["stdlib"] == "ok: ['1', '2.2', 0, True, 'UTC']", honest["stdlib"]
    assert honest["workdir"] == "ok: ['kept', '/tmp/codegym-worker']", honest["workdir"]


@pytest.mark.skipif(not ROOT, reason="as root here every layer must be in force")
def test_every_layer_is_in_force_as_root(env_folder):
    _, protections = probe(env_folder, [("status", "")], unhook=False)
    assert protections["missing"] == []
    assert protections["user"].startswith("nobody")
    assert protections["pid_namespace"].startswith("on (")
