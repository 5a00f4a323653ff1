"""OpenRLHF 0.11.2 trains on CodeGym episodes on CPU: its deepest real path, checked end to end.

Every test reads the same run (the ``path_run`` fixture, :mod:`openrlhf_run`): OpenRLHF's own
``create_vllm_engines`` starts vLLM's CPU backend in a Ray actor that loads our agent file; its
``SamplesGenerator`` runs 2 prompts x 4 CodeGym episodes (sandbox runtime, ``penalty`` policy) and
turns them into experiences; its ``compute_advantages_and_returns`` computes ``group_norm`` (GRPO)
advantages; its ``Actor`` recomputes the log-probs and its ``PolicyLoss`` is minimised for one step.

What stands in for what cannot run on CPU (said here so nobody mistakes it for more): the optimizer
step is a plain ``torch.optim.AdamW`` on the ``Actor`` **in place of OpenRLHF's DeepSpeed strategy and
its Ray actor groups** (DeepSpeed's strategy calls ``torch.cuda.set_device``); the strategy object is a
namespace holding OpenRLHF's parsed arguments; ``flash_attn`` is an import-only stand-in; vLLM computes
in float32 (a vLLM platform plugin: OpenRLHF hard-codes bfloat16) so that its log-probs can be
compared with the float32 Actor's. OpenRLHF's weight sync into vLLM broadcasts into CUDA tensors, so
the updated weights reach vLLM by a save and a new engine from ``create_vllm_engines`` instead.
"""

from __future__ import annotations

import asyncio
import json
import statistics
from collections import defaultdict

import pytest
from openrlhf_run import AGENT_ENV, PROMPTS, SAMPLES_PER_PROMPT, TURN_LIMIT, PathRun, Sample

pytestmark = pytest.mark.timeout(1200)
LOGPROB_TOLERANCE = 1e-3


def _groups(run: PathRun) -> dict[str, list[Sample]]:
    """GRPO groups: the episodes of one prompt (OpenRLHF keeps a prompt's samples together)."""
    groups: dict[str, list[Sample]] = defaultdict(list)
    for sample in run.samples:
        groups[str(sample.label)].append(sample)
    return groups


def _generated(sample: Sample, values: list[float]) -> list[float]:
    return [v for v, m in zip(values, sample.action_mask, strict=True) if m]


def test_the_run_completes_with_every_episode(path_run: PathRun) -> None:
    assert len(path_run.samples) == PROMPTS * SAMPLES_PER_PROMPT
    groups = _groups(path_run)
    assert sorted(len(g) for g in groups.values()) == [SAMPLES_PER_PROMPT] * PROMPTS, list(groups)
    for sample in path_run.samples:
        assert sum(sample.action_mask) > 0, "an episode without generated tokens"
        assert 1 <= sample.extra_logs["codegym_turns"] <= TURN_LIMIT, sample.extra_logs
        assert sample.extra_logs["codegym_turn_limit"] == TURN_LIMIT
        assert len(sample.sequence) <= path_run.max_len
    # Real multi-turn episodes: observations sit between model turns (mask 0 after a mask-1 span).
    assert any(0 in s.action_mask[s.action_mask.index(1):] for s in path_run.samples), "no observation tokens at all"


def test_rewards_differ_within_a_group_and_reach_the_group_norm_advantages(path_run: PathRun) -> None:
    varied = 0
    for label, group in _groups(path_run).items():
        rewards = [s.reward for s in group]
        for s in group:
            assert abs(s.reward - s.extra_logs["codegym_reward"]) < 1e-6, (label, s.reward, s.extra_logs)
        if len(set(rewards)) == 1:
            continue
        varied += 1
        # OpenRLHF's group_norm: (r - group mean) / (group std + 1e-9), torch's unbiased std, on every
        # generated token (the return of a reward placed at the last generated token, gamma 1; the
        # observation tokens between turns carry it too, and PolicyLoss masks them out).
        mean, std = statistics.fmean(rewards), statistics.stdev(rewards)
        for s in group:
            advantages = {round(a, 4) for a in _generated(s, s.advantage)}
            assert len(advantages) == 1, (label, advantages)
            assert abs(advantages.pop() - (s.reward - mean) / (std + 1e-9)) < 1e-3, (label, rewards, s.reward)
        assert any(abs(a) > 0.1 for s in group for a in _generated(s, s.advantage)), (label, rewards)
    assert varied >= 1, "every group had equal rewards: nothing to learn from"


def test_vllm_and_actor_logprobs_agree_before_the_update(path_run: PathRun) -> None:
    """vLLM's log-prob of each generated token (OpenRLHF's rollout_log_probs) against OpenRLHF's Actor
    recomputing it from the experience's sequence and masks: the check that our token assembly and
    masks are what vLLM generated."""
    diffs = [abs(r - a) for s in path_run.samples
             for r, a in zip(_generated(s, s.rollout_log_probs), _generated(s, s.actor_log_probs_before), strict=True)]  # fmt: skip
    assert len(diffs) >= 50, f"only {len(diffs)} generated tokens"
    mean = statistics.fmean(diffs)
    assert mean < LOGPROB_TOLERANCE, f"mean |vLLM - Actor| log-prob {mean:.2e}, max {max(diffs):.2e}"
    # Observation tokens are no one's action: OpenRLHF gives them no rollout log-prob.
    assert all(r == 0 for s in path_run.samples for r, m in zip(s.rollout_log_probs, s.action_mask, strict=True) if not m)


def test_the_optimizer_step_changed_the_policy_in_the_advantages_direction(path_run: PathRun) -> None:
    assert path_run.parameters_changed == path_run.parameters_total, (path_run.parameters_changed, path_run.parameters_total)
    moved = [abs(b - a) for s in path_run.samples
             for b, a in zip(_generated(s, s.actor_log_probs_before), _generated(s, s.actor_log_probs_after), strict=True)]  # fmt: skip
    # vLLM and the Actor agree to ~1e-6 (float32); a 1e-4 learning rate moves log-probs far more.
    assert statistics.fmean(moved) > 1e-5, f"log-probs barely moved: {statistics.fmean(moved):.2e}"
    # One step downhill on PolicyLoss: the same loss on the same experiences is lower afterwards.
    assert path_run.loss_after < path_run.loss - 1e-6, (path_run.loss, path_run.loss_after)
    # ... because episodes with positive advantage became more likely and negative ones less.
    gain = [statistics.fmean(_generated(s, s.advantage)) * (sum(_generated(s, s.actor_log_probs_after))
                                                            - sum(_generated(s, s.actor_log_probs_before)))
            for s in path_run.samples]  # fmt: skip
    assert sum(gain) > 0, gain


def test_vllm_with_the_updated_weights_agrees_with_the_updated_actor(path_run: PathRun) -> None:
    """After the update: a new vLLM engine with the updated weights generates again, and the updated
    Actor recomputes its log-probs as before; the initial Actor does not (the update is what vLLM ran)."""
    diffs = path_run.regenerated_diffs
    assert len(diffs) >= 50, f"only {len(diffs)} generated tokens"
    mean = statistics.fmean(diffs)
    assert mean < LOGPROB_TOLERANCE, f"mean |vLLM - updated Actor| log-prob {mean:.2e}, max {max(diffs):.2e}"
    initial = statistics.fmean(path_run.regenerated_initial_diffs)
    assert initial > 10 * mean and initial > 1e-5, f"the initial Actor scores them as well: {initial:.2e} vs {mean:.2e}"


def test_each_episode_reward_is_what_replaying_its_calls_gives(path_run: PathRun) -> None:
    """Each episode's model turns (the experience's action spans, decoded) stepped through a fresh
    episode on a fresh runtime give the reward, turns, calls and end reason the agent reported."""
    from transformers import AutoTokenizer

    from codegym_adapters.episode import DONE_REASONS
    from openrlhf_plugin.settings import AgentSettings

    tokenizer = AutoTokenizer.from_pretrained(path_run.model)
    config = AgentSettings.from_environ(AGENT_ENV).episode
    replayed = asyncio.run(_replay_all(path_run, tokenizer, config))
    assert len(replayed) == PROMPTS * SAMPLES_PER_PROMPT
    for s, summary in zip(path_run.samples, replayed, strict=True):
        logged = s.extra_logs
        assert abs(summary["reward"] - s.reward) < 1e-6, (s.label, summary, logged)
        assert summary["turns"] == logged["codegym_turns"], (s.label, summary, logged)
        assert summary["valid_calls"] == logged["codegym_valid_calls"], (s.label, summary, logged)
        assert summary["invalid_calls"] == logged["codegym_invalid_calls"], (s.label, summary, logged)
        assert DONE_REASONS.index(summary["done_reason"]) == logged["codegym_end_code"], (s.label, summary, logged)


async def _replay_all(run: PathRun, tokenizer, config) -> list[dict]:
    """The train suite's replay (``codegym_cpu_bridge.results``) on OpenRLHF's experiences."""
    from codegym_cpu_bridge.results import model_turns, replay

    from codegym_adapters.runtime import make_runtime

    out = []
    async with make_runtime("inprocess") as runtime:
        for s in run.samples:
            start = s.action_mask.index(1) + 1  # action_mask[i] belongs to token i + 1
            label = json.loads(s.label) if isinstance(s.label, str) and s.label.startswith("{") else s.label
            record = {"ability": label["ability"] if isinstance(label, dict) else label, "extra_info": {},
                      "prompt_ids": s.sequence[:start], "response_ids": s.sequence[start:],
                      "response_mask": s.action_mask[start - 1 :]}  # fmt: skip
            # A turn vLLM cut (finish "length") ends exactly at --data.max_len: the response budget.
            out.append(await replay(record, model_turns(record, tokenizer, run.max_len - start), runtime, config))
    return out
