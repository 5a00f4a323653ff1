"""Reasoning blocks: the part of a model's turn that is thinking, not acting.

Reasoning models (Qwen3, DeepSeek-R1 style) think between markers such as ``<think>`` and
``</think>`` before they answer, and often draft calls while thinking. Only the text outside the
reasoning is searched for calls (see :func:`split_reasoning`); the tokens themselves are never changed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

ReasoningMarkers = tuple[tuple[str, str], ...]
DEFAULT_REASONING_MARKERS: ReasoningMarkers = (("<think>", "</think>"),)


def split_reasoning(text: str, markers: ReasoningMarkers = DEFAULT_REASONING_MARKERS) -> tuple[str, str]:
    """``(visible, reasoning)``: ``text`` without its reasoning blocks, and the reasoning text.

    For each ``(open, close)`` pair, in order: everything before a closing marker that has no opening
    marker before it is reasoning (chat templates that open the block in the prompt, as Qwen3's does);
    each closed block ``open ... close`` is reasoning; an opening marker with no closing marker after
    it makes the rest of the turn reasoning. Removed blocks leave a line break behind, so text on
    either side never joins into one call. Time is linear in ``len(text)`` per pair.
    """
    hidden: list[str] = []
    for opening, closing in markers:
        if opening not in text and closing not in text:
            continue
        visible: list[str] = []
        pos = 0
        first_close, first_open = text.find(closing), text.find(opening)
        if first_close >= 0 and (first_open < 0 or first_close < first_open):
            hidden.append(text[:first_close])
            pos = first_close + len(closing)
        while True:
            start = text.find(opening, pos)
            if start < 0:
                visible.append(text[pos:])
                break
            visible.append(text[pos:start])
            stop = text.find(closing, start + len(opening))
            if stop < 0:
                hidden.append(text[start + len(opening):])
                break
            hidden.append(text[start + len(opening):stop])
            pos = stop + len(closing)
        text = "\n".join(visible)
    return text, "\n".join(hidden)


def normalize_markers(value: Any) -> ReasoningMarkers:
    """Reasoning marker pairs from a config value: pairs (lists or tuples of two non-empty strings), a
    JSON text of them (``[["<think>", "</think>"]]``), or ``"open,close;open,close"``. Raises
    ``ValueError`` saying what is expected."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise ValueError(f"reasoning_markers is not valid JSON: {exc}") from None
        else:
            value = [p.split(",") for p in text.split(";") if p.strip()]
    if not isinstance(value, Iterable):
        raise ValueError(f"reasoning_markers must be a list of [open, close] pairs; got {value!r}")
    pairs = []
    for pair in value:
        if (isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2
                or not all(isinstance(m, str) and m.strip() for m in pair)):
            raise ValueError(f"reasoning_markers must be [open, close] pairs of non-empty strings; got {pair!r}")
        pairs.append((pair[0].strip(), pair[1].strip()))
    return tuple(pairs)
