"""The episode contract both trainer plugins use.

An :class:`Episode` is a state machine over one env session::

    prompt -> (model text -> parsed call -> env step -> observation)* -> reward

It consumes one model turn at a time and answers with the observation to feed back, whether the
episode is over, and the reward. The rules (``architecture.md``, decision 5):

* the first successful ``Done`` ends the episode with the env's reward (the env's own ``finished``
  flag ends it too);
* the turn limit (the row's ``plugin_call_max_round``, else ``EpisodeConfig.default_turn_limit``;
  never more than ``EpisodeConfig.max_turns`` when set), a turn with no call (when ``end_on_no_call``)
  or a failed env end it with reward 0;
* a turn the token budget cut (``step(text, cut=True)``: the model did not end it itself) is never
  read or run: the episode ends ``length`` with reward 0, the cut turn costs no invalid-call penalty
  and is no ``no_call`` (under ``penalty``, earlier invalid calls still cost theirs: running out the
  budget must not be a way to escape them); :meth:`Episode.end` (e.g. the budget ran out between
  turns) ends it ``length`` the same way;
* a turn is read by :meth:`EpisodeConfig.read_turn` (the call format, and reasoning blocks that are
  never searched for calls), the same for both trainers, ``codegym eval`` and ``codegym play``;
* an invalid call (unparsable, or naming no action of the env) gets an ``Error: ...`` observation;
  the ``invalid_call_policy`` decides what else happens: ``feedback`` (nothing), ``penalty``
  (``invalid_penalty`` is subtracted from the final reward per invalid call) or ``stop`` (the
  episode ends after ``max_consecutive_invalid`` invalid calls in a row);
* ``reward: binary`` turns the env's reward into ``int(reward > 0)``, as the paper's rollout client does.

Model text never raises: whatever the text, a turn is a call, no call or an invalid call. Every
observation returned is valid UTF-8 (lone surrogates are replaced). Every episode reports a ``done_reason`` from :data:`DONE_REASONS` and its metrics.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .calls import PARSE_FORMATS, ParsedTurn, ToolCall, parse_call
from .errors import CodeGymError
from .prompts import PROMPT_STYLES, Prompt, build_prompt
from .reasoning import DEFAULT_REASONING_MARKERS, ReasoningMarkers, normalize_markers
from .runtime.base import Runtime, Session, SessionInfo
from .tasks import Task

DONE_REASONS = ("done", "turn_limit", "no_call", "invalid_calls", "length", "env_error", "model_error")
INVALID_CALL_POLICIES = ("feedback", "penalty", "stop")
REWARD_MODES = ("env", "binary")


@dataclass(frozen=True)
class EpisodeConfig:
    """How episodes are run: the one settings object both trainers, ``codegym eval`` and ``codegym
    play`` read turns and rewards with. Every field has a default; invalid values raise ``ValueError``.

    ``call_format``: ``auto``, ``codegym``, ``hermes``, ``json`` or ``strict`` (see :mod:`.calls`).
    ``reasoning``: leave text inside ``reasoning_markers`` pairs (default ``<think>``/``</think>``)
    out of the search for calls. ``default_turn_limit``: for rows without ``plugin_call_max_round``;
    ``max_turns``: a cap on every episode's turn limit (None: no cap). ``reward``: ``env`` (the env's
    reward) or ``binary`` (``int(reward > 0)``).
    """

    call_format: str = "auto"
    prompt_style: str = "codegym"
    default_turn_limit: int = 256
    invalid_call_policy: str = "feedback"
    invalid_penalty: float = 0.1
    max_consecutive_invalid: int = 3
    end_on_no_call: bool = True
    max_turns: int | None = None
    reasoning: bool = True
    reasoning_markers: ReasoningMarkers = DEFAULT_REASONING_MARKERS
    reward: str = "env"

    def __post_init__(self) -> None:
        _check_choice("call_format", self.call_format, PARSE_FORMATS)
        _check_choice("prompt_style", self.prompt_style, PROMPT_STYLES)
        _check_choice("invalid_call_policy", self.invalid_call_policy, INVALID_CALL_POLICIES)
        _check_choice("reward", self.reward, REWARD_MODES)
        _check_positive_int("default_turn_limit", self.default_turn_limit)
        _check_positive_int("max_consecutive_invalid", self.max_consecutive_invalid)
        if self.max_turns is not None:
            _check_positive_int("max_turns", self.max_turns)
        if not isinstance(self.invalid_penalty, (int, float)) or self.invalid_penalty < 0:
            raise ValueError(f"invalid_penalty must be a number >= 0, got {self.invalid_penalty!r}")
        for name in ("end_on_no_call", "reasoning"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        object.__setattr__(self, "reasoning_markers", normalize_markers(self.reasoning_markers))

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> EpisodeConfig:
        """Build from a config block; unknown keys are an error that lists the known ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown episode option(s) {unknown}; known: {sorted(known)}")
        return cls(**dict(values))

    def read_turn(self, text: str) -> ParsedTurn:
        """One model turn as the episode reads it (never raises)."""
        return parse_call(text, self.call_format, self.reasoning_markers if self.reasoning else ())

    def cap_turns(self, row_limit: int | None) -> int:
        """The turn limit of an episode whose row says ``row_limit`` (None or < 1: none given)."""
        limit = row_limit if isinstance(row_limit, int) and row_limit > 0 else self.default_turn_limit
        return min(limit, self.max_turns) if self.max_turns else limit


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


@dataclass
class EpisodeMetrics:
    """Counts for one episode. Keys are the same for every episode."""

    turns: int = 0
    valid_calls: int = 0
    invalid_calls: int = 0
    extra_calls: int = 0  # calls after the first in a turn, ignored
    error_observations: int = 0  # valid calls the env answered with "Error: ..."
    env_errors: int = 0  # env failures: exceptions, timeouts, crashes
    calls_in_reasoning: int = 0  # turns whose only call was inside the reasoning (not run)
    step_time_s: float = 0.0  # time spent in env steps

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Turn:
    """The answer to one model turn."""

    observation: str  # text to feed back to the model ("" when nothing is to be fed back)
    done: bool
    reward: float  # the final reward once done, else 0.0
    done_reason: str | None
    kind: str  # "call", "no_call", "invalid", "cut" (the budget cut the turn; it was not read)
    call: ToolCall | None = None


@dataclass
class Episode:
    """One episode of ``task`` on ``runtime`` (see the module docstring for the rules)."""

    runtime: Runtime
    task: Task
    config: EpisodeConfig = field(default_factory=EpisodeConfig)

    def __post_init__(self) -> None:
        self.session: Session | None = None
        self.prompt: Prompt | None = None
        self.metrics = EpisodeMetrics()
        self.done = False
        self.done_reason: str | None = None
        self.env_reward = 0.0
        self.reward = 0.0
        self.error: str | None = None  # why the env failed, for env_error
        self._consecutive_invalid = 0
        self._action_names: frozenset[str] = frozenset()

    @property
    def turn_limit(self) -> int:
        """The row's limit (else the default), capped by ``max_turns``."""
        return self.config.cap_turns(self.task.turn_limit)

    @property
    def info(self) -> SessionInfo | None:
        return self.session.info if self.session else None

    async def start(self) -> Prompt:
        """Open the env session and build the prompt.

        An env that cannot be opened ends the episode at once with ``env_error`` (the prompt is then
        the row's own messages, or a stub naming the env): the caller still gets an episode to report.
        """
        try:
            self.session = await self.runtime.open(self.task.env)
        except Exception as exc:  # an env that cannot open ends this episode, never the caller
            self.error = str(exc) if isinstance(exc, CodeGymError) else f"{type(exc).__name__}: {exc}"
            self._finish("env_error")
            self.prompt = Prompt(self.task.prompt or [{"role": "user", "content": f"Env {self.task.env}"}],
                                 None, "user")
            return self.prompt
        self._action_names = frozenset(a.name for a in self.session.info.actions)
        self.prompt = build_prompt(
            self.config.prompt_style, self.session.info, self.config.call_format, self.task.prompt
        )
        return self.prompt

    async def step(self, text: str, *, cut: bool = False) -> Turn:
        """Consume one model turn; returns what to feed back. A finished episode answers ``done``.

        ``cut``: the token budget ended the turn before the model did (a ``length`` finish). Such a
        turn is not read: the episode ends ``length`` with reward 0 (less the penalties of earlier
        invalid calls under ``penalty``). Never raises for any text.
        """
        if self.done:
            return Turn("", True, self.reward, self.done_reason, "no_call")
        if self.session is None:
            raise RuntimeError("Episode.step() before Episode.start()")
        self.metrics.turns += 1
        if cut:
            self._finish("length")
            return Turn("", True, self.reward, self.done_reason, "cut")
        try:
            parsed = self.config.read_turn(text if isinstance(text, str) else str(text))
        except Exception as exc:  # parse_call does not raise; this guards the contract all the same
            parsed = ParsedTurn("invalid", None, f"Error: the reply could not be read ({type(exc).__name__}).")
        self.metrics.extra_calls += parsed.extra_calls
        self.metrics.calls_in_reasoning += parsed.calls_in_reasoning
        if parsed.kind == "no_call" and self.config.end_on_no_call:
            self._finish("no_call")
            return Turn("", True, self.reward, self.done_reason, "no_call")
        if parsed.call is not None and parsed.call.name not in self._action_names:
            parsed = ParsedTurn("invalid", None, self._unknown_action(parsed.call.name), parsed.extra_calls,
                                parsed.format)
        if parsed.call is not None and (problem := _unencodable(parsed.call)):
            parsed = ParsedTurn("invalid", None, problem, parsed.extra_calls, parsed.format)
        if parsed.call is None:
            observation = self._invalid(parsed.error or "no function call found")
            return self._after_turn(observation, parsed.kind, None)
        return await self._call(parsed.call)

    async def _call(self, call: ToolCall) -> Turn:
        assert self.session is not None
        self._consecutive_invalid = 0
        self.metrics.valid_calls += 1
        start = time.perf_counter()
        try:
            result = await self.session.step(call)
        except Exception as exc:  # a runtime that breaks its contract ends this episode only
            self.metrics.step_time_s += time.perf_counter() - start
            self.metrics.env_errors += 1
            self.error = f"{type(exc).__name__}: {exc}"
            self._finish("env_error")
            return self._after_turn(f"Error: the env failed: {type(exc).__name__}", "call", call)
        self.metrics.step_time_s += time.perf_counter() - start
        observation = valid_text(result.observation)
        if result.error:
            self.metrics.env_errors += 1
        if observation.startswith("Error"):
            self.metrics.error_observations += 1
        if result.fatal:
            self.error = observation
            self._finish("env_error")
        elif result.finished or (call.name == "Done" and not result.error and not observation.startswith("Error")):
            self._finish("done", result.reward)
        return self._after_turn(observation, "call", call)

    def _after_turn(self, observation: str, kind: str, call: ToolCall | None) -> Turn:
        if not self.done:
            if (self.config.invalid_call_policy == "stop"
                    and self._consecutive_invalid >= self.config.max_consecutive_invalid):
                self._finish("invalid_calls")
            elif self.metrics.turns >= self.turn_limit:
                self._finish("turn_limit")
        return Turn(observation, self.done, self.reward, self.done_reason, kind, call)

    def _invalid(self, error: str) -> str:
        self.metrics.invalid_calls += 1
        self._consecutive_invalid += 1
        return error if error.startswith("Error") else f"Error: {error}"

    def _unknown_action(self, name: str) -> str:
        shown = valid_text(str(name)[:60])
        return f"Error: unknown function {shown!r}. Available functions: {', '.join(sorted(self._action_names))}."

    async def end(self, reason: str = "length") -> None:
        """End the episode from outside (e.g. the response-token budget ran out): reward 0 (less the
        penalties of earlier invalid calls under ``penalty``)."""
        if reason not in DONE_REASONS:
            raise ValueError(f"unknown done reason {reason!r}; expected one of {', '.join(DONE_REASONS)}")
        if not self.done:
            self._finish(reason)

    def _finish(self, reason: str, env_reward: float = 0.0) -> None:
        self.done = True
        self.done_reason = reason
        if reason == "env_error":  # an env that failed to open, or failed outside a step, is one env error
            self.metrics.env_errors = max(self.metrics.env_errors, 1)
        self.env_reward = float(env_reward) if reason == "done" else 0.0
        base = float(self.env_reward > 0) if self.config.reward == "binary" else self.env_reward
        penalty = 0.0
        if self.config.invalid_call_policy == "penalty":  # earlier invalid calls, whatever ended the episode
            penalty = self.config.invalid_penalty * self.metrics.invalid_calls
        self.reward = base - penalty

    async def close(self) -> None:
        """Release the env session. Idempotent; safe after any failure."""
        if self.session is not None:
            await self.session.close()

    def summary(self) -> dict[str, Any]:
        """Stable, JSON-like facts about the episode (the same keys for every episode)."""
        return {
            "env": self.task.env_name,
            "reward": self.reward,
            "env_reward": self.env_reward,
            "done_reason": self.done_reason or "",
            "turn_limit": self.turn_limit,
            "solve_fc_round": self.task.solve_fc_round or 0,
            "error": self.error or "",
            **self.metrics.to_dict(),
        }


def valid_text(text: str) -> str:
    """``text`` as valid UTF-8: lone surrogates become U+FFFD (a pair is joined), so a tokenizer never
    fails on it."""
    if not isinstance(text, str):
        text = str(text)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _unencodable(call: ToolCall) -> str | None:
    """Why a parsed call cannot be sent to the env (its arguments do not serialise), or None."""
    try:
        call.to_action().encode("utf-8", "surrogatepass")
    except (ValueError, RecursionError, TypeError) as exc:
        return f"Error: the arguments of {valid_text(call.name[:60])!r} cannot be sent to the env ({type(exc).__name__})."
    return None
