"""The trainer-agnostic half of the dry runs (``codegym_adapters.dry_run``): rows, scripts, record turns,
records and the run's summary, over the bundled envs in process; no trainer installed."""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time

import pytest

from codegym_adapters import dry_run
from codegym_adapters.dry_run import (
    SUMMARY_ORDER,
    RecordLog,
    add_observation,
    add_run_options,
    batch_counts,
    check_run_options,
    episode_record,
    finish_run,
    model_turn,
    observation_role,
    ordered_summary,
    parse_policies,
    plan_scripts,
    script_checks,
    spread,
    summary_lines,
    unframe,
)
from codegym_adapters.episode import Episode, EpisodeConfig
from codegym_adapters.policies import get_policy
from codegym_adapters.rollout import run_episode
from codegym_adapters.runtime import make_runtime
from codegym_adapters.tasks import Task, task_for_row

HOUSES = 'Bundled_A01__HouseRobberEnv@{"houses": [2, 7, 9, 3, 1]}'
GCD = "Bundled_B05__ArrayGcdEnv@{}"
ROWS = [{"ability": f"codegym_v1@{HOUSES}"}, {"ability": f"codegym_v1@{GCD}"},
        {"ability": f"codegym_v1@{HOUSES}"}, {"ability": f"codegym_v1@{GCD}"}]
POLICIES = ["oracle", "wrong", "malformed", "random"]


async def _plans(sources, policies=POLICIES, config=None, **kw):
    async with make_runtime("inprocess") as runtime:
        return await plan_scripts(runtime, sources, policies, config or EpisodeConfig(), **kw)


async def _replay(env: str, turns: list[str]) -> dict:
    """The episode of ``env`` fed the scripted ``turns`` (then silence), as a trainer's replaying model does."""
    async with make_runtime("inprocess") as runtime:
        episode = Episode(runtime, Task.from_env_string(env))
        try:
            await episode.start()
            k = 0
            while not episode.done:
                await episode.step(turns[k] if k < len(turns) else "")
                k += 1
            return episode.summary()
        finally:
            await episode.close()


def test_spread_picks_rows_evenly_or_all_of_them() -> None:
    assert spread(10, 4) == [0, 2, 5, 7]
    assert spread(100, 64) == sorted(set(spread(100, 64))) and len(spread(100, 64)) == 64
    assert spread(3, 0) == spread(3, 3) == spread(3, 9) == [0, 1, 2]
    assert spread(0, 4) == []


def test_policies_parse_from_a_comma_list_and_unknown_ones_are_named() -> None:
    assert parse_policies(" oracle, wrong,,random ") == ["oracle", "wrong", "random"]
    with pytest.raises(ValueError, match=r"unknown \['psychic'\]; choose from oracle"):
        parse_policies("oracle,psychic")
    with pytest.raises(ValueError, match="unknown empty list"):
        parse_policies(" , ")
    assert all(parse_policies(p) == [p] for p in dry_run.DEFAULT_POLICIES)


def test_run_options_default_to_the_policy_mix_and_reject_unknown_policies(capsys) -> None:
    p = argparse.ArgumentParser(prog="dry")
    add_run_options(p)
    args = p.parse_args(["--out", "r.jsonl"])
    check_run_options(p, args)
    assert (args.policies, args.limit, str(args.out)) == (list(dry_run.DEFAULT_POLICIES), 64, "r.jsonl")
    with pytest.raises(SystemExit):
        check_run_options(p, p.parse_args(["--out", "r.jsonl", "--policy", "oracle,psychic"]))
    assert "unknown ['psychic']" in capsys.readouterr().err


def test_plans_give_rows_their_policies_in_turn_with_the_episodes_prompt() -> None:
    plans = asyncio.run(_plans(ROWS, task_of=task_for_row))
    assert [p["policy"] for p in plans] == POLICIES
    assert not any("policy_error" in p for p in plans)

    async def reference(row: dict, policy: str) -> dict:
        async with make_runtime("inprocess") as runtime:
            return await run_episode(runtime, task_for_row(row), get_policy(policy), keep_trajectory=True)

    for row, plan in zip(ROWS, plans, strict=True):
        ref = asyncio.run(reference(row, plan["policy"]))
        assert plan["prompt"] == ref["prompt"]
        said = [t["text"] for t in ref["trajectory"]]  # the core's episode stops at its end, maybe mid-script
        assert plan["turns"][:len(said)] == said[:len(plan["turns"])] and plan["turns"]


def test_scripted_turns_replayed_through_an_episode_score_as_their_policy() -> None:
    plans = asyncio.run(_plans([Task.from_env_string(HOUSES)] * 3, ["oracle", "wrong", "malformed"]))
    oracle, wrong, malformed = (asyncio.run(_replay(HOUSES, p["turns"])) for p in plans)
    assert (oracle["reward"], oracle["done_reason"]) == (1.0, "done")
    assert (wrong["reward"], wrong["done_reason"], wrong["turns"]) == (0.0, "done", 2)
    assert (malformed["reward"], malformed["done_reason"], malformed["invalid_calls"]) == (0.0, "no_call", 5)


def test_plans_follow_the_episode_call_format_and_prompt_style() -> None:
    config = EpisodeConfig(call_format="hermes", prompt_style="native")
    [plan] = asyncio.run(_plans([Task.from_env_string(HOUSES)], ["oracle"], config))
    assert plan["turns"][0].startswith("<tool_call>")
    assert [m["role"] for m in plan["prompt"]] == ["system", "user"]
    assert observation_role(config) == "tool" and observation_role(EpisodeConfig()) == "user"


def test_a_row_whose_task_fails_gets_a_policy_error_no_turns_and_its_own_prompt() -> None:
    fallback = [{"role": "user", "content": "the row's prompt"}]
    rows = [{"ability": "codegym_v1@Bundled_Z99__NoSuchEnv@{}"}, {"ability": "not an env string"}, ROWS[0]]
    plans = asyncio.run(_plans(rows, ["wrong"], task_of=Task.from_row, prompt_of=lambda row: fallback))
    missing, broken, fine = plans
    assert missing["turns"] == [] and missing["prompt"] == fallback and "NoSuchEnv" in missing["policy_error"]
    assert broken["turns"] == [] and broken["policy_error"].startswith("OptionsError: ")
    assert "policy_error" not in fine and fine["turns"] and fine["prompt"] != fallback


def test_decoded_text_becomes_record_turns() -> None:
    frame = ("<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n")
    assert unframe(f"{frame[0]}Observation{frame[1]}", frame) == "Observation"
    assert unframe("unframed", frame) == "unframed" and unframe("", frame) == "" and unframe("x", ("", "")) == "x"

    call = '<|FunctionCallBegin|>[{"name": "Observe", "parameters": {}}]<|FunctionCallEnd|>'
    turn = model_turn(call, "auto")
    assert turn == {"text": call, "kind": "call", "call": {"name": "Observe", "arguments": {}}, "observation": ""}
    add_observation(turn, "houses: ")
    add_observation(turn, "[2, 7]")
    assert turn["observation"] == "houses: [2, 7]" and turn["kind"] == "call"

    unknown = model_turn(call.replace("Observe", "Peek"), "auto")
    add_observation(unknown, "Error: unknown function 'Peek'")
    assert (unknown["kind"], unknown["call"]) == ("invalid", None)
    assert model_turn("thinking...", "auto")["kind"] == "no_call"


def test_script_checks_name_the_first_turn_that_is_not_the_script() -> None:
    turns = [{"text": t} for t in ("a", "b", "SILENT", "SILENT")]
    assert script_checks(turns, ["a", "b"], "SILENT", last_cut=False) == []
    assert script_checks(turns, ["a", "x", "y"], "SILENT", last_cut=False) == ["model_tokens(turn 2)"]
    cut = [{"text": "a"}, {"text": "be"}]
    assert script_checks(cut, ["a", "begin"], "", last_cut=False) == ["model_tokens(turn 2)"]
    assert script_checks(cut, ["a", "begin"], "", last_cut=True) == []
    assert script_checks([{"text": "a"}, {"text": "b"}], ["abc", "b"], "", last_cut=True) == ["model_tokens(turn 1)"]


def test_summary_order_is_the_episode_summarys_and_records_read_like_eval_ones() -> None:
    async def summary() -> dict:
        async with make_runtime("inprocess") as runtime:
            episode = Episode(runtime, Task.from_env_string(HOUSES))
            try:
                await episode.start()
                return episode.summary()
            finally:
                await episode.close()

    real = asyncio.run(summary())
    assert SUMMARY_ORDER == tuple(real)
    shuffled = {"zeta": 1, **dict(reversed(list(real.items()))), "alpha": 2}
    assert list(ordered_summary(shuffled)) == [*SUMMARY_ORDER, "alpha", "zeta"]

    plan = {"policy": "oracle", "turns": ["t"], "prompt": [{"role": "user", "content": "hi", "name": None}]}
    record = episode_record(HOUSES, plan, "trainer-x", ordered_summary(real), [{"text": "t"}], mask_ones=3,
                            token_checks=[])
    assert list(record) == ["task", "policy", "trainer", *SUMMARY_ORDER, "prompt", "trajectory", "mask_ones",
                            "token_checks"]
    assert record["prompt"] == [{"role": "user", "content": "hi"}] and record["trainer"] == "trainer-x"
    failed = episode_record(HOUSES, {**plan, "policy_error": "EnvLoadError: x"}, "t", real, [])
    assert list(failed)[3 + len(real)] == "policy_error" and failed["policy_error"] == "EnvLoadError: x"


def _records() -> list[dict]:
    async def run() -> list[dict]:
        async with make_runtime("inprocess") as runtime:
            return [await run_episode(runtime, Task.from_env_string(env), get_policy(p))
                    for env, p in [(HOUSES, "oracle"), (GCD, "oracle"), (HOUSES, "wrong"), (GCD, "malformed")]]

    records = asyncio.run(run())
    for r in records:
        r["token_checks"] = []
    records[2]["token_checks"] = ["rm_score"]
    return records


def test_summary_lines_and_batch_counts_describe_the_records() -> None:
    records = _records()
    first, reasons, checks = summary_lines(records, "dry")
    assert first.startswith("dry: 4 episodes, accuracy 0.500, avg reward 0.500, avg turns ")
    assert first.endswith(f"invalid-call rate {5 / sum(r['turns'] for r in records):.3f}")
    assert reasons == "dry: done reasons: done 3, no_call 1; accuracy per policy: malformed 0.00, oracle 1.00, wrong 0.00"
    assert checks == "dry: token checks: 3/4 episodes ok"
    assert batch_counts(records) == "solved 2/4; done 3, no_call 1"


def test_the_record_log_writes_batches_and_the_run_fails_on_token_checks(tmp_path, capsys) -> None:
    records = _records()
    out = tmp_path / "deep" / "records.jsonl"
    started = time.perf_counter()
    with RecordLog(out, "dry", 2) as log:
        log.add_batch(records[:2], 0.25)
        log.add_batch(records[2:], 1.5)
    assert log.records == records
    assert [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] == records
    assert finish_run(records, "dry", out, started) == 1
    printed = capsys.readouterr()
    assert printed.out.splitlines()[:2] == ["dry: batch 1/2: 2 episodes in 0.2s: solved 2/2; done 2",
                                            "dry: batch 2/2: 2 episodes in 1.5s: solved 0/2; done 1, no_call 1"]
    assert f"dry: wrote 4 records to {out} in " in printed.out
    assert printed.err.strip() == (f"dry dry run: FAILED token checks in 1 episode(s), e.g. {HOUSES} (wrong): "
                                   "rm_score")
    records[2]["token_checks"] = []
    assert finish_run(records, "dry", out, started) == 0 and capsys.readouterr().err == ""


def test_the_core_dry_run_imports_no_trainer_and_no_torch() -> None:
    code = ("import sys, codegym_adapters.dry_run; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'verl', 'openrlhf', 'torch', 'transformers', 'verl_plugin', 'openrlhf_plugin'}))")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "[]"
