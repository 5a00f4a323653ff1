"""`codegym eval --runtime http|ray` as a newcomer drives it: `--runtime-options` reaches the runtime (the
http runtime's server urls), and episodes that all end `env_error` (no env server at the url) are an
error that says why, not a silent accuracy of 0 with exit status 0."""

from __future__ import annotations

import json

import httpx
from serve_support import ServerProcess, free_port

from codegym_adapters import cli


def _run(capsys, argv: list[str]) -> tuple[int, str, str]:
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_eval_on_codegym_serve_through_runtime_options(capsys):
    with ServerProcess(workers=1) as server:
        options = json.dumps({"urls": [server.url]})
        code, out, err = _run(capsys, ["eval", "--limit", "2", "--runtime", "http", "--runtime-options", options,
                                       "--json", "--no-progress"])
        metrics = httpx.get(f"{server.url}/metrics", timeout=10.0).text
    assert code == 0, err
    summary = json.loads(out)
    assert summary["episodes"] == 2 and summary["accuracy"] == 1.0
    steps = [line for line in metrics.splitlines() if line.startswith("codegym_steps_total ")]
    assert steps and float(steps[0].split()[1]) > 0  # the steps ran on that server


def test_eval_where_no_env_server_answers_is_an_error_with_the_cause(capsys):
    url = f"http://127.0.0.1:{free_port()}"
    options = json.dumps({"urls": [url], "retries": 1})
    code, out, err = _run(capsys, ["eval", "--limit", "2", "--runtime", "http", "--runtime-options", options,
                                   "--no-progress"])
    assert code == 1
    assert "all 2 episodes ended env_error" in err and url in err
    assert "env_error=2" in out


def test_runtime_options_must_be_a_json_object_the_runtime_takes(capsys):
    code, _, err = _run(capsys, ["eval", "--limit", "1", "--runtime", "inprocess", "--runtime-options", "[1]"])
    assert code == 2 and "argument --runtime-options: expected a JSON object" in err
    code, _, err = _run(capsys, ["eval", "--limit", "1", "--runtime", "inprocess", "--runtime-options", "{urls"])
    assert code == 2 and "not valid JSON" in err
    code, _, err = _run(capsys, ["eval", "--limit", "1", "--runtime", "inprocess",
                                 "--runtime-options", '{"urlz": 1}'])
    assert code != 0 and "--runtime-options" in err and "urlz" in err
