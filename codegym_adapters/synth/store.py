"""One jsonl file per stage in the output folder, appended and flushed line by line, so a run that is
killed (even with SIGKILL) loses at most the line being written, and a rerun repeats no finished work.

Two kinds of lines: ``{"kind": "reply", "id", "call", "text", ...}`` (a model reply, written as soon
as it arrives, before any check) and ``{"kind": "result", "id", ...}`` (the stage's verdict on one
problem). On resume a problem with a result skips the stage; one with replies only re-runs the stage's
checks on the stored replies without asking the model again. A result is reused only under the same
``fingerprint`` (the gates' options and limits: changing a threshold re-judges the stored replies), and
a reply only for the same prompt (``prompt_sha``: changing a template asks the model again).

Only the byte offset of each line is kept in memory; a line is read back when asked for, so a run over
many thousands of problems does not hold every reply and env source at once.
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
        self._replies: dict[tuple[str, str], tuple[int, str | None]] = {}  # -> (offset, prompt_sha)
        self._results: dict[str, tuple[int, str | None]] = {}  # -> (offset, fingerprint)
        self._lock = threading.Lock()
        self._load()
        self._file = open(path, "ab")  # noqa: SIM115 - closed by close()
        self._reader = open(path, "rb")  # noqa: SIM115

    def _load(self) -> None:
        """Index the complete lines and rewrite the file without torn or foreign ones."""
        if not self.path.exists():
            self.path.touch()
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(self.path, "rb") as src, open(tmp, "wb") as dst:
            for raw in src:
                try:
                    entry = json.loads(raw)
                except ValueError:  # a line torn by a kill
                    continue
                if not raw.endswith(b"\n") or not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                    continue
                offset = dst.tell()
                if entry.get("kind") == "reply" and isinstance(entry.get("call"), str):
                    self._replies[(entry["id"], entry["call"])] = (offset, entry.get("prompt_sha"))
                elif entry.get("kind") == "result":
                    self._results[entry["id"]] = (offset, entry.get("fingerprint"))
                else:
                    continue
                dst.write(raw)
        os.replace(tmp, self.path)

    def _read(self, offset: int) -> dict[str, Any]:
        with self._lock:
            self._reader.seek(offset)
            return json.loads(self._reader.readline())

    def reply(self, problem_id: str, call: str, prompt_sha: str | None = None) -> dict[str, Any] | None:
        found = self._replies.get((problem_id, call))
        if found is None or (prompt_sha is not None and found[1] != prompt_sha):
            return None
        return self._read(found[0])

    def result(self, problem_id: str) -> dict[str, Any] | None:
        found = self._results.get(problem_id)
        return self._read(found[0]) if found is not None and found[1] == self.fingerprint else None

    def add_reply(self, problem_id: str, call: str, text: str, **extra: Any) -> dict[str, Any]:
        entry = {"kind": "reply", "id": problem_id, "call": call, "text": text, **extra}
        self._replies[(problem_id, call)] = (self._write(entry), entry.get("prompt_sha"))
        return entry

    def add_result(self, problem_id: str, result: dict[str, Any]) -> dict[str, Any]:
        entry = {"kind": "result", "id": problem_id, **result, "fingerprint": self.fingerprint}
        self._results[problem_id] = (self._write(entry), self.fingerprint)
        return entry

    def _write(self, entry: dict[str, Any]) -> int:
        line = (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        with self._lock:
            offset = self._file.seek(0, os.SEEK_END)
            self._file.write(line)
            self._file.flush()
        return offset

    def close(self) -> None:
        self._file.close()
        self._reader.close()
