"""A real, small Ray cluster on loopback for the tests (no tests here): a head node and a second
node, each started with ``ray start --block`` (so stopping that process stops exactly its node), one
CPU and a small object store each, no dashboard, a private temp folder. Both nodes advertise the
custom resource ``codegym_env`` that env actors ask for."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
_COMMON = ["--block", "--num-cpus=1", "--object-store-memory=80000000", "--disable-usage-stats",
           "--node-ip-address=127.0.0.1"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalCluster:
    """``with LocalCluster(nodes=2) as cluster: ray.init(address=cluster.address)``."""

    def __init__(self, nodes: int = 2, env_slots: int = 1) -> None:
        self.nodes, self.env_slots = nodes, env_slots
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.temp = tempfile.mkdtemp(prefix="rs", dir="/tmp")  # short: Ray's socket paths are long
        self.procs: list[subprocess.Popen] = []

    def _start(self, args: list[str]) -> None:
        resources = f'{{"codegym_env": {self.env_slots}}}'
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        self.procs.append(subprocess.Popen([RAY, "start", *args, *_COMMON, f"--resources={resources}"],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))

    def start(self, timeout: float = 180.0) -> LocalCluster:
        # A loopback-only test cluster: no token auth (Ray >= 2.5x turns it on when a token file
        # exists, and this process, its nodes and `ray status` must agree). Set here so the test's
        # own ray.init sees it too.
        os.environ["RAY_AUTH_MODE"] = "disabled"
        deadline = time.monotonic() + timeout
        self._start(["--head", f"--port={self.port}", "--include-dashboard=false", f"--temp-dir={self.temp}"])
        self._wait(1, deadline)  # a node started before its head is up gives up
        for _ in range(self.nodes - 1):
            self._start([f"--address={self.address}"])
        self._wait(self.nodes, deadline)
        return self

    def _wait(self, nodes: int, deadline: float) -> None:
        out = None
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                self.stop()
                raise RuntimeError("a ray node exited while starting")
            out = subprocess.run([RAY, "status", f"--address={self.address}"], capture_output=True, text=True)
            if out.returncode == 0 and out.stdout.count(" node_") >= nodes:
                return
            time.sleep(1.0)
        self.stop()
        raise RuntimeError(f"the ray cluster did not come up: {out.stdout[-2000:] if out else ''}")

    def stop(self) -> None:
        for proc in reversed(self.procs):  # SIGTERM to `ray start --block` stops its own node
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        for _ in range(20):  # the nodes' last writes may land just after they exit
            shutil.rmtree(self.temp, ignore_errors=True)
            if not os.path.exists(self.temp):
                break
            time.sleep(0.5)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
