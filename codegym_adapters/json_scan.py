"""Finding JSON values in model text, with a bound on the work done (used by :mod:`.calls`).

Decoding at a position uses the standard library's JSON scanner on slices of growing size (64
characters, then four times more each time the slice was too short), so a failed attempt costs about
the number of characters the scanner actually read, not the length of the rest of the text (a
``JSONDecodeError`` on a long string costs time linear in its position). Every attempt is charged to
a :class:`WorkBudget` that is linear in the text's length; when it runs out the caller reports that
it gave up (an invalid call whose message says so), never a silent "no call".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_SCAN = json.JSONDecoder().scan_once
_FIRST_WINDOW = 64
# Where a bare call can start: an object whose first key is one a call begins with, or a list whose
# first item is such an object. Prose (``dp[i-1]``, ``{x}``) and plain data objects are never tried;
# a call nested in a data object is found at its own start.
_KEYS = r'"(?:name|function|arguments|parameters|type|id)"\s*:'
CANDIDATE = re.compile(r"\{\s*" + _KEYS + r"|\[\s*\{\s*" + _KEYS)
_DEEP_CHARGE = 4096  # what a too-deep attempt is charged (the scanner read at least ~1,000 openers)


class BudgetExceeded(Exception):
    """The work budget of one turn ran out."""


class WorkBudget:
    """Characters the scanner may read for one turn: ``per_char`` times the text's length plus
    ``base``; :meth:`charge` raises :class:`BudgetExceeded` once they are spent."""

    def __init__(self, text_length: int, per_char: int = 24, base: int = 1_000_000) -> None:
        self.limit = per_char * text_length + base
        self.spent = 0

    def charge(self, chars: int) -> None:
        self.spent += chars
        if self.spent > self.limit:
            raise BudgetExceeded(f"gave up after reading {self.spent:,} characters")


@dataclass(slots=True)
class Decoded:
    """The outcome of decoding at ``start``: ``value`` up to ``end`` (exclusive), or an ``error``
    (``message`` and ``at``, the offset from ``start`` where decoding failed; ``deep`` for nesting past
    the interpreter's recursion limit; ``incomplete`` when the text ended inside the value)."""

    start: int
    end: int
    value: Any = None
    message: str | None = None
    at: int = 0
    deep: bool = False
    incomplete: bool = False

    @property
    def ok(self) -> bool:
        return self.message is None


def decode_at(text: str, start: int, budget: WorkBudget) -> Decoded:
    """Decode the JSON value that begins at ``text[start]`` (see the module docstring). Never raises
    except :class:`BudgetExceeded`."""
    size = _FIRST_WINDOW
    n = len(text)
    while True:
        chunk = text[start : start + size]
        whole = start + size >= n
        try:
            try:
                value, end = _SCAN(chunk, 0)
            except StopIteration as stop:  # what raw_decode reports as "Expecting value"
                raise json.JSONDecodeError("Expecting value", chunk, stop.value) from None
        except RecursionError:
            budget.charge(len(chunk) + _DEEP_CHARGE)
            return Decoded(start, start, message="the JSON is nested too deeply", deep=True)
        except json.JSONDecodeError as e:
            cut = e.pos >= len(chunk) - 32 or e.msg.startswith("Unterminated string")
            if cut and not whole:
                budget.charge(len(chunk))
                size *= 4
                continue
            budget.charge(e.pos + 1)
            return Decoded(start, start, message=f"{e.msg} at char {e.pos}", at=e.pos, incomplete=cut and whole)
        except ValueError as e:  # e.g. an integer longer than the interpreter's int-string limit
            budget.charge(len(chunk))
            return Decoded(start, start, message=_value_error(e), at=0)
        if end >= len(chunk) - 1 and not whole and isinstance(value, (int, float)):
            size *= 4  # a number cut at the slice's end: read it whole
            budget.charge(len(chunk))
            continue
        budget.charge(end)
        return Decoded(start, start + end, value=value)


def _value_error(e: ValueError) -> str:
    text = str(e)
    if "digits" in text or "int" in text:
        return "a number in the JSON has too many digits"
    return "the JSON could not be decoded"


def skip_space(text: str, pos: int) -> int:
    """The first position at or after ``pos`` that is not whitespace."""
    n = len(text)
    while pos < n and text[pos] in " \t\r\n":
        pos += 1
    return pos
