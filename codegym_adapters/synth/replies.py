"""Reading model replies: reasoning stripped, tagged sections, fenced code and JSON.

Every parser raises :class:`MalformedReply` with a short reason a summary table can show.
"""

from __future__ import annotations

import json
import re
from typing import Any

_THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE_RE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)


class MalformedReply(ValueError):
    """A reply that does not have the shape its prompt asked for."""


def strip_reasoning(text: str) -> str:
    """``text`` without ``<think>...</think>`` blocks; a reply whose opening tag was in the prompt
    (only ``</think>`` present) loses everything up to that closing tag."""
    text = _THINK_RE.sub("", text or "")
    close = text.lower().rfind("</think>")
    if close >= 0:
        text = text[close + len("</think>"):]
    return text.strip()


def section(text: str, tag: str) -> str | None:
    """The text between ``<tag>`` and ``</tag>`` (the last such section, stripped), else ``None``."""
    matches = re.findall(rf"<{tag}>(.*?)</{tag}>", text, re.DOTALL | re.IGNORECASE)
    return matches[-1].strip() if matches else None


def code_blocks(text: str, languages: tuple[str, ...] = ("python", "py", "")) -> list[str]:
    """Fenced code blocks of ``text`` whose language tag is one of ``languages``, in order."""
    return [body for lang, body in _FENCE_RE.findall(text) if lang.lower() in languages]


def python_code(text: str, what: str) -> str:
    """The Python code of ``text``: its longest fenced block, or the whole text if it has no fence."""
    blocks = code_blocks(text)
    if blocks:
        return max(blocks, key=len).strip("\n")
    if "```" in text:
        raise MalformedReply(f"{what}: a code fence is not closed")
    if not text.strip():
        raise MalformedReply(f"{what}: empty")
    return text.strip("\n")


def json_value(text: str, what: str) -> Any:
    """The JSON value of ``text``: a fenced ``json`` block, else the span from the first ``[`` or ``{``
    to the matching last bracket."""
    blocks = code_blocks(text, ("json", ""))
    candidates = [b.strip() for b in blocks]
    for opening, closing in (("[", "]"), ("{", "}")):
        start, end = text.find(opening), text.rfind(closing)
        if 0 <= start < end:
            candidates.append(text[start:end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise MalformedReply(f"{what}: no JSON value found")
