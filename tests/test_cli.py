"""The `codegym` command on the mistakes a newcomer makes: each bad input is refused with a message that
says what was expected, and a non-zero exit status (issue 14, items 5, 6 and 8)."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest
from conftest import REPO

from codegym_adapters import cli, dry_run, report

HOUSE = "Bundled_A01__HouseRobberEnv"


@pytest.fixture(scope="module")
def one_env(tmp_path_factory) -> Path:
    """A folder holding one bundled env file."""
    folder = tmp_path_factory.mktemp("envs")
    shutil.copy(REPO / "envs" / f"{HOUSE}.py", folder)
    return folder


@pytest.fixture(scope="module")
def rows(one_env, tmp_path_factory) -> Path:
    """Training rows as `codegym build-data` writes them (jsonl and parquet)."""
    out = tmp_path_factory.mktemp("data")
    assert cli.main(["build-data", "--envs", str(one_env), "--out", str(out), "--per-env", "3",
                     "--runtime", "inprocess", "--no-progress"]) == 0
    return out


def _error(capsys, argv: list[str]) -> tuple[int, str]:
    """Exit status and stderr of ``codegym argv`` (argparse usage errors exit through SystemExit)."""
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


# -- report: only episode records ------------------------------------------------------------------
def test_report_refuses_training_rows_and_says_what_it_expects(rows, tmp_path, capsys):
    dest = tmp_path / "bad.html"
    code, err = _error(capsys, ["report", str(rows / "train.jsonl"), "-o", str(dest)])
    assert code == 2 and not dest.exists()
    assert "no episode records" in err and "3 training row(s)" in err
    assert "codegym eval --data" in err and "codegym eval --out" in err


def test_report_refuses_parquet_empty_and_foreign_files(rows, tmp_path, capsys):
    code, err = _error(capsys, ["report", str(rows / "train.parquet"), "-o", str(tmp_path / "p.html")])
    assert code == 2 and "parquet" in err and "episode records" in err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    code, err = _error(capsys, ["report", str(empty), "-o", str(tmp_path / "e.html")])
    assert code == 2 and "empty" in err
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text('{"a": 1}\nnot json\n')
    code, err = _error(capsys, ["report", str(foreign), "-o", str(tmp_path / "f.html")])
    assert code == 2 and "1 other JSON line(s)" in err and "1 line(s) that are not JSON" in err
    code, err = _error(capsys, ["report", str(tmp_path / "missing.jsonl")])
    assert code == 2 and "missing.jsonl" in err


def test_report_will_not_overwrite_its_input(rows, tmp_path, capsys):
    records = tmp_path / "runs.html"  # an input whose default output would be itself
    records.write_text(json.dumps({"task": f"{HOUSE}@{{}}", "reward": 1}) + "\n")
    code, err = _error(capsys, ["report", str(records)])
    assert code == 2 and "is one of the inputs" in err
    assert records.read_text().startswith("{")


def test_report_counts_rows_mixed_into_records_as_skipped(rows, tmp_path, capsys):
    mixed = tmp_path / "mixed.jsonl"
    row = (rows / "train.jsonl").read_text().splitlines()[0]
    mixed.write_text(json.dumps({"task": f"{HOUSE}@{{}}", "reward": 1, "done_reason": "done"}) + "\n" + row + "\n")
    assert cli.main(["report", str(mixed), "-o", str(tmp_path / "m.html")]) == 0
    assert "1 line(s) that are not episode records skipped" in capsys.readouterr().out


# -- --limit and other counts: at least 1 ---------------------------------------------------------------
@pytest.mark.parametrize("value", ["-1", "0", "x"])
def test_eval_limit_must_be_positive(value, capsys):
    code, err = _error(capsys, ["eval", "--limit", value, "--runtime", "inprocess"])
    assert code == 2 and "argument --limit" in err


def test_eval_limit_runs_exactly_that_many(tmp_path, capsys):
    out = tmp_path / "e.jsonl"
    assert cli.main(["eval", "--limit", "2", "--runtime", "inprocess", "--out", str(out), "--json",
                     "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["episodes"] == 2
    assert len(out.read_text().splitlines()) == 2


@pytest.mark.parametrize(("option", "value", "says"), [
    ("--concurrency", "0", "at least 1"), ("--concurrency", "-3", "at least 1"),
    ("--samples", "0", "at least 1"), ("--workers", "0", "at least 1"), ("--max-tokens", "0", "at least 1"),
    ("--max-episode-tokens", "0", "at least 1"), ("--retries", "-1", "at least 0"),
    ("--request-timeout", "0", "above 0"), ("--request-timeout", "inf", "finite"),
    ("--retry-backoff", "-0.5", "at least 0"), ("--retry-backoff", "nan", "finite"),
])
def test_eval_counts_and_seconds_are_refused_out_of_range(option, value, says, capsys):
    # these were accepted silently: --concurrency 0 or --samples 0 still ran every task with the oracle
    code, err = _error(capsys, ["eval", "--limit", "1", "--runtime", "inprocess", option, value])
    assert code == 2 and f"argument {option}" in err and says in err
    assert "leave the option out" not in err or option == "--max-episode-tokens"  # only it has "no limit"


def test_verify_max_configs_is_positive(one_env, capsys):
    code, err = _error(capsys, ["verify", str(one_env), "--runtime", "inprocess", "--report", "",
                                "--max-configs", "-1"])
    assert code == 2 and "argument --max-configs" in err


@pytest.mark.parametrize("value", ["-1", "0"])
def test_report_max_chars_must_be_positive(value, rows, capsys):
    code, err = _error(capsys, ["report", str(rows / "train.jsonl"), "--max-chars", value])
    assert code == 2 and "argument --max-chars" in err


def test_dry_run_limit_is_positive_or_all(capsys):
    parser = argparse.ArgumentParser()
    dry_run.add_run_options(parser)
    for value in ("-1", "0"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--out", "x", "--limit", value])
        assert "argument --limit" in capsys.readouterr().err
    assert parser.parse_args(["--out", "x", "--limit", "all"]).limit == 0  # spread() takes 0 as all rows
    assert parser.parse_args(["--out", "x", "--limit", "5"]).limit == 5
    assert dry_run.spread(10, 0) == list(range(10))


# -- one spelling of where envs come from ---------------------------------------------------------------
def _listed(capsys, argv: list[str]) -> list[str]:
    assert cli.main([*argv, "--json", "--runtime", "inprocess"]) == 0
    return [r["env"] for r in json.loads(capsys.readouterr().out)]


def test_list_takes_envs_like_every_other_command(one_env, capsys):
    assert _listed(capsys, ["list", "--envs", str(one_env)]) == [HOUSE]
    assert _listed(capsys, ["list", str(one_env)]) == [HOUSE]  # the positional spelling still works
    assert len(_listed(capsys, ["list"])) == len(list((REPO / "envs").glob("Bundled_*.py")))


def test_list_of_a_folder_without_envs_is_an_error(tmp_path, capsys):
    code, err = _error(capsys, ["list", "--envs", str(tmp_path), "--runtime", "inprocess"])
    assert code == 2 and "no envs found" in err


def test_show_and_verify_take_envs(one_env, tmp_path, capsys):
    assert cli.main(["show", "HouseRobberEnv", "--envs", str(one_env), "--runtime", "inprocess"]) == 0
    assert f"{HOUSE}  (" in capsys.readouterr().out
    for spelling in (["--envs", str(one_env)], [str(one_env)]):
        assert cli.main(["verify", *spelling, "--runtime", "inprocess", "--generated", "0", "--max-configs", "2",
                         "--report", "", "--no-progress"]) == 0
        assert "1 of 1 envs passed" in capsys.readouterr().out
    code, err = _error(capsys, ["verify", "--runtime", "inprocess"])
    assert code == 2 and "codegym verify PATH" in err


def test_version_is_the_installed_one(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"codegym {cli._version()}"


def test_report_data_lists_envs_without_episodes(rows, tmp_path, capsys):
    records = tmp_path / "r.jsonl"
    records.write_text(json.dumps({"task": "Bundled_B05__ArrayGcdEnv@{'nums': [4, 6]}", "reward": 1}) + "\n")
    summary = report.write_report([records], tmp_path / "r.html", data=[rows / "train.jsonl"])
    assert summary["per_env"][HOUSE]["episodes"] == 0
    assert summary["per_env"]["Bundled_B05__ArrayGcdEnv"]["episodes"] == 1


def test_report_data_must_be_training_rows(tmp_path, capsys):
    records = tmp_path / "r.jsonl"
    records.write_text(json.dumps({"task": "Bundled_B05__ArrayGcdEnv@{'nums': [4, 6]}", "reward": 1}) + "\n")
    code, err = _error(capsys, ["report", str(records), "--data", str(records), "-o", str(tmp_path / "r.html")])
    assert code == 2 and "no training rows" in err


def test_a_closed_pipe_is_not_reported_as_an_error(tmp_path):
    import subprocess
    import sys

    # `true` reads nothing and exits before Python has started: every write meets a closed pipe
    reader = subprocess.run(f"'{sys.executable}' -m codegym_adapters.cli list --runtime inprocess | true; "
                            "echo ${PIPESTATUS[0]}", shell=True, executable="/bin/bash", capture_output=True,
                            text=True, timeout=120, cwd=tmp_path)
    assert reader.stderr == "" and reader.stdout.strip() == "141"


def test_openrlhf_runtime_env_warns_of_a_variable_the_agent_does_not_read(monkeypatch, capsys):
    # a misspelt CODEGYM_* option was forwarded silently and every engine actor ran the default instead
    monkeypatch.setenv("CODEGYM_CALL_FORMT", "hermes")
    monkeypatch.setenv("CODEGYM_INVALID_CALL_POLICY", "stop")
    assert cli.main(["openrlhf-runtime-env"]) == 0
    captured = capsys.readouterr()
    forwarded = json.loads(captured.out)["env_vars"]
    assert forwarded["CODEGYM_CALL_FORMT"] == "hermes" and forwarded["CODEGYM_INVALID_CALL_POLICY"] == "stop"
    assert "CODEGYM_CALL_FORMT is forwarded but the agent does not read it" in captured.err
    assert "did you mean CODEGYM_CALL_FORMAT?" in captured.err
    assert "CODEGYM_INVALID_CALL_POLICY" not in captured.err


@pytest.mark.parametrize(("option", "value"), [("--retries", "-1"), ("--workers", "0"), ("--request-timeout", "0"),
                                               ("--retry-backoff", "-1"), ("--concurrency", "0")])
def test_synthesize_refuses_out_of_range_options_before_anything_runs(option, value, tmp_path, capsys):
    out = tmp_path / "synth"
    code, err = _error(capsys, ["synthesize", "--problems", str(tmp_path / "none.jsonl"),
                                "--model", "http://127.0.0.1:9", "--out", str(out), option, value])
    assert code == 2 and f"argument {option}" in err and not out.exists()


def test_workers_help_says_per_env_source(capsys):
    with pytest.raises(SystemExit):
        cli.main(["eval", "--help"])
    assert "worker processes per env source" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("extra", [["--samples", "3"], ["--temperature", "0.7", "--tool-calls", "native"],
                                   ["--resume"], ["--max-tokens", "100"]])
def test_eval_refuses_served_model_options_without_a_model(extra, capsys):
    # `--samples 3` with a scripted policy ran each task once, silently
    code, err = _error(capsys, ["eval", "--limit", "1", "--runtime", "inprocess", *extra])
    assert code == 2 and "only appl" in err and "--model URL" in err
    assert all(option in err for option in extra if option.startswith("--"))


@pytest.mark.parametrize("port", ["70000", "0", "http"])
def test_serve_port_out_of_range_is_a_usage_error(port, capsys):
    # 70000 used to reach uvicorn's bind() and end in an OverflowError traceback
    code, err = _error(capsys, ["serve", "--port", port])
    assert code == 2 and "argument --port" in err


def test_eval_data_refuses_episode_records_and_says_what_it_expects(tmp_path, capsys):
    # records given as --data used to fail with "row has no CodeGym 'ability' env string"
    records = tmp_path / "runs.jsonl"
    assert cli.main(["eval", "--limit", "2", "--runtime", "inprocess", "--out", str(records), "--no-progress"]) == 0
    capsys.readouterr()
    code, err = _error(capsys, ["eval", "--data", str(records), "--runtime", "inprocess"])
    assert code == 2 and "holds episode records" in err and "codegym build-data" in err
    assert f"codegym report {records}" in err
