"""Argument types shared by the ``codegym`` commands and the trainers' dry runs, so that the same kind
of option accepts the same values everywhere (an argparse ``type=`` raises ``ArgumentTypeError``,
which argparse turns into a usage error, exit status 2)."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An integer of at least 1 (``--limit``, ``--max-chars``, counts of things to do).

    Raises ``argparse.ArgumentTypeError`` for anything else: a count of 0 or less has no meaning
    that could be guessed (a negative ``--limit`` used to drop rows silently, 0 used to mean all).
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value} (leave the option out for no limit)")
    return value


def positive_count(text: str) -> int:
    """An integer of at least 1 for an option whose default is a number, not "no limit"
    (``--concurrency``, ``--samples``, ``--workers``). Raises ``argparse.ArgumentTypeError`` otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_int_or_all(text: str) -> int:
    """:func:`positive_int`, or ``all`` (returned as 0, the callers' "no limit")."""
    return 0 if text.strip().lower() == "all" else positive_int(text)


def non_negative_int(text: str) -> int:
    """An integer of at least 0 (``--retries``). Raises ``argparse.ArgumentTypeError`` otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0 (seconds: ``--request-timeout``). Raises ``argparse.ArgumentTypeError``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number of at least 0 (``--retry-backoff`` seconds). Raises ``argparse.ArgumentTypeError``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of at least 0, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of at least 0, got {text}")
    return value
