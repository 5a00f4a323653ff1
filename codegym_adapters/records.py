"""Episode records: reading them from JSON-lines files, telling them apart from what is not one
(training rows, other JSON, torn lines), and the defaults that let older or partial records load.

A record is what ``codegym eval --out`` and the trainers' dry runs write per episode: the episode
summary keys (``Episode.summary()``) plus ``task``, ``policy``, ``prompt`` and ``trajectory``, and
``trainer`` from a dry run. :mod:`codegym_adapters.report` makes the page from them.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .catalog import read_rows
from .envstring import parse_env_string
from .errors import CodeGymError
from .tasks import Task

_DEFAULTS: dict[str, Any] = {
    "task": "", "env": "", "policy": "", "reward": 0.0, "done_reason": "", "turn_limit": 0,
    "solve_fc_round": 0, "error": "", "valid_calls": 0, "invalid_calls": 0, "extra_calls": 0,
    "error_observations": 0, "env_errors": 0, "model_error": "",
}

EXPECTED_INPUT = ("`codegym report` reads episode records: JSON lines with task, reward, done_reason and "
                  "trajectory, as `codegym eval --out FILE` and the trainers' dry runs "
                  "(`python -m verl_plugin.dry_run --out FILE`) write them")
# Keys of the training rows `codegym build-data` writes (veRL parquet, OpenRLHF jsonl) and upstream rows.
_ROW_KEYS = frozenset({"ability", "reward_model", "agent_name", "datasource", "data_source", "label"})


def line_kind(value: Any) -> str:
    """``record`` (an episode record), ``row`` (a training row) or ``other``, for one decoded JSON line."""
    if not isinstance(value, dict):
        return "other"
    if "task" in value or "done_reason" in value:
        return "record"
    return "row" if _ROW_KEYS & value.keys() else "other"


def read_records(paths: Iterable[Path]) -> tuple[list[dict[str, Any]], int]:
    """Episode records from JSONL files, and how many non-blank lines were not records (torn or bad,
    training rows, other JSON). Raises ``ValueError`` for a file that is not text (e.g. parquet)."""
    records, skipped = [], 0
    for path in paths:
        for value in _json_lines(Path(path)):
            if line_kind(value) == "record":
                records.append(normalize(value))
            else:
                skipped += 1
    return records, skipped


def _json_lines(path: Path) -> Iterable[Any]:
    """Each non-blank line of ``path`` decoded, or ``ValueError`` (an instance) where it is not JSON."""
    if path.suffix == ".parquet":
        raise ValueError(f"{path} is a parquet file (training rows?); {EXPECTED_INPUT}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a text file; {EXPECTED_INPUT}") from None
    for line in text.splitlines():
        if line.strip():
            try:
                yield json.loads(line)
            except ValueError as exc:
                yield exc


def no_records_message(sources: Sequence[Path]) -> str:
    """Why there are no records in ``sources``, and what the command expects instead."""
    kinds: Counter[str] = Counter()
    for path in sources:
        kinds.update("unreadable" if isinstance(v, ValueError) else line_kind(v) for v in _json_lines(Path(path)))
    names = ", ".join(map(str, sources))
    if not kinds:
        return f"no episode records in {names} (empty); {EXPECTED_INPUT}"
    labels = {"record": "episode record(s)", "row": "training row(s)", "other": "other JSON line(s)",
              "unreadable": "line(s) that are not JSON"}
    found = ", ".join(f"{n} {labels[k]}" for k, n in sorted(kinds.items()))
    hint = ""
    if kinds["row"]:
        hint = (". These are training rows (from `codegym build-data`): run episodes on them first, e.g. "
                f"`codegym eval --data {Path(sources[0])} --out episodes.jsonl`, then report on episodes.jsonl")
    return f"no episode records in {names} (found {found}); {EXPECTED_INPUT}{hint}"


def normalize(record: dict[str, Any]) -> dict[str, Any]:
    """The record with every key the metrics read (defaults where missing)."""
    out = {**_DEFAULTS, **record}
    if not out["env"]:
        try:
            out["env"] = parse_env_string(str(out["task"])).name
        except (CodeGymError, ValueError):
            out["env"] = str(out["task"])
    out.setdefault("env_reward", out["reward"])
    out.setdefault("turns", len(out.get("trajectory") or []))
    for key in ("reward", "env_reward"):
        out[key] = _number(out[key])
    for key in ("turns", "invalid_calls", "env_errors", "solve_fc_round"):
        out[key] = int(_number(out[key]))
    return out


def env_names_of_rows(paths: Iterable[str | Path]) -> list[str]:
    """The env names of the training rows in ``paths`` (``.jsonl``/``.json``/``.parquet``), in order,
    once each. Raises ``ValueError`` for a file with no row that names a CodeGym env."""
    names: dict[str, None] = {}
    for path in paths:
        found = 0
        for row in read_rows(path):
            try:
                names.setdefault(Task.from_row(row).env_name, None)
                found += 1
            except (CodeGymError, AttributeError):  # not a row, or no env string
                continue
        if not found:
            raise ValueError(f"--data {path}: no training rows with a CodeGym env string ('ability') in it")
    return list(names)


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0
