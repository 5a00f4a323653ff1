"""A small OpenAI-compatible chat server for tests: real HTTP on 127.0.0.1, scripted answers, injected faults.

``FakeOpenAIServer(policy)`` serves ``POST /v1/chat/completions`` and ``GET /v1/models`` from a thread.
``policy(body) -> Reply`` decides each answer; :class:`ScriptedChat` replays prepared turns per
conversation (keyed by the first user message, the turn being the number of assistant messages so far),
so a retried request gets the same answer. ``faults`` are spent one per chat request, in order, before
the policy is asked: ``"503"``, ``"429"``, ``"500"``, ``"drop"`` (close the connection without a reply),
``"hang"`` (answer after ``hang_s``), ``"garbage"`` (200 with a body that is not JSON), ``"no-choices"``
(200 with JSON that is no chat completion), ``"400"``, ``"400-context"`` (a context-length refusal).
A :class:`Reply` can carry a fault too, to fail one conversation every time. With ``check_model`` a
request for a model not in ``models`` gets vLLM's 404 ("The model `x` does not exist.").
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from codegym_adapters.calls import ToolCall

MODEL = "fake-model"


@dataclass
class Reply:
    """One answer: text, tool calls (``ToolCall`` or ``(name, raw_arguments_string)``), or a fault."""

    content: str = ""
    tool_calls: Sequence[ToolCall | tuple[str, str]] = ()
    finish_reason: str | None = None
    fault: str | None = None


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: Any


def first_user_message(body: Mapping[str, Any]) -> str:
    return next((m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "user"), "")


@dataclass
class ScriptedChat:
    """Replays ``scripts[first user message][turn]``; past the end of a script it says "I am done."
    An unknown conversation gets a 400, so a test notices."""

    scripts: Mapping[str, Sequence[str | ToolCall | Reply]]
    native: bool = False

    def __call__(self, body: Mapping[str, Any]) -> Reply:
        key = first_user_message(body)
        if key not in self.scripts:
            return Reply(fault="400")
        turn = sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")
        script = self.scripts[key]
        item = script[turn] if turn < len(script) else "I am done."
        if isinstance(item, Reply):
            return item
        if isinstance(item, ToolCall):
            return Reply(tool_calls=[item]) if self.native else Reply(json.dumps(item.to_dict()))
        return Reply(item)


def _tokens(text: str) -> int:
    return len(text) // 4 + 1


def completion(reply: Reply, body: Mapping[str, Any], turn_id: str) -> dict[str, Any]:
    """The chat-completion JSON for ``reply``, with made-up but consistent token counts (about four
characters a token); a reply longer than the request's ``max_tokens`` is cut off with ``length``."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = []
        for i, call in enumerate(reply.tool_calls):
            name, arguments = (call.name, json.dumps(call.arguments)) if isinstance(call, ToolCall) else call
            message["tool_calls"].append({"id": f"call_{turn_id}_{i}", "type": "function",
                                          "function": {"name": name, "arguments": arguments}})
    prompt_tokens = sum(_tokens(json.dumps(m)) for m in body.get("messages", []))
    completion_tokens = _tokens(json.dumps(message))
    finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
    limit = body.get("max_tokens")
    if isinstance(limit, int) and completion_tokens > limit:  # cut off, as a real server would
        message = {"role": "assistant", "content": reply.content[: limit * 4]}
        completion_tokens, finish = limit, "length"
    return {
        "id": f"chatcmpl-{turn_id}", "object": "chat.completion", "model": body.get("model", MODEL),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


@dataclass
class FakeOpenAIServer:
    """Use as ``with FakeOpenAIServer(policy) as server: ... server.url``."""

    policy: Callable[[Mapping[str, Any]], Reply]
    faults: Iterable[str] = ()
    hang_s: float = 2.0
    models: Sequence[str] = (MODEL,)
    check_model: bool = False
    requests: list[Request] = field(default_factory=list)
    faults_served: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._faults = list(self.faults)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-openai", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def chat_requests(self, key: str | None = None) -> list[Request]:
        """Chat requests received (faulted ones too), optionally of one conversation."""
        with self._lock:
            chats = [r for r in self.requests if r.path.endswith("/chat/completions")]
        return [r for r in chats if key is None or first_user_message(r.body) == key]

    def _next_fault(self) -> str | None:
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
            if fault:
                self.faults_served.append(fault)
            return fault


def _handler_for(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            self._record(None)
            if self.path.rstrip("/").endswith("/v1/models"):
                self._send(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in server.models]})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            self._record(body)
            if not self.path.rstrip("/").endswith("/v1/chat/completions"):
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                self._send(400, {"error": {"message": "body must be a JSON object with messages"}})
                return
            if server.check_model and body.get("model") not in server.models:
                self._send(404, {"object": "error", "type": "NotFoundError", "code": 404,
                                 "message": f"The model `{body.get('model')}` does not exist."})
                return
            fault = server._next_fault()
            reply = None if fault else server.policy(body)
            fault = fault or (reply.fault if reply else None)
            if fault:
                self._fault(fault, body)
                return
            assert reply is not None
            turn = sum(1 for m in body["messages"] if m.get("role") == "assistant")
            self._send(200, completion(reply, body, str(turn)))

        def _fault(self, fault: str, body: Any) -> None:
            if fault == "drop":
                self.close_connection = True  # no status line at all: the client sees a dropped connection
                return
            if fault == "hang":
                server._stopping.wait(server.hang_s)
                self._send(200, completion(Reply("late"), body, "late"))
                return
            if fault == "garbage":
                self._send(200, b"<html>502 Bad Gateway, but with a 200</html>", "text/html")
                return
            if fault == "no-choices":
                self._send(200, {"object": "error", "message": "something odd"})
                return
            if fault == "400-context":
                self._send(400, {"object": "error", "message": "This model's maximum context length is 32768 "
                                 "tokens. However, you requested 40000 tokens."})
                return
            status = int(fault)
            headers = {"Retry-After": "0"} if status == 429 else {}
            self._send(status, {"error": {"message": f"injected {status}"}}, headers=headers)

        def _record(self, body: Any) -> None:
            with server._lock:
                server.requests.append(Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body))

        def _send(self, status: int, payload: Any, content_type: str = "application/json",
                  headers: Mapping[str, str] | None = None) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (e.g. its timeout after a "hang")
                self.close_connection = True

    return Handler
