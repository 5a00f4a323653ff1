"""Killing ``codegym synthesize`` (a real subprocess, SIGKILL) in the middle of its stages and running it
again: every model reply stored before the kill is reused, none is asked for again, and the result is
the same as an uninterrupted run's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import synth_fake
from fake_openai_server import FakeOpenAIServer

from codegym_adapters.synth.context import STAGES

CASES = ("Synth_good", "Synth_think_then_retry", "Synth_wrong_ref", "Synth_oracle_direct", "Synth_reward_anything")


def _command(url: str, problems: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "codegym_adapters.cli", "synthesize", "--problems", str(problems), "--model", url,
            "--out", str(out), "--no-progress", "--oracle-candidates", "2", "--concurrency", "2", "--workers", "2",
            "--step-timeout", "5"]


def _stored_replies(out: Path) -> set[tuple[str, str]]:
    keys = set()
    for stage in STAGES:
        path = out / f"{stage}.jsonl"
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("kind") == "reply":
                    keys.add((entry["id"], entry["call"]))
    return keys


def test_sigkill_mid_stage_then_rerun_repeats_no_finished_model_call(tmp_path: Path) -> None:
    cases = [c for c in synth_fake.cases() if c.id in CASES]
    model = synth_fake.CannedModel(cases, latency_s=0.25)
    problems = synth_fake.write_problems(tmp_path / "problems.jsonl", cases)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    with FakeOpenAIServer(model) as server:
        proc = subprocess.Popen(_command(server.url, problems, out), env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while len(_stored_replies(out)) < 6 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed: " + proc.stdout.read().decode()[-2000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        before_kill = _stored_replies(out)
        counts_at_kill = dict(model.counts)
        assert 6 <= len(before_kill) <= len(counts_at_kill)
        assert not (out / "summary.json").exists()  # it really died mid-way

        done = subprocess.run(_command(server.url, problems, out), env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    for key in before_kill:  # a reply stored before the kill was never asked for again
        assert model.counts[key] == 1, key
    # a call in flight at the kill may be asked again, once
    assert all(n <= 2 for n in model.counts.values())
    outcomes = {o["id"]: o for o in json.loads((out / "summary.json").read_text())["outcomes"]}
    for case in cases:
        got = outcomes[case.id]
        assert (got["gate"], got["reason"]) == (case.expect or (None, None)), got
    for stage in STAGES:  # no result is stored twice
        path = out / f"{stage}.jsonl"
        ids = [json.loads(x)["id"] for x in path.read_text().splitlines() if '"kind": "result"' in x]
        assert len(ids) == len(set(ids))
