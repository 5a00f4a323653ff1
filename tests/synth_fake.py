"""A served model for ``codegym synthesize`` tests: canned replies written by us (``tests/synth_replies``),
replayed over real HTTP by :class:`fake_openai_server.FakeOpenAIServer`.

One good problem (maximum subarray sum: ``env.md``, ``unit_tests.md``, ``oracle_good.md``) and variants
that each carry one defect, written here as edits of the good replies, so every case states its defect.
:class:`CannedModel` answers by stage (the prompt's ``# Stage:`` heading) and problem (its question, or
its env class name in backticks), and counts requests per call so tests can tell repeated calls.
"""

from __future__ import annotations

import collections
import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fake_openai_server import Reply, first_user_message

REPLIES = Path(__file__).parent / "synth_replies"
BASE_CLASS = "MaxSubarrayEnv"


def canned(name: str) -> str:
    return (REPLIES / name).read_text(encoding="utf-8")


def edit(text: str, old: str, new: str) -> str:
    """``text`` with ``old`` (which must occur exactly once) replaced by ``new``."""
    assert text.count(old) == 1, f"edit target occurs {text.count(old)} times: {old[:60]!r}"
    return text.replace(old, new)


@dataclass
class Case:
    """One problem and what the model answers for it; ``expect`` is ``(gate, reason)``, or ``None`` for an
    env that must come out verified."""

    id: str
    question: str
    solution: str
    class_name: str
    env: str
    unit_tests: str
    oracle: list[str]
    expect: tuple[str, str] | None = None

    def problem_row(self) -> dict[str, Any]:
        return {"question_id": self.id, "question": self.question, "solution": self.solution}


def _case(tag: str, expect: tuple[str, str] | None, *, env_edits: tuple[tuple[str, str], ...] = (),
          env: str | None = None, unit_tests: str | None = None, oracle: list[str] | None = None,
          solution: str | None = None) -> Case:
    problem = json.loads(canned("problem.json"))
    class_name = f"MaxSubarray{tag.title().replace('_', '')}Env"
    text = canned("env.md") if env is None else env
    for old, new in env_edits:
        text = edit(text, old, new)
    text = text.replace(BASE_CLASS, class_name)
    return Case(id=f"Synth_{tag}", question=f"{problem['question']} (case {tag})",
                solution=problem["solution"] if solution is None else solution,
                class_name=class_name, env=text, unit_tests=canned("unit_tests.md") if unit_tests is None else unit_tests,
                oracle=oracle or [canned("oracle_good.md")], expect=expect)


_KADANE = """        best = current = self.nums[0]
        for value in self.nums[1:]:
            current = max(value, current + value)
            best = max(best, current)
        return best"""
_GET_NUMBER_DOC = canned("env.md").split("def GetNumber(self, index: int):\n", 1)[1].split("        return", 1)[0]


def cases() -> list[Case]:
    """Every case, each with its one defect and where it must land."""
    tiny = "```json\n" + json.dumps([{"level": "easy", "options": {"nums": [a, b]}}
                                      for a in range(-2, 3) for b in range(-1, 2)]) + "\n```"
    return [
        _case("good", None),
        _case("think_then_retry", None, env="<think>First a draft:\n```python\nclass Draft(\n```\n</think>\n"
              + canned("env.md"), oracle=[canned("oracle_wrong.md"), canned("oracle_good.md")]),
        _case("syntax", ("env", "syntax_error"), env_edits=(("    def Observe(self):", "    def Observe(self)"),)),
        _case("no_docstring", ("env", "undocumented_action"), env_edits=((_GET_NUMBER_DOC, ""),)),
        _case("no_ref_answer", ("env", "contract"), env_edits=((
            "    def get_ref_answer(self):", "    def reference_answer(self):"),)),
        _case("import_fails", ("env", "import_error"), env_edits=(("import gymnasium\n", "import gymnasium_nope\n"),)),
        _case("few_tools", ("env", "too_few_tools"), env_edits=(
            ('            "ExtendOrRestart": self.EXTEND_OR_RESTART,\n', ""),
            ('            "UpdateBest": self.UPDATE_BEST,\n', ""))),
        _case("no_task", ("env", "malformed_reply"), env=canned("env.md").split("</task>", 1)[1]),
        _case("wrong_ref", ("unit_tests", "ref_answer_mismatch"), env_edits=((_KADANE, "        return sum(self.nums)"),)),
        _case("slow_ref", ("unit_tests", "ref_answer_timeout"), env_edits=((
            "    def get_ref_answer(self):\n",
            "    def get_ref_answer(self):\n        if len(self.nums) > 9:\n            import time\n"
            "            start = time.perf_counter()\n            while time.perf_counter() - start < 0.5:\n"
            "                pass\n"),)),
        _case("ref_hangs", ("unit_tests", "ref_answer_timeout"), env_edits=((
            "    def get_ref_answer(self):\n",
            "    def get_ref_answer(self):\n        while len(self.nums) > 9:\n            pass\n"),)),
        _case("solution_reads_stdin", ("unit_tests", "solution_failed"),
              solution="def max_subarray(nums):\n    return int(input())\n"),
        _case("tests_prose", ("unit_tests", "malformed_reply"), unit_tests="Easy ones, then hard ones."),
        _case("oracle_direct", ("oracle", "oracle_not_actions"), oracle=[canned("oracle_direct.md")]),
        _case("oracle_loop", ("oracle", "oracle_timeout"), oracle=[canned("oracle_loop.md")]),
        _case("oracle_prose", ("oracle", "oracle_malformed"), oracle=["Sorry, I cannot write that."]),
        _case("short_rounds", ("rounds", "rounds_out_of_range"), unit_tests=tiny),
        _case("nondeterministic", ("verify", "nondeterministic"), env_edits=(
            ("import json\n", "import json\nimport random\n"),
            ('return json.dumps({"count": len(self.nums)})',
             'return json.dumps({"count": len(self.nums), "nonce": random.random()})'))),
        _case("reward_anything", ("verify", "rewards_wrong_answer"), env_edits=((
            "self._reward = 1 if correct else 0", "self._reward = 1"),)),
    ]


_STAGE_RE = re.compile(r"# Stage: (environment|unit tests|oracle \(attempt (\d+) of \d+\))")


@dataclass
class CannedModel:
    """The fake server's policy: the canned reply for a request's problem and stage, after ``latency_s``."""

    cases: list[Case]
    latency_s: float = 0.0
    counts: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def key(self, body: Mapping[str, Any]) -> tuple[Case, str] | None:
        text = first_user_message(body)
        match = _STAGE_RE.search(text)
        if not match:
            return None
        if match.group(1) == "environment":
            case = next((c for c in self.cases if c.question in text), None)
            return (case, "env") if case else None
        case = next((c for c in self.cases if f"`{c.class_name}`" in text), None)
        if case is None:
            return None
        return (case, "unit_tests") if match.group(1) == "unit tests" else (case, f"oracle-{match.group(2)}")

    def __call__(self, body: Mapping[str, Any]) -> Reply:
        found = self.key(body)
        if found is None:
            return Reply(fault="400")
        case, call = found
        with self._lock:
            self.counts[(case.id, call)] += 1
        if self.latency_s:
            time.sleep(self.latency_s)
        if call == "env":
            return Reply(case.env)
        if call == "unit_tests":
            return Reply(case.unit_tests)
        k = int(call.split("-")[1])
        return Reply(case.oracle[min(k, len(case.oracle)) - 1])


def write_problems(path: Path, case_list: list[Case]) -> Path:
    path.write_text("".join(json.dumps(c.problem_row()) + "\n" for c in case_list), encoding="utf-8")
    return path
