"""The shared facts of the ``train`` suite's run: its settings and what a run left behind."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STEPS = 2
RESPONSE_LENGTH = 512
TURN_LIMIT = 8


@dataclass(frozen=True)
class TrainRun:
    status: int
    out: Path
    data: Path
    model: Path
    log_tail: str
