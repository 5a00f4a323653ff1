"""``codegym serve``: an ASGI app (Starlette) that speaks the upstream CodeGym env-server protocol.

One process serves many sessions over one runtime (the sandbox worker pool by default), instead of
the upstream design's process per episode and per step. Endpoints (``docs/codegym-format.md`` §4;
field names follow the upstream rollout client; ``*`` marks our additions, which upstream clients
ignore):

======================  ================================================  ==================================
``GET /get_instance``   manager: lease an instance                        ``{uid, port}`` (this same server)
``GET /release_instance?uid=``                                             ``{uid, released}``
``POST /start``         ``{session_id, env_str, env_name}``               ``{observation, *actions, *task}``
``POST /step``          ``{session_id, action, timeout}``                 ``{status, observation, *done,
                                                                           *reward, *error}``
``GET /is_done``        ``?session_id=``                                  ``{done}``
``GET /reward``         ``?session_id=``                                  ``{reward}``
``GET /is_success``     ``?session_id=``                                  ``{success}`` (reward > 0)
``GET /get_attribute``  ``?session_id=&name=``                            ``{attribute}``
``POST /reset``         ``{session_id[, env_str, env_name]}``             ``{observation}``
``POST /stop``          ``{session_id}``                                  ``{stopped}``
``GET /health``         liveness (never needs the token)                  ``{status, sessions, ...}``
``GET /metrics``        Prometheus text                                   see :mod:`.metrics`
======================  ================================================  ==================================

``action`` is the env action string ``{"name": ..., "parameters": {...}}`` (an object is accepted
too). ``status`` is true when the step ran and was committed (the env's own errors included), false
when it was not applied (deadline, memory, crash, unparseable action). ``done`` becomes true at the
env's first ``Done`` and stays true; a session that cannot go on is done with reward 0. A step's
deadline is the server's ``step_timeout`` (enforced by the sandbox, which kills the worker and rebuilds
its other sessions by replay); a request's ``timeout`` is accepted but cannot lengthen or shorten it.

Errors: 400 (bad request, unknown env), 401 (token), 404 (unknown session), 413 (request too big),
503 (session limit reached); the body is ``{"error": "..."}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..calls import ToolCall
from ..catalog import Catalog, EnvSpec
from ..errors import CodeGymError
from ..runtime.base import EXCEPTION, TIMEOUT, Runtime, Session
from .metrics import CONTENT_TYPE, ServerMetrics

log = logging.getLogger("codegym_adapters.server")


@dataclass(frozen=True)
class ServerConfig:
    """Limits of one server. ``token``: bearer token every request but ``/health`` must carry (None:
    no auth, allowed on loopback only, checked by the CLI). ``idle_timeout_s``: a session untouched
    this long is closed. ``max_request_bytes``: larger bodies get 413. ``max_sessions``: more get 503."""

    token: str | None = None
    idle_timeout_s: float = 600.0
    max_request_bytes: int = 1 << 20
    max_sessions: int = 8192
    port: int = 8000  # reported by get_instance when the request does not say which port it reached


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _Live:
    session: Session
    spec: EnvSpec
    options: dict[str, Any]
    last_used: float
    done: bool = False
    reward: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class EnvServer:
    """The sessions of one server process and the handlers that serve them."""

    def __init__(self, make: Callable[[], Runtime], catalog: Catalog, config: ServerConfig) -> None:
        self._make, self.catalog, self.config = make, catalog, config
        self.runtime: Runtime | None = None
        self.sessions: dict[str, _Live] = {}
        self.instances: dict[str, float] = {}
        self.metrics = ServerMetrics(lambda: len(self.sessions), lambda: self.runtime)
        self._reaper: asyncio.Task | None = None
        self._started = time.monotonic()

    # -- lifecycle ------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette):
        self.runtime = self._make()  # made on the server's event loop, which it belongs to
        self._reaper = asyncio.get_running_loop().create_task(self._expire_idle())
        try:
            yield
        finally:
            self._reaper.cancel()
            await asyncio.gather(self._reaper, return_exceptions=True)
            await asyncio.gather(*(live.session.close() for live in self.sessions.values()), return_exceptions=True)
            self.sessions.clear()
            await self.runtime.close()

    async def _expire_idle(self) -> None:
        period = max(0.05, min(30.0, self.config.idle_timeout_s / 4))
        while True:
            await asyncio.sleep(period)
            cutoff = time.monotonic() - self.config.idle_timeout_s
            for sid, live in list(self.sessions.items()):
                if live.last_used < cutoff and not live.lock.locked() and self.sessions.get(sid) is live:
                    del self.sessions[sid]
                    self.metrics.sessions_expired.inc()
                    await live.session.close()

    # -- helpers --------------------------------------------------------------------------------
    def _live(self, sid: Any) -> _Live:
        if not isinstance(sid, str) or not sid:
            raise HttpError(400, "session_id must be a non-empty string")
        live = self.sessions.get(sid)
        if live is None:
            raise HttpError(404, f"unknown session {sid!r} (never started, stopped, or expired after "
                                 f"{self.config.idle_timeout_s:g} s idle)")
        live.last_used = time.monotonic()
        return live

    def _resolve(self, env_str: Any, env_name: Any) -> tuple[EnvSpec, dict[str, Any]]:
        if not isinstance(env_str, str) or not env_str.strip():
            raise HttpError(400, "env_str must be '<ClassName>@<options>'")
        _head, sep, options = env_str.partition("@")
        tries = []
        if isinstance(env_name, str) and env_name.strip():  # a file name picks one of same-named classes
            tries.append(f"{env_name.strip().removesuffix('.py')}{sep}{options}")
        tries.append(env_str)
        error: CodeGymError | None = None
        for text in tries:
            try:
                return self.catalog.resolve(text)
            except CodeGymError as exc:
                error = error or exc
        raise HttpError(400, str(error))

    async def _open(self, sid: str, spec: EnvSpec, options: dict[str, Any]) -> _Live:
        assert self.runtime is not None
        try:
            session = await self.runtime.open((spec, options))
        except CodeGymError as exc:
            raise HttpError(400, str(exc)) from None
        self.metrics.sessions_started.inc()
        return _Live(session, spec, options, time.monotonic())

    # -- manager endpoints ----------------------------------------------------------------------
    async def get_instance(self, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        uid = uuid.uuid4().hex
        self.instances[uid] = time.monotonic()
        return {"uid": uid, "port": request.url.port or self.config.port}

    async def release_instance(self, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        uid = request.query_params.get("uid") or body.get("uid")
        return {"uid": uid, "released": self.instances.pop(str(uid), None) is not None}

    # -- instance endpoints ---------------------------------------------------------------------
    async def start(self, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        sid = body.get("session_id")
        if not isinstance(sid, str) or not sid:
            raise HttpError(400, "session_id must be a non-empty string")
        spec, options = self._resolve(body.get("env_str"), body.get("env_name"))
        old = self.sessions.pop(sid, None)
        if old is not None:  # starting an id again replaces its env, as upstream does
            await old.session.close()
        if len(self.sessions) >= self.config.max_sessions:
            raise HttpError(503, f"the server holds its limit of {self.config.max_sessions} sessions; "
                                 "stop some or use another server")
        live = await self._open(sid, spec, options)
        self.sessions[sid] = live
        info = live.session.info
        return {"observation": info.reset_observation, "env_name": spec.name,
                "actions": [a.to_dict() for a in info.actions], "task": info.task}

    async def step(self, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        live = self._live(body.get("session_id"))
        call, problem = _parse_action(body.get("action"))
        if call is None:
            return {"status": False, "observation": f"Error: {problem}", "done": live.done,
                    "reward": live.reward, "error": "invalid_action"}
        async with live.lock:
            start = time.perf_counter()
            result = await live.session.step(call)
            self.metrics.observe_step(time.perf_counter() - start, result.error == TIMEOUT)
            if result.fatal:
                live.done, live.reward = True, 0.0
            elif not live.done:
                live.done, live.reward = result.finished, result.reward
            live.last_used = time.monotonic()
        committed = result.error is None or result.error == EXCEPTION
        return {"status": committed, "observation": result.observation, "done": live.done,
                "reward": live.reward, "error": result.error}

    async def is_done(self, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        return {"done": self._live(_sid(request, body)).done}

    async def reward(self, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        return {"reward": self._live(_sid(request, body)).reward}

    async def is_success(self, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        return {"success": self._live(_sid(request, body)).reward > 0}

    async def get_attribute(self, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        live = self._live(_sid(request, body))
        name = request.query_params.get("name") or body.get("name") or request.query_params.get("attr_name")
        if not isinstance(name, str) or not name:
            raise HttpError(400, "name (the attribute to read) is required")
        async with live.lock:
            try:
                return {"attribute": await live.session.attribute(name)}
            except CodeGymError as exc:
                raise HttpError(400, str(exc)) from None

    async def reset(self, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        sid = body.get("session_id")
        live = self._live(sid)
        spec, options = live.spec, live.options
        if body.get("env_str"):
            spec, options = self._resolve(body["env_str"], body.get("env_name"))
        async with live.lock:
            fresh = await self._open(sid, spec, options)
            await live.session.close()
            if self.sessions.get(sid) is live:
                self.sessions[sid] = fresh
        return {"observation": fresh.session.info.reset_observation}

    async def stop(self, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        sid = _sid(request, body)
        live = self.sessions.pop(sid, None) if isinstance(sid, str) else None
        if live is not None:
            await live.session.close()
        return {"stopped": live is not None}

    async def health(self, request: Request, body: dict[str, Any]) -> dict[str, Any]:
        runtime = self.runtime
        pids = runtime.worker_pids() if runtime is not None and hasattr(runtime, "worker_pids") else []
        return {"status": "ok", "sessions": len(self.sessions), "runtime": getattr(runtime, "name", None),
                "worker_pids": pids, "uptime_s": round(time.monotonic() - self._started, 3)}


def _sid(request: Request, body: dict[str, Any]) -> Any:
    return request.query_params.get("session_id") or body.get("session_id")


def _parse_action(action: Any) -> tuple[ToolCall | None, str]:
    """An env action (``{"name": ..., "parameters": {...}}`` as a JSON string or object) as a call."""
    if isinstance(action, str):
        try:
            action = json.loads(action)
        except ValueError as exc:
            return None, f"the action is not valid JSON ({exc}); the env was not stepped."
    if isinstance(action, list) and len(action) == 1:
        action = action[0]
    if not isinstance(action, dict) or not isinstance(action.get("name"), str):
        return None, 'the action must be an object {"name": <action>, "parameters": {...}}; the env was not stepped.'
    params = action.get("parameters", action.get("arguments", {}))
    if params is None:
        params = {}
    if not isinstance(params, dict):
        return None, f"the parameters of {action['name']} must be an object; the env was not stepped."
    return ToolCall(action["name"], params), ""


def build_app(make_runtime: Callable[[], Runtime], catalog: Catalog, config: ServerConfig | None = None) -> Starlette:
    """The ASGI app. ``make_runtime`` is called once, on the server's event loop, at startup."""
    server = EnvServer(make_runtime, catalog, config or ServerConfig())

    def endpoint(name: str, handler: Callable[[Request, dict[str, Any]], Awaitable[dict[str, Any]]],
                 open_: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            status = 200
            try:
                if not open_:
                    _check_token(request, server.config.token)
                body = await _read_json(request, server.config.max_request_bytes)
                response: Response = JSONResponse(await handler(request, body))
            except HttpError as exc:
                status = exc.status
                response = JSONResponse({"error": str(exc)}, status_code=status,
                                        headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)
            except Exception as exc:  # a bug of ours: answer it as one, keep serving the other sessions
                log.exception("codegym serve: %s failed", name)
                status = 500
                response = JSONResponse({"error": f"internal error in {name}: {type(exc).__name__}: {exc}"},
                                        status_code=500)
            server.metrics.requests.labels(name, str(status)).inc()
            return response
        return serve

    async def metrics(request: Request) -> Response:
        try:
            _check_token(request, server.config.token)
        except HttpError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        return Response(server.metrics.render(), media_type=CONTENT_TYPE)

    handlers = {"get_instance": ("GET", server.get_instance), "release_instance": ("GET", server.release_instance),
                "start": ("POST", server.start), "step": ("POST", server.step), "is_done": ("GET", server.is_done),
                "reward": ("GET", server.reward), "is_success": ("GET", server.is_success),
                "get_attribute": ("GET", server.get_attribute), "reset": ("POST", server.reset),
                "stop": ("POST", server.stop)}
    routes = [Route(f"/{name}", endpoint(name, fn), methods=[method, "POST" if method == "GET" else "GET"])
              for name, (method, fn) in handlers.items()]
    routes += [Route("/health", endpoint("health", server.health, open_=True), methods=["GET"]),
               Route("/metrics", metrics, methods=["GET"])]
    app = Starlette(routes=routes, lifespan=server.lifespan)
    app.state.server = server
    return app


def _check_token(request: Request, token: str | None) -> None:
    if token is None:
        return
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
        raise HttpError(401, "missing or wrong bearer token (send 'Authorization: Bearer <token>')")


async def _read_json(request: Request, limit: int) -> dict[str, Any]:
    """The request's JSON object body ({} when empty), read at most ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HttpError(413, f"the request body is {declared} bytes, over the {limit}-byte limit")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HttpError(413, f"the request body is over the {limit}-byte limit")
        chunks.append(chunk)
    if not size:
        return {}
    try:
        body = json.loads(b"".join(chunks))
    except ValueError as exc:
        raise HttpError(400, f"the request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise HttpError(400, "the request body must be a JSON object")
    return body
