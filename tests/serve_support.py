"""Shared pieces of the env-server tests (no tests here): a real ``codegym serve`` process on
loopback, and a rollout client written from the upstream protocol description
(``docs/codegym-format.md`` §4), which knows nothing of our code."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx

REPO = Path(__file__).resolve().parent.parent
ADVERSARIAL = REPO / "tests" / "adversarial_envs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``codegym serve`` in a child process on 127.0.0.1 (the bundled envs plus the adversarial ones)."""

    def __init__(self, *args: str, port: int | None = None, workers: int = 2, step_timeout: float = 3.0) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = ["--port", str(self.port), "--envs", str(ADVERSARIAL), "--workers", str(workers),
                     "--step-timeout", str(step_timeout), *args]
        self.proc: subprocess.Popen | None = None
        self.log = b""

    def start(self, timeout: float = 60.0) -> ServerProcess:
        self.proc = subprocess.Popen([sys.executable, "-m", "codegym_adapters.cli", "serve", *self.args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"codegym serve exited: {self.proc.stdout.read().decode()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("codegym serve did not come up")

    def health(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/health", timeout=10.0).json()

    def kill(self) -> None:
        """SIGKILL the server (its sandbox workers die with their parent's pipes)."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc is not None and self.proc.stdout is not None:
            self.log = self.proc.stdout.read()
            self.proc.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def kill_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class UpstreamClient:
    """A rollout client as the protocol describes it: lease an instance from the manager, start the
    env by its env string, send each action as a JSON string with a timeout, ask ``is_done`` after
    every step, read ``reward`` at the end, stop, release. Uses only the documented fields."""

    def __init__(self, client: aiohttp.ClientSession, manager_url: str) -> None:
        self.http, self.manager = client, manager_url
        self.uid: str | None = None
        self.base = ""

    async def _call(self, method: str, url: str, **kw: Any) -> dict[str, Any]:
        async with self.http.request(method, url, **kw) as r:
            r.raise_for_status()
            return await r.json()

    async def lease(self) -> None:
        answer = await self._call("GET", f"{self.manager}/get_instance")
        self.uid = answer["uid"]
        self.base = f"http://127.0.0.1:{answer['port']}"

    async def release(self) -> None:
        await self._call("GET", f"{self.manager}/release_instance", params={"uid": self.uid})

    async def start(self, session_id: str, env_str: str, env_name: str) -> str:
        body = {"session_id": session_id, "env_str": env_str, "env_name": env_name}
        return (await self._call("POST", f"{self.base}/start", json=body))["observation"]

    async def step(self, session_id: str, name: str, parameters: dict[str, Any], timeout: float = 10) -> tuple[Any, str]:
        action = json.dumps({"name": name, "parameters": parameters})
        body = await self._call("POST", f"{self.base}/step", json={"session_id": session_id, "action": action,
                                                                   "timeout": timeout})
        return body["status"], body["observation"]

    async def get(self, endpoint: str, session_id: str, **params: Any) -> dict[str, Any]:
        return await self._call("GET", f"{self.base}/{endpoint}", params={"session_id": session_id, **params})

    async def post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", f"{self.base}/{endpoint}", json=body)

    async def stop(self, session_id: str) -> None:
        await self.post("stop", {"session_id": session_id})

    async def episode(self, session_id: str, env_str: str, env_name: str,
                      calls: list[tuple[str, dict[str, Any]]]) -> tuple[list[str], bool, float]:
        """Run the calls until the server says done; (observations, done, int reward)."""
        await self.lease()
        observations = [await self.start(session_id, env_str, env_name)]
        done = False
        for name, parameters in calls:
            _status, observation = await self.step(session_id, name, parameters)
            observations.append(observation)
            done = (await self.get("is_done", session_id))["done"]
            if done:
                break
        reward = (await self.get("reward", session_id))["reward"]
        await self.stop(session_id)
        await self.release()
        return observations, done, int(reward > 0)


