"""Tool-call formats: read one call out of a model's turn, and write calls for prompts.

Formats (``FORMATS``; ``parse_call`` also takes ``"auto"``):

* ``codegym``: ``<|FunctionCallBegin|>[{"name": "Observe", "parameters": {}}]<|FunctionCallEnd|>``,
  a JSON list of call objects (a single object is accepted too) between two markers.
* ``hermes``: ``<tool_call>{"name": "Observe", "arguments": {}}</tool_call>`` (Qwen style).
* ``json``: a bare call object (or a list of them) anywhere in the text: amid prose, in a
  fenced block, or as the whole reply.

In every format ``parameters`` and ``arguments`` mean the same thing. Both may be given only
if they are equal. Arguments written as a JSON string (OpenAI style) are decoded; missing or
null arguments mean ``{}``. An OpenAI ``tool_calls`` entry ``{"type": "function", "function":
{...}}`` is unwrapped. Only the first call of a turn is used; the others are counted in
``ParsedTurn.extra_calls``.

``parse_call`` never raises on any ``str`` (huge, deeply nested, malformed); it raises
``ValueError`` only for an unknown ``fmt``. Its cost stays linear in the text length: the
bare-JSON scan tries a bounded number of start positions and re-reads a bounded amount of text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

FORMATS = ("codegym", "hermes", "json")
PARSE_FORMATS = (*FORMATS, "auto")

CODEGYM_BEGIN = "<|FunctionCallBegin|>"
CODEGYM_END = "<|FunctionCallEnd|>"
HERMES_BEGIN = "<tool_call>"
HERMES_END = "</tool_call>"
_MARKERS = {"codegym": (CODEGYM_BEGIN, CODEGYM_END), "hermes": (HERMES_BEGIN, HERMES_END)}

_MAX_BLOCKS = 256  # marked blocks decoded per turn; any further blocks count as one call each
_MAX_STARTS = 4096  # start positions the bare-JSON scan may try
_SCAN_BUDGET = 4_000_000  # characters the bare-JSON scan may slice, over all its attempts
_DEEP_COST = 200_000  # budget charged for an attempt that hit the recursion limit
_WINDOW = 4096  # first slice size tried when decoding at a start position
_MSG_LIMIT = 200

_DECODER = json.JSONDecoder()
_JSON_START = re.compile(r"[\[{]")
_OPENERS = re.compile(r"[\[{\s]*")


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


_EXAMPLE = ToolCall("FunctionName", {"param": 1})  # the call shown in instructions


@dataclass(frozen=True)
class ParsedTurn:
    """What a model's turn contained.

    ``kind`` is ``"call"`` (``call`` is set, ``error`` is None), ``"no_call"`` (no call was
    attempted; ``error`` tells how to write one) or ``"invalid"`` (a call was attempted but is
    unusable; ``error`` says why, in words fit to show the model). ``extra_calls`` counts calls
    after the first, which are ignored. ``format`` is the format detected, None for ``no_call``.
    """

    kind: str
    call: ToolCall | None = None
    error: str | None = None
    extra_calls: int = 0
    format: str | None = None


def parse_call(text: str, fmt: str = "auto") -> ParsedTurn:
    """Parse the first tool call in ``text`` written in ``fmt`` (see the module docstring).

    ``"auto"`` picks ``codegym`` if its begin marker occurs, else ``hermes`` if ``<tool_call>``
    occurs, else ``json``; its no-call message shows the codegym format.
    """
    _check_format(fmt, PARSE_FORMATS)
    shown = "codegym" if fmt == "auto" else fmt
    if fmt == "auto":
        fmt = "codegym" if CODEGYM_BEGIN in text else "hermes" if HERMES_BEGIN in text else "json"
    turn = _parse_bare(text) if fmt == "json" else _parse_blocks(text, fmt)
    if turn is None:
        return ParsedTurn("no_call", None, f"No function call found. {call_instructions(shown)}")
    return turn


def render_call(call: ToolCall, fmt: str) -> str:
    """Write ``call`` in ``fmt`` (one of ``FORMATS``); ``parse_call(result, fmt)`` gives it back."""
    _check_format(fmt, FORMATS)
    if fmt == "json":
        return json.dumps(call.to_dict(), ensure_ascii=False)
    if fmt == "codegym":
        body = json.dumps([{"name": call.name, "parameters": call.arguments}], ensure_ascii=False)
    else:
        body = json.dumps(call.to_dict(), ensure_ascii=False)
    for marker in _MARKERS[fmt]:  # only strings can hold a marker; escape it so no block is cut short
        body = body.replace(marker, "\\u003c" + marker[1:])
    begin, end = _MARKERS[fmt]
    return f"{begin}{body}{end}" if fmt == "codegym" else f"{begin}\n{body}\n{end}"


def call_instructions(fmt: str) -> str:
    """One or two sentences telling a model how to write one call in ``fmt`` (``"auto"``: codegym)."""
    _check_format(fmt, PARSE_FORMATS)
    if fmt in ("auto", "codegym"):
        fmt = "codegym"
        how = 'write a JSON list holding one object with "name" and "parameters" between the markers'
    elif fmt == "hermes":
        how = 'write one JSON object with "name" and "arguments" inside tool_call tags'
    else:
        how = 'reply with one JSON object that has "name" and "arguments"'
    return f"To call a function, {how}, for example: {render_call(_EXAMPLE, fmt)}"


# ---------------------------------------------------------------------------------------------
# Marked blocks (codegym, hermes)


def _parse_blocks(text: str, fmt: str) -> ParsedTurn | None:
    """First marked block decides the turn; calls in later blocks are counted as extra.

    A block runs from its begin marker to the next begin marker (or the end of the text) and
    must hold one JSON value followed by the end marker. A block without an end marker
    (truncated output) is accepted if its JSON is complete, whatever text follows it.
    """
    begin = _MARKERS[fmt][0]
    pos = text.find(begin)
    if pos < 0:
        return None
    regions: list[str] = []
    while pos >= 0 and len(regions) < _MAX_BLOCKS:
        nxt = text.find(begin, pos + len(begin))
        regions.append(text[pos + len(begin) : nxt if nxt >= 0 else len(text)])
        pos = nxt
    extra = text.count(begin, pos) if pos >= 0 else 0
    for region in regions[1:]:
        value, err = _decode_block(region, fmt)
        extra += 1 if err else len(value) if isinstance(value, list) else 1
    value, err = _decode_block(regions[0], fmt)
    if err:
        return ParsedTurn("invalid", None, _clip(f"Invalid {fmt} call: {err}"), extra, fmt)
    return _turn_from_value(value, fmt, extra)


def _decode_block(region: str, fmt: str) -> tuple[Any, str | None]:
    """Decode the JSON value at the start of a block region: ``(value, None)`` or ``(None, error)``."""
    end = _MARKERS[fmt][1]
    body = region.lstrip()
    terminated = end in body
    where = f"{fmt} call block" if terminated else f"unterminated {fmt} call block (no {end})"
    if not body or body.startswith(end):
        return None, f"the {where} is empty."
    try:
        value, stop = _DECODER.raw_decode(body)
    except RecursionError:
        return None, f"the JSON in the {where} is nested too deeply."
    except json.JSONDecodeError as e:
        return None, f"malformed JSON in the {where}: {e.msg} at char {e.pos}."
    rest = body[stop:].lstrip()
    if terminated and not rest.startswith(end):
        at = len(body) - len(rest)
        return None, f"malformed JSON in the {where}: text after the JSON value at char {at}."
    return value, None


# ---------------------------------------------------------------------------------------------
# Bare JSON


def _parse_bare(text: str) -> ParsedTurn | None:
    """Find the first JSON value in ``text`` that looks like a call (see ``_looks_like_call``).

    Each ``{`` or ``[`` is a candidate start. A failed attempt whose text mentions ``"name"`` is
    remembered: if no call is found outside its span, the turn is invalid with its JSON error (a
    truncated or broken call), rather than a call nested inside it being taken.
    """
    first: tuple[Any, int] | None = None  # (value, start)
    failure: tuple[json.JSONDecodeError, int] | None = None  # (error, start)
    extra = 0
    pos, tries, budget = 0, 0, _SCAN_BUDGET
    while tries < _MAX_STARTS and budget > 0:
        match = _JSON_START.search(text, pos)
        if match is None:
            break
        start = match.start()
        tries += 1
        value, end, err, cost = _decode_at(text, start)
        budget -= cost
        if err == "deep":
            pos = max(_OPENERS.match(text, start).end(), start + 1)
            continue
        if isinstance(err, json.JSONDecodeError):
            if first is None and failure is None and text.find('"name"', start, start + err.pos) >= 0:
                failure = (err, start)
            pos = start + 1
            continue
        if not _looks_like_call(value):
            pos = start + 1
            continue
        if first is None:
            first = (value, start)
        else:
            extra += len(value) if isinstance(value, list) else 1
        pos = end
    if failure is not None and (first is None or first[1] < failure[1] + failure[0].pos):
        e = failure[0]
        msg = f"Invalid json call: malformed JSON at char {e.pos} of the call: {e.msg}."
        return ParsedTurn("invalid", None, _clip(msg), extra, "json")
    if first is None:
        return None
    return _turn_from_value(first[0], "json", extra)


def _decode_at(text: str, start: int) -> tuple[Any, int, json.JSONDecodeError | str | None, int]:
    """Decode the JSON value at ``text[start]``: ``(value, end, error, cost)``.

    ``error`` is None, a ``JSONDecodeError`` (positions relative to ``start``) or ``"deep"``.
    Decoding runs on slices of growing size, because a ``JSONDecodeError`` costs time linear in
    its position in the decoded string; ``cost`` is the number of characters sliced.
    """
    size, cost = _WINDOW, 0
    while True:
        chunk = text[start : start + size]
        cost += len(chunk)
        try:
            value, end = _DECODER.raw_decode(chunk)
            return value, start + end, None, cost
        except RecursionError:
            return None, start, "deep", cost + _DEEP_COST
        except json.JSONDecodeError as e:
            cut = e.pos >= len(chunk) - 32 or e.msg.startswith("Unterminated string")
            if not cut or start + size >= len(text):
                return None, start, e, cost
        size *= 4


def _looks_like_call(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and isinstance(value[0], dict) and _looks_like_call(value[0])
    if not isinstance(value, dict):
        return False
    return "name" in value or (isinstance(value.get("function"), dict) and "name" in value["function"])


# ---------------------------------------------------------------------------------------------
# From a decoded JSON value to a call


def _turn_from_value(value: Any, fmt: str, extra: int) -> ParsedTurn:
    """Build the turn from a decoded value: a call object, or a non-empty list of them."""
    if isinstance(value, list):
        if not value:
            return ParsedTurn("invalid", None, f"Invalid {fmt} call: the call list is empty.", extra, fmt)
        extra += len(value) - 1
        value = value[0]
    call, err = _to_call(value)
    if call is None:
        return ParsedTurn("invalid", None, _clip(f"Invalid {fmt} call: {err}"), extra, fmt)
    return ParsedTurn("call", call, None, extra, fmt)


def _to_call(obj: Any) -> tuple[ToolCall | None, str | None]:
    if isinstance(obj, dict) and "name" not in obj and isinstance(obj.get("function"), dict):
        obj = obj["function"]
    if not isinstance(obj, dict):
        return None, f'a call must be a JSON object with "name" and "parameters", got {_kind(obj)}.'
    if "name" not in obj:
        return None, 'the call object has no "name".'
    name = obj["name"]
    if not isinstance(name, str):
        return None, f'"name" must be a string, got {_kind(name)}.'
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
            return None, f'"{key}" must be a JSON object, got {_kind(raw)}.'
        decoded.append(raw)
    if len(decoded) == 2 and decoded[0] != decoded[1]:
        return None, 'both "parameters" and "arguments" are given and differ; give only one.'
    return ToolCall(name, decoded[0] if decoded else {}), None


def _kind(value: Any) -> str:
    """The JSON name of a value's type, for error messages."""
    if isinstance(value, bool):
        return "a boolean"
    for typ, word in ((dict, "an object"), (list, "an array"), (str, "a string"), ((int, float), "a number")):
        if isinstance(value, typ):
            return word
    return "null"


def _check_format(fmt: str, allowed: tuple[str, ...]) -> None:
    if fmt not in allowed:
        raise ValueError(f"unknown tool-call format {fmt!r}; expected one of: {', '.join(allowed)}")


def _clip(msg: str) -> str:
    return msg if len(msg) <= _MSG_LIMIT else msg[: _MSG_LIMIT - 3] + "..."
