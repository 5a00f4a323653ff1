"""What may come out of env code: exact, UTF-8-safe text, checked rewards, and strict worker replies.

Two places use this. :class:`~.host.EnvHost` (in a worker, or in process) turns what an env
returned into plain data: :func:`exact_text` makes an exact ``str`` (a ``str`` subclass could lie
about its length or content), :func:`safe_text` replaces lone surrogates with U+FFFD (such text
cannot be encoded as UTF-8 and crashes tokenizers), :func:`check_reward` refuses a reward that is not
a finite number in ``reward_range``. The sandbox parent then trusts nothing a worker sends (env
code can write to the worker's channel): :func:`check_reply` validates each reply against the
shape its operation allows and raises :class:`MalformedReply` for anything else, and repairs and
caps its text again.
"""

from __future__ import annotations

import math
import re
from typing import Any

DEFAULT_REWARD_RANGE = (0.0, 1.0)
_SURROGATES = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


class MalformedReply(Exception):
    """A worker's reply does not have the shape its request allows."""


def exact_text(value: Any) -> str:
    """``value`` as an exact ``str`` (a subclass is copied with ``str.__str__``, whatever it
    overrides; anything else goes through ``str()`` and must give a ``str``)."""
    if type(value) is str:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    text = str(value)
    return str.__str__(text) if isinstance(text, str) else "<unprintable>"


def safe_text(text: str) -> str:
    """``text`` with every lone surrogate (text UTF-8 cannot encode) replaced by U+FFFD."""
    if text.isascii():
        return text
    return _SURROGATES.sub(REPLACEMENT, text)


def safe_json(value: Any, depth: int = 0) -> Any:
    """A JSON value with its strings (keys included) made safe with :func:`safe_text`."""
    if isinstance(value, str):
        return safe_text(value)
    if depth > 100:
        raise MalformedReply("a value is nested more than 100 deep")
    if isinstance(value, list):
        return [safe_json(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {safe_text(k): safe_json(v, depth + 1) for k, v in value.items()}
    return value


def cap_text(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, saying how much was cut."""
    if limit <= 0 or len(text) <= limit:
        return text
    marker = f"\n[observation truncated: {limit} of {len(text)} characters shown]"
    return text[: max(0, limit - len(marker))] + marker


def observation_text(value: Any, limit: int) -> str:
    """An env's observation as text fit for a tokenizer: exact ``str``, capped, surrogates replaced."""
    return safe_text(cap_text(exact_text(value), limit))


def check_reward(value: Any, reward_range: tuple[float, float]) -> str | None:
    """Why ``value`` is not an acceptable reward, or None: it must be a real number (not a bool),
    finite, within ``reward_range`` (inclusive)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"the reward is a {type(value).__name__}, not a number"
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return "the reward is not a finite number"
    low, high = reward_range
    if not math.isfinite(number) or not low <= number <= high:
        return f"the reward {number:g} is outside the reward range [{low:g}, {high:g}]"
    return None


# -- replies from a worker (parent side) --------------------------------------------------------
STEP_ERRORS = frozenset({"exception", "invalid_reward"})


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise MalformedReply(what)


def _text(value: Any, what: str, limit: int) -> str:
    _need(type(value) is str, f"{what} is not a string")
    return safe_text(cap_text(value, limit))


def _opt_text(value: Any, what: str, limit: int) -> str | None:
    return None if value is None else _text(value, what, limit)


def _step(v: Any, limit: int, reward_range: tuple[float, float]) -> dict[str, Any]:
    _need(type(v) is dict and set(v) == {"observation", "finished", "reward", "error"},
          "a step answer must be {observation, finished, reward, error}")
    _need(type(v["finished"]) is bool, "finished is not a bool")
    problem = check_reward(v["reward"], reward_range)
    _need(problem is None, str(problem))
    _need(v["error"] is None or v["error"] in STEP_ERRORS, "error is not a known step error")
    return {"observation": _text(v["observation"], "the observation", limit), "finished": v["finished"],
            "reward": float(v["reward"]), "error": v["error"]}


def _open(v: Any, limit: int, _: Any) -> dict[str, Any]:
    from ..tools import Action

    _need(type(v) is dict and set(v) == {"reset_observation", "actions", "task"},
          "an open answer must be {reset_observation, actions, task}")
    _need(type(v["actions"]) is list and all(type(a) is dict for a in v["actions"]), "actions is not a list")
    for a in v["actions"]:
        _need(type(a.get("name")) is str and type(a.get("params", [])) is list, "an action has no name or params")
        _need(all(type(a.get(k, "")) is str for k in ("description", "doc", "signature")), "an action's text "
                                                                                          "is not a string")
        for p in a.get("params", []):
            _need(type(p) is dict and type(p.get("name")) is str and type(p.get("description", "")) is str
                  and (p.get("type") is None or type(p.get("type")) is str), "a parameter is malformed")
    try:
        actions = [Action.from_dict(safe_json(a)).to_dict() for a in v["actions"]]
    except MalformedReply:
        raise
    except Exception as exc:
        raise MalformedReply(f"an action cannot be read: {type(exc).__name__}") from None
    return {"reset_observation": _text(v["reset_observation"], "the reset observation", limit),
            "actions": actions, "task": _opt_text(v["task"], "the task", 1 << 20)}


def _oracle(v: Any, limit: int, reward_range: tuple[float, float]) -> dict[str, Any]:
    _need(type(v) is dict and set(v) == {"calls", "final_observation", "reward", "error"},
          "an oracle answer must be {calls, final_observation, reward, error}")
    _need(type(v["calls"]) is list, "calls is not a list")
    calls = []
    for call in v["calls"]:
        _need(type(call) is dict and type(call.get("name")) is str and type(call.get("arguments")) is dict,
              "a call is not {name, arguments}")
        calls.append({"name": safe_text(call["name"]), "arguments": safe_json(call["arguments"])})
    _need(isinstance(v["reward"], (int, float)) and not isinstance(v["reward"], bool), "reward is not a number")
    return {"calls": calls, "final_observation": _text(v["final_observation"], "the final observation", limit),
            "reward": float(v["reward"]), "error": _opt_text(v["error"], "error", 4000)}


def _module_info(v: Any, _limit: int, _: Any) -> dict[str, Any]:
    _need(type(v) is dict and set(v) == {"task", "configs", "has_generator"},
          "module info must be {task, configs, has_generator}")
    _need(type(v["configs"]) is list and all(type(c) is dict for c in v["configs"]), "configs is not a list")
    _need(type(v["has_generator"]) is bool, "has_generator is not a bool")
    return {"task": _opt_text(v["task"], "the task", 1 << 20), "configs": safe_json(v["configs"]),
            "has_generator": v["has_generator"]}


def _dict(v: Any, _limit: int, _: Any) -> dict[str, Any]:
    _need(type(v) is dict, "the answer is not an object")
    return safe_json(v)


def _none(v: Any, _limit: int, _: Any) -> None:
    _need(v is None, "the answer is not null")


def _json(v: Any, _limit: int, _: Any) -> Any:
    return safe_json(v)


def _code(v: Any, _limit: int, _: Any) -> str:
    _need(type(v) is str and v.isascii(), "compiled code is not base64 text")
    return v


def _count(v: Any, _limit: int, _: Any) -> int:
    _need(type(v) is int and v >= 0, "the answer is not a count")
    return v


VALUE_CHECKS = {"step": _step, "open": _open, "oracle": _oracle, "module_info": _module_info,
                "generate_config": _dict, "attribute": _json, "load": _none, "close": _none, "ping": _count,
                "hello": _dict, "compile": _code}


def check_reply(message: dict[str, Any], rid: int, op: str, limit: int,
                reward_range: tuple[float, float]) -> dict[str, Any]:
    """``message`` checked as the reply to request ``rid`` (operation ``op``); returns it with its
    value or error text repaired. Raises :class:`MalformedReply`."""
    _need(type(message.get("id")) is int and message["id"] == rid, f"answered request {message.get('id')!r}, "
                                                                   f"not the one it was running ({rid})")
    rss = message.get("rss")
    _need(type(rss) is int and 0 <= rss < 1 << 63, "rss is not a byte count")
    if message.get("ok") is True:
        _need(set(message) == {"id", "ok", "value", "rss"}, "a success reply has other keys than id, ok, value, rss")
        return {"id": rid, "ok": True, "rss": rss, "value": VALUE_CHECKS[op](message["value"], limit, reward_range)}
    _need(message.get("ok") is False and set(message) == {"id", "ok", "type", "message", "rss"},
          "an error reply must be {id, ok: false, type, message, rss}")
    return {"id": rid, "ok": False, "rss": rss, "type": _text(message["type"], "the error type", 200),
            "message": _text(message["message"], "the error message", 4000)}
