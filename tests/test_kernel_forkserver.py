"""``confine()`` in a child forked from a pre-imported template process (the fork-server design),
not a freshly executed interpreter: the layers take, descriptors the template held (a log file, a
folder) are closed, and the pid the template tracks lives and dies with the worker (exit status and
signals mirrored; killing it kills the worker)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(os.geteuid() != 0 or not sys.platform.startswith("linux"),
                                 reason="checks every layer, which needs root here")]

TEMPLATE = textwrap.dedent(r'''
    import json, os, signal, sys, tempfile, time
    from codegym_adapters.runtime import limits, pidns, worker
    for name in worker._PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    limits.prepare()
    root = tempfile.mkdtemp()
    os.chmod(root, 0o711)
    leaked = os.open(os.path.join(root, "trainer.log"), os.O_WRONLY | os.O_CREAT)  # held by the template
    leaked_dir = os.open(root, os.O_RDONLY | os.O_DIRECTORY)

    def is_open(fd):
        try:
            os.fstat(fd)
            return True
        except OSError:
            return False

    def child(then, fork):
        """Fork a worker that confines itself, reports on a pipe, then does ``then``."""
        r, w = os.pipe()
        workdir = tempfile.mkdtemp(dir=root)
        os.chown(workdir, 65534, 65534)
        config = limits.SandboxLimits().worker_config(workdir, os.getpid(), keep_fds=[w])
        pid = fork()
        if pid == 0:
            os.close(r)
            os.setsid()
            try:
                _, report = limits.confine(config)
                seen = {"pid": os.getpid(), "shadow": os.path.exists("/etc/shadow"),
                        "procs": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
                        "open": [is_open(leaked), is_open(leaked_dir), is_open(w)]}
                os.write(w, json.dumps({"report": report, "seen": seen}).encode())
                os.close(w)
                if then == "exit3":
                    os._exit(3)
                if then == "segv":
                    import ctypes
                    ctypes.memset(0, 1, 64)
                time.sleep(60)
            finally:
                os._exit(99)
        os.close(w)
        data = b""
        while chunk := os.read(r, 1 << 16):
            data += chunk
        os.close(r)
        return pid, json.loads(data)

    def stat(p):
        try:
            return open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            return ["gone", "0"]

    out = {}
    for how, fork in (("os.fork", os.fork), ("pidns.fork", pidns.fork)):
        for then in ("exit3", "segv", "kill"):
            pid, got = child(then, fork)
            got["children"] = [int(p) for p in os.listdir("/proc") if p.isdigit() and stat(p)[1] == str(pid)]
            if then == "kill":
                os.kill(pid, signal.SIGKILL)  # the tracked pid only, not its group
            _, status = os.waitpid(pid, 0)
            got["status"] = os.waitstatus_to_exitcode(status)
            time.sleep(0.2)
            got["left"] = [p for p in got["children"] if stat(p)[0] not in ("Z", "gone")]
            out[f"{how} {then}"] = got
    print(json.dumps(out))
''')


def test_confine_in_children_of_a_template_process():
    done = subprocess.run([sys.executable, "-c", TEMPLATE], capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert len(out) == 6
    for name, got in out.items():
        report, seen = got["report"], got["seen"]
        assert report["missing"] == [], (name, report)
        assert seen == {"pid": 1, "shadow": False, "procs": [1], "open": [False, False, True]}, (name, seen)
        assert got["left"] == [], name  # nothing outlives the tracked pid
    for how in ("os.fork", "pidns.fork"):  # the tracked pid exits as the worker did, or by its signal
        assert out[f"{how} exit3"]["status"] == 3
        assert out[f"{how} segv"]["status"] == -11
        assert out[f"{how} kill"]["status"] == -9
    # os.fork: confine() forked once more, and the tracked pid is the namespace's keeper ...
    assert len(out["os.fork kill"]["children"]) == 1
    # ... pidns.fork: the child already was process 1 of its namespace: no keeper, no extra process
    assert out["pidns.fork kill"]["children"] == []
