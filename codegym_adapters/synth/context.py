"""What every stage shares: the options (published thresholds as defaults), the model client, the
sandbox runtime, the prompts and the stage stores; and the two helpers every stage uses, asking the
model once per call key and turning sandbox errors into reasons."""

from __future__ import annotations

import collections
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..catalog import EnvSpec
from ..model_client import ChatClient
from ..runtime.base import Runtime
from .prompts import Prompts
from .replies import strip_reasoning
from .store import StageStore

STAGES = ("env", "unit_tests", "oracle", "verify", "score")
# Gates in the order a problem meets them; "rounds" is checked in the verify stage, before the gate.
GATES = ("env", "unit_tests", "oracle", "rounds", "verify", "score")


@dataclass(frozen=True)
class SynthOptions:
    """Thresholds and limits. Defaults are the published pipeline's (``codegym-format.md`` section 5)
    where it gives one."""

    unit_tests: int = 15  # configurations asked for, a third per difficulty level
    min_unit_tests: int = 10  # an env needs at least this many passing unit tests ...
    min_pass_fraction: float = 0.8  # ... and at least this fraction of those written
    ref_time_s: float = 3.0  # get_ref_answer() time per unit test
    ref_memory_mb: float = 100.0  # get_ref_answer() peak traced allocation per unit test
    max_answer_chars: int = 1000  # a reference answer longer than this (as JSON) is not "short"
    oracle_candidates: int = 10
    min_rounds: int = 10  # solve_fc_round range a unit test must fall in
    max_rounds: int = 256
    min_tools: int = 4  # distinct actions in func_mapping
    check_solution: bool = True  # compare get_ref_answer() with the problem's own solution
    verify: bool = True  # run the full ``codegym verify`` gate
    env_timeout_s: float = 600.0  # backstop for one env's verification
    concurrency: int = 8  # problems in flight
    max_tokens: int | None = 8192
    temperature: float | None = 0.7
    max_pass_rate: float = 0.25  # with --score-with: envs the scoring model solves more often are too easy
    score_samples: int = 1
    score_turn_limit: int = 256

    def __post_init__(self) -> None:
        for name in ("unit_tests", "oracle_candidates", "concurrency", "score_samples", "score_turn_limit"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.min_pass_fraction <= 1.0 or not 0.0 <= self.max_pass_rate <= 1.0:
            raise ValueError("pass fractions and rates must be between 0 and 1")
        if self.min_rounds > self.max_rounds:
            raise ValueError(f"min-rounds {self.min_rounds} is above max-rounds {self.max_rounds}")
        if self.ref_time_s <= 0 or self.ref_memory_mb <= 0:
            raise ValueError("the reference-answer time and memory limits must be positive")


def fingerprint(options: SynthOptions, limits: dict[str, Any], prompts: Prompts) -> str:
    """What a stored verdict depends on besides the replies: the gates' options, the sandbox limits and
    the prompt templates (not concurrency or sampling, which only shape new replies)."""
    judged = {k: v for k, v in asdict(options).items() if k not in ("concurrency", "max_tokens", "temperature")}
    text = json.dumps({"options": judged, "limits": limits, "prompts": prompts.templates}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class Context:
    options: SynthOptions
    client: ChatClient
    runtime: Runtime
    prompts: Prompts
    stores: dict[str, StageStore]
    score_client: ChatClient | None = None
    model_calls: collections.Counter[str] = field(default_factory=collections.Counter)
    on_stage_done: Callable[[str], None] | None = None

    async def ask(self, stage: str, problem_id: str, call: str, messages: Sequence[dict[str, Any]]) -> str:
        """The model's reply to ``messages`` (reasoning stripped), asked once: a reply stored under
        ``(problem_id, call)`` in the stage's jsonl is reused. Raises ``ModelRequestError``."""
        store = self.stores[stage]
        prompt_sha = hashlib.sha256(json.dumps(messages, sort_keys=True).encode("utf-8")).hexdigest()[:16]
        entry = store.reply(problem_id, call, prompt_sha)
        if entry is None:
            reply = await self.client.complete(messages, max_tokens=self.options.max_tokens,
                                               temperature=self.options.temperature)
            self.model_calls[stage] += 1
            entry = store.add_reply(problem_id, call, reply.content, prompt_sha=prompt_sha,
                                    finish_reason=reply.finish_reason, usage=reply.usage)
        return strip_reasoning(entry["text"])

    def cut_off(self, stage: str, problem_id: str, call: str) -> str:
        """A note for a malformed reply that the server cut off at max_tokens."""
        entry = self.stores[stage].reply(problem_id, call) or {}
        return " (the reply was cut off at --max-tokens)" if entry.get("finish_reason") == "length" else ""


def spec_of(code_id: str, class_name: str, source: str, task: str | None = None) -> EnvSpec:
    """An env spec for generated source, never written to disk (the sandbox gets the text)."""
    return EnvSpec(class_name=class_name, code_id=code_id, origin="synthesize", task=task, _source=source)


def limit_reason(text: str, prefix: str, default: str) -> str:
    """``<prefix>_timeout`` / ``_memory`` / ``_crashed`` when a sandbox error names a broken limit,
    else ``default``."""
    low = text.lower()
    if "deadline" in low or "timed out" in low or "timeout" in low:
        return f"{prefix}_timeout"
    if "memory" in low or "rss" in low:
        return f"{prefix}_memory"
    if "crashed" in low or "worker died" in low:
        return f"{prefix}_crashed"
    return default


def rejected(reason: str, detail: str, **data: Any) -> dict[str, Any]:
    return {"status": "rejected", "reason": reason, "detail": detail[:2000], **data}


def most_common(reasons: Sequence[str], fallback: str) -> str:
    counts = collections.Counter(r for r in reasons if r)
    return counts.most_common(1)[0][0] if counts else fallback
