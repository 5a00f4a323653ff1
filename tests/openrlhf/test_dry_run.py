"""``python -m openrlhf_plugin.dry_run``: rows built by ``codegym build-data`` go through OpenRLHF's prompt
dataset and real MultiTurnAgentExecutor with scripted policies; the records it writes match the core's
own episodes and are read by ``codegym report``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from codegym_adapters.policies import get_policy
from codegym_adapters.report import read_records, render_html, summarize
from codegym_adapters.rollout import run_episode
from codegym_adapters.runtime import make_runtime
from codegym_adapters.tasks import Task
from openrlhf_plugin import dry_run, inprocess
from openrlhf_plugin.inprocess import AFTER_SCRIPT

REPO = Path(__file__).resolve().parents[2]
ENVS = ["Bundled_A01__HouseRobberEnv", "Bundled_B05__ArrayGcdEnv"]
POLICIES = ["oracle", "wrong", "malformed", "random"]


ROW_TURN_LIMIT = 300  # build-data's --turn-limit; differs from the agent's default of 256


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("CODEGYM_")]:
        monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data")
    built = subprocess.run(
        [str(Path(sys.executable).parent / "codegym"), "build-data", "--format", "openrlhf", "--out", str(out),
         "--per-env", "4", "--runtime", "inprocess", "--no-progress", "--turn-limit", str(ROW_TURN_LIMIT),
         "--envs", *(str(REPO / "envs" / f"{e}.py") for e in ENVS)],
        capture_output=True, text=True, timeout=120,
    )
    assert built.returncode == 0, built.stderr
    return out / "train.jsonl"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = dry_run.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def records(data: Path, tmp_path_factory) -> tuple[list[dict], str]:
    out = tmp_path_factory.mktemp("out") / "records.jsonl"
    with pytest.MonkeyPatch.context() as mp:
        for name in [k for k in os.environ if k.startswith("CODEGYM_")]:
            mp.delenv(name)
        code = dry_run.main(["--data", str(data), "--out", str(out), "--limit", "8", "--batch", "3"])  # sandbox
    assert code == 0
    return [json.loads(line) for line in out.read_text().splitlines()], str(out)


def test_every_row_gives_one_record_with_policies_in_turn(records) -> None:
    recs, _ = records
    assert len(recs) == 8
    assert [r["policy"] for r in recs] == POLICIES * 2
    assert {r["env"] for r in recs} == set(ENVS)
    assert all(r["trainer"] == "openrlhf" and r["token_checks"] == [] for r in recs)
    assert all(r["solve_fc_round"] >= 10 for r in recs)  # from the row: the `ability` label lacks it


def test_the_rows_turn_limit_reaches_the_agent_through_the_label_column(records) -> None:
    recs, _ = records
    assert {r["turn_limit"] for r in recs} == {ROW_TURN_LIMIT}  # not CODEGYM_DEFAULT_TURN_LIMIT's 256


def test_rewards_and_done_reasons_follow_the_policies(records) -> None:
    for r in records[0]:
        if r["policy"] == "oracle":
            assert (r["reward"], r["done_reason"], r["rm_score"]) == (1.0, "done", 1.0)
            assert r["trajectory"][-1]["call"]["name"] == "Done"
        elif r["policy"] == "wrong":
            assert (r["reward"], r["done_reason"], r["turns"]) == (0.0, "done", 2)
        elif r["policy"] == "malformed":
            assert (r["reward"], r["done_reason"], r["invalid_calls"]) == (0.0, "no_call", 5)
            assert [t["kind"] for t in r["trajectory"]] == ["invalid"] * 5 + ["no_call"]
        else:
            assert r["env_reward"] == 0.0 and r["done_reason"] in ("done", "no_call")


def test_token_facts_describe_the_trajectory(records) -> None:
    for r in records[0]:
        assert 0 < r["mask_ones"] < r["response_tokens"] and r["prompt_tokens"] > 100
        assert r["action_ranges"] == len(r["trajectory"]) == r["turns"]
        assert r["truncated"] is False


def test_decoded_turns_are_the_core_episode_of_the_same_task_and_policy(records) -> None:
    async def reference(record: dict) -> dict:
        async with make_runtime("inprocess") as runtime:
            task = Task.from_env_string(record["task"])
            return await run_episode(runtime, task, get_policy(record["policy"]), keep_trajectory=True)

    for r in records[0][:4]:
        ref = asyncio.run(reference(r))
        for key in ("reward", "done_reason", "turns", "valid_calls", "invalid_calls", "error_observations"):
            assert r[key] == ref[key], (r["policy"], key)
        # past the script the core's model says "", the scripted engine AFTER_SCRIPT: both call nothing
        assert [(t["text"], t["kind"], t["call"]) for t in r["trajectory"]] == \
               [(t["text"] or AFTER_SCRIPT, t["kind"], t["call"]) for t in ref["trajectory"]]
        assert [t["observation"] for t in r["trajectory"][:-1]] == [t["observation"] for t in ref["trajectory"][:-1]]
        assert r["trajectory"][-1]["observation"] == ""
        # ... and what the env answered to the last call travels beside it, for the report
        assert r["trajectory"][-1].get("env_observation", "") == ref["trajectory"][-1]["observation"]
        assert r["prompt"] == ref["prompt"]


def test_report_reads_the_records(records) -> None:
    recs, path = records
    loaded, skipped = read_records([Path(path)])
    assert skipped == 0 and len(loaded) == 8
    summary = summarize(loaded)
    assert summary["per_policy"]["oracle"]["accuracy"] == 1.0 and summary["accuracy"] == 0.25
    assert summary["done_reasons"]["done"] == 6 and summary["done_reasons"]["no_call"] == 2
    assert "Bundled_B05__ArrayGcdEnv" in render_html(loaded)


def test_a_short_max_len_cuts_episodes_with_length(data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "short.jsonl"
    code, printed, _ = _run(capsys, "--data", str(data), "--out", str(out), "--limit", "4", "--policy", "oracle",
                            "--runtime", "inprocess", "--max-len", "1700")
    assert code == 0, printed
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["done_reason"] for r in recs} == {"length"}
    assert any(r["truncated"] for r in recs)  # a turn cut by the budget: the record has the cut text
    assert all(r["prompt_tokens"] + r["mask_ones"] <= 1700 for r in recs)
    assert all(r["reward"] == 0.0 and r["token_checks"] == [] for r in recs)
    assert "runtime inprocess, max_len 1700" in printed


def test_tokens_that_are_not_the_script_fail_the_run(data: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    class Garbling(inprocess.ScriptedEngine):  # an engine whose tokens are not the scripted turns
        def __init__(self, tokenizer, turns, *args, **kwargs):
            super().__init__(tokenizer, [t + " " for t in turns], *args, **kwargs)

    monkeypatch.setattr(inprocess, "ScriptedEngine", Garbling)
    code, _, err = _run(capsys, "--data", str(data), "--out", str(tmp_path / "r.jsonl"), "--limit", "2",
                        "--policy", "wrong", "--runtime", "inprocess")
    assert code == 1 and "FAILED token checks in 2 episode(s)" in err and "model_tokens(turn 1)" in err


def test_bad_arguments_fail_with_a_message(tmp_path: Path, capsys) -> None:
    code, _, err = _run(capsys, "--data", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "r.jsonl"))
    assert code == 2 and "no such file" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": []}\nnot json\n')
    code, _, err = _run(capsys, "--data", str(bad), "--out", str(tmp_path / "r.jsonl"))
    assert code == 2 and "bad.jsonl:2: not a JSON line" in err
