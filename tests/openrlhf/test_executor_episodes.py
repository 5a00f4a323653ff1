"""CodeGym episodes through OpenRLHF's real ``MultiTurnAgentExecutor.execute`` with our agent, a
scripted stand-in for vLLM and a real tokenizer with a chat template; every response then goes
through OpenRLHF's own ``_process_response_into_experience``."""

from __future__ import annotations

import asyncio
import json

import pytest
from openrlhf_harness import (
    STOP,
    bundled_configs,
    make_row,
    policy_turns,
    prompt_length,
    run_sample,
    to_experience,
)

from codegym_adapters.calls import ToolCall, render_call
from codegym_adapters.policies import MALFORMED_TURNS, get_policy
from codegym_adapters.rollout import run_episode
from codegym_adapters.runtime import make_runtime
from codegym_adapters.tasks import Task

ROBBER = "Bundled_A01__HouseRobberEnv"
OBSERVE = render_call(ToolCall("Observe", {}), "codegym")


@pytest.fixture
def executor(agent_env):
    from openrlhf_plugin.agent import AgentExecutor

    return AgentExecutor()


def robber_row(index: int = 0, **extra) -> dict:
    config = asyncio.run(bundled_configs(ROBBER))[index]
    return asyncio.run(make_row(ROBBER, config, **extra))


def run(executor, tokenizer, row, turns, **kwargs):
    return asyncio.run(run_sample(executor, tokenizer, row, turns, **kwargs))


def live_sessions(executor) -> int:
    async def count() -> int:
        return len((await executor.runtime.get()).host)

    return asyncio.run(count())


def test_oracle_episode_is_rewarded_and_only_generated_spans_are_trained(executor, tokenizer):
    row = robber_row()
    turns = asyncio.run(policy_turns("oracle", row["ability"]))
    response, engine = run(executor, tokenizer, row, turns)

    assert engine.calls == len(turns)
    assert response["reward"] == 1.0 and response["scores"] == 1.0
    logs = response["extra_logs"]
    assert logs["codegym_end_done"] == 1.0 and logs["codegym_solved"] == 1.0
    assert logs["codegym_turns"] == len(turns) and logs["codegym_invalid_calls"] == 0

    tokens = response["observation_tokens"]
    ranges = response["action_ranges"]
    assert len(ranges) == len(turns)
    for (start, end), turn in zip(ranges, turns, strict=True):
        assert tokenizer.decode(tokens[start:end]) == turn + STOP
    experience = to_experience(response, max_len=8192)
    assert experience.rewards.tolist() == [1.0]
    assert int(experience.action_mask.sum()) == sum(end - start for start, end in ranges)
    assert experience.sequences.shape[1] == len(tokens)


def test_transcript_is_exactly_the_chat_template_rendering_of_the_conversation(executor, tokenizer):
    row = robber_row(1)
    task = Task.from_row(row)

    async def reference() -> dict:
        async with make_runtime("inprocess") as runtime:
            return await run_episode(runtime, task, get_policy("oracle"), keep_trajectory=True)

    record = asyncio.run(reference())
    turns = [t["text"] for t in record["trajectory"]]
    response, _ = run(executor, tokenizer, row, turns)

    messages = list(row["prompt"])
    for turn in record["trajectory"]:
        messages.append({"role": "assistant", "content": turn["text"]})
        messages.append({"role": "user", "content": turn["observation"]})
    expected = tokenizer.apply_chat_template(messages[:-1], tokenize=False)  # Done's verdict is not fed back
    assert tokenizer.decode(response["observation_tokens"]) + "\n" == expected


def test_wrong_answer_ends_the_episode_with_reward_zero(executor, tokenizer):
    row = robber_row(2)
    turns = asyncio.run(policy_turns("wrong", row["ability"]))
    response, engine = run(executor, tokenizer, row, turns)

    assert engine.calls == 2
    assert response["reward"] == 0.0 and response["scores"] == 0.0
    assert response["extra_logs"]["codegym_end_done"] == 1.0
    assert response["extra_logs"]["codegym_solved"] == 0.0
    to_experience(response, max_len=8192)


def test_malformed_calls_get_error_feedback_until_the_model_stops_calling(executor, tokenizer):
    row = robber_row()
    response, engine = run(executor, tokenizer, row, list(MALFORMED_TURNS))

    assert engine.calls == len(MALFORMED_TURNS) + 1  # then prose: a turn with no call ends it
    logs = response["extra_logs"]
    assert logs["codegym_invalid_calls"] == len(MALFORMED_TURNS)
    assert logs["codegym_end_no_call"] == 1.0 and response["reward"] == 0.0
    assert tokenizer.decode(response["observation_tokens"]).count("<|im_start|>user\nError") == len(MALFORMED_TURNS)
    to_experience(response, max_len=8192)


def test_stop_policy_ends_after_consecutive_invalid_calls(agent_env, tokenizer):
    from openrlhf_plugin.agent import AgentExecutor

    agent_env.setenv("CODEGYM_INVALID_CALL_POLICY", "stop")
    agent_env.setenv("CODEGYM_MAX_CONSECUTIVE_INVALID", "2")
    response, engine = run(AgentExecutor(), tokenizer, robber_row(), list(MALFORMED_TURNS))

    assert engine.calls == 2
    assert response["extra_logs"]["codegym_end_invalid_calls"] == 1.0


def test_penalty_lowers_the_reward_but_not_the_score(agent_env, tokenizer):
    from openrlhf_plugin.agent import AgentExecutor

    agent_env.setenv("CODEGYM_INVALID_CALL_POLICY", "penalty")
    agent_env.setenv("CODEGYM_INVALID_PENALTY", "0.25")
    row = robber_row()
    turns = [MALFORMED_TURNS[0], *asyncio.run(policy_turns("oracle", row["ability"]))]
    response, _ = run(AgentExecutor(), tokenizer, row, turns)

    assert response["reward"] == pytest.approx(0.75)
    assert response["scores"] == 1.0
    assert to_experience(response, max_len=8192).rewards.tolist() == [pytest.approx(0.75)]


def test_never_done_policy_stops_at_the_configured_turn_limit(agent_env, tokenizer):
    from openrlhf_plugin.agent import AgentExecutor

    agent_env.setenv("CODEGYM_DEFAULT_TURN_LIMIT", "4")
    response, engine = run(AgentExecutor(), tokenizer, robber_row(), [OBSERVE] * 50)

    assert engine.calls == 4
    assert response["extra_logs"]["codegym_end_turn_limit"] == 1.0
    assert response["extra_logs"]["codegym_turn_limit"] == 4.0
    assert response["reward"] == 0.0
    assert not tokenizer.decode(response["observation_tokens"]).endswith("<|im_start|>assistant\n")


def test_a_row_label_brings_its_own_turn_limit(executor, tokenizer):
    row = robber_row()
    row["label"] = json.dumps({"ability": row["ability"], "plugin_call_max_round": 3})
    response, engine = run(executor, tokenizer, row, [OBSERVE] * 50, label_key="label")

    assert engine.calls == 3
    assert response["extra_logs"]["codegym_end_turn_limit"] == 1.0


@pytest.mark.parametrize("share", [0.02, 0.3, 0.55, 0.9])
def test_token_budget_ends_the_episode_with_length_and_reward_zero(executor, tokenizer, share):
    row = robber_row()
    turns = asyncio.run(policy_turns("oracle", row["ability"]))
    full, _ = run(executor, tokenizer, row, turns)
    prompt_tokens = prompt_length(tokenizer, row)
    max_length = prompt_tokens + max(1, int(share * (len(full["observation_tokens"]) - prompt_tokens)))
    response, engine = run(executor, tokenizer, row, turns, max_length=max_length, logprobs=1)

    assert engine.calls < len(turns)
    assert response["reward"] == 0.0 and response["scores"] == 0.0
    assert response["extra_logs"]["codegym_end_length"] == 1.0
    assert response["truncated"] == (engine.finishes[-1] == "length")
    experience = to_experience(response, max_len=max_length)
    assert experience.sequences.shape[1] <= max_length
    assert experience.rollout_log_probs.shape == experience.action_mask.shape
    assert experience.truncated.item() == response["truncated"]
    assert live_sessions(executor) == 0  # the cut episode's env session was closed


def test_native_prompt_style_renders_tools_and_feeds_back_tool_messages(agent_env, tokenizer):
    from openrlhf_plugin.agent import AgentExecutor

    agent_env.setenv("CODEGYM_PROMPT_STYLE", "native")
    agent_env.setenv("CODEGYM_CALL_FORMAT", "hermes")
    row = robber_row()
    turns = asyncio.run(policy_turns("oracle", row["ability"], fmt="hermes"))
    response, engine = run(AgentExecutor(), tokenizer, row, turns)

    assert response["reward"] == 1.0
    first_prompt = tokenizer.decode(engine.prompts[0])
    assert "# Tools\n" in first_prompt and '"name": "ComputeDpValue"' in first_prompt
    assert "Function:\ndef Observe" not in first_prompt  # the dataset's CodeGym prompt was replaced
    assert "<|im_start|>user\n<tool_response>\n" in tokenizer.decode(engine.prompts[1])


def test_concurrent_samples_share_one_runtime_and_stay_independent(executor, tokenizer):
    rows = [robber_row(i) for i in range(3)]
    scripts = [
        asyncio.run(policy_turns("oracle", rows[0]["ability"])),
        asyncio.run(policy_turns("wrong", rows[1]["ability"])),
        list(MALFORMED_TURNS),
        asyncio.run(policy_turns("oracle", rows[2]["ability"])),
    ]
    samples = [rows[0], rows[1], rows[2], rows[2]]

    async def all_samples():
        # as OpenRLHF's engine actor does for n_samples_per_prompt: one gather on one loop
        return await asyncio.gather(*(run_sample(executor, tokenizer, r, t) for r, t in zip(samples, scripts, strict=True)))

    results = asyncio.run(all_samples())
    assert [r["reward"] for r, _ in results] == [1.0, 0.0, 0.0, 1.0]
    assert [r["extra_logs"]["codegym_end_code"] for r, _ in results] == [0.0, 0.0, 2.0, 0.0]
    assert live_sessions(executor) == 0
