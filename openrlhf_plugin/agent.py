"""CodeGym episodes inside OpenRLHF's multi-turn agent executor (OpenRLHF >=0.10.2,<0.12).

OpenRLHF loads the agent file (:mod:`openrlhf_plugin.agent_file`) in every vLLM engine actor and calls
``AgentExecutor().execute(...)`` once per sample; that makes one :class:`CodeGymAgent` per sample:

* ``reset``: the label (the row's ``ability``) selects the env and configuration; the episode starts
  and the prompt comes back: the dataset's own, as OpenRLHF rendered it (``codegym`` style), or the
  episode's messages and tool schemas rendered with the tokenizer's chat template (``native`` style).
* ``step``: the generated text is one model turn of the :class:`~codegym_adapters.episode.Episode`
  (env work is awaited off the event loop); the observation comes back framed for the chat template
  (:mod:`.chat_turns`), nothing once done, with reward tensors, ``done`` and ``extra_logs``. A turn
  the engine ended with ``finish_reason == "length"`` (the budget cut it) is passed as cut: the core's
  rule ends the episode ``length`` without reading it (:class:`AgentExecutor` watches the engine's
  finish reasons; OpenRLHF's own executor does not pass them to ``step``).
* after the executor's loop: an episode still running (the token budget ran out) ends with
  ``length``; the response's ``reward`` (the episode's reward), ``scores`` (the env's 0/1 verdict)
  and ``extra_logs`` come from the finished episode; the env session is closed.

The turn limit is the episode's (OpenRLHF has none). No exception from env code or from this module
reaches OpenRLHF: a failure ends that episode with reward 0, done reason ``env_error`` and a warning.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import torch
from openrlhf.utils.agent import AgentInstanceBase, MultiTurnAgentExecutor

from codegym_adapters.episode import Episode
from codegym_adapters.errors import OptionsError
from codegym_adapters.tasks import Task

from .chat_turns import ChatTurns
from .extra_logs import episode_logs
from .settings import AgentSettings
from .shared_runtime import SharedRuntime, shared_runtime

logger = logging.getLogger(__name__)


@dataclass
class SampleContext:
    """What one sample's agent gets from the executor that runs it."""

    settings: AgentSettings
    runtime: SharedRuntime
    turns: ChatTurns
    agent: CodeGymAgent | None = None
    last_finish: str | None = None  # the engine's finish reason for the latest turn


# OpenRLHF constructs the agent with no arguments inside execute(); this carries the sample's context
# to it. Each execute() runs in its own asyncio task, so concurrent samples never see each other's.
_SAMPLE: ContextVar[SampleContext | None] = ContextVar("codegym_openrlhf_sample", default=None)


def task_from_label(label: Any) -> Task:
    """The label is the row's ``ability`` string, or a row (a dict, or JSON object text) holding one;
    a row also brings its own turn limit (``plugin_call_max_round``)."""
    if isinstance(label, str) and label.lstrip().startswith("{"):
        try:
            label = json.loads(label)
        except ValueError as exc:
            raise OptionsError(f"label is neither an env string nor a JSON row: {exc}") from None
    if isinstance(label, Mapping):
        return Task.from_row(label)
    if not isinstance(label, str):
        raise OptionsError(f"label must be a CodeGym ability string or a row; got {type(label).__name__}")
    return Task.from_env_string(label.strip())


class CodeGymAgent(AgentInstanceBase):
    """One CodeGym episode for one OpenRLHF sample (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.context = _SAMPLE.get() or _standalone_context()
        self.context.agent = self
        self.episode: Episode | None = None
        self.failed = False
        self.label = ""
        self.final_observation = ""  # the env's answer to the call that ended the episode: never fed back

    async def reset(self, states: dict, **kwargs: Any) -> dict:
        observation = states.get("observation")
        self.label = str(states.get("label"))[:200]
        try:
            runtime = await self.context.runtime.get()
            self.episode = Episode(runtime, task_from_label(states.get("label")), self.context.settings.episode)
            prompt = await self.episode.start()
            if self.episode.done:
                self.failed = True
                _warn("start", f"codegym: episode of {self.label!r} cannot start: {self.episode.error}")
            elif self.context.settings.episode.prompt_style == "native" or not observation:
                observation = self.context.turns.prompt(prompt) or observation
        except Exception as exc:
            await self._fail("reset", exc)
        return {**states, "observation": observation if observation is not None else ""}

    async def step(self, states: dict, **kwargs: Any) -> dict:
        try:
            episode = self.episode
            if episode is None or episode.done:
                return self._result("", True)
            cut = self.context.last_finish == "length"
            turn = await episode.step(states.get("action_text") or "", cut=cut)
            if turn.done_reason == "env_error":
                _warn("env", f"codegym: env of {self.label!r} failed: {episode.error}")
            feedback = ""
            if turn.done:
                self.final_observation = turn.observation
            else:
                assert episode.prompt is not None
                feedback = self.context.turns.feedback(episode.prompt.observation_role, turn.observation)
            return self._result(feedback, turn.done)
        except Exception as exc:
            await self._fail("step", exc)
            return self._result("", True)

    def _result(self, feedback: str, done: bool) -> dict:
        episode = self.episode
        reward = episode.reward if done and episode is not None else 0.0
        score = episode.env_reward if done and episode is not None else 0.0
        return {
            "rewards": torch.tensor(float(reward)),
            "scores": torch.tensor(float(score)),
            "environment_feedback": feedback,
            "done": done,
            "extra_logs": self.logs(),
        }

    def logs(self) -> dict[str, float]:
        """This episode's ``extra_logs`` (a running episode counts as ended by the token budget)."""
        if self.episode is None:
            return episode_logs({"done_reason": "env_error"} if self.failed else None)
        try:
            return episode_logs(self.episode.summary())
        except Exception:  # a summary that cannot be made still gets the same keys
            return episode_logs({"done_reason": self.episode.done_reason or "env_error"})

    async def finish(self, response: dict) -> None:
        """After the executor's loop: end a running episode with ``length``, close its session and
        put the episode's outcome into ``response``. Never raises."""
        episode = self.episode
        try:
            if episode is not None:
                if not episode.done:
                    await episode.end("length")
                await episode.close()
        except Exception as exc:
            _warn("close", f"codegym: closing the episode of {self.label!r} failed: {type(exc).__name__}: {exc}")
        if response:
            response["reward"] = float(episode.reward) if episode is not None else 0.0
            response["scores"] = float(episode.env_reward) if episode is not None else 0.0
            response["extra_logs"] = self.logs()

    async def _fail(self, where: str, exc: Exception) -> None:
        self.failed = True
        if self.episode is not None:
            self.episode.error = self.episode.error or f"{type(exc).__name__}: {exc}"
            try:
                await self.episode.end("env_error")
            except Exception:
                pass
        _warn(where, f"codegym: {where} of {self.label!r} failed, episode ends with reward 0: {type(exc).__name__}: {exc}")


class AgentExecutor(MultiTurnAgentExecutor):
    """The class OpenRLHF's agent file must expose: runs each sample as a :class:`CodeGymAgent`.

    Built with no arguments inside a vLLM engine actor, it reads :class:`AgentSettings` from the
    environment; a malformed setting fails here, at engine start, naming its variable.
    """

    def __init__(self, settings: AgentSettings | None = None) -> None:
        super().__init__(CodeGymAgent)
        self.settings = settings if settings is not None else AgentSettings.from_environ()
        self.runtime = shared_runtime(self.settings)
        self.runtime.check()
        self._turns: dict[tuple[str, str, str], ChatTurns] = {}

    def chat_turns(self, tokenizer: Any) -> ChatTurns:
        # Ray hands each call a fresh copy of the tokenizer: cache by what the template depends on.
        key = (type(tokenizer).__name__, str(getattr(tokenizer, "name_or_path", "")),
               str(getattr(tokenizer, "chat_template", "")))
        if key not in self._turns:
            self._turns[key] = ChatTurns(tokenizer, self.settings.turn_boundary)
        return self._turns[key]

    async def execute(self, prompt, label, sampling_params, max_length: int, hf_tokenizer, llm_engine, images=None):
        context = SampleContext(self.settings, self.runtime, self.chat_turns(hf_tokenizer))
        token = _SAMPLE.set(context)
        response: dict = {}
        try:
            response = await super().execute(
                prompt, label, sampling_params, max_length, hf_tokenizer, _FinishWatch(llm_engine, context),
                images=images,
            )
        finally:
            _SAMPLE.reset(token)
            if context.agent is not None:
                await context.agent.finish(response)
        return response


class _FinishWatch:
    """The engine, seen through: records each generation's finish reason in the sample's context."""

    def __init__(self, engine: Any, context: SampleContext) -> None:
        self._engine = engine
        self._context = context

    async def generate(self, *args: Any, **kwargs: Any) -> Any:
        output = await self._engine.generate(*args, **kwargs)
        try:
            self._context.last_finish = output.outputs[0].finish_reason
        except (AttributeError, IndexError, TypeError):
            self._context.last_finish = None
        return output

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


_STANDALONE: dict[str, SampleContext] = {}


def _standalone_context() -> SampleContext:
    """For a :class:`CodeGymAgent` run by OpenRLHF's plain executor: settings from the environment,
    ChatML boundaries, no clean-up after a budget cut (use :class:`AgentExecutor`)."""
    settings = AgentSettings.from_environ()
    base = _STANDALONE.setdefault(settings.key(), SampleContext(settings, shared_runtime(settings), ChatTurns()))
    return SampleContext(base.settings, base.runtime, base.turns)


_warned: Counter[str] = Counter()


def _warn(kind: str, message: str) -> None:
    """Log a warning; after the first 20 of a kind, only every 1000th (a broken env fails every episode)."""
    _warned[kind] += 1
    count = _warned[kind]
    if count <= 20 or count % 1000 == 0:
        logger.warning("%s%s", message, f" (seen {count} times)" if count > 20 else "")
