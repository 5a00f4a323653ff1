"""`codegym eval` reads turns and rewards them as training does (issue 11, items 4-5): the shared table of
trajectories through `codegym eval --model` against a served (fake) model, hermes replies scored like
the oracle, model failures booked and diagnosed, and `codegym play`'s hint for a person."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fake_openai_server import MODEL, FakeOpenAIServer, Reply, ScriptedChat
from trajectories import ENV, TABLE, cli_flags, groups, oracle_for_table

from codegym_adapters import cli
from codegym_adapters.calls import render_call
from codegym_adapters.policies import CutTurn, oracle_calls
from codegym_adapters.prompts import build_prompt
from codegym_adapters.runtime import make_runtime
from codegym_adapters.tasks import Task


@pytest.fixture(scope="module")
def oracle():
    return asyncio.run(oracle_for_table())


@pytest.fixture(scope="module")
def base_prompt():
    async def build():
        async with make_runtime("inprocess") as runtime:
            async with await runtime.open(ENV) as session:
                return build_prompt("codegym", session.info, "auto").messages
    return asyncio.run(build())


def _tagged(prompt, tag: str) -> list[dict]:
    messages = [dict(m) for m in prompt]
    messages[-1]["content"] = f"[{tag}] {messages[-1]['content']}"
    return messages


def _reply(turn: str) -> Reply | str:
    return Reply(str(turn), finish_reason="length") if isinstance(turn, CutTurn) else turn


def _eval(rows: list[dict], scripts: dict, tmp_path: Path, *flags: str, **server_kw) -> tuple[int, list[dict]]:
    data, out = tmp_path / "rows.jsonl", tmp_path / "episodes.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with FakeOpenAIServer(ScriptedChat(scripts), **server_kw) as server:
        rc = cli.main(["eval", "--data", str(data), "--model", server.url, "--runtime", "inprocess", "--out",
                       str(out), "--json", "--no-progress", "--retry-backoff", "0.01", *flags])
    return rc, [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


@pytest.mark.parametrize("key", list(groups()), ids=lambda k: ",".join(f"{a}={b}" for a, b in k) or "defaults")
def test_eval_gives_each_trajectory_its_table_reward_and_done_reason(key, oracle, base_prompt, tmp_path, capsys):
    table = groups()[key]
    rows = [{"ability": f"codegym_v1@{ENV}", "plugin_call_max_round": t.turn_limit,
             "prompt": _tagged(base_prompt, t.name)} for t in table]
    scripts = {row["prompt"][-1]["content"]: [_reply(x) for x in t.turns(oracle)] for row, t in zip(rows, table, strict=True)}
    rc, records = _eval(rows, scripts, tmp_path, *cli_flags(dict(key)))
    assert rc == 0
    by_tag = {r["prompt"][-1]["content"].split("]")[0][1:]: r for r in records}
    got = {t.name: (by_tag[t.name]["reward"], by_tag[t.name]["done_reason"]) for t in table}
    assert got == {t.name: (pytest.approx(t.reward), t.done_reason) for t in table}
    summary = json.loads(capsys.readouterr().out)
    assert summary["calls_in_reasoning"] == sum(t.done_reason == "no_call" and "reasoning" in t.name for t in table)


def test_the_table_has_what_the_issue_asks_for():
    names = [t.name for t in TABLE]
    assert len(TABLE) >= 20 and len(set(names)) == len(names)
    assert sum("cut" in n for n in names) >= 4 and sum("reasoning" in n for n in names) >= 3
    assert {t.episode.get("invalid_call_policy", "feedback") for t in TABLE} == {"feedback", "penalty", "stop"}


# --- a served model answering in hermes format ----------------------------------------------------

ENVS = ["Bundled_A01__HouseRobberEnv", "Bundled_A09__MinimumJumpsEnv", "Bundled_B05__ArrayGcdEnv"]


@pytest.fixture(scope="module")
def hermes_setup():
    async def build():
        async with make_runtime("inprocess") as runtime:
            rows, scripts = [], {}
            for name in ENVS:
                config = (await runtime.module_info(runtime.resolve(f"{name}@{{}}")))["configs"][0]
                task = Task.from_env_string(f"{name}@{json.dumps(config)}")
                async with await runtime.open(task.env) as session:
                    prompt = build_prompt("codegym", session.info, "auto").messages
                calls = await oracle_calls(runtime, task)
                rows.append({"ability": f"codegym_v1@{task.env}", "prompt": prompt})
                scripts[prompt[-1]["content"]] = [f"<think>ok</think>{render_call(c, 'hermes')}" for c in calls]
            return rows, scripts
    return asyncio.run(build())


def test_eval_of_a_hermes_model_scores_as_the_oracle_does(hermes_setup, tmp_path, capsys):
    rows, scripts = hermes_setup
    rc, records = _eval(rows, scripts, tmp_path)
    assert rc == 0
    model = json.loads(capsys.readouterr().out)
    data = tmp_path / "rows.jsonl"
    assert cli.main(["eval", "--data", str(data), "--policy", "oracle", "--runtime", "inprocess", "--json",
                     "--no-progress"]) == 0
    scripted = json.loads(capsys.readouterr().out)
    assert model["accuracy"] == scripted["accuracy"] == 1.0
    assert [r["done_reason"] for r in records] == ["done"] * len(rows)


# --- a model that cannot be reached ---------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_eval_against_a_closed_port_exits_non_zero_and_says_why_first(hermes_setup, tmp_path, capsys):
    rows, _ = hermes_setup
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    url = f"http://127.0.0.1:{_closed_port()}"
    for extra in ([], ["--model-name", "m"]):
        rc = cli.main(["eval", "--data", str(data), "--model", url, "--runtime", "inprocess", "--no-progress",
                       "--retries", "0", *extra])
        captured = capsys.readouterr()
        assert rc != 0
        first = captured.err.strip().splitlines()[0]
        assert "could not be reached" in first or "failed for any" in first
        assert "ConnectError" in captured.err and "nothing answers at" in captured.err
        assert "env_error" not in captured.out


def test_model_failures_are_model_errors_with_a_diagnosis(hermes_setup, tmp_path, capsys):
    rows, scripts = hermes_setup
    rc, records = _eval(rows, scripts, tmp_path, "--model-name", "no-such-model", check_model=True)
    err = capsys.readouterr().err
    assert rc != 0 and {r["done_reason"] for r in records} == {"model_error"}
    assert "does not exist" in err and "wrong model name" in err
    rc, records = _eval(rows, scripts, tmp_path, "--model-name", MODEL, check_model=True)
    assert rc == 0 and {r["done_reason"] for r in records} == {"done"}


class _NotAnApi(BaseHTTPRequestHandler):
    """A web server that is not a model server: every path is 404 (e.g. a URL with a wrong port or path)."""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "9")
        self.end_headers()
        self.wfile.write(b"Not Found")

    do_POST = do_GET


def test_a_wrong_url_path_is_diagnosed(hermes_setup, tmp_path, capsys):
    rows, _ = hermes_setup
    data = tmp_path / "rows.jsonl"
    data.write_text(json.dumps(rows[0]) + "\n")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _NotAnApi)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        rc = cli.main(["eval", "--data", str(data), "--model", f"http://127.0.0.1:{httpd.server_address[1]}/api",
                       "--model-name", MODEL, "--runtime", "inprocess", "--no-progress", "--retries", "0"])
    finally:
        httpd.shutdown()
        httpd.server_close()
    err = capsys.readouterr().err
    assert rc != 0 and "HTTP 404" in err and "wrong URL" in err


# --- help and play ------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["eval", "play"])
def test_every_option_of_eval_and_play_has_help(command):
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    p = sub.choices[command]
    missing = [a.option_strings or a.dest for a in p._actions if not a.help and a.dest != "help"]
    assert not missing
    if command == "eval":  # it evaluates served models too, not only scripted policies
        assert "scripted policy" in p.description and "served model" in p.description
    assert "--call-format" in p.format_help() and "default: auto" in p.format_help()


def test_play_hints_the_accepted_form_for_done_11(monkeypatch, capsys):
    lines = iter(["Done 11", "Done {\"answer\": 11}"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    rc = cli.main(["play", 'Bundled_A01__HouseRobberEnv@{"houses": [2, 7, 9, 3, 1]}', "--runtime", "inprocess"])
    out = capsys.readouterr().out
    assert rc == 0
    assert 'Hint: give the arguments of Done as a JSON object, for example: Done {"answer": 11}' in out
    assert "No function call found" not in out
    assert "episode over: done" in out and "turns=1" in out  # the typo cost no turn
