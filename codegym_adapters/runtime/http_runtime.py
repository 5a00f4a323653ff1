"""The http runtime: env sessions on remote env servers that speak the upstream protocol.

A client (aiohttp: here it costs about 0.25 ms of CPU per request against 4-5 ms for an async httpx
client, which made the client the bottleneck at 1,024 sessions) for ``codegym serve`` or the upstream
CodeGym env server (``docs/codegym-format.md``
§4): each session leases an instance from a server's manager endpoint (``get_instance``), starts its
env there and keeps to it (session affinity) until ``stop``/``release_instance``. Servers are tried
round-robin; one that does not answer is skipped for a while.

Requests are retried with exponential backoff while the server cannot be reached or is overloaded
(connect errors, 502/503/504). A step is never sent twice to the same session (a step whose answer
was lost may have run); instead, when a server loses a session (404: restarted, expired, or
unreachable), the session is rebuilt where a server will start it (the same one or another) by
replaying its committed calls, checking every observation against the first run, and the call is
then made once. Replay that gives another answer fails the session (``NONDETERMINISTIC``).

Extensions our server adds (``actions``/``task`` on start, ``done``/``reward``/``error`` on step) are
used when present; against an upstream server, ``is_done`` and ``reward`` are asked after each step,
and the session's actions are empty (prompts then come from the row, the default style).
``oracle``, ``module_info`` and ``generate_config`` are not in the protocol: they run on a local
sandbox runtime started on first use.
"""

from __future__ import annotations

import asyncio
import itertools
import json as _json
import time
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from ..calls import ToolCall
from ..catalog import Catalog, EnvSpec
from ..envstring import EnvRef
from ..errors import CodeGymError, EnvLoadError, RuntimeClosed
from ..tools import Action
from .base import (
    CLOSED,
    CRASHED,
    NONDETERMINISTIC,
    QUARANTINED,
    TIMEOUT,
    OracleTrace,
    Runtime,
    Session,
    SessionInfo,
    StepResult,
)

EnvArg = str | EnvRef | tuple[EnvSpec, dict[str, Any]]
_RETRY_STATUS = (502, 503, 504)
_FATAL = (NONDETERMINISTIC, QUARANTINED, CLOSED)
_DOWN_S = 5.0  # how long a server that did not answer is skipped
_BACKGROUND: set[asyncio.Task] = set()


class ServerUnavailable(CodeGymError):
    """No env server answered (after retries): the message names the servers and the last error."""


class _SessionLost(Exception):
    """The server no longer has the session (404), or its answer was lost in transit."""


class HttpRuntime(Runtime):
    """Sessions on env servers at ``urls`` (a list, or one string with commas).

    ``token``: bearer token sent to every server. ``manager``: lease instances with ``get_instance``
    (false: the urls are instances). ``retries``/``backoff_s``: tries per request and the first delay
    (doubling). ``request_timeout``: seconds per HTTP request (default: ``step_timeout`` + 30).
    ``step_timeout``: sent as each step's ``timeout``. ``memory_mb``, ``workers`` and
    ``max_observation_chars`` are the server's business; they are accepted (one env config serves
    every runtime) and ignored.
    """

    name = "http"

    def __init__(self, catalog: Catalog | None = None, *, urls: str | Sequence[str] = "http://127.0.0.1:8000",
                 token: str | None = None, manager: bool = True, retries: int = 5, backoff_s: float = 0.1,
                 request_timeout: float | None = None, step_timeout: float = 10.0, max_connections: int = 64,
                 memory_mb: int | None = None, workers: int | None = None,
                 max_observation_chars: int | None = None) -> None:
        super().__init__(catalog)
        self.urls = [u.strip().rstrip("/") for u in (urls.split(",") if isinstance(urls, str) else urls) if u.strip()]
        if not self.urls:
            raise ValueError("the http runtime needs at least one server url")
        if retries < 1 or backoff_s < 0:
            raise ValueError("retries must be >= 1 and backoff_s >= 0")
        self.token, self.manager, self.retries, self.backoff_s = token, manager, retries, backoff_s
        self.step_timeout = float(step_timeout)
        self._timeout = float(request_timeout or self.step_timeout + 30.0)
        self._max_connections = max_connections
        self._client: aiohttp.ClientSession | None = None
        self._next = itertools.count()
        self._down: dict[str, float] = {}
        self._local: Runtime | None = None
        self._closed = False
        self.stats: dict[str, int] = {"requests": 0, "retries": 0, "rebuilds": 0, "failovers": 0}

    # -- transport ------------------------------------------------------------------------------
    def _http(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeClosed("the http runtime is closed")
        if self._client is None:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            self._client = aiohttp.ClientSession(
                headers=headers, connector=aiohttp.TCPConnector(limit=self._max_connections),
                timeout=aiohttp.ClientTimeout(total=self._timeout))
        return self._client

    async def request(self, method: str, url: str, *, idempotent: bool = True, json: Any = None,
                      params: dict[str, Any] | None = None) -> dict[str, Any]:
        """One protocol request, JSON in and out. Retries (with backoff) while the server is
        unreachable or overloaded; raises :class:`_SessionLost` on 404 or, for a non-idempotent
        request, on a transport error after sending; :class:`ServerUnavailable` when retries run
        out; :class:`CodeGymError` with the server's message on other errors."""
        delay, last = self.backoff_s, ""
        for attempt in range(self.retries):
            if attempt:
                self.stats["retries"] += 1
                await asyncio.sleep(delay)
                delay *= 2
            self.stats["requests"] += 1
            try:
                async with self._http().request(method, url, json=json, params=params) as response:
                    status, text = response.status, await response.text()
            except aiohttp.ClientConnectorError as exc:  # never reached the server: safe to send again
                last = f"{type(exc).__name__}: {exc}"
                continue
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                if not idempotent:
                    raise _SessionLost(f"{url}: {type(exc).__name__}") from None
                last = f"{type(exc).__name__}: {exc}"
                continue
            if status == 404:
                raise _SessionLost(_message(text))
            if status in _RETRY_STATUS:
                last = f"HTTP {status}: {_message(text)}"
                continue
            if status >= 400:
                raise CodeGymError(f"env server {url} answered {status}: {_message(text)}")
            return _json.loads(text)
        raise ServerUnavailable(f"env server {url} did not answer after {self.retries} tries ({last})")

    def _servers(self) -> list[str]:
        """The servers in round-robin order, those seen down recently last."""
        start = next(self._next) % len(self.urls)
        order = self.urls[start:] + self.urls[:start]
        now = time.monotonic()
        return sorted(order, key=lambda u: self._down.get(u, 0.0) > now)

    async def _lease(self, server: str) -> tuple[str, str | None]:
        """(instance url, uid) on ``server``."""
        if not self.manager:
            return server, None
        lease = await self.request("GET", f"{server}/get_instance")
        parts = urlsplit(server)
        host = parts.hostname or "127.0.0.1"
        netloc = f"[{host}]" if ":" in host else host
        return urlunsplit((parts.scheme, f"{netloc}:{int(lease['port'])}", parts.path, "", "")), str(lease["uid"])

    async def _start(self, spec: EnvSpec, options: dict[str, Any], prefer: str | None = None
                     ) -> tuple[str, str, str | None, str, dict[str, Any]]:
        """Start a session on the first server that takes it: (server, instance, uid, sid, answer)."""
        servers = self._servers()
        if prefer in servers and self._down.get(prefer, 0.0) <= time.monotonic():
            servers.remove(prefer)
            servers.insert(0, prefer)
        last: Exception | None = None
        for i, server in enumerate(servers):
            try:
                instance, uid = await self._lease(server)
                sid = uuid.uuid4().hex
                body = {"session_id": sid, "env_str": f"{spec.class_name}@{options!r}", "env_name": spec.name}
                answer = await self.request("POST", f"{instance}/start", json=body)
                if i:
                    self.stats["failovers"] += 1
                return server, instance, uid, sid, answer
            except (ServerUnavailable, _SessionLost) as exc:
                self._down[server] = time.monotonic() + _DOWN_S
                last = exc
        raise ServerUnavailable(f"no env server could start {spec.name} (tried {', '.join(servers)}): {last}")

    # -- runtime API ----------------------------------------------------------------------------
    async def open(self, env: EnvArg) -> HttpSession:
        spec, options = self.resolve(env)
        try:
            server, instance, uid, sid, answer = await self._start(spec, options)
        except CodeGymError as exc:
            raise EnvLoadError(f"env {spec.name} could not be opened on an env server: {exc}") from None
        info = SessionInfo(env_name=spec.name, options=options,
                           actions=[Action.from_dict(a) for a in answer.get("actions") or []],
                           reset_observation=str(answer.get("observation", "")),
                           task=spec.task or answer.get("task"))
        return HttpSession(self, spec, options, info, server, instance, uid, sid)

    async def _local_runtime(self) -> Runtime:
        if self._local is None:
            from . import make_runtime

            self._local = make_runtime("sandbox", self.catalog, step_timeout=self.step_timeout)
        return self._local

    async def oracle(self, env: EnvArg) -> OracleTrace:
        """Runs on a local sandbox runtime (not part of the protocol)."""
        return await (await self._local_runtime()).oracle(self.resolve(env))

    async def module_info(self, env: EnvArg) -> dict[str, Any]:
        """Runs on a local sandbox runtime (not part of the protocol)."""
        return await (await self._local_runtime()).module_info(self.resolve(env))

    async def generate_config(self, env: EnvArg, seed: int, size: int) -> dict[str, Any]:
        """Runs on a local sandbox runtime (not part of the protocol)."""
        return await (await self._local_runtime()).generate_config(self.resolve(env), seed, size)

    def counters(self) -> dict[str, int]:
        return dict(self.stats)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._client is not None:
            await self._client.close()
        if self._local is not None:
            await self._local.close()


class HttpSession(Session):
    """A session on one env server; its committed calls are kept here for replay elsewhere."""

    def __init__(self, runtime: HttpRuntime, spec: EnvSpec, options: dict[str, Any], info: SessionInfo,
                 server: str, instance: str, uid: str | None, sid: str) -> None:
        self._rt, self._spec, self._options, self.info = runtime, spec, options, info
        self._server, self._instance, self._uid, self._sid = server, instance, uid, sid
        self._log: list[tuple[str, Any, Any]] = []  # (kind, request, answer) of committed calls
        self._lock = asyncio.Lock()
        self._failed: StepResult | None = None
        self._closed = False

    @property
    def server(self) -> str:
        """The base url of the server this session sticks to."""
        return self._server

    async def step(self, call: ToolCall) -> StepResult:
        start = time.monotonic()
        async with self._lock:
            result = await self._step(call)
        result.elapsed_s = time.monotonic() - start
        return result

    async def _step(self, call: ToolCall) -> StepResult:
        if self._closed or self._rt._closed:
            return StepResult("Error: this session is closed.", error=CLOSED, fatal=True)
        if self._failed is not None:
            return StepResult(self._failed.observation, error=self._failed.error, fatal=True)
        body = {"action": call.to_action(), "timeout": self._rt.step_timeout}
        for _ in range(2):
            try:
                answer = await self._send_step(body)
                break
            except (_SessionLost, ServerUnavailable) as lost:  # rebuilt here or on another server
                failed = await self._rebuild(str(lost))
                if failed is not None:
                    return failed
            except CodeGymError as exc:  # refused
                return self._fail(f"the env server failed on {call.name}: {exc}", CRASHED)
        else:
            return self._fail(f"{call.name} on {self._spec.name}: the env server lost the session twice", CRASHED)
        status = bool(answer.get("status", True))
        error = answer.get("error") if "error" in answer else (None if status else TIMEOUT)
        if status:
            self._log.append(("step", body, _key(answer)))
        if error in _FATAL:
            return self._fail(str(answer.get("observation", "")).removeprefix("Error: "), error)
        return StepResult(str(answer.get("observation", "")), bool(answer["done"]), float(answer["reward"]), error)

    async def _send_step(self, body: dict[str, Any]) -> dict[str, Any]:
        rt, base = self._rt, self._instance
        answer = await rt.request("POST", f"{base}/step", json={**body, "session_id": self._sid}, idempotent=False)
        if "done" not in answer:  # an upstream server: ask
            params = {"session_id": self._sid}
            answer["done"] = bool((await rt.request("GET", f"{base}/is_done", params=params))["done"])
            reward = (await rt.request("GET", f"{base}/reward", params=params))["reward"] if answer["done"] else 0
            answer["reward"] = float(reward or 0)
        return answer

    async def _rebuild(self, why: str) -> StepResult | None:
        """Start the env again (its server first) and replay the committed calls; a fatal result if
        that is impossible or gives other answers."""
        rt, spec = self._rt, self._spec
        rt.stats["rebuilds"] += 1
        try:
            server, instance, uid, sid, answer = await rt._start(spec, self._options, prefer=self._server)
        except CodeGymError as exc:
            return self._fail(f"{spec.name} was lost by its env server ({why}) and could not be started again: {exc}",
                              CRASHED)
        old = (self._instance, self._uid, self._sid)
        self._server, self._instance, self._uid, self._sid = server, instance, uid, sid
        # the old server may be gone: let its release retry in the background, not in this step
        task = asyncio.get_running_loop().create_task(self._release(*old))
        _BACKGROUND.add(task)
        task.add_done_callback(_BACKGROUND.discard)
        if str(answer.get("observation", "")) != self.info.reset_observation:
            return self._mismatch("its reset observation")
        try:
            for i, (kind, request, key) in enumerate(self._log, 1):
                if kind == "step":
                    replayed = await self._send_step(request)
                else:
                    replayed = await self._get_attribute(request)
                if _key(replayed) != key:
                    return self._mismatch(f"call {i}")
        except (CodeGymError, _SessionLost) as exc:
            return self._fail(f"{spec.name} could not be rebuilt on {server}: {exc}", CRASHED)
        return None

    def _mismatch(self, what: str) -> StepResult:
        return self._fail(f"env {self._spec.name} is not deterministic: rebuilding it after its server lost "
                          f"it, {what} gave a different answer than before", NONDETERMINISTIC)

    def _fail(self, text: str, kind: str) -> StepResult:
        self._failed = StepResult(f"Error: {text}; the session cannot continue.", error=kind, fatal=True)
        return self._failed

    async def _get_attribute(self, name: str) -> dict[str, Any]:
        return await self._rt.request("GET", f"{self._instance}/get_attribute",
                                      params={"session_id": self._sid, "name": name})

    async def attribute(self, name: str) -> Any:
        async with self._lock:
            if self._closed or self._rt._closed:
                raise RuntimeClosed(f"the session of {self._spec.name} is closed")
            if self._failed is not None:
                raise CodeGymError(self._failed.observation)
            for _ in range(2):
                try:
                    answer = await self._get_attribute(name)
                except (_SessionLost, ServerUnavailable) as lost:
                    failed = await self._rebuild(str(lost))
                    if failed is not None:
                        raise CodeGymError(failed.observation) from None
                    continue
                self._log.append(("attr", name, _key(answer)))
                return answer.get("attribute")
            raise CodeGymError(f"reading {name!r} on {self._spec.name}: the env server lost the session twice")

    async def _release(self, instance: str, uid: str | None, sid: str) -> None:
        for url, kw in ((f"{instance}/stop", {"json": {"session_id": sid}}),
                        (f"{instance}/release_instance", {"params": {"uid": uid}})):
            if url.endswith("release_instance") and uid is None:
                continue
            try:
                await self._rt.request("POST" if url.endswith("stop") else "GET", url, **kw)
            except (CodeGymError, _SessionLost):
                pass  # the server is gone or forgot the session: nothing left to release

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            if not self._rt._closed:
                await self._release(self._instance, self._uid, self._sid)


def _key(answer: dict[str, Any]) -> tuple:
    """What a replayed answer must repeat."""
    if "attribute" in answer:
        return ("attr", repr(answer["attribute"]))
    return (answer.get("observation"), bool(answer.get("done")), float(answer.get("reward") or 0), answer.get("error"))


def _message(text: str) -> str:
    try:
        return str(_json.loads(text).get("error", text))[:500]
    except (ValueError, AttributeError):
        return text[:500]
