"""Scripted policies, the oracle recorder, and whole-episode rollouts with metrics."""

from __future__ import annotations

import json
from asyncio import run

import pytest

from codegym_adapters.calls import ToolCall, parse_call
from codegym_adapters.episode import EpisodeConfig
from codegym_adapters.policies import POLICIES, get_policy, perturb
from codegym_adapters.rollout import aggregate, run_episode, run_episodes
from codegym_adapters.runtime import make_runtime
from codegym_adapters.runtime.host import cap_observation
from codegym_adapters.tasks import Task, parse_trajectory

ENV = "Test_0001__CounterEnv@{'target': 3}"


async def episodes(catalog, policy, tasks, **kw):
    async with make_runtime("inprocess", catalog) as runtime:
        return await run_episodes(runtime, tasks, get_policy(policy), **kw)


def test_oracle_records_solve_calls_on_a_shadow_instance(counter_catalog):
    async def trace():
        async with make_runtime("inprocess", counter_catalog) as runtime:
            return await runtime.oracle(ENV)
    t = run(trace())
    assert t.ok and t.final_observation.endswith("reward=1")
    assert [c.name for c in t.calls] == ["Observe", "Add", "Add", "Add", "Done"]
    assert t.calls[-1] == ToolCall("Done", {"answer": 3})


@pytest.mark.parametrize("fmt", ["codegym", "hermes", "json"])
def test_oracle_policy_wins_in_every_format(counter_catalog, fmt):
    config = EpisodeConfig(call_format=fmt)
    [record] = run(episodes(counter_catalog, "oracle", [Task.from_env_string(ENV)], config=config))
    assert (record["reward"], record["done_reason"], record["turns"]) == (1.0, "done", 5)


def test_oracle_prefers_the_rows_recorded_trajectory(counter_catalog):
    std = json.dumps([{"name": "Add", "parameters": {"x": 3}}, {"name": "Done", "parameters": {"answer": 3}}])
    task = Task.from_row({"ability": f"codegym_v1@{ENV}", "extra_info": {"std_traj": std}})
    [record] = run(episodes(counter_catalog, "oracle", [task]))
    assert (record["reward"], record["turns"]) == (1.0, 2)


def test_wrong_policy_observes_then_answers_wrong(counter_catalog):
    [record] = run(episodes(counter_catalog, "wrong", [Task.from_env_string(ENV)], keep_trajectory=True))
    assert (record["reward"], record["done_reason"], record["turns"]) == (0.0, "done", 2)
    assert [t["call"]["name"] for t in record["trajectory"]] == ["Observe", "Done"]
    assert record["trajectory"][1]["call"]["arguments"] == {"answer": 4}


def test_malformed_and_silent_policies_never_score(counter_catalog):
    [bad] = run(episodes(counter_catalog, "malformed", [Task.from_env_string(ENV)],
                         config=EpisodeConfig(call_format="auto")))
    assert bad["invalid_calls"] == 5 and bad["valid_calls"] == 0 and bad["done_reason"] == "no_call"
    [silent] = run(episodes(counter_catalog, "silent", [Task.from_env_string(ENV)]))
    assert (silent["done_reason"], silent["turns"], silent["reward"]) == ("no_call", 1, 0.0)


def test_random_policy_is_seeded_and_makes_valid_looking_calls(counter_catalog):
    tasks = [Task.from_env_string(ENV)]
    a = run(episodes(counter_catalog, "random", tasks, keep_trajectory=True))
    b = run(episodes(counter_catalog, "random", tasks, keep_trajectory=True))
    for record in a + b:
        record.pop("step_time_s")
    assert a == b
    assert a[0]["valid_calls"] >= 2 and a[0]["done_reason"] == "done"


def test_policy_names_and_errors():
    assert set(POLICIES) == {"oracle", "wrong", "random", "malformed", "silent"}
    with pytest.raises(ValueError, match="unknown policy"):
        get_policy("genius")


@pytest.mark.parametrize("value", [3, 2.5, True, "abc", "", [1, 2], [], {"a": 1}, None])
def test_perturb_never_equals(value):
    assert perturb(value) != value


def test_rollout_aggregate_metrics(counter_catalog):
    tasks = [Task.from_env_string(ENV), Task.from_env_string("Test_0001__CounterEnv@{'target': 1}")]
    records = run(episodes(counter_catalog, "oracle", tasks))
    records += run(episodes(counter_catalog, "silent", tasks[:1]))
    summary = aggregate(records)
    assert summary["episodes"] == 3
    assert summary["accuracy"] == pytest.approx(2 / 3)
    assert summary["avg_turns"] == pytest.approx((5 + 3 + 1) / 3)
    assert summary["done_reasons"]["done"] == 2 and summary["done_reasons"]["no_call"] == 1
    assert aggregate([])["episodes"] == 0


def test_rollout_reports_a_missing_env_instead_of_raising(counter_catalog):
    async def go():
        async with make_runtime("inprocess", counter_catalog) as runtime:
            return await run_episode(runtime, Task.from_env_string("Ghost@{}"), get_policy("oracle"))
    record = run(go())
    assert record["done_reason"] == "env_error" and "unknown env 'Ghost'" in record["error"]


def test_parse_trajectory_accepts_the_published_shapes():
    calls = [ToolCall("Observe", {}), ToolCall("Done", {"answer": 1})]
    as_dicts = [{"name": "Observe", "parameters": {}}, {"name": "Done", "arguments": '{"answer": 1}'}]
    assert parse_trajectory(as_dicts) == calls
    assert parse_trajectory(json.dumps(as_dicts)) == calls
    texts = ['<|FunctionCallBegin|>[{"name": "Observe", "parameters": {}}]<|FunctionCallEnd|>',
             '<tool_call>{"name": "Done", "arguments": {"answer": 1}}</tool_call>']
    assert parse_trajectory(texts) == calls
    assert parse_trajectory(None) is None and parse_trajectory("") is None
    assert parse_trajectory([{"no": "name"}]) is None


def test_task_from_row_reads_both_turn_limit_placements():
    top = Task.from_row({"ability": "codegym_v1@X__YEnv@{}", "plugin_call_max_round": 12})
    inner = Task.from_row({"ability": "X__YEnv@{}", "extra_info": {"plugin_call_max_round": 512,
                                                                  "solve_fc_round": 40, "index": 7}})
    assert (top.turn_limit, inner.turn_limit, inner.solve_fc_round, inner.index) == (12, 512, 40, 7)
    assert inner.ability == "codegym_v1@X__YEnv@{}" and top.ability == "codegym_v1@X__YEnv@{}"
    with pytest.raises(ValueError, match="ability"):
        Task.from_row({"prompt": []})


def test_observation_cap_marks_the_cut():
    text = cap_observation("x" * 1000, 100)
    assert len(text) == 100 and text.endswith("[observation truncated: 100 of 1000 characters shown]")
    assert cap_observation("short", 100) == "short"
    assert parse_call(text).kind == "no_call"


@pytest.mark.parametrize("ability", ["codegym_v1@Bad Name@{}", "codegym_v1@X__YEnv@{not options", "", None])
def test_a_row_with_a_broken_env_string_still_gives_an_episode_that_reports_why(counter_catalog, ability):
    from codegym_adapters.tasks import task_for_row

    task = task_for_row({"ability": ability, "prompt": [{"role": "user", "content": "hi"}]})
    assert task.prompt == [{"role": "user", "content": "hi"}]

    async def go():
        async with make_runtime("inprocess", counter_catalog) as runtime:
            return await run_episode(runtime, task, get_policy("oracle"))
    record = run(go())
    assert (record["done_reason"], record["reward"], record["turns"]) == ("env_error", 0.0, 0)
    assert record["error"] and isinstance(record["env"], str)


def test_eval_without_rows_records_each_configurations_oracle_call_count(counter_dir, tmp_path, capsys):
    from codegym_adapters.cli import main

    out = tmp_path / "episodes.jsonl"
    assert main(["eval", "--envs", str(counter_dir), "--runtime", "inprocess", "--out", str(out), "--json"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((r["solve_fc_round"], r["turns"]) for r in records) == [(4, 4), (7, 7)]  # targets 2 and 5
    assert json.loads(capsys.readouterr().out)["episodes"] == 2
