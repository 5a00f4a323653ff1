"""What a model's turn holds: :class:`ToolCall` and :class:`ParsedTurn`, and how a decoded JSON value
becomes a call (shared by every call format in :mod:`.calls`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

_MSG_LIMIT = 200
_WALK_LIMIT = 10_000  # nodes searched for a call nested inside a JSON value that is not one


@dataclass(frozen=True)
class ToolCall:
    """One call: an action name and its arguments (a JSON object, already decoded)."""

    name: str
    arguments: dict[str, Any]

    def to_action(self) -> str:
        """The string CodeGym's ``env.step()`` expects: ``{"name": ..., "parameters": {...}}``."""
        return json.dumps({"name": self.name, "parameters": self.arguments}, ensure_ascii=False)

    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., "arguments": ...}`` (plain data, JSON-serialisable if the arguments are)."""
        return {"name": self.name, "arguments": self.arguments}


@dataclass(frozen=True)
class ParsedTurn:
    """What a model's turn contained.

    ``kind`` is ``"call"`` (``call`` is set, ``error`` is None), ``"no_call"`` (no call was
    attempted; ``error`` tells how to write one) or ``"invalid"`` (a call was attempted but is
    unusable; ``error`` says why, in words fit to show the model). ``extra_calls`` counts calls
    after the first, which are ignored. ``format`` is the format detected, None for ``no_call``.
    ``calls_in_reasoning`` is 1 when the turn's only call was inside its reasoning, else 0.
    """

    kind: str
    call: ToolCall | None = None
    error: str | None = None
    extra_calls: int = 0
    format: str | None = None
    calls_in_reasoning: int = 0


def call_value(value: Any) -> Any:
    """``value`` if it is a call (or a list starting with one), else the first call nested in it, else None."""
    if looks_like_call(value):
        return value
    if not isinstance(value, (dict, list)):
        return None
    stack = list(reversed(list(value.values()) if isinstance(value, dict) else value))
    seen = 0
    while stack and seen < _WALK_LIMIT:
        item = stack.pop()
        seen += 1
        if looks_like_call(item):
            return item
        if isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return None


def looks_like_call(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and isinstance(value[0], dict) and looks_like_call(value[0])
    if not isinstance(value, dict):
        return False
    return "name" in value or (isinstance(value.get("function"), dict) and "name" in value["function"])


def count_calls(value: Any) -> int:
    """How many calls a decoded value holds (a call object, or the call objects of a list)."""
    if isinstance(value, list):
        return sum(1 for item in value if isinstance(item, dict) and looks_like_call(item))
    return 1 if looks_like_call(value) else 0


# ---------------------------------------------------------------------------------------------
# From a decoded JSON value to a call


def turn_from_value(value: Any, fmt: str, extra: int) -> ParsedTurn:
    """Build the turn from a decoded value: a call object, or a non-empty list of them."""
    if isinstance(value, list):
        if not value:
            return ParsedTurn("invalid", None, f"Invalid {fmt} call: the call list is empty.", extra, fmt)
        extra += count_calls(value[1:])
        value = value[0]
    call, err = to_call(value)
    if call is None:
        return ParsedTurn("invalid", None, clip(f"Invalid {fmt} call: {err}"), extra, fmt)
    return ParsedTurn("call", call, None, extra, fmt)


def to_call(obj: Any) -> tuple[ToolCall | None, str | None]:
    if isinstance(obj, dict) and "name" not in obj and isinstance(obj.get("function"), dict):
        obj = obj["function"]
    if not isinstance(obj, dict):
        return None, f'a call must be a JSON object with "name" and "parameters", got {kind_of(obj)}.'
    if "name" not in obj:
        return None, 'the call object has no "name".'
    name = obj["name"]
    if not isinstance(name, str):
        return None, f'"name" must be a string, got {kind_of(name)}.'
    if not name.strip():
        return None, '"name" is empty.'
    decoded: list[dict[str, Any]] = []
    for key in ("parameters", "arguments"):
        raw = obj.get(key)
        if raw is None:
            continue
        if isinstance(raw, str):
            try:
                raw = json.loads(raw) if raw.strip() else {}
            except (ValueError, RecursionError):
                return None, f'"{key}" is a string that is not valid JSON; give a JSON object.'
        if not isinstance(raw, dict):
            return None, f'"{key}" must be a JSON object, got {kind_of(raw)}.'
        decoded.append(raw)
    if len(decoded) == 2 and not _same(decoded[0], decoded[1]):
        return None, 'both "parameters" and "arguments" are given and differ; give only one.'
    return ToolCall(name, decoded[0] if decoded else {}), None


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except RecursionError:
        return False


def kind_of(value: Any) -> str:
    """The JSON name of a value's type, for error messages."""
    if isinstance(value, bool):
        return "a boolean"
    for typ, word in ((dict, "an object"), (list, "an array"), (str, "a string"), ((int, float), "a number")):
        if isinstance(value, typ):
            return word
    return "null"


def clip(msg: str) -> str:
    return msg if len(msg) <= _MSG_LIMIT else msg[: _MSG_LIMIT - 3] + "..."
