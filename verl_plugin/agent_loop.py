"""The CodeGym agent loop for veRL: one env episode per trajectory, registered as ``codegym_agent``.

veRL makes one loop object per trajectory and calls :meth:`CodeGymAgentLoop.run` with the dataset
row's columns. The loop opens an :class:`~codegym_adapters.episode.Episode` on the process's shared
runtime and alternates: generate one model turn, hand its text to the episode, append the
observation. The episode (the core) decides what a call is, when the episode ends and the reward;
this file only moves tokens and tells the episode when the token budget cut a turn (the server's
``stop_reason == "length"``, or the response budget reached without an end-of-turn token): the core's
rule then ends the episode ``length`` without reading the turn. Every started episode returns an
output, whatever failed: an unexpected exception inside one episode ends that episode only
(``env_error``, reward 0, logged), never the batch.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from uuid import uuid4

from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopOutput, register
from verl.utils.rollout_trace import rollout_trace_op

from codegym_adapters.episode import Episode, EpisodeMetrics
from codegym_adapters.rows import read_extra_info
from codegym_adapters.tasks import Task, task_for_row

from .runtimes import shared_runtime
from .settings import EnvSettings, load_settings
from .tokens import TokenStream

logger = logging.getLogger(__name__)

AGENT_NAME = "codegym_agent"
EXTRA_PREFIX = "codegym_"  # extra_fields keys: codegym_reward, codegym_done_reason, ...

# Read once per trainer config object (veRL builds one loop object per trajectory, and reading an
# interpolated OmegaConf value costs a grammar parse): id(config) -> (config, settings, response budget).
_SETTINGS: dict[int, tuple[Any, EnvSettings, int]] = {}
_SPECIAL_IDS: dict[int, tuple[Any, frozenset[int]]] = {}  # id(tokenizer) -> (tokenizer, ids)


def settings_for(trainer_config: Any) -> tuple[EnvSettings, int]:
    """The checked ``env:`` settings of a trainer config, and its response budget in tokens."""
    cached = _SETTINGS.get(id(trainer_config))
    if cached is None or cached[0] is not trainer_config:
        budget = int(trainer_config.actor_rollout_ref.rollout.response_length)
        cached = (trainer_config, load_settings(trainer_config), budget)
        _SETTINGS[id(trainer_config)] = cached
    return cached[1], cached[2]


def _special_ids(tokenizer: Any) -> frozenset[int]:
    cached = _SPECIAL_IDS.get(id(tokenizer))
    if cached is None or cached[0] is not tokenizer:
        cached = (tokenizer, frozenset(tokenizer.all_special_ids))
        _SPECIAL_IDS[id(tokenizer)] = cached
    return cached[1]


@register(AGENT_NAME)
class CodeGymAgentLoop(AgentLoopBase):
    """Runs one CodeGym episode (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.pop("tools", None)  # veRL's configured tools; CodeGym tools come from the env
        super().__init__(*args, **kwargs)
        self.settings, self.response_length = settings_for(self.config)
        self._special = _special_ids(self.tokenizer)

    @rollout_trace_op
    async def run(self, sampling_params: dict[str, Any], priority: int = 0, **kwargs: Any) -> AgentLoopOutput:
        row = dict(kwargs)
        row.setdefault("prompt", row.get("raw_prompt"))
        self._stream: TokenStream | None = None
        self._turns = 0
        episode: Episode | None = None
        try:
            task = task_for_row(row)  # a broken env string ends this episode with env_error, not the batch
            runtime = shared_runtime(self.settings)
            _add_carried_env(runtime.catalog, task, row)
            episode = Episode(runtime, task, self.settings.episode)
            return await self._run_episode(episode, sampling_params, int(priority))
        except Exception as exc:  # anything unexpected ends this episode only
            return await self._failed(episode, row, exc)
        finally:
            if episode is not None:
                try:
                    await episode.close()
                except Exception as exc:
                    logger.warning("codegym: closing an episode failed: %s: %s", type(exc).__name__, exc)

    async def _run_episode(self, episode: Episode, sampling_params: dict[str, Any], priority: int) -> AgentLoopOutput:
        prompt = await episode.start()
        messages = [dict(m) for m in prompt.messages]
        stream = TokenStream(self, await self.ct_build_initial_tokens(messages, tools=prompt.tools))
        self._stream = stream
        full_determinism = getattr(self.rollout_config, "full_determinism", False)
        request_id = f"det-{priority}" if full_determinism else uuid4().hex
        metrics: dict[str, Any] = {"generate_sequences": 0.0, "tool_calls": 0.0, "num_preempted": -1}
        server_fields: dict[str, Any] = {}
        routed_experts = None
        model_turns = observation_turns = 0
        final_observation = ""  # the env's answer to the call that ended the episode: never fed back
        while not episode.done:
            budget_left = self.response_length - stream.response_length
            if budget_left <= 0:
                await episode.end("length")
                break
            start = time.perf_counter()
            output = await self.server_manager.generate(
                request_id=request_id,
                prompt_ids=stream.ids,
                sampling_params={**sampling_params, "max_tokens": budget_left},
                priority=priority,
            )
            metrics["generate_sequences"] += time.perf_counter() - start
            _count_preempted(metrics, output.num_preempted)
            _merge_server_fields(server_fields, output.extra_fields)
            if output.routed_experts is not None:
                routed_experts = output.routed_experts
            model_turns += 1
            self._turns = model_turns + observation_turns
            stream.add_generated(output.token_ids, output.log_probs)
            cut = _length_stop(getattr(output, "stop_reason", None)) or (
                stream.response_length >= self.response_length and not self._finished_turn(output.token_ids))
            text = self._decode(output.token_ids)

            start = time.perf_counter()
            turn = await episode.step(text, cut=cut)  # a cut turn is not read: the core ends it `length`
            metrics["tool_calls"] += time.perf_counter() - start
            messages.append({"role": "assistant", "content": text})
            if turn.done:
                final_observation = turn.observation
                break
            observation = prompt.observation_message(turn.observation)
            if not await stream.add_context(messages, [*messages, observation], prompt.tools, self.response_length):
                await episode.end("length")
                break
            messages.append(observation)
            observation_turns += 1

        prompt_ids, response_ids, mask, logprobs = stream.split(self.response_length)
        return AgentLoopOutput(
            prompt_ids=prompt_ids,
            response_ids=response_ids,
            response_mask=mask,
            response_logprobs=logprobs,
            routed_experts=(
                routed_experts[: len(prompt_ids) + self.response_length] if routed_experts is not None else None
            ),
            reward_score=float(episode.reward),
            num_turns=1 + model_turns + observation_turns,
            metrics=metrics,
            extra_fields=self._extra_fields(episode, server_fields, final_observation),
        )

    def _extra_fields(self, episode: Episode, server_fields: dict[str, Any],
                      final_observation: str = "") -> dict[str, Any]:
        extra_fields = {**server_fields, **{EXTRA_PREFIX + k: v for k, v in episode.summary().items()}}
        # the env's answer to the call that ended the episode (never fed back), for records and reports;
        # every trajectory carries the key, so the batch's extra fields stay uniform
        extra_fields[EXTRA_PREFIX + "final_observation"] = final_observation
        extra_fields.update(turn_scores=[], tool_rewards=[])
        return extra_fields

    async def _failed(self, episode: Episode | None, row: dict[str, Any], exc: Exception) -> AgentLoopOutput:
        """The output of an episode that raised: what was generated so far (or the prompt alone), ended
        ``env_error`` with reward 0."""
        what = f"{type(exc).__name__}: {exc}"
        logger.warning("codegym: an episode failed and ends with reward 0 (env_error): %s", what, exc_info=True)
        if episode is not None:
            episode.error = episode.error or what
            if not episode.done:
                await episode.end("env_error")
            summary_fields = self._extra_fields(episode, {})
        else:  # the same keys as every other trajectory's
            summary = {"env": "", "reward": 0.0, "env_reward": 0.0, "done_reason": "env_error", "turn_limit": 0,
                       "solve_fc_round": 0, "error": what, **EpisodeMetrics().to_dict()}
            summary_fields = {**{EXTRA_PREFIX + k: v for k, v in summary.items()},
                              EXTRA_PREFIX + "final_observation": "", "turn_scores": [], "tool_rewards": []}
        if self._stream is not None and self._stream.response_length:
            prompt_ids, response_ids, mask, logprobs = self._stream.split(self.response_length)
        else:
            if self._stream is not None:
                prompt_ids = list(self._stream.ids)
            else:
                prompt_ids = await self._fallback_prompt(episode, row)
            response_ids, mask, logprobs = [self.tokenizer.eos_token_id], [0], None
        return AgentLoopOutput(
            prompt_ids=prompt_ids, response_ids=response_ids, response_mask=mask, response_logprobs=logprobs,
            reward_score=0.0, num_turns=1 + self._turns, metrics={}, extra_fields=summary_fields,
        )

    async def _fallback_prompt(self, episode: Episode | None, row: dict[str, Any]) -> list[int]:
        messages = episode.prompt.messages if episode is not None and episode.prompt else row.get("prompt")
        try:
            return list(await self.ct_build_initial_tokens([dict(m) for m in messages]))
        except Exception:
            return [self.tokenizer.eos_token_id]

    def _finished_turn(self, token_ids: list[int]) -> bool:
        return bool(token_ids) and token_ids[-1] in self._special

    def _decode(self, token_ids: list[int]) -> str:
        """The turn's text; trailing stop tokens (EOS, ``<|im_end|>``) are left out, call markers kept."""
        end = len(token_ids)
        while end and token_ids[end - 1] in self._special:
            end -= 1
        return self.tokenizer.decode(token_ids[:end], skip_special_tokens=False)


def _add_carried_env(catalog: Any, task: Task, row: dict[str, Any]) -> None:
    """Rows of the published data set carry their env's source (``extra_info.gym_env``): index it."""
    if task.env_name in catalog:
        return
    extra = read_extra_info(row.get("extra_info"))  # a dict, or JSON / Python-literal text
    if row.get("gym_env") or row.get("env_code") or extra.get("gym_env"):
        catalog.add_rows([row], origin="dataset row")


def _length_stop(reason: Any) -> bool:
    """Whether a server's stop reason says ``max_tokens`` cut the turn. SGLang passes its finish reason
    (a string or ``{"type": "length", ...}``); veRL's vLLM server reports ``completed`` for both, so
    there the response budget decides (see the loop)."""
    return reason == "length" or (isinstance(reason, dict) and reason.get("type") == "length")


def _count_preempted(metrics: dict[str, Any], num_preempted: int | None) -> None:
    if num_preempted is None:
        return
    metrics["num_preempted"] = num_preempted if metrics["num_preempted"] < 0 else metrics["num_preempted"] + num_preempted


def _merge_server_fields(fields: dict[str, Any], new: dict[str, Any]) -> None:
    """Keep the server's per-request fields as veRL's tool loop does: the first turn's, then the
    latest ``max_global_steps`` (fully-async staleness bookkeeping)."""
    if not fields:
        fields.update(new)
    elif new.get("max_global_steps"):
        fields["max_global_steps"] = new["max_global_steps"]
