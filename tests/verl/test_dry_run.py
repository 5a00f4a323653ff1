"""``python -m verl_plugin.dry_run``: rows built by ``codegym build-data`` go through veRL's dataset and
real AgentLoopWorker with scripted policies; the records it writes match the core's own episodes and
are read by ``codegym report``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from codegym_adapters.policies import get_policy
from codegym_adapters.report import read_records, render_html, summarize
from codegym_adapters.rollout import run_episode
from codegym_adapters.runtime import make_runtime
from codegym_adapters.tasks import Task
from verl_plugin import dry_run
from verl_plugin.replay import SILENT_TURN

REPO = Path(__file__).resolve().parents[2]
ENVS = ["Bundled_A01__HouseRobberEnv", "Bundled_B05__ArrayGcdEnv"]
POLICIES = ["oracle", "wrong", "malformed", "random"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data")
    built = subprocess.run(
        [str(Path(sys.executable).parent / "codegym"), "build-data", "--format", "verl", "--out", str(out),
         "--per-env", "4", "--runtime", "inprocess", "--no-progress",
         "--envs", *(str(REPO / "envs" / f"{e}.py") for e in ENVS)],
        capture_output=True, text=True, timeout=120,
    )
    assert built.returncode == 0, built.stderr
    return out / "train.parquet"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = dry_run.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def records(data: Path, tmp_path_factory) -> tuple[list[dict], str]:
    out = tmp_path_factory.mktemp("out") / "records.jsonl"
    code = dry_run.main(["--data", str(data), "--out", str(out), "--limit", "8", "--batch", "3"])  # sandbox
    assert code == 0
    return [json.loads(line) for line in out.read_text().splitlines()], str(out)


def test_every_row_gives_one_record_with_policies_in_turn(records) -> None:
    recs, _ = records
    assert len(recs) == 8
    assert [r["policy"] for r in recs] == POLICIES * 2
    assert {r["env"] for r in recs} == set(ENVS)  # rows spread over the file
    assert all(r["trainer"] == "verl" and r["token_checks"] == [] for r in recs)


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
            assert all(t["observation"].startswith("Error") for t in r["trajectory"][:5])
        else:
            assert r["env_reward"] == 0.0 and r["done_reason"] in ("done", "no_call")


def test_token_facts_describe_the_trajectory(records) -> None:
    for r in records[0]:
        assert 0 < r["mask_ones"] < r["response_tokens"] and r["prompt_tokens"] > 100
        observations = sum(1 for t in r["trajectory"] if t["observation"])
        assert r["num_turns"] == 1 + len(r["trajectory"]) + observations
        assert r["turns"] == len(r["trajectory"])


def test_decoded_turns_are_the_core_episode_of_the_same_task_and_policy(records) -> None:
    async def reference(record: dict) -> dict:
        async with make_runtime("inprocess") as runtime:
            task = Task.from_env_string(record["task"])
            return await run_episode(runtime, task, get_policy(record["policy"]), keep_trajectory=True)

    for r in records[0][:4]:
        ref = asyncio.run(reference(r))
        for key in ("reward", "done_reason", "turns", "valid_calls", "invalid_calls", "error_observations"):
            assert r[key] == ref[key], (r["policy"], key)
        # past the script the core's model says "", the replaying server SILENT_TURN: both call nothing
        assert [(t["text"], t["kind"], t["call"]) for t in r["trajectory"]] == \
               [(t["text"] or SILENT_TURN, t["kind"], t["call"]) for t in ref["trajectory"]]
        # every observation but the last (which is never fed back to the model) is in the tokens
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


def test_a_short_response_budget_cuts_episodes_with_length(data: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "short.jsonl"
    code, printed, _ = _run(capsys, "--data", str(data), "--out", str(out), "--limit", "4", "--policy", "oracle",
                            "--runtime", "inprocess", "data.max_response_length=300")
    assert code == 0, printed
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["done_reason"] for r in recs} == {"length"}
    assert all(r["response_tokens"] <= 300 and r["reward"] == 0.0 and r["token_checks"] == [] for r in recs)
    assert "runtime inprocess, response budget 300 tokens" in printed


def test_tokens_that_are_not_the_script_fail_the_run(data: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    real = dry_run.replay_server
    monkeypatch.setattr(dry_run, "replay_server",
                        lambda tok, scripts: real(tok, {p: [t + " " for t in ts] for p, ts in scripts.items()}))
    code, _, err = _run(capsys, "--data", str(data), "--out", str(tmp_path / "r.jsonl"), "--limit", "2",
                        "--policy", "wrong", "--runtime", "inprocess")
    assert code == 1 and "FAILED token checks in 2 episode(s)" in err and "model_tokens(turn 1)" in err


def test_bad_arguments_fail_with_a_message(tmp_path: Path, capsys) -> None:
    code, _, err = _run(capsys, "--data", str(tmp_path / "missing.parquet"), "--out", str(tmp_path / "r.jsonl"))
    assert code == 2 and "no such file" in err
    with pytest.raises(SystemExit):
        dry_run.main(["--data", "x", "--out", "y", "--policy", "oracle,psychic"])
    assert "unknown ['psychic']" in capsys.readouterr().err
