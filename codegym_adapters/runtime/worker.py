"""A sandbox worker process: one :class:`EnvHost` serving the sessions of ONE env source, one request
at a time.

Forked by the worker template (:mod:`.forkserver`), which has already imported the modules env files
use (:data:`PRELOAD`). :func:`serve_forked` runs in the child: it points fds 0 and 1 at
``/dev/null`` (env prints go nowhere), closes every descriptor but its two channel pipes,
confines itself (:func:`.limits.confine`, exactly once, before any env code) and says hello with
its protections (or with the error that stopped it).

Requests are ``{"id", "op", ...}``; every request gets exactly one reply, in order:
``{"id", "ok": true, "value", "rss"}`` or ``{"id", "ok": false, "type", "message", "rss"}``.
``rss`` is the worker's resident memory in bytes after the request, so the parent can retire a
worker that an env has bloated. The first ``load`` fixes the worker's source: a request for any
other source is refused (the parent never sends one; this is a second lock on that door). The
worker exits when its request pipe closes. Nothing here is trusted by the parent
(:mod:`.replies`): env code runs in this process and can write to the channel. Before it answers a
request the worker checks that env code left its machinery alone (:mod:`.tamper`); if not, it answers
``{"ok": false, "type": "EnvTampering", ...}`` instead and exits.
"""

from __future__ import annotations

import base64
import json
import marshal
import os
import sys
import types
from typing import Any

from ..catalog import compile_env
from .channel import FrameReader, frame
from .host import EnvHost, said
from .tamper import STATE_CHANGED, TAMPERING, tripwire

# Modules env files import (codegym-format.md), loaded by the template so a worker starts warm.
PRELOAD = (
    "gymnasium", "numpy", "json", "ast", "typing", "collections", "heapq", "math", "bisect", "itertools",
    "functools", "random", "re", "string", "copy", "operator", "fractions", "decimal", "statistics",
    "dataclasses", "enum", "abc", "datetime", "time", "sys", "os", "array", "queue", "textwrap",
    "unicodedata", "hashlib", "struct", "io", "contextlib", "subprocess", "socket", "ctypes", "tempfile",
    "select", "resource", "signal", "codegym_adapters.runtime.host", "codegym_adapters.catalog",
)  # fmt: skip
_PRELOAD = PRELOAD  # the name the kernel layers' tests use


def _malloc_trim() -> Any:
    try:
        import ctypes

        trim = ctypes.CDLL(None).malloc_trim  # glibc; resolved once, in the template
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
        return trim
    except (OSError, AttributeError):  # not glibc
        return None


_MALLOC_TRIM = _malloc_trim()


def release_free_memory() -> None:
    """Give the kernel back the pages of freed heap memory (``malloc_trim(0)``: glibc madvises the
    free chunks away). A forked worker's freed pages are private copies it no longer needs; this
    keeps a worker's PSS near what it actually holds."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _send(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class Worker:
    """The request loop around an :class:`EnvHost`."""

    def __init__(self, config: dict[str, Any], chan_in: int, chan_out: int) -> None:
        low, high = config["reward_range"]
        self.host = EnvHost(max_observation_chars=int(config["max_observation_chars"]),
                            reward_range=(float(low), float(high)))
        self.source: str | None = None
        self.compiler = False  # it has compiled sources for other workers: it loads none
        self.max_bytes = int(config["max_message_bytes"])
        self.chan_in, self.chan_out = chan_in, chan_out
        self.statm = os.open("/proc/self/statm", os.O_RDONLY)
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.load_errors: dict[str, tuple[str, str]] = {}
        # taken last, before any env code: what env code must leave as it found it (see .tamper)
        self.tripwire = tripwire()
        self.tripwire.watch(self.host, ("max_observation_chars", "reward_range", "_envs", "_classes"))
        self.tripwire.watch(self, ("max_bytes", "chan_in", "chan_out", "statm", "page", "host", "tripwire"))

    def rss(self) -> int:
        try:
            return int(os.pread(self.statm, 128, 0).split()[1]) * self.page
        except (OSError, ValueError, IndexError):
            return 0

    def reply(self, message: dict[str, Any]) -> None:
        message["rss"] = self.rss()
        try:
            body = json.dumps(message).encode("utf-8")
        except (ValueError, TypeError, RecursionError) as exc:
            body = self._error_body(message, "CodeGymError", f"the result cannot be encoded as JSON: {exc}")
        if len(body) > self.max_bytes:
            body = self._error_body(message, "MessageTooLarge",
                                    f"the result is {len(body)} bytes, over the {self.max_bytes}-byte limit")
        _send(self.chan_out, frame(body))

    @staticmethod
    def _error_body(message: dict[str, Any], kind: str, text: str) -> bytes:
        error = {"id": message.get("id"), "ok": False, "type": kind, "message": text, "rss": message["rss"]}
        return json.dumps(error).encode("utf-8")

    def serve(self) -> None:
        """Answer requests, in order, until the request pipe closes."""
        import select

        reader = FrameReader(self.max_bytes)
        # Waiting in select() rather than in a blocking read() answers measurably sooner (about
        # 15 us a round trip on a 2-vCPU VM): the kernel wakes a poller differently.
        os.set_blocking(self.chan_in, False)
        while True:
            try:
                data = os.read(self.chan_in, 1 << 20)
            except BlockingIOError:
                select.select([self.chan_in], [], [])
                continue
            if not data:
                return
            for request in reader.feed(data):
                self.handle(request)

    def handle(self, request: dict[str, Any]) -> None:
        """Run one request and answer it; raises :class:`Tampered` (ending the worker) instead of
        answering when env code changed the worker (:mod:`.tamper`): nothing it computed is sent."""
        rid = request.get("id")
        reply: dict[str, Any]
        try:
            value = getattr(self, "op_" + str(request.get("op")))(request)
            reply = {"id": rid, "ok": True, "value": value}
        except MemoryError:
            reply = {"id": rid, "ok": False, "type": "MemoryError", "message": "out of memory"}
        except BaseException as exc:  # env code may raise anything, SystemExit included
            kind = exc.kind if isinstance(exc, _Remote) else type(exc).__name__
            reply = {"id": rid, "ok": False, "type": kind, "message": said(exc)}
        problem = self.tripwire.check()
        if problem is not None:
            self.reply({"id": rid, "ok": False, "type": TAMPERING,
                        "message": f"env code tampered with its worker process: {problem}"})
            raise Tampered(problem)
        self.reply(reply)

    # -- operations ------------------------------------------------------------------------------
    def _source(self, request: dict[str, Any]) -> str:
        source_hash = request["hash"]
        if source_hash != self.source:
            raise _Remote("CodeGymError", f"this worker serves env source {self.source}, not {source_hash}")
        if source_hash in self.load_errors:
            kind, text = self.load_errors[source_hash]
            raise _Remote(kind, text)
        return source_hash

    def op_load(self, request: dict[str, Any]) -> None:
        if self.source is not None and request["hash"] != self.source:
            raise _Remote("CodeGymError", f"this worker serves env source {self.source} only")
        if self.compiler:
            raise _Remote("CodeGymError", "this worker compiles env sources and runs none")
        self.source = request["hash"]
        try:
            self.host.load(request["hash"], _code_or_source(request), request["class_name"], request["label"])
        except BaseException as exc:
            self.load_errors[request["hash"]] = (type(exc).__name__, said(exc))
            raise
        finally:
            release_free_memory()  # the compiler's high-water mark goes back to the kernel

    def op_open(self, request: dict[str, Any]) -> dict[str, Any]:
        source_hash = self._source(request)
        try:
            opened = self.host.open(request["sid"], source_hash, request["options"], request["label"])
            self._after_call(request["sid"])
        except (Exception, SystemExit, KeyboardInterrupt) as exc:
            if type(exc).__module__.startswith("codegym_adapters"):
                raise
            raise _Remote("EnvLoadError", f"env {request['label']}: creating or resetting it failed: "
                                          f"{type(exc).__name__}: {said(exc)}") from None
        opened["task"] = self.host.module_info(source_hash)["task"]
        return opened

    def op_step(self, request: dict[str, Any]) -> dict[str, Any]:
        sid = request["sid"]
        try:
            self._before_call(sid)
        except KeyError:
            raise _Remote("CodeGymError", f"session {sid} is not open in this worker") from None
        try:
            result = self.host.step(sid, request["name"], request["args"])
        except BaseException as exc:  # SystemExit, KeyboardInterrupt, ... raised by the env
            name = request["name"]
            self._after_call(sid)
            return {"observation": f"Error: the environment raised {type(exc).__name__} on {name}: {said(exc)}"[:2000],
                    "finished": False, "reward": 0.0, "error": "exception"}
        self._after_call(sid)
        return {"observation": result.observation, "finished": result.finished, "reward": result.reward,
                "error": result.error}  # fatal follows from the error kind (invalid_reward)

    def op_attribute(self, request: dict[str, Any]) -> Any:
        self._before_call(request["sid"])  # KeyError for a session not open, as host.attribute raises
        value = self.host.attribute(request["sid"], request["name"])
        self._after_call(request["sid"])
        return value

    def _before_call(self, sid: Any) -> None:
        """Refuse a call on a session whose reward changed since its own last call (:mod:`.tamper`).
        Raises ``KeyError`` for a session not open here."""
        problem = self.tripwire.before_call(sid, self.host.status(sid))
        if problem is not None:
            raise _Remote(STATE_CHANGED, problem)

    def _after_call(self, sid: Any) -> None:
        self.tripwire.after_call(sid, self.host.status(sid))

    def op_close(self, request: dict[str, Any]) -> None:
        self.host.close(request["sid"])
        self.tripwire.forget(request["sid"])

    def op_oracle(self, request: dict[str, Any]) -> dict[str, Any]:
        trace = self.host.oracle(self._source(request), request["options"], request["label"])
        return {"calls": [c.to_dict() for c in trace.calls], "final_observation": trace.final_observation,
                "reward": trace.reward, "error": trace.error}

    def op_compile(self, request: dict[str, Any]) -> str:
        """Compile (never run) a source for the other workers: its code, marshalled, base64."""
        if self.source is not None:
            raise _Remote("CodeGymError", "a worker that serves an env source compiles none")
        self.compiler = True
        try:
            return base64.b64encode(marshal.dumps(compile_env(request["source"], request["label"]))).decode("ascii")
        finally:
            release_free_memory()

    def op_module_info(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.host.module_info(self._source(request))

    def op_generate_config(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.host.generate_config(self._source(request), request["seed"], request["size"])

    def op_ping(self, request: dict[str, Any]) -> int:
        return len(self.host)


class Tampered(Exception):
    """Env code changed the worker (the message says what): the worker reports it and ends."""


def _code_or_source(request: dict[str, Any]) -> Any:
    """The code the pool's compiler worker made for this source (``code``), or, without one or if it
    does not unmarshal to a code object, the source text, which the env's own worker compiles."""
    try:
        code = marshal.loads(base64.b64decode(request["code"], validate=True))
    except Exception:  # KeyError (none sent), or not what a compiler worker makes
        return request["source"]
    return code if isinstance(code, types.CodeType) else request["source"]


class _Remote(Exception):
    """An error reported to the parent under the name ``kind``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def serve_forked(config: dict[str, Any], chan_in: int, chan_out: int) -> int:
    """The life of a worker forked by the template: confine, say hello, serve. Returns the exit
    status."""
    import random

    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)  # sys.stdin and sys.stdout (the template's, on these descriptors) now read and
    os.dup2(devnull, 1)  # write /dev/null; new file objects would cost ~200 KB of copied pages
    keep = sorted({0, 1, 2, chan_in, chan_out, devnull})
    for low, high in zip(keep, keep[1:] + [os.sysconf("SC_OPEN_MAX")], strict=True):
        os.closerange(low + 1, high)  # nothing of the template's, or of another worker's, stays open
    random.seed()  # not the template's state: as a freshly started process would
    config = {**config, "keep_fds": [chan_in, chan_out, devnull]}  # confine may close every other one
    try:
        from .limits import confine

        _, protections = confine(config)
        worker = Worker(config, chan_in, chan_out)
        if config.get("warm_up"):  # a spare: fault in, now, the pages compiling its first env will need
            from .forkserver import warm_up_compiler

            warm_up_compiler()
        release_free_memory()
    except BaseException as exc:
        hint = ""
        if isinstance(exc, ImportError):  # the usual cause: a folder the confined user cannot enter
            hint = (f" (a confined worker runs as an unprivileged user and sees the Python installation through "
                    f"read-only binds: make {sys.prefix} and the package's folders readable by others, "
                    f"e.g. chmod o+rx)")
        error = {"id": 0, "ok": False, "type": type(exc).__name__,
                 "message": f"confinement failed: {exc}{hint}"[:2000], "rss": 0}
        _send(chan_out, frame(json.dumps(error).encode()))
        return 1
    sys.stderr.flush()
    os.dup2(devnull, 2)  # from here on, nothing the env writes reaches anyone (sys.stderr writes here)
    _send(chan_out, frame(json.dumps({"id": 0, "ok": True, "value": protections, "rss": worker.rss()}).encode()))
    try:
        worker.serve()
    except BaseException:  # a broken channel, or an env that broke the worker itself
        return 1
    return 0
