"""What ``codegym verify`` reports: the reasons an env is quarantined, and the per-env and
per-configuration results (see :mod:`codegym_adapters.verify` for the checks themselves)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .configs import DEFAULT_GENERATED

REASONS = {
    "import_error": "the file does not compile or import",
    "contract": "the class does not honour the CodeGym contract",
    "generator_failed": "the file's generate_config(seed, size) fails or returns no dict",
    "reset_failed": "the env cannot be created and reset with a configuration",
    "ref_answer_failed": "get_ref_answer() fails",
    "oracle_failed": "solve() raises or never calls Done",
    "nondeterministic": "the same calls give different observations",
    "oracle_not_solved": "the oracle's calls do not reach reward 1 at the first Done",
    "rewards_wrong_answer": "a wrong answer is rewarded",
    "timeout": "a call broke its time limit",
    "memory": "a call broke its memory limit",
    "crashed": "the process hosting the env died",
    "no_configs": "no configuration anywhere, and the env's defaults ({} options) cannot be built or solved",
}
NO_CONFIGS_ADVICE = (
    "give it configurations: --configs FILE (env strings, rows with 'ability', or records with "
    "'unit_test_list'), example env strings \"<ClassName>@{...}\" in the file's __main__ self-test block, "
    "or CONFIGS / generate_config(seed, size) in the file"
)
# failures on the {} defaults that say "this configuration is no good" rather than "this env is broken"
_DEFAULT_FAILURES = ("reset_failed", "ref_answer_failed", "oracle_failed", "oracle_not_solved")
_MAX_SHOWN = 300  # characters of an observation or answer kept in a report


class Rejected(Exception):
    """One check failed: ``reason`` is a key of :data:`REASONS`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class ConfigResult:
    """What verification found on one configuration."""

    options: dict[str, Any]
    source: str
    ok: bool = False
    solve_fc_round: int | None = None  # upstream's count: every step, nested ones included
    oracle_turns: int | None = None  # the oracle's top-level calls
    ref_answer: Any = None
    reason: str | None = None
    error: str | None = None
    max_step_s: float = 0.0


@dataclass
class EnvReport:
    """The verdict on one env."""

    env: str
    origin: str
    source_hash: str = ""
    passed: bool = False
    reason: str | None = None
    detail: str = ""
    actions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    configs: list[ConfigResult] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def rounds(self) -> list[int]:
        return [c.solve_fc_round for c in self.configs if c.ok and c.solve_fc_round is not None]

    @property
    def status(self) -> str:
        """``passed``, ``no_configs`` (nothing to check it with) or ``failed``."""
        return "passed" if self.passed else "no_configs" if self.reason == "no_configs" else "failed"

    def to_dict(self) -> dict[str, Any]:
        rounds = self.rounds
        turns = [c.oracle_turns for c in self.configs if c.ok and c.oracle_turns is not None]
        return {
            "env": self.env,
            "status": self.status,
            "reason": self.reason,
            "detail": self.detail,
            "origin": self.origin,
            "source_hash": self.source_hash,
            "actions": self.actions,
            "configs_checked": len(self.configs),
            "solve_fc_round": {"min": min(rounds), "max": max(rounds), "mean": round(sum(rounds) / len(rounds), 2)}
            if rounds else None,
            "oracle_turns": {"min": min(turns), "max": max(turns)} if turns else None,
            "notes": self.notes,
            "elapsed_s": round(self.elapsed_s, 3),
            "configs": [asdict(c) for c in self.configs],
        }


@dataclass(frozen=True)
class VerifyOptions:
    """What to check beyond each env's own configurations."""

    generated: int = DEFAULT_GENERATED  # configurations from generate_config(seed, size) per env that has one
    max_configs: int = 0  # check at most this many configurations per env (0: all)
    env_timeout: float = 600.0  # seconds for a whole env, a backstop over the runtime's own limits
    seed: int = 0
