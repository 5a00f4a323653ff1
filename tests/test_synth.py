"""``codegym synthesize`` end to end: the real command, over real HTTP, against a fake model replaying
canned replies written by us (``synth_fake``), with the real sandbox runtime. Each one-defect problem
must stop at its gate with its reason; the survivors must pass ``codegym verify`` and feed
``codegym build-data``; a rerun must ask the model nothing it has already answered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import synth_fake
from fake_openai_server import FakeOpenAIServer, Reply

from codegym_adapters.catalog import read_rows
from codegym_adapters.cli import main
from codegym_adapters.synth import prompts as prompts_mod

FAST = ["--no-progress", "--oracle-candidates", "2", "--step-timeout", "3", "--ref-time-limit", "0.2",
        "--workers", "2", "--concurrency", "4"]


def synthesize(url: str, problems: Path, out: Path, *extra: str) -> int:
    return main(["synthesize", "--problems", str(problems), "--model", url, "--out", str(out), *FAST, *extra])


def outcomes(out: Path) -> dict[str, dict]:
    return {o["id"]: o for o in json.loads((out / "summary.json").read_text())["outcomes"]}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One synthesis over every case, then a rerun of the same command on the same folder."""
    tmp = tmp_path_factory.mktemp("synth")
    cases = synth_fake.cases()
    model = synth_fake.CannedModel(cases)
    problems = synth_fake.write_problems(tmp / "problems.jsonl", cases)
    out = tmp / "out"
    with FakeOpenAIServer(model) as server:
        first_rc = synthesize(server.url, problems, out)
        first_counts = dict(model.counts)
        first = outcomes(out)
        second_rc = synthesize(server.url, problems, out)
        second_requests = len(server.chat_requests())
    return {"cases": cases, "out": out, "first": first, "first_rc": first_rc, "first_counts": first_counts,
            "counts": dict(model.counts), "second": outcomes(out), "second_rc": second_rc,
            "requests": second_requests}


@pytest.mark.parametrize("case", synth_fake.cases(), ids=lambda c: c.id)
def test_each_problem_lands_at_its_gate_with_its_reason(run: dict, case: synth_fake.Case) -> None:
    outcome = run["first"][case.id]
    if case.expect is None:
        assert outcome["status"] == "passed", outcome
        assert Path(outcome["record"]).exists()
    else:
        assert (outcome["gate"], outcome["reason"]) == case.expect, outcome
        assert outcome["record"] is None and outcome["detail"]


def test_details_name_the_defect(run: dict) -> None:
    first = run["first"]
    assert "self.nums" in first["Synth_oracle_direct"]["detail"]
    assert "deadline" in first["Synth_oracle_loop"]["detail"]
    assert "the same code as an earlier candidate" in first["Synth_oracle_loop"]["detail"]  # not run twice
    assert "GetNumber" in first["Synth_no_docstring"]["detail"]
    assert "the reference solution" in first["Synth_wrong_ref"]["detail"]
    assert "nonce" in first["Synth_nondeterministic"]["detail"]
    assert "--no-solution-check" in first["Synth_solution_reads_stdin"]["detail"]


def test_the_summary_counts_every_gate(run: dict) -> None:
    summary = json.loads((run["out"] / "summary.json").read_text())
    gates = {g["gate"]: g for g in summary["gates"]}
    expected = [c.expect for c in run["cases"] if c.expect]
    for gate, row in gates.items():
        assert row["failed"] == sum(1 for g, _ in expected if g == gate)
        assert row["passed"] == row["entered"] - row["failed"]
    assert gates["env"]["entered"] == len(run["cases"])
    assert summary["verified"] == sum(1 for c in run["cases"] if c.expect is None) == 2
    assert run["first_rc"] == 0
    page = (run["out"] / "synthesis.html").read_text()
    assert "ref_answer_mismatch" in page and "Synth_good" in page


def test_every_model_call_is_made_once_and_a_rerun_makes_none(run: dict) -> None:
    assert run["first_counts"] and set(run["first_counts"].values()) == {1}
    assert run["counts"] == run["first_counts"]  # the rerun asked nothing (GET /v1/models aside)
    assert run["second"] == run["first"] and run["second_rc"] == 0
    by_case = {c.id: c for c in run["cases"]}
    # reasoning is stripped, and a second candidate is asked only after the first fails
    assert run["first_counts"][("Synth_think_then_retry", "oracle-2")] == 1
    assert ("Synth_good", "oracle-2") not in run["first_counts"]
    assert ("Synth_syntax", "unit_tests") not in run["first_counts"]
    assert by_case


def test_records_have_the_upstream_layout_and_spliced_oracle(run: dict) -> None:
    record = json.loads(Path(run["first"]["Synth_think_then_retry"]["record"]).read_text())
    assert {"code_id", "idx", "env_name", "gym_env", "gym_task", "docstring", "unit_test_list"} <= set(record)
    assert record["code_id"] == "Synth_think_then_retry" and record["env_name"] == "MaxSubarrayThinkThenRetryEnv"
    assert "def Observe():" in record["docstring"] and "Args:" in record["docstring"]
    tests = record["unit_test_list"]
    assert len(tests) == 15
    for test in tests:
        assert test["unit_test"].startswith("MaxSubarrayThinkThenRetryEnv@")
        nums = json.loads(test["unit_test"].split("@", 1)[1])["nums"]
        assert test["solve_fc_round"] == 3 * len(nums)  # Observe, n reads, 2(n-1) updates, Done
        assert test["time"] is not None and test["time"] < 0.2 and test["mem"] is not None
    # the winning candidate (the second) replaced the env's own solve; the file keeps its other text
    source = record["gym_env"]
    assert "if current is None:" in source and source.count("def solve(self)") == 1
    assert 'if __name__ == "__main__":' in source
    env_file = run["out"] / "envs" / "Synth_think_then_retry__MaxSubarrayThinkThenRetryEnv.py"
    assert env_file.read_text() == source


def test_survivors_pass_verify_and_feed_build_data(run: dict, tmp_path: Path) -> None:
    records = run["out"] / "records"
    assert main(["verify", str(records), "--report", str(tmp_path / "r.json"), "--workers", "2"]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["summary"] == {"envs": 2, "passed": 2, "failed": 0, "no_configs": 0, "configs_checked": 30}
    assert main(["build-data", "--envs", str(records), "--out", str(tmp_path / "data"), "--format", "openrlhf",
                 "--workers", "2"]) == 0
    rows = [r for f in (tmp_path / "data").glob("*.jsonl") for r in read_rows(f)]
    assert len(rows) == 30
    assert {r["ability"].split("@")[1] for r in rows} == {
        "Synth_good__MaxSubarrayGoodEnv", "Synth_think_then_retry__MaxSubarrayThinkThenRetryEnv"}


def test_a_model_that_fails_leaves_the_problem_unfinished_and_a_rerun_finishes_it(tmp_path: Path) -> None:
    cases = [synth_fake.cases()[0]]
    model = synth_fake.CannedModel(cases)
    problems = synth_fake.write_problems(tmp_path / "p.jsonl", cases)
    with FakeOpenAIServer(model, faults=["500", "500"]) as server:
        assert synthesize(server.url, problems, tmp_path / "out", "--retries", "1", "--retry-backoff", "0") == 1
        summary = json.loads((tmp_path / "out" / "summary.json").read_text())
        assert summary["unfinished"] == 1 and summary["unfinished_reasons"] == {"model_error": 1}
        assert "500" in summary["outcomes"][0]["detail"]
        assert synthesize(server.url, problems, tmp_path / "out", "--progress") == 0
    assert outcomes(tmp_path / "out")["Synth_good"]["status"] == "passed"
    assert model.counts[("Synth_good", "env")] == 1


def _kadane_player(body: dict) -> Reply:
    """A scoring model that plays MaxSubarray envs perfectly: Observe, read every number, submit."""
    observations = [m["content"] for m in body["messages"][2:] if m["role"] != "assistant"]

    def call(name: str, **params: object) -> Reply:
        return Reply("<|FunctionCallBegin|>" + json.dumps([{"name": name, "parameters": params}])
                     + "<|FunctionCallEnd|>")

    if not observations:
        return call("Observe")
    count = json.loads(observations[0])["count"]
    values = [int(o) for o in observations[1:]]
    if len(values) < count:
        return call("GetNumber", index=len(values))
    best = current = values[0]
    for v in values[1:]:
        current = max(v, current + v)
        best = max(best, current)
    return call("Done", answer=best)


def _zero_player(body: dict) -> Reply:
    return Reply('<|FunctionCallBegin|>[{"name": "Done", "parameters": {"answer": 0}}]<|FunctionCallEnd|>')


@pytest.mark.parametrize(("player", "rate", "kept"), [(_zero_player, 1 / 15, True), (_kadane_player, 1.0, False)])
def test_score_with_records_the_pass_rate_and_drops_easy_envs(tmp_path: Path, player, rate: float,
                                                              kept: bool) -> None:
    cases = [synth_fake.cases()[0]]
    problems = synth_fake.write_problems(tmp_path / "p.jsonl", cases)
    with FakeOpenAIServer(synth_fake.CannedModel(cases)) as server, FakeOpenAIServer(player) as scorer:
        assert synthesize(server.url, problems, tmp_path / "out", "--score-with", scorer.url) == 0
        assert len(scorer.chat_requests()) >= 15
    outcome = outcomes(tmp_path / "out")["Synth_good"]
    assert outcome["pass_rate"] == pytest.approx(rate, abs=1e-3)
    if kept:
        record = json.loads(Path(outcome["record"]).read_text())
        assert record["model_pass_rate"] == pytest.approx(rate, abs=1e-3)
    else:
        assert (outcome["gate"], outcome["reason"]) == ("score", "too_easy")


def test_a_rerun_rejudges_stored_replies_under_new_thresholds_and_asks_again_for_new_prompts(
        tmp_path: Path) -> None:
    cases = [synth_fake.cases()[0]]
    model = synth_fake.CannedModel(cases)
    problems = synth_fake.write_problems(tmp_path / "p.jsonl", cases)
    out = tmp_path / "out"
    with FakeOpenAIServer(model) as server:
        assert synthesize(server.url, problems, out) == 0
        asked = dict(model.counts)
        assert synthesize(server.url, problems, out, "--min-unit-tests", "16") == 0
        outcome = outcomes(out)["Synth_good"]
        assert (outcome["gate"], outcome["reason"]) == ("unit_tests", "too_few_unit_tests")
        assert "15 of 15 unit tests pass (need 16" in outcome["detail"]
        assert dict(model.counts) == asked  # judged again from the stored replies
        templates = tmp_path / "prompts"
        templates.mkdir()
        oracle = prompts_mod.load_prompts().templates["oracle"]
        (templates / "oracle.md").write_text(oracle + "\nPrefer short loops.\n")
        assert synthesize(server.url, problems, out, "--prompts", str(templates)) == 0
    assert outcomes(out)["Synth_good"]["status"] == "passed"
    assert model.counts[("Synth_good", "oracle-1")] == 2  # a new prompt gets a new answer
    assert model.counts[("Synth_good", "env")] == model.counts[("Synth_good", "unit_tests")] == 1
