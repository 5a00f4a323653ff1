"""Evaluating a served model: an OpenAI-compatible chat client and the episode loop it drives.

``codegym eval --model URL`` talks to any server that speaks ``POST /v1/chat/completions`` (vLLM or
SGLang ``serve``, or a hosted API) and plays each task as one :class:`~codegym_adapters.episode.Episode`:

* **text calls** (``--tool-calls text``, prompt style ``codegym``): the model writes calls in its reply
  text; observations come back as user messages;
* **native calls** (``--tool-calls native``, prompt style ``native``): the request carries the tools as
  OpenAI schemas; the first of ``message.tool_calls`` is run, and every call gets a ``tool`` message
  with its ``tool_call_id`` (calls after the first are answered with an error and not run).

Transient failures (connect errors, timeouts, dropped connections, 408/429/5xx, and replies that are
not a chat completion) are retried with exponential backoff and jitter; other 4xx are not. A request
that still fails ends its episode with ``done_reason`` ``model_error``, reward 0 and the reason in
the record's ``model_error``: the run goes on and every task gets a record (:func:`diagnose` says
what a failure most likely means). A reply cut off by ``max_tokens`` (``finish_reason == "length"``)
or over the episode's token budget is a cut turn (the episode's rule: not run, ``length``); a server
refusing a prompt longer than its context ends the episode with ``length`` too.

Replies are read with the episode's own settings (:meth:`EpisodeConfig.read_turn`: call format,
reasoning blocks), exactly as the trainers read generated turns.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

import httpx

from .argtypes import non_negative_float, non_negative_int, positive_count, positive_float, positive_int
from .calls import ToolCall, render_call, render_format
from .episode import Episode, EpisodeConfig
from .errors import CodeGymError
from .runtime.base import Runtime
from .tasks import Task

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504}) | frozenset(range(520, 530))
EXTRA_CALL_OBSERVATION = "Error: only the first function call of a reply is run; this call was not run."
_CONTEXT_OVERFLOW = ("maximum context length", "context length", "context_length_exceeded", "too long")
_MAX_RETRY_AFTER_S = 60.0


class ModelRequestError(CodeGymError):
    """A chat request failed for good: a status that is not retried, or still failing after the retries."""

    def __init__(self, message: str, *, status: int | None = None, body: str = "", attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.attempts = attempts

    @property
    def context_overflow(self) -> bool:
        """The server refused the prompt as longer than the model's context (the episode ran out of room)."""
        return self.status == 400 and any(s in self.body.lower() for s in _CONTEXT_OVERFLOW)


class _Transient(Exception):
    """One failed attempt that is worth retrying."""

    def __init__(self, reason: str, retry_after: float | None = None, status: int | None = None,
                 body: str = "") -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.status = status
        self.body = body


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` more attempts after the first; the n-th waits about ``backoff_s * 2**n`` seconds
    (times a random factor in [0.5, 1.5), at most ``max_backoff_s``, at least a server's Retry-After)."""

    retries: int = 5
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        wait = min(self.max_backoff_s, self.backoff_s * 2**attempt) * random.uniform(0.5, 1.5)
        if retry_after is not None:
            wait = max(wait, min(retry_after, _MAX_RETRY_AFTER_S))
        return wait


@dataclass
class ChatReply:
    """One chat completion: the message text, its tool calls (normalised to OpenAI's shape, with string
    ``arguments`` and an ``id``), why generation stopped, and the token counts if the server gave them."""

    content: str
    tool_calls: list[dict[str, Any]]
    finish_reason: str | None
    usage: dict[str, int] | None


def chat_base_url(url: str) -> str:
    """``http://host:8000``, ``…/v1`` or ``…/v1/`` all give ``http://host:8000/v1``."""
    base = url.strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ValueError(f"model URL must start with http:// or https://, got {url!r}")
    if base.endswith("/chat/completions"):
        base = base[: -len("/chat/completions")]
    return base if base.endswith("/v1") else f"{base}/v1"


class ChatClient:
    """An async client for one OpenAI-compatible endpoint. Use as ``async with ChatClient(...)``."""

    def __init__(
        self,
        url: str,
        model: str | None = None,
        *,
        api_key: str | None = None,
        request_timeout: float = 300.0,
        retry: RetryPolicy | None = None,
        max_connections: int = 32,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        self.base_url = chat_base_url(url)
        self.model = model
        self.retry = retry or RetryPolicy()
        self.extra_body = dict(extra_body or {})
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(request_timeout, connect=min(request_timeout, 30.0)),
            limits=httpx.Limits(max_connections=max(1, max_connections)),
        )

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def resolve_model(self) -> str:
        """The model name: the one given, else the first model the server lists (``GET /v1/models``)."""
        if self.model:
            return self.model

        def first_model(body: Any) -> str:
            data = body.get("data") if isinstance(body, dict) else None
            if not data or not isinstance(data[0], dict) or not isinstance(data[0].get("id"), str):
                raise _Transient("the model list has no models")
            return data[0]["id"]

        try:
            self.model = await self._request("GET", "/models", None, first_model)
        except ModelRequestError as exc:
            raise ModelRequestError(f"cannot find the served model name ({exc}); give --model-name") from exc
        return self.model

    async def complete(
        self,
        messages: Sequence[dict[str, Any]],
        *,
        tools: Sequence[dict[str, Any]] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> ChatReply:
        """One chat completion, retried as the :class:`RetryPolicy` says; raises :class:`ModelRequestError`."""
        body: dict[str, Any] = {"model": await self.resolve_model(), "messages": list(messages), **self.extra_body}
        if tools:
            body["tools"] = list(tools)
            body.setdefault("tool_choice", "auto")
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if temperature is not None:
            body["temperature"] = temperature
        return await self._request("POST", "/chat/completions", body, _parse_reply)

    async def _request(self, method: str, path: str, body: Any, parse: Callable[[Any], Any]) -> Any:
        url = self.base_url + path
        last: _Transient | None = None
        for attempt in range(self.retry.retries + 1):
            if last is not None:
                await asyncio.sleep(self.retry.delay(attempt - 1, last.retry_after))
            try:
                return parse(await self._attempt(method, url, body))
            except _Transient as exc:
                last = exc
        assert last is not None
        raise ModelRequestError(
            f"{method} {url} failed after {self.retry.retries + 1} attempts: {last}",
            status=last.status, body=last.body, attempts=self.retry.retries + 1,
        )

    async def _attempt(self, method: str, url: str, body: Any) -> Any:
        try:
            response = await self._http.request(method, url, json=body)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise ModelRequestError(f"{method} {url}: {exc}") from exc
        except (httpx.TransportError, httpx.DecodingError) as exc:  # connect errors, timeouts, dropped connections
            raise _Transient(f"{type(exc).__name__}: {exc or 'no details'}") from exc
        except httpx.HTTPError as exc:
            raise ModelRequestError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
        text = response.text
        if response.status_code in RETRY_STATUSES:
            raise _Transient(f"HTTP {response.status_code}: {_clip(text)}", _retry_after(response),
                             response.status_code, text)
        if response.status_code >= 400:
            raise ModelRequestError(f"{method} {url}: HTTP {response.status_code}: {_clip(text)}",
                                    status=response.status_code, body=text)
        try:
            return response.json()
        except ValueError:
            raise _Transient(f"the reply is not JSON: {_clip(text)!r}") from None


def _parse_reply(body: Any) -> ChatReply:
    """Read a chat completion; anything else is a transient failure (retried, then reported)."""
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise _Transient(f"the reply has no choices: {_clip(json.dumps(body))}")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise _Transient(f"the reply's first choice has no message: {_clip(json.dumps(body))}")
    content = message.get("content")
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    calls = []
    for i, raw in enumerate(message.get("tool_calls") or []):
        function = raw.get("function") if isinstance(raw, dict) else None
        if not isinstance(function, dict):
            continue
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)
        calls.append({"id": str(raw.get("id") or f"call_{i}"), "type": "function",
                      "function": {"name": function.get("name"), "arguments": arguments}})
    usage = body.get("usage")
    usage = {k: v for k, v in usage.items() if isinstance(v, int)} if isinstance(usage, dict) else None
    reason = choices[0].get("finish_reason")
    return ChatReply(content if isinstance(content, str) else "", calls, reason if isinstance(reason, str) else None,
                     usage or None)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- one episode ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sampling:
    """Per-request and per-episode token limits and the temperature (None: the server's default)."""

    max_tokens: int | None = 4096
    temperature: float | None = 0.0
    max_episode_tokens: int | None = None


class _TokenCount:
    """Tokens an episode has spent, from the servers' ``usage``: everything after the opening prompt
    (replies and the observations fed back), as a trainer counts its response; the sum of completion
    tokens where prompt tokens are not reported."""

    def __init__(self) -> None:
        self.first_prompt: int | None = None
        self.last_context: int | None = None
        self.prompt_tokens = self.completion_tokens = self.requests = 0

    def add(self, usage: dict[str, int] | None) -> None:
        self.requests += 1
        if not usage:
            return
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens", 0)
        self.completion_tokens += completion
        if prompt is not None:
            self.prompt_tokens += prompt
            self.first_prompt = prompt if self.first_prompt is None else self.first_prompt
            self.last_context = prompt + completion

    @property
    def spent(self) -> int:
        if self.first_prompt is not None and self.last_context is not None:
            return self.last_context - self.first_prompt
        return self.completion_tokens

    def cap(self, max_tokens: int | None, budget: int | None) -> int | None:
        if budget is None:
            return max_tokens
        left = max(1, budget - self.spent)
        return left if max_tokens is None else min(max_tokens, left)

    def to_dict(self) -> dict[str, int]:
        return {"requests": self.requests, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "episode_tokens": self.spent}


def _call_text(reply: ChatReply, fmt: str) -> str:
    """Native tool calls as text the episode parses: each call rendered in ``fmt`` (the parser runs the
    first and counts the rest). Arguments that are not a JSON object stay a string, which the episode
    reports as an invalid call."""
    parts = []
    for call in reply.tool_calls:
        name, raw = call["function"]["name"], call["function"]["arguments"]
        try:
            arguments: Any = json.loads(raw) if raw.strip() else {}
        except ValueError:
            arguments = raw
        parts.append(render_call(ToolCall(name if isinstance(name, str) else json.dumps(name), arguments), fmt))
    return "\n".join(parts)


async def run_model_episode(
    runtime: Runtime,
    task: Task,
    client: ChatClient,
    config: EpisodeConfig | None = None,
    sampling: Sampling | None = None,
    *,
    sample: int = 0,
) -> dict[str, Any]:
    """Play ``task`` with the served model; returns the episode record (summary, prompt, trajectory,
    ``model_error``, ``usage``). Never raises for model, HTTP or env failures."""
    config = config or EpisodeConfig()
    sampling = sampling or Sampling()
    native = config.prompt_style == "native"
    fmt = render_format(config.call_format)
    episode = Episode(runtime, task, config)
    tokens = _TokenCount()
    trajectory: list[dict[str, Any]] = []
    model_error = unexpected = ""
    prompt = None
    try:
        prompt = await episode.start()
        messages = [dict(m) for m in prompt.messages]
        while not episode.done:
            try:
                reply = await client.complete(
                    messages, tools=prompt.tools if native else None, temperature=sampling.temperature,
                    max_tokens=tokens.cap(sampling.max_tokens, sampling.max_episode_tokens))
            except ModelRequestError as exc:
                if not exc.context_overflow:
                    model_error = str(exc)
                await episode.end("length" if exc.context_overflow else "model_error")
                break
            tokens.add(reply.usage)
            text = _call_text(reply, fmt) if reply.tool_calls else reply.content
            entry: dict[str, Any] = {"text": text, "kind": "length", "call": None, "observation": ""}
            if reply.tool_calls:
                entry.update(content=reply.content, tool_calls=reply.tool_calls)
            entry.update(finish_reason=reply.finish_reason, usage=reply.usage)
            over = sampling.max_episode_tokens is not None and tokens.spent > sampling.max_episode_tokens
            if reply.finish_reason == "length" or over:  # cut off: the episode's rule, the call is not run
                turn = await episode.step(text, cut=True)
                entry.update(kind=turn.kind)
                trajectory.append(entry)
                break
            turn = await episode.step(text)
            entry.update(kind=turn.kind, call=turn.call.to_dict() if turn.call else None,
                         observation=turn.observation)
            trajectory.append(entry)
            native_calls = native and bool(reply.tool_calls)
            if native_calls:
                messages.append({"role": "assistant", "content": reply.content, "tool_calls": reply.tool_calls})
            else:  # text mode keeps the conversation in text, even if the server extracted the calls
                messages.append({"role": "assistant", "content": text})
            if turn.done:
                break
            if native_calls:
                for i, call in enumerate(reply.tool_calls):
                    messages.append({"role": "tool", "tool_call_id": call["id"],
                                     "content": turn.observation if i == 0 else EXTRA_CALL_OBSERVATION})
            else:
                messages.append({"role": "user" if native else prompt.observation_role,
                                 "content": turn.observation})
    except Exception as exc:  # a bug or an env failure outside the contract: report it, lose nothing
        unexpected = f"{type(exc).__name__}: {exc}"
        await episode.end("env_error")
    finally:
        try:
            await episode.close()
        except Exception as exc:  # closing must not cost the record
            unexpected = unexpected or f"closing the env session failed: {type(exc).__name__}: {exc}"
    record: dict[str, Any] = {"task": task.env, "sample": sample, "policy": f"model:{client.model or 'unknown'}",
                              **episode.summary()}
    record["error"] = record["error"] or model_error or unexpected
    record.update(model_error=model_error, prompt_style=config.prompt_style, usage=tokens.to_dict(),
                  prompt=prompt.messages if prompt else [], trajectory=trajectory)
    return record


# -- what a failure means --------------------------------------------------------------------------
def diagnose(message: str, url: str, api_key_env: str | None = DEFAULT_API_KEY_ENV) -> str:
    """One line saying what a model request failure (a ``model_error`` text) most likely means."""
    text = message.lower()
    status = re.search(r"http (\d{3})", text)
    code = int(status.group(1)) if status else None
    if any(s in text for s in ("connecterror", "connection refused", "all connection attempts failed",
                               "name or service not known", "nodename nor servname")):
        return (f"nothing answers at {url}: is the model server up (e.g. `vllm serve MODEL --port 8000`), "
                "and are the host and port right?")
    if "timeout" in text:
        return ("the server did not answer in time: it may still be loading the model (wait until GET /v1/models "
                "answers) or need a longer --request-timeout")
    if code == 404 and "model" in text and any(s in text for s in ("does not exist", "not found", "unknown")):
        return "wrong model name: give one of the names GET /v1/models lists with --model-name"
    if code in (404, 405):
        return (f"wrong URL: {chat_base_url(url)}/chat/completions does not exist there; give the server's base "
                "URL (e.g. http://localhost:8000)")
    if code in (401, 403):
        return f"the server refused the credentials: put the API key in ${api_key_env or 'OPENAI_API_KEY'}"
    if code == 400:
        return "the server refused the request as malformed: check --extra-body and the model's chat template"
    return "the model server failed; see the error above"


# -- the eval command ----------------------------------------------------------------------------
def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``codegym eval`` options for evaluating a served model (``--model URL`` turns them on)."""
    g = parser.add_argument_group("served model (OpenAI-compatible chat endpoint)")
    g.add_argument("--model", metavar="URL", help="evaluate the model served at URL (e.g. http://localhost:8000 "
                   "from vllm/sglang serve) instead of a scripted --policy")
    g.add_argument("--model-name", help="model name to request (default: the first one GET /v1/models lists)")
    g.add_argument("--api-key-env", default=DEFAULT_API_KEY_ENV, metavar="VAR",
                   help="environment variable holding the API key, if any (default: %(default)s)")
    g.add_argument("--tool-calls", choices=("text", "native"), default="text",
                   help="text: calls written in the reply (CodeGym prompt); native: tool schemas in the "
                        "request and message.tool_calls in the reply")
    g.add_argument("--max-tokens", type=positive_count, metavar="N", default=4096, help="token limit per reply (default: %(default)s)")
    g.add_argument("--max-episode-tokens", type=positive_int, metavar="N", default=None,
                   help="token budget per episode after the prompt (replies + observations), from the "
                        "server's usage; over it the episode ends with 'length'")
    g.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default: %(default)s)")
    g.add_argument("--samples", type=positive_count, metavar="N", default=1, help="episodes per task (default: %(default)s)")
    g.add_argument("--retries", type=non_negative_int, metavar="N", default=5, help="retries of a failed request (default: %(default)s)")
    g.add_argument("--retry-backoff", type=non_negative_float, metavar="S", default=0.5,
                   help="first retry waits about this many seconds, doubling after (default: %(default)s)")
    g.add_argument("--request-timeout", type=positive_float, metavar="S", default=300.0,
                   help="seconds per HTTP request (default: %(default)s)")
    g.add_argument("--extra-body", type=_json_object, default=None, metavar="JSON",
                   help='extra request fields, e.g. \'{"chat_template_kwargs": {"enable_thinking": false}}\'')
    g.add_argument("--resume", action="store_true",
                   help="keep the episodes already in --out (by task and sample) and run only the others; "
                        "episodes that ended with a model error are run again")


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


def _jobs(tasks: Sequence[Task], samples: int) -> list[tuple[Task, int]]:
    """Each task ``samples`` times; the sample index counts earlier jobs of the same env string."""
    seen: dict[str, int] = {}
    jobs = []
    for task in tasks:
        for _ in range(max(1, samples)):
            jobs.append((task, seen.get(task.env, 0)))
            seen[task.env] = seen.get(task.env, 0) + 1
    return jobs


def _key(record: dict[str, Any]) -> tuple[str, int]:
    return str(record.get("task")), int(record.get("sample") or 0)


def load_finished(path: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """Rewrite ``path`` keeping its complete episode records (no torn last line, no duplicates, no
    episodes that ended with a model error) and return them by ``(task, sample)``."""
    if not path.exists():
        return {}
    kept: dict[tuple[str, int], dict[str, Any]] = {}
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or "task" not in record or record.get("model_error"):
            continue
        if _key(record) not in kept:
            kept[_key(record)] = record
            lines.append(line)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    os.replace(tmp, path)
    return kept


async def eval_with_model(
    args: argparse.Namespace,
    runtime: Runtime,
    tasks: Sequence[Task],
    config: EpisodeConfig,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every task (``args.samples`` times) against ``args.model``, ``args.concurrency`` at a time.

    Writes each finished episode to ``args.out`` (if set) as one flushed JSON line; with ``args.resume``
    the episodes already there are kept and not run again. ``on_done`` is called once per returned
    record, the resumed ones first (for a progress bar: it must not write the record). Returns the
    records in task order. Sets ``args.model_name`` to the name the server was asked for.
    """
    if args.resume and not getattr(args, "out", None):
        raise ValueError("--resume needs --out FILE: the episodes to keep are read from it")
    for name in ("samples", "max_tokens", "max_episode_tokens"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.retries < 0:
        raise ValueError(f"--retries must be >= 0, got {args.retries}")
    native = args.tool_calls == "native"
    config = replace(config, prompt_style="native" if native else "codegym",
                     call_format="auto" if native else config.call_format)
    sampling = Sampling(args.max_tokens, args.temperature, args.max_episode_tokens)
    jobs = _jobs(tasks, args.samples)
    out_path = Path(args.out) if getattr(args, "out", None) else None
    finished = load_finished(out_path) if out_path and args.resume else {}
    results: list[dict[str, Any] | None] = [finished.get((t.env, s)) for t, s in jobs]
    api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
    client = ChatClient(args.model, args.model_name, api_key=api_key, request_timeout=args.request_timeout,
                        retry=RetryPolicy(args.retries, args.retry_backoff), extra_body=args.extra_body,
                        max_connections=args.concurrency)
    out: TextIO | None = None
    try:
        async with client:
            args.model_name = await client.resolve_model()
            if out_path:  # opened only once the server answers, so a wrong URL does not empty the file
                out = open(out_path, "a" if args.resume else "w", encoding="utf-8")  # noqa: SIM115
            for record in results:
                if record is not None and on_done:
                    on_done(record)
            semaphore = asyncio.Semaphore(max(1, args.concurrency))

            async def one(i: int, task: Task, sample: int) -> None:
                async with semaphore:
                    record = await run_model_episode(runtime, task, client, config, sampling, sample=sample)
                results[i] = record
                if out:
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                    out.flush()
                if on_done:
                    on_done(record)

            await asyncio.gather(*(one(i, t, s) for i, (t, s) in enumerate(jobs) if results[i] is None))
    finally:
        if out:
            out.close()
    return [r for r in results if r is not None]
