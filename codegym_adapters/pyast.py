"""``ast.parse`` and ``ast.literal_eval`` that survive CPython 3.11's thread-unsafe AST conversion.

CPython 3.11 keeps the recursion counter used while it turns a parsed tree into ``ast`` objects in
per-interpreter state, not per thread (python/cpython#106905, fixed in 3.12 and 3.13 only). When a
garbage collection during that conversion runs a finalizer that lets another thread in, and that thread
parses too (an env's ``literal_eval`` in the in-process runtime's executor, a tokenizer, a test), the
first parse fails with ``SystemError: AST constructor recursion depth mismatch``. The failed call leaves
nothing behind (the counter is reset at the start of every conversion), so it is safe to run it again.

Every parse in this package goes through here. A thread can only get in during the conversion
through Python code run from inside it, and the only such code is a finalizer run by the cyclic
garbage collector; so the collector is paused for the length of one parse (milliseconds), which makes
our conversion atomic. A lock keeps our own threads from pausing and resuming it under each other,
and a bounded retry is a last resort.
"""

from __future__ import annotations

import ast
import gc
import threading
from typing import Any

_LOCK = threading.Lock()
_ATTEMPTS = 5
_RACE = "AST constructor recursion depth mismatch"


def parse(source: str, mode: str = "exec") -> ast.AST:
    """``ast.parse(source, mode=mode)``; raises what it raises (``SyntaxError``, ``ValueError``, ...).

    A ``SystemError`` from the 3.11 race above is retried up to 5 times in all, then raised.
    """
    for attempt in range(_ATTEMPTS):
        try:
            with _LOCK:
                collecting = gc.isenabled()
                gc.disable()
                try:
                    return ast.parse(source, mode=mode)
                finally:
                    if collecting:
                        gc.enable()
        except SystemError as error:
            if _RACE not in str(error) or attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def literal_eval(node_or_string: str | ast.AST) -> Any:
    """``ast.literal_eval`` with a string parsed through :func:`parse`; raises what it raises."""
    if isinstance(node_or_string, str):
        node_or_string = parse(node_or_string.lstrip(" \t"), mode="eval")
    return ast.literal_eval(node_or_string)
