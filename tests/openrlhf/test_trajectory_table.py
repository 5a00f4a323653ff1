"""The shared table of trajectories (``tests/trajectories.py``) through OpenRLHF's real executor: each
ends with the reward and done reason the table gives it, as in veRL and ``codegym eval`` (issue 11).
Then model text that used to raise: the batch completes, the bad episode ends with a clear reason,
the others are untouched."""

from __future__ import annotations

import asyncio
import json

import pytest
from openrlhf_harness import make_row, run_sample, to_experience
from trajectories import ENV_NAME, OPTIONS, groups, openrlhf_variables, oracle_for_table

from codegym_adapters.calls import render_call
from codegym_adapters.episode import DONE_REASONS


@pytest.fixture(scope="module")
def oracle():
    return asyncio.run(oracle_for_table())


def _row(turn_limit: int) -> dict:
    row = asyncio.run(make_row(ENV_NAME, OPTIONS))
    row["label"] = json.dumps({"ability": row["ability"], "plugin_call_max_round": turn_limit})
    return row


def _outcome(response: dict) -> tuple[float, str]:
    code = int(response["extra_logs"]["codegym_end_code"])
    return response["reward"], DONE_REASONS[code]


@pytest.mark.parametrize("key", list(groups()), ids=lambda k: ",".join(f"{a}={b}" for a, b in k) or "defaults")
def test_the_executor_gives_each_trajectory_its_table_outcome(key, oracle, agent_env, tokenizer):
    from openrlhf_plugin.agent import AgentExecutor

    for name, value in openrlhf_variables(dict(key)).items():
        agent_env.setenv(name, value)
    executor = AgentExecutor()
    table = groups()[key]

    rows = [_row(t.turn_limit) for t in table]

    async def run_all():  # concurrently, on one loop, as samples run on a vLLM engine
        return await asyncio.gather(*(run_sample(executor, tokenizer, row, t.turns(oracle), label_key="label")
                                      for row, t in zip(rows, table, strict=True)))

    results = asyncio.run(run_all())
    got = {t.name: _outcome(response) for t, (response, _) in zip(table, results, strict=True)}
    assert got == {t.name: (pytest.approx(t.reward), t.done_reason) for t in table}
    for response, _ in results:
        to_experience(response, max_len=16384)  # OpenRLHF's own conversion accepts it


NASTY = {
    "huge_integer": '{"name": "Done", "arguments": {"answer": ' + "7" * 5000 + "}}",
    "surrogate_key": '{"name": "Observe", "arguments": {"\\udc80x": 1}}',
    "surrogate_value": '<tool_call>{"name": "Observe", "arguments": {"x": "\\ud800"}}</tool_call>',
    "deep": '{"name": "Done", "arguments": ' + "[" * 100_000,
    "ten_megabytes": "{" * 10_000_000,
}


def test_model_text_that_used_to_raise_ends_no_batch(oracle, agent_env, tokenizer):
    from openrlhf_plugin.agent import AgentExecutor

    executor = AgentExecutor()
    good = [render_call(c, "codegym") for c in oracle]
    scripts = [[text, *good] for text in NASTY.values()] + [good]

    row = _row(64)

    async def run_all():
        return await asyncio.gather(*(run_sample(executor, tokenizer, row, turns, max_length=10**8,
                                                 label_key="label") for turns in scripts))

    results = asyncio.run(run_all())
    outcomes = {name: _outcome(response) for name, (response, _) in zip([*NASTY, "honest"], results, strict=True)}
    # the bad turn was answered with an error observation and the oracle finished; ten megabytes of
    # braces hold no call at all
    assert outcomes == {**{name: (1.0, "done") for name in NASTY}, "ten_megabytes": (0.0, "no_call"),
                        "honest": (1.0, "done")}
    invalid = [r["extra_logs"]["codegym_invalid_calls"] for r, _ in results]
    assert invalid == [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]


def test_a_done_followed_by_prose_the_budget_cuts_ends_length_with_reward_zero(oracle, agent_env, tokenizer):
    """Issue 11, item 2: with OpenRLHF's own token budget (not a scripted cut), as veRL judges it."""
    from openrlhf_plugin.agent import AgentExecutor

    good = [render_call(c, "codegym") for c in oracle]
    turns = [*good[:-1], good[-1] + " Now let me explain at length why this answer is right." * 20]
    executor = AgentExecutor()
    _, engine = asyncio.run(run_sample(executor, tokenizer, _row(64), turns, label_key="label"))
    before_last = len(engine.prompts[-1])
    done_tokens = len(tokenizer.encode(good[-1], add_special_tokens=False))
    response, engine = asyncio.run(run_sample(executor, tokenizer, _row(64), turns, label_key="label",
                                              max_length=before_last + done_tokens + 5))
    assert engine.finishes[-1] == "length"
    assert _outcome(response) == (0.0, "length") and response["scores"] == 0.0
    assert response["extra_logs"]["codegym_invalid_calls"] == 0.0
