"""One jsonl file per stage in the output folder, appended and flushed line by line, so a run that is
killed (even with SIGKILL) loses at most the line being written, and a rerun repeats no finished work.

Two kinds of lines: ``{"kind": "reply", "id", "call", "text", ...}`` (a model reply, written as soon
as it arrives, before any check) and ``{"kind": "result", "id", ...}`` (the stage's verdict on one
problem). On resume a problem with a result skips the stage; one with replies only re-runs the stage's
checks on the stored replies without asking the model again.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any


class StageStore:
    """The jsonl of one stage. Not safe across processes; one run owns its output folder."""

    def __init__(self, path: Path, fingerprint: str = "") -> None:
        self.path = path
        self.fingerprint = fingerprint
        self._replies: dict[tuple[str, str], dict[str, Any]] = {}
        self._results: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._load()
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def _load(self) -> None:
        if not self.path.exists():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:  # a line torn by a kill
                continue
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                continue
            if entry.get("kind") == "reply" and isinstance(entry.get("call"), str):
                self._replies[(entry["id"], entry["call"])] = entry
            elif entry.get("kind") == "result":
                self._results[entry["id"]] = entry
            else:
                continue
            kept.append(line)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
        os.replace(tmp, self.path)

    def reply(self, problem_id: str, call: str, prompt_sha: str | None = None) -> dict[str, Any] | None:
        entry = self._replies.get((problem_id, call))
        if entry is None or (prompt_sha is not None and entry.get("prompt_sha") != prompt_sha):
            return None
        return entry

    def result(self, problem_id: str) -> dict[str, Any] | None:
        entry = self._results.get(problem_id)
        return entry if entry is not None and entry.get("fingerprint") == self.fingerprint else None

    @property
    def reply_count(self) -> int:
        return len(self._replies)

    def add_reply(self, problem_id: str, call: str, text: str, **extra: Any) -> dict[str, Any]:
        entry = {"kind": "reply", "id": problem_id, "call": call, "text": text, **extra}
        self._replies[(problem_id, call)] = entry
        self._write(entry)
        return entry

    def add_result(self, problem_id: str, result: dict[str, Any]) -> dict[str, Any]:
        entry = {"kind": "result", "id": problem_id, **result, "fingerprint": self.fingerprint}
        self._results[problem_id] = entry
        self._write(entry)
        return entry

    def _write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()

    def close(self) -> None:
        self._file.close()
