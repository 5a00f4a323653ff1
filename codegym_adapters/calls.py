"""Tool-call formats: read one call out of a model's turn, and write calls for prompts.

Formats (``FORMATS``; ``parse_call`` also takes ``"auto"`` and ``"strict"``):

* ``codegym``: ``<|FunctionCallBegin|>[{"name": "Observe", "parameters": {}}]<|FunctionCallEnd|>``,
  a JSON list of call objects (a single object is accepted too) between two markers.
* ``hermes``: ``<tool_call>{"name": "Observe", "arguments": {}}</tool_call>`` (Qwen style).
* ``json``: a bare call object (or a list of them) anywhere in the text: amid prose, in a
  fenced block, or as the whole reply.
* ``auto``: whichever of the three the turn uses: a well-formed call in codegym blocks, else in
  hermes blocks, else bare JSON (a marker that only occurs inside a bare call's strings is content).
* ``strict``: the paper's rollout client's reading (``codegym-format.md``): codegym markers, both
  present, around valid JSON (one outer list is unwrapped); the object needs ``name`` and a
  ``parameters`` object; more than one call in a turn (a list of two, or a second block) is invalid.

Outside ``strict``, ``parameters`` and ``arguments`` mean the same thing (both may be given only
if equal); arguments written as a JSON string (OpenAI style) are decoded; missing or null arguments
mean ``{}``; an OpenAI ``{"type": "function", "function": {...}}`` entry is unwrapped. Of several
well-formed calls the first is used and the others are counted in ``ParsedTurn.extra_calls`` (only
values that are calls are counted). Markers inside JSON strings are string content.

Reasoning (``reasoning_markers``, see :mod:`.reasoning`): text inside reasoning blocks is never
searched for calls; a turn whose only call was inside them is ``no_call`` with
``calls_in_reasoning == 1``.

``parse_call`` never raises on any ``str`` (huge, deeply nested, huge numbers, lone surrogates); it
raises ``ValueError`` only for an unknown ``fmt``. Its work is bounded by a budget linear in the
text's length (:mod:`.json_scan`); a turn that exhausts it is an invalid call that says so.
"""

from __future__ import annotations

import json
from typing import Any

from .call_types import ParsedTurn, ToolCall, call_value, clip, count_calls, kind_of, turn_from_value
from .json_scan import CANDIDATE, BudgetExceeded, Decoded, WorkBudget, decode_at, skip_space
from .reasoning import ReasoningMarkers, split_reasoning

FORMATS = ("codegym", "hermes", "json")
PARSE_FORMATS = (*FORMATS, "auto", "strict")

CODEGYM_BEGIN = "<|FunctionCallBegin|>"
CODEGYM_END = "<|FunctionCallEnd|>"
HERMES_BEGIN = "<tool_call>"
HERMES_END = "</tool_call>"
_MARKERS = {"codegym": (CODEGYM_BEGIN, CODEGYM_END), "hermes": (HERMES_BEGIN, HERMES_END)}


_EXAMPLE = ToolCall("FunctionName", {"param": 1})  # the call shown in instructions


def parse_call(text: str, fmt: str = "auto", reasoning_markers: ReasoningMarkers = ()) -> ParsedTurn:
    """Parse the first tool call in ``text`` written in ``fmt`` (see the module docstring); text
    inside ``reasoning_markers`` blocks is not searched. Never raises for any ``text``; raises
    ``ValueError`` for an unknown ``fmt`` or an empty reasoning marker (the caller's mistake)."""
    _check_format(fmt, PARSE_FORMATS)
    if not all(opening and closing for opening, closing in reasoning_markers):  # "" matches everywhere
        raise ValueError(f"reasoning markers must be non-empty strings; got {reasoning_markers!r}")
    text = text if isinstance(text, str) else str(text)
    try:
        return _parse(text, fmt, reasoning_markers)
    except Exception as exc:  # model text must never raise: report it as an unusable call
        shown = "codegym" if fmt in ("auto", "strict") else fmt
        return ParsedTurn("invalid", None, clip(f"Invalid {shown} call: the reply could not be read "
                                                  f"({type(exc).__name__}); write one call."), 0, shown)


def _parse(text: str, fmt: str, reasoning_markers: ReasoningMarkers) -> ParsedTurn:
    shown = "codegym" if fmt == "auto" else fmt
    visible, reasoning = split_reasoning(text, reasoning_markers) if reasoning_markers else (text, "")
    budget = WorkBudget(len(text))
    turn = _parse_visible(visible, fmt, budget)
    if turn is not None:
        return turn
    message = f"No function call found. {call_instructions(shown)}"
    if reasoning.strip():
        try:
            in_reasoning = _parse_visible(reasoning, fmt, budget)
        except Exception:
            in_reasoning = None
        if in_reasoning is not None and in_reasoning.kind == "call":
            message = (f"No function call found outside the reasoning; a call inside the reasoning is not "
                       f"run. {call_instructions(shown)}")
            return ParsedTurn("no_call", None, message, 0, None, calls_in_reasoning=1)
    return ParsedTurn("no_call", None, message)


def _parse_visible(text: str, fmt: str, budget: WorkBudget) -> ParsedTurn | None:
    try:
        if fmt == "auto":
            return _parse_auto(text, budget)
        if fmt == "strict":
            return _parse_strict(text, budget)
        if fmt == "json":
            return _parse_bare(text, budget)[0]
        return _parse_blocks(text, fmt, budget)
    except BudgetExceeded as exc:
        shown = "codegym" if fmt == "auto" else fmt
        return ParsedTurn("invalid", None, clip(
            f"Invalid {shown} call: the reply is too long or too tangled to search for a call ({exc}); "
            "write one call in a shorter reply."), 0, shown)


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


def render_format(fmt: str) -> str:
    """The format to write calls in for a parse format: ``auto`` and ``strict`` write ``codegym``."""
    _check_format(fmt, PARSE_FORMATS)
    return "codegym" if fmt in ("auto", "strict") else fmt


def call_instructions(fmt: str) -> str:
    """One or two sentences telling a model how to write one call in ``fmt`` (``auto``/``strict``: codegym)."""
    fmt = render_format(fmt)
    if fmt == "codegym":
        how = 'write a JSON list holding one object with "name" and "parameters" between the markers'
    elif fmt == "hermes":
        how = 'write one JSON object with "name" and "arguments" inside tool_call tags'
    else:
        how = 'reply with one JSON object that has "name" and "arguments"'
    return f"To call a function, {how}, for example: {render_call(_EXAMPLE, fmt)}"


# ---------------------------------------------------------------------------------------------
# auto


def _parse_auto(text: str, budget: WorkBudget) -> ParsedTurn | None:
    """A call in codegym blocks, else in hermes blocks, else bare JSON; else the first failure, unless
    the failing format's first marker lies inside a bare call's JSON (then it is string content)."""
    failures: list[tuple[int, ParsedTurn]] = []
    for fmt in ("codegym", "hermes"):
        where = text.find(_MARKERS[fmt][0])
        if where < 0:
            continue
        turn = _parse_blocks(text, fmt, budget)
        if turn is not None and turn.kind == "call":
            return turn
        if turn is not None:
            failures.append((where, turn))
    bare, span = _parse_bare(text, budget)
    if not failures:
        return bare
    where, failure = failures[0]
    if bare is not None and bare.kind == "call" and span is not None and span[0] <= where < span[1]:
        return bare
    return failure


# ---------------------------------------------------------------------------------------------
# Marked blocks (codegym, hermes)


def _parse_blocks(text: str, fmt: str, budget: WorkBudget) -> ParsedTurn | None:
    """The first block whose JSON decodes decides the turn; calls in later blocks count as extra.

    A block starts at a begin marker and must hold one JSON value, then the end marker. A block
    without an end marker (the model stopped after the JSON) is accepted if its JSON is complete.
    Blocks whose JSON does not decode are passed over when a later block decodes (a stuttered or
    abandoned attempt); if none decodes, the turn is invalid with the first block's error.
    """
    begin, end = _MARKERS[fmt]
    pos = text.find(begin)
    if pos < 0:
        return None
    chosen: Any = None
    found = False
    first_error: str | None = None
    extra = 0
    next_end = _NextMarker(text, end)
    while pos >= 0:
        budget.charge(len(begin))
        value, error, after = _read_block(text, pos, fmt, budget, next_end)
        if error is None:
            if not found:
                chosen, found = value, True
            else:
                extra += count_calls(value)
        elif first_error is None:
            first_error = error
        pos = text.find(begin, after) if after < len(text) else -1
    if not found:
        return ParsedTurn("invalid", None, clip(f"Invalid {fmt} call: {first_error}"), 0, fmt)
    return turn_from_value(chosen, fmt, extra)


class _NextMarker:
    """Where ``marker`` next occurs at or after a position, for positions that never decrease: a
    search's answer is reused until the position passes it, so many blocks without an end marker
    cost one scan of the text, not one each (which was quadratic in the number of blocks)."""

    def __init__(self, text: str, marker: str) -> None:
        self.text, self.marker = text, marker
        self.start, self.found = -1, -1

    def at(self, pos: int) -> int:
        if self.start < 0 or pos < self.start or (self.found >= 0 and pos > self.found):
            self.start, self.found = pos, self.text.find(self.marker, pos)
        return self.found


def _read_block(text: str, pos: int, fmt: str, budget: WorkBudget,
                next_end: _NextMarker) -> tuple[Any, str | None, int]:
    """The block at ``pos``: ``(value, error, position after the block)``."""
    begin, end = _MARKERS[fmt]
    j = skip_space(text, pos + len(begin))
    if j >= len(text) or text.startswith(end, j):
        return None, f"the {fmt} call block is empty.", j + (len(end) if j < len(text) else 0)
    if text.startswith(begin, j):
        return None, f"the {fmt} call block is empty (another {begin} follows at once).", j
    decoded = decode_at(text, j, budget)
    if not decoded.ok:
        return None, _block_error(decoded, fmt, next_end), _after_failure(j, end, next_end)
    k = skip_space(text, decoded.end)
    if text.startswith(end, k):
        return decoded.value, None, k + len(end)
    stop, again = next_end.at(k), text.find(begin, k)
    if stop >= 0 and (again < 0 or stop < again):
        return None, f"malformed JSON in the {fmt} call block: text after the JSON value at char {k - j}.", \
            stop + len(end)
    return decoded.value, None, k  # no end marker: the model stopped after a complete value


def _block_error(decoded: Decoded, fmt: str, next_end: _NextMarker) -> str:
    end = _MARKERS[fmt][1]
    terminated = next_end.at(decoded.start) >= 0
    where = f"{fmt} call block" if terminated else f"unterminated {fmt} call block (no {end})"
    if decoded.deep:
        return f"the JSON in the {where} is nested too deeply."
    return f"malformed JSON in the {where}: {decoded.message}."


def _after_failure(j: int, end: str, next_end: _NextMarker) -> int:
    stop = next_end.at(j)
    return stop + len(end) if stop >= 0 else len(next_end.text)


# ---------------------------------------------------------------------------------------------
# strict (the paper's reading)


def _parse_strict(text: str, budget: WorkBudget) -> ParsedTurn | None:
    pos = text.find(CODEGYM_BEGIN)
    if pos < 0:
        return None

    def invalid(reason: str) -> ParsedTurn:
        return ParsedTurn("invalid", None, clip(f"Invalid strict call: {reason}"), 0, "strict")

    j = skip_space(text, pos + len(CODEGYM_BEGIN))
    stop = text.find(CODEGYM_END, j)
    if stop < 0:
        return invalid(f"the call has no closing {CODEGYM_END}.")
    decoded = decode_at(text, j, budget) if j < stop else None
    if decoded is None or not decoded.ok:
        why = "nothing" if decoded is None else "nested too deeply" if decoded.deep else decoded.message
        return invalid(f"the text between the markers is not valid JSON ({why}).")
    k = skip_space(text, decoded.end)
    if not text.startswith(CODEGYM_END, k):
        return invalid(f"the text between the markers is not one JSON value (more text at char {k - j}).")
    if text.find(CODEGYM_BEGIN, k) >= 0:
        return invalid("more than one call block in the turn; make exactly one call per turn.")
    value = decoded.value
    if isinstance(value, list):
        if len(value) != 1:
            return invalid(f"the list holds {len(value)} calls; make exactly one call per turn.")
        value = value[0]
    if not isinstance(value, dict):
        return invalid(f'the call must be a JSON object with "name" and "parameters", got {kind_of(value)}.')
    name = value.get("name")
    if not isinstance(name, str) or not name.strip():
        return invalid('the call needs a "name" that is a non-empty string.')
    if not isinstance(value.get("parameters"), dict):
        got = "none" if "parameters" not in value else kind_of(value["parameters"])
        return invalid(f'the call needs a "parameters" object (got {got}).')
    return ParsedTurn("call", ToolCall(name, value["parameters"]), None, 0, "strict")


# ---------------------------------------------------------------------------------------------
# Bare JSON


def _parse_bare(text: str, budget: WorkBudget) -> tuple[ParsedTurn | None, tuple[int, int] | None]:
    """The first JSON value in ``text`` that is (or holds) a call, and its span.

    Candidates start where a call object can (see :data:`.json_scan.CANDIDATE`). A decoded value
    that is no call is searched for a nested call, then skipped whole. An object that fails to
    decode is a broken call attempt: starts inside its span are part of it and not tried again, and
    if no call follows it, the turn is invalid with its JSON error (a truncated or broken call). A
    list that fails to decode is only a wrapper: the objects inside it are tried.
    """
    first: tuple[Any, int, int] | None = None  # (value, start, end)
    failure: Decoded | None = None
    extra = 0
    pos = 0
    while True:
        match = CANDIDATE.search(text, pos)
        if match is None:
            break
        start = match.start()
        budget.charge(start - pos + 1)
        decoded = decode_at(text, start, budget)
        if not decoded.ok:
            if text[start] == "[":  # a broken list around a call: try the object inside it
                pos = start + 1
                continue
            if first is None and failure is None:
                failure = decoded
            pos = start + max(decoded.at, 1)  # later starts inside the span belong to this broken attempt
            continue
        value = call_value(decoded.value)
        if value is not None:
            if first is None:
                first = (value, start, decoded.end)
            else:
                extra += count_calls(value)
        pos = decoded.end
    if failure is not None and (first is None or first[1] <= failure.start + failure.at):
        if failure.deep:
            msg = "Invalid json call: the JSON of the call is nested too deeply."
        else:
            msg = f"Invalid json call: malformed JSON of the call: {failure.message}."
        return ParsedTurn("invalid", None, clip(msg), extra, "json"), None
    if first is None:
        return None, None
    return turn_from_value(first[0], "json", extra), (first[1], first[2])


def _check_format(fmt: str, allowed: tuple[str, ...]) -> None:
    if fmt not in allowed:
        raise ValueError(f"unknown tool-call format {fmt!r}; expected one of: {', '.join(allowed)}")


__all__ = ["CODEGYM_BEGIN", "CODEGYM_END", "FORMATS", "HERMES_BEGIN", "HERMES_END", "PARSE_FORMATS", "ParsedTurn",
           "ToolCall", "call_instructions", "parse_call", "render_call", "render_format"]
