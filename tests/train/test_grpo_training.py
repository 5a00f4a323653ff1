"""veRL's real trainer trains on CodeGym episodes: 2 GRPO steps on CPU, checked end to end.

Every test reads the same run (the ``train_run`` fixture): veRL 0.9.1's ``main_ppo +env=codegym``
with vLLM's CPU backend generating, our ``codegym_agent`` loop running the episodes in the sandbox,
and the FSDP actor updating. The checks are the product's claim: rewards reach GRPO's advantages,
our prompt/response token assembly and masks agree with what vLLM generated (the actor's
recomputed log-probs match vLLM's), the updated policy is synced back into vLLM, and every episode's
reward is what its calls earn on a fresh runtime.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

import pytest
from codegym_cpu_bridge.results import logprob_abs_diffs, replay_run, step_metrics, step_records, summary_of
from grpo_run import RESPONSE_LENGTH, STEPS, TURN_LIMIT, TrainRun

pytestmark = pytest.mark.timeout(1800)
LOGPROB_TOLERANCE = 1e-3


def _ran(run: TrainRun) -> None:
    assert run.status == 0, f"the trainer exited {run.status}; its log ends with:\n{run.log_tail}"


def _groups(records: list[dict]) -> dict[str, list[dict]]:
    """GRPO groups: trajectories of the same prompt (veRL keys them ``<sample>_<rollout>_<output>``)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        groups[r["key"].rsplit("_", 2)[0]].append(r)
    return groups


def test_trainer_exits_zero_and_logs_every_step(train_run: TrainRun) -> None:
    _ran(train_run)
    metrics, steps = step_metrics(train_run.out), step_records(train_run.out)
    assert sorted(metrics) == list(range(1, STEPS + 1)), f"steps logged: {sorted(metrics)}"
    assert sorted(steps) == list(range(1, STEPS + 1)), f"steps recorded: {sorted(steps)}"
    for step, records in steps.items():
        assert len(records) == 8, f"step {step}: {len(records)} trajectories, expected 2 prompts x 4"
        assert "actor/pg_loss" in metrics[step] and "actor/grad_norm" in metrics[step]
        # Real multi-turn episodes: model turns, observations (mask 0) and the episode contract.
        assert all(summary_of(r)["done_reason"] in ("turn_limit", "length", "done", "env_error") for r in records)
        assert any(0 in r["response_mask"] for r in records), f"step {step}: no observation tokens at all"
        assert all(summary_of(r)["turn_limit"] >= 1 for r in records)


def test_rewards_differ_within_a_group_and_reach_the_advantages(train_run: TrainRun) -> None:
    _ran(train_run)
    for step, records in step_records(train_run.out).items():
        varied = 0
        for key, group in _groups(records).items():
            rewards = [r["score"] for r in group]
            if len(set(rewards)) == 1:
                continue
            varied += 1
            # GRPO (veRL's core_algos): (reward - group mean) / (group sample std + 1e-6), on every token
            mean, std = statistics.fmean(rewards), statistics.stdev(rewards)
            for r in group:
                advantages = {round(a, 4) for a, m in zip(r["advantages"], r["response_mask"], strict=True) if m}
                assert len(advantages) == 1, f"step {step} {key}: one advantage per trajectory, got {advantages}"
                expected = (r["score"] - mean) / (std + 1e-6)
                assert abs(advantages.pop() - expected) < 1e-3, (step, key, rewards, r["score"], expected)
            assert any(abs(a) > 0.1 for r in group for a in r["advantages"]), (step, key, rewards)
        assert varied >= 1, f"step {step}: every GRPO group had equal rewards; nothing to learn from"


@pytest.mark.parametrize("step", range(1, STEPS + 1))
def test_vllm_and_actor_logprobs_agree(train_run: TrainRun, step: int) -> None:
    """Step 1 compares the initial weights; step 2 the updated actor with the weights synced into vLLM."""
    _ran(train_run)
    records = step_records(train_run.out)[step]
    diffs = [d for r in records for d in logprob_abs_diffs(r)]
    assert len(diffs) >= 50, f"step {step}: only {len(diffs)} generated tokens"
    mean = statistics.fmean(diffs)
    assert mean < LOGPROB_TOLERANCE, f"step {step}: mean |vLLM - actor| log-prob {mean:.2e}, max {max(diffs):.2e}"


def test_update_changed_the_policy_and_vllm_follows_it(train_run: TrainRun) -> None:
    """The initial weights score step 1's tokens as the actor did, but not step 2's: the update changed
    the parameters, and vLLM (which matches the actor at step 2) generated with the new ones."""
    import torch
    from transformers import AutoModelForCausalLM

    _ran(train_run)
    model = AutoModelForCausalLM.from_pretrained(train_run.model, torch_dtype=torch.float32,
                                                 attn_implementation="sdpa").eval()  # fmt: skip
    steps = step_records(train_run.out)

    def initial_diff(step: int) -> float:
        diffs = []
        for r in steps[step][:4]:
            ids = torch.tensor([r["prompt_ids"] + r["response_ids"]])
            with torch.no_grad():
                logits = model(ids).logits[0, len(r["prompt_ids"]) - 1 : -1].float()
            logprobs = torch.log_softmax(logits, dim=-1).gather(-1, ids[0, len(r["prompt_ids"]) :, None])[:, 0]
            diffs += [abs(float(a) - float(b)) for a, b, m in zip(logprobs, r["old_log_probs"], r["response_mask"], strict=True) if m]
        return statistics.fmean(diffs)

    before, after = initial_diff(1), initial_diff(STEPS)
    assert before < LOGPROB_TOLERANCE, f"the initial model does not reproduce step 1's actor log-probs: {before:.2e}"
    # A small learning rate (2e-5) moves log-probs by ~1e-4; agreement between implementations is ~1e-6.
    assert after > 10 * before and after > 1e-5, (
        f"step {STEPS}'s actor scores its tokens like the initial model: {after:.2e} (step 1: {before:.2e})"
    )


def test_each_episode_reward_is_what_replaying_its_calls_gives(train_run: TrainRun) -> None:
    from codegym_adapters.episode import EpisodeConfig

    _ran(train_run)
    config = EpisodeConfig(invalid_call_policy="penalty", end_on_no_call=False, default_turn_limit=TURN_LIMIT)
    pairs = replay_run(train_run.out, train_run.model, RESPONSE_LENGTH, config)
    assert len(pairs) == 8 * STEPS
    for record, replayed in pairs:
        recorded = summary_of(record)
        assert abs(record["score"] - recorded["reward"]) < 1e-6, (record["key"], record["score"], recorded)
        assert abs(replayed["reward"] - record["score"]) < 1e-6, (record["key"], replayed, recorded)
        for key in ("done_reason", "turns", "valid_calls", "invalid_calls", "env"):
            assert replayed[key] == recorded[key], (record["key"], key, replayed[key], recorded[key])
