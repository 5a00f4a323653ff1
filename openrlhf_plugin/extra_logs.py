"""Per-episode metrics for OpenRLHF's ``extra_logs``: numbers only, the same keys for every episode.

OpenRLHF turns each value into a tensor in the sample's ``info`` and averages it over the batch, so
a key missing from one episode breaks batching and a string breaks the tensor. Why an episode ended
is logged two ways: ``codegym_end_<reason>`` flags (their means are the rates of each reason) and
``codegym_end_code``, the reason's index in :data:`~codegym_adapters.episode.DONE_REASONS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from codegym_adapters.episode import DONE_REASONS, EpisodeMetrics

KEY_PREFIX = "codegym_"
_VALUES = ("reward", "env_reward", "turn_limit", "solve_fc_round", *(f.name for f in fields(EpisodeMetrics)))


def episode_logs(summary: Mapping[str, Any] | None, running_reason: str = "length") -> dict[str, float]:
    """Metrics from an :meth:`Episode.summary` (``None``: an episode that never started).

    An episode that is still running is reported as if it ended now for ``running_reason``: OpenRLHF
    keeps the last step's logs, and a step is only the last without ``done`` when the token budget ran out.
    """
    summary = summary or {}
    reason = summary.get("done_reason") or running_reason
    logs = {f"{KEY_PREFIX}{name}": _number(summary.get(name)) for name in _VALUES}
    logs[f"{KEY_PREFIX}solved"] = 1.0 if logs[f"{KEY_PREFIX}env_reward"] >= 1.0 else 0.0
    logs[f"{KEY_PREFIX}end_code"] = float(DONE_REASONS.index(reason)) if reason in DONE_REASONS else -1.0
    for name in DONE_REASONS:
        logs[f"{KEY_PREFIX}end_{name}"] = 1.0 if name == reason else 0.0
    return logs


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if number == number else 0.0  # NaN would poison the batch mean
