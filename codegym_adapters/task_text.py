"""Where an env's task text (the problem statement shown to the agent) comes from.

Upstream env files carry no task text: it lives in verified records (``gym_task``) and in training
rows (the user message, after the instructions and ``Question:``; ``codegym-format.md`` section 5).
Wherever a prompt is built without a row's own messages, the text comes from, in order:

1. the record's ``gym_task`` (set on the :class:`~codegym_adapters.catalog.EnvSpec` by the catalog);
2. a row of the same env that carries a prompt: its user message (the part after ``Question:``);
3. a ``--tasks FILE`` (jsonl/json/parquet rows of ``code_id`` or env name, and ``task``/``gym_task``);
4. the env file's own ``TASK`` (our bundled envs; the runtime reads it).

With none, ``build-data`` refuses (or, with ``--allow-missing-task``, writes rows that say so), and
episodes warn once per env (:func:`warn_missing_task`).
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .catalog import EnvSpec, read_rows
from .errors import EnvLoadError

MISSING_TASK_ADVICE = (
    "give the task text with verified records that carry gym_task, with training rows of the same env "
    "whose prompt holds it (given with --envs, or build-data --configs rows.jsonl), with build-data "
    "--tasks FILE (rows of code_id or env name with task), or as TASK = \"...\" in the env file"
)
_QUESTION = re.compile(r"(?:^|\n)\s*Question:\s*", re.IGNORECASE)
_warned: set[str] = set()
_warned_lock = threading.Lock()


class TaskTexts:
    """Task texts by key (``<code_id>__<ClassName>``, ``code_id`` or class name), first one kept."""

    def __init__(self) -> None:
        self._by_key: dict[str, str] = {}

    def add(self, key: str, text: Any) -> bool:
        """Remember ``text`` for ``key`` unless one is known already; blank text is ignored."""
        if not key or not isinstance(text, str) or not text.strip() or key in self._by_key:
            return False
        self._by_key[key] = text.strip()
        return True

    def add_item(self, item: Mapping[str, Any], keys: Iterable[str]) -> None:
        """The task of a record (``gym_task``) or a row (its prompt's user message), under ``keys``."""
        text = item.get("gym_task") or item.get("task")
        if not isinstance(text, str) or not text.strip():
            text = task_from_prompt(item.get("prompt"))
        for key in keys:
            self.add(key, text)

    def update(self, other: TaskTexts) -> None:
        for key, text in other._by_key.items():
            self.add(key, text)

    def for_spec(self, spec: EnvSpec) -> str | None:
        for key in (spec.name, spec.code_id, spec.class_name):
            if key and key in self._by_key:
                return self._by_key[key]
        return None

    def __len__(self) -> int:
        return len(self._by_key)


def task_from_prompt(prompt: Any) -> str | None:
    """The task in a row's prompt: its (last) user message, from after ``Question:`` when it has one."""
    if not isinstance(prompt, (list, tuple)) and hasattr(prompt, "tolist"):
        prompt = prompt.tolist()  # numpy arrays, as pandas reads parquet lists
    if not isinstance(prompt, (list, tuple)):
        return None
    users = [m.get("content") for m in prompt if isinstance(m, Mapping) and m.get("role") == "user"]
    users = [u for u in users if isinstance(u, str) and u.strip()]
    if not users:
        return None
    text = users[-1]
    parts = _QUESTION.split(text, maxsplit=1)
    return (parts[1] if len(parts) == 2 and parts[1].strip() else text).strip()


def read_task_file(path: str | Path) -> TaskTexts:
    """A ``--tasks`` file: rows (jsonl, json or parquet) with ``code_id`` and/or ``env_name``/``env``
    and the text in ``task`` or ``gym_task``. Raises :class:`EnvLoadError` when it holds none."""
    texts = TaskTexts()
    for i, row in enumerate(read_rows(path)):
        if not isinstance(row, Mapping):
            raise EnvLoadError(f"{path}:{i + 1}: expected an object with code_id/env_name and task")
        keys = [str(row[k]) for k in ("env", "env_name", "name", "code_id", "source")
                if isinstance(row.get(k), str) and row[k]]
        code_id, env_name = row.get("code_id") or row.get("source"), row.get("env_name")
        if isinstance(code_id, str) and isinstance(env_name, str) and code_id and env_name:
            keys.insert(0, f"{code_id}__{env_name}")
        if not keys:
            raise EnvLoadError(f"{path}:{i + 1}: no code_id or env name to attach the task to")
        texts.add_item(row, keys)
    if not len(texts):
        raise EnvLoadError(f"--tasks {path}: no task texts found (expected rows with code_id or env_name, "
                           "and task or gym_task)")
    return texts


def attach_tasks(specs: Iterable[EnvSpec], *sources: TaskTexts) -> None:
    """Give every spec without a task text the first one ``sources`` know for it (in order)."""
    for spec in specs:
        if spec.task and spec.task.strip():
            continue
        for source in sources:
            text = source.for_spec(spec)
            if text:
                spec.task = text
                break


def warn_missing_task(env_name: str) -> None:
    """Warn, once per env and process, that ``env_name``'s prompt has no task text."""
    with _warned_lock:
        if env_name in _warned:
            return
        _warned.add(env_name)
    warnings.warn(f"env {env_name} has no task text: its prompt gets a generic placeholder instead of the "
                  f"problem statement; {MISSING_TASK_ADVICE}", UserWarning, stacklevel=3)
