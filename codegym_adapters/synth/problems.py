"""The user's coding problems: rows of a jsonl/json/parquet file (the KodCode layout by default)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..catalog import read_rows
from ..errors import CodeGymError


@dataclass(frozen=True)
class Problem:
    """One problem: its id (made safe for file names as ``code_id``), statement and reference solution."""

    id: str
    question: str
    solution: str

    @property
    def code_id(self) -> str:
        return code_id_of(self.id)


def code_id_of(problem_id: str) -> str:
    """A ``code_id`` for env file names: letters, digits and single underscores (``__`` separates
    the class name in ``<code_id>__<ClassName>``)."""
    text = re.sub(r"[^0-9A-Za-z_]+", "_", problem_id).strip("_")
    text = re.sub(r"_{2,}", "_", text)
    return text or "problem"


def read_problems(path: str | Path, *, id_column: str = "question_id", question_column: str = "question",
                  solution_column: str = "solution", limit: int = 0) -> list[Problem]:
    """Problems from ``path``. Raises :class:`CodeGymError` naming the row for a missing column, an
    empty question, or two problems with the same ``code_id``."""
    rows = read_rows(path)
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise CodeGymError(f"{path} row {i}: not an object")
        missing = [c for c in (id_column, question_column) if c not in row]
        if missing:
            raise CodeGymError(f"{path} row {i}: no column {', '.join(map(repr, missing))} (columns: "
                               f"{', '.join(sorted(row))}); see --id-column/--question-column/--solution-column")
        problem = Problem(str(row[id_column]), str(row[question_column] or ""), str(row.get(solution_column) or ""))
        if not problem.question.strip():
            raise CodeGymError(f"{path} row {i} ({problem.id}): the question is empty")
        if problem.code_id in seen:
            raise CodeGymError(f"{path} row {i}: problem id {problem.id!r} gives code_id {problem.code_id!r}, "
                               f"as does {seen[problem.code_id]!r}")
        seen[problem.code_id] = problem.id
        problems.append(problem)
        if limit and len(problems) >= limit:
            break
    if not problems:
        raise CodeGymError(f"{path}: no problems")
    return problems
