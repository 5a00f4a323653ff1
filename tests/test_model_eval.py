"""`codegym eval --model URL`: real episodes against a served model, over real HTTP to a local fake server."""

from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path

import pytest
from conftest import run
from fake_openai_server import MODEL, FakeOpenAIServer, Reply, ScriptedChat

from codegym_adapters import cli
from codegym_adapters.calls import ToolCall, render_call
from codegym_adapters.episode import Episode, EpisodeConfig
from codegym_adapters.model_client import (
    EXTRA_CALL_OBSERVATION,
    ChatClient,
    ModelRequestError,
    RetryPolicy,
    add_model_arguments,
    chat_base_url,
    eval_with_model,
)
from codegym_adapters.policies import oracle_calls
from codegym_adapters.runtime import make_runtime
from codegym_adapters.tasks import Task

# First fixed configurations of four bundled envs: 11 to 13 oracle calls each.
ENVS = ["Bundled_A01__HouseRobberEnv", "Bundled_A09__MinimumJumpsEnv", "Bundled_B05__ArrayGcdEnv",
        "Bundled_B08__ShipCapacityEnv"]


async def _tasks(runtime) -> list[Task]:
    tasks = []
    for name in ENVS:
        info = await runtime.module_info(runtime.resolve(f"{name}@{{}}"))
        tasks.append(Task.from_env_string(f"{name}@{json.dumps(info['configs'][0])}"))
    return tasks


async def _prepare(native: bool) -> tuple[list[Task], list[str], list[list[ToolCall]]]:
    """The tasks, each one's first user message (what the fake server keys on) and its oracle calls."""
    config = EpisodeConfig(prompt_style="native" if native else "codegym")
    async with make_runtime("inprocess") as runtime:
        tasks = await _tasks(runtime)
        keys, scripts = [], []
        for task in tasks:
            episode = Episode(runtime, task, config)
            prompt = await episode.start()
            await episode.close()
            keys.append(next(m["content"] for m in prompt.messages if m["role"] == "user"))
            scripts.append(await oracle_calls(runtime, task))
    return tasks, keys, scripts


@pytest.fixture(scope="module")
def text_setup():
    return run(_prepare(native=False))


@pytest.fixture(scope="module")
def native_setup():
    return run(_prepare(native=True))


def text_scripts(setup) -> dict[str, list]:
    _, keys, scripts = setup
    return {k: [render_call(c, "codegym") for c in calls] for k, calls in zip(keys, scripts, strict=True)}


def model_args(url: str, *extra: str, out: Path | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_model_arguments(parser)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--concurrency", type=int, default=4)
    argv = ["--model", url, "--retry-backoff", "0.01", *extra]
    return parser.parse_args(argv + (["--out", str(out)] if out else []))


def evaluate(args: argparse.Namespace, tasks: list[Task], config: EpisodeConfig | None = None) -> list[dict]:
    done: list[dict] = []

    async def main() -> list[dict]:
        async with make_runtime("inprocess") as runtime:
            return await eval_with_model(args, runtime, tasks, config or EpisodeConfig(), done.append)

    records = run(main())
    assert len(done) == len(records)
    return records


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_text_calls_solve_every_task_and_write_one_line_per_episode(text_setup, tmp_path):
    tasks, keys, scripts = text_setup
    out = tmp_path / "traj.jsonl"
    with FakeOpenAIServer(ScriptedChat(text_scripts(text_setup))) as server:
        records = evaluate(model_args(server.url, out=out), tasks)
    assert [r["task"] for r in records] == [t.env for t in tasks]
    assert all((r["reward"], r["done_reason"], r["model_error"]) == (1.0, "done", "") for r in records)
    assert [r["turns"] for r in records] == [len(s) for s in scripts]
    assert {r["policy"] for r in records} == {f"model:{MODEL}"}  # name from GET /v1/models
    assert sorted(json.dumps(r, sort_keys=True) for r in read_jsonl(out)) == sorted(
        json.dumps(r, sort_keys=True) for r in records)
    first = records[0]["trajectory"][0]
    assert first["kind"] == "call" and first["call"]["name"] == scripts[0][0].name and first["observation"]
    # the conversation grows by the reply and the observation, fed back as a user message
    last = server.chat_requests(keys[0])[-1].body
    assert "tools" not in last and last["model"] == MODEL and last["max_tokens"] == 4096
    roles = [m["role"] for m in last["messages"]]
    assert roles[:2] == ["system", "user"] and roles[2::2] == ["assistant"] * len(roles[2::2])
    assert set(roles[3::2]) == {"user"}


def test_native_tool_calls_get_tool_messages_with_their_ids(native_setup):
    tasks, keys, scripts = native_setup
    convo = {k: list(calls) for k, calls in zip(keys, scripts, strict=True)}
    # the first task's first reply makes two calls (only the first runs), its second has broken arguments
    convo[keys[0]] = [Reply(tool_calls=[scripts[0][0], ToolCall("Observe", {})]),
                      Reply(tool_calls=[(scripts[0][1].name, '{"broken": ')]), *scripts[0][1:]]
    with FakeOpenAIServer(ScriptedChat(convo, native=True)) as server:
        records = evaluate(model_args(server.url, "--tool-calls", "native"), tasks)
    assert all((r["reward"], r["done_reason"], r["prompt_style"]) == (1.0, "done", "native") for r in records)
    r0 = records[0]
    assert (r0["extra_calls"], r0["invalid_calls"], r0["turns"]) == (1, 1, len(scripts[0]) + 1)
    assert r0["trajectory"][1]["kind"] == "invalid" and "not valid JSON" in r0["trajectory"][1]["observation"]
    assert r0["trajectory"][0]["tool_calls"][0]["id"] == "call_0_0"
    body = server.chat_requests(keys[0])[-1].body
    assert body["tools"] and {t["function"]["name"] for t in body["tools"]} >= {"Observe", "Done"}
    first_reply, *after = body["messages"][2:]
    assert [c["id"] for c in first_reply["tool_calls"]] == ["call_0_0", "call_0_1"]
    assert [(m["role"], m["tool_call_id"]) for m in after[:2]] == [("tool", "call_0_0"), ("tool", "call_0_1")]
    assert after[0]["content"] == r0["trajectory"][0]["observation"]
    assert after[1]["content"] == EXTRA_CALL_OBSERVATION


def test_transient_failures_are_retried_and_lose_nothing(text_setup):
    tasks, _, _ = text_setup
    faults = ["503", "503", "drop", "429", "500", "hang"]
    with FakeOpenAIServer(ScriptedChat(text_scripts(text_setup)), faults=faults, hang_s=3.0) as server:
        # enough retries that one request may meet every fault (which request meets which is up to timing)
        args = model_args(server.url, "--request-timeout", "0.5", "--concurrency", "2", "--retries", "8")
        records = evaluate(args, tasks)
    assert server.faults_served == faults
    assert all((r["reward"], r["model_error"]) == (1.0, "") for r in records)


@pytest.mark.parametrize("fault, message", [("garbage", "not JSON"), ("no-choices", "no choices")])
def test_garbage_replies_end_only_their_episode_with_a_model_error(text_setup, tmp_path, fault, message):
    tasks, keys, _ = text_setup
    scripts = text_scripts(text_setup)
    scripts[keys[1]] = [scripts[keys[1]][0], Reply(fault=fault)]
    out = tmp_path / "traj.jsonl"
    with FakeOpenAIServer(ScriptedChat(scripts)) as server:
        records = evaluate(model_args(server.url, "--retries", "2", out=out), tasks)
    bad = records[1]
    assert (bad["reward"], bad["done_reason"], bad["turns"]) == (0.0, "model_error", 1)
    assert message in bad["model_error"] and bad["error"] == bad["model_error"]
    assert len(server.chat_requests(keys[1])) == 1 + 3  # one good turn, then three tries of the bad one
    assert [r["reward"] for i, r in enumerate(records) if i != 1] == [1.0] * 3
    assert len(read_jsonl(out)) == len(tasks)


def test_client_errors_are_not_retried_and_context_overflow_means_length(text_setup):
    tasks, keys, _ = text_setup
    scripts = text_scripts(text_setup)
    scripts[keys[0]] = [Reply(fault="400")]
    scripts[keys[1]] = [scripts[keys[1]][0], Reply(fault="400-context")]
    with FakeOpenAIServer(ScriptedChat(scripts)) as server:
        records = evaluate(model_args(server.url, "--retries", "3"), tasks[:2])
    assert len(server.chat_requests(keys[0])) == 1
    assert "HTTP 400" in records[0]["model_error"] and records[0]["done_reason"] == "model_error"
    assert (records[1]["done_reason"], records[1]["model_error"], records[1]["turns"]) == ("length", "", 1)


def test_length_finish_and_episode_token_budget_end_with_length(text_setup):
    tasks, keys, _ = text_setup
    scripts = text_scripts(text_setup)
    scripts[keys[0]] = [scripts[keys[0]][0], Reply(scripts[keys[0]][1][:20], finish_reason="length")]
    with FakeOpenAIServer(ScriptedChat(scripts)) as server:
        cut = evaluate(model_args(server.url), tasks[:1])[0]
        budget = evaluate(model_args(server.url, "--max-episode-tokens", "300", "--model-name", "m"), tasks[1:2])[0]
    # the cut turn counts as a turn but is not read or run (the episode's rule, as in both trainers)
    assert (cut["done_reason"], cut["reward"], cut["turns"], cut["valid_calls"]) == ("length", 0.0, 2, 1)
    assert cut["trajectory"][-1]["kind"] == "cut" and cut["trajectory"][-1]["finish_reason"] == "length"
    assert budget["done_reason"] == "length" and 1 <= budget["turns"] < 11
    assert budget["trajectory"][-1]["kind"] == "cut"  # cut off, or over the budget after it
    sent = [r.body["max_tokens"] for r in server.chat_requests(keys[1])]
    assert sent[0] == 300 and all(a >= b for a, b in zip(sent, sent[1:], strict=False))  # capped by what is left


def test_resume_keeps_finished_episodes_and_reruns_the_rest(text_setup, tmp_path):
    tasks, keys, _ = text_setup
    out = tmp_path / "traj.jsonl"
    with FakeOpenAIServer(ScriptedChat(text_scripts(text_setup))) as server:
        full = evaluate(model_args(server.url, out=out), tasks)
    by_task = {r["task"]: r for r in full}
    failed = {**by_task[tasks[2].env], "model_error": "HTTP 503 ...", "reward": 0.0}
    torn = json.dumps(by_task[tasks[3].env])[:50]
    out.write_text("".join(json.dumps(by_task[t.env]) + "\n" for t in tasks[:2]) + json.dumps(failed) + "\n"
                   + json.dumps(by_task[tasks[0].env]) + "\n" + torn)
    with FakeOpenAIServer(ScriptedChat(text_scripts(text_setup))) as server:
        records = evaluate(model_args(server.url, "--resume", out=out), tasks)
    assert [bool(server.chat_requests(k)) for k in keys] == [False, False, True, True]
    assert [r["task"] for r in records] == [t.env for t in tasks]
    assert all(r["reward"] == 1.0 for r in records)
    lines = read_jsonl(out)
    assert sorted(r["task"] for r in lines) == sorted(t.env for t in tasks)


def test_samples_are_keyed_and_the_api_key_is_sent(text_setup, tmp_path, monkeypatch):
    tasks, keys, _ = text_setup
    monkeypatch.setenv("CODEGYM_TEST_KEY", "sk-test")
    out = tmp_path / "traj.jsonl"
    with FakeOpenAIServer(ScriptedChat(text_scripts(text_setup))) as server:
        args = model_args(server.url + "/v1/", "--samples", "2", "--api-key-env", "CODEGYM_TEST_KEY",
                          "--model-name", "served", "--temperature", "0.7", out=out)
        records = evaluate(args, tasks[:2])
        with_resume = evaluate(model_args(server.url, "--samples", "3", "--resume", "--model-name", "served",
                                          out=out), tasks[:2])
    assert [(r["task"], r["sample"]) for r in records] == [(tasks[0].env, 0), (tasks[0].env, 1),
                                                          (tasks[1].env, 0), (tasks[1].env, 1)]
    assert [r["sample"] for r in with_resume] == [0, 1, 2, 0, 1, 2]
    assert len(read_jsonl(out)) == 6
    request = server.chat_requests(keys[0])[0]
    assert request.headers["authorization"] == "Bearer sk-test"
    assert (request.body["model"], request.body["temperature"]) == ("served", 0.7)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_server_is_a_clear_error_or_a_recorded_model_error(text_setup, tmp_path):
    tasks, _, _ = text_setup
    url = f"http://127.0.0.1:{_closed_port()}"
    earlier = tmp_path / "earlier.jsonl"
    earlier.write_text('{"task": "kept"}\n')
    with pytest.raises(ModelRequestError, match="give --model-name"):
        evaluate(model_args(url, "--retries", "1", out=earlier), tasks[:1])
    assert earlier.read_text() == '{"task": "kept"}\n'  # a wrong URL does not empty the output file
    with pytest.raises(ValueError, match="--resume needs --out"):
        evaluate(model_args(url, "--resume"), tasks[:1])
    records = evaluate(model_args(url, "--retries", "1", "--model-name", "m"), tasks[:2])
    assert [(r["done_reason"], r["reward"]) for r in records] == [("model_error", 0.0)] * 2
    assert all("ConnectError" in r["model_error"] for r in records)


@pytest.mark.parametrize("url", ["http://h:8000", "http://h:8000/", "http://h:8000/v1", "http://h:8000/v1/",
                                 "http://h:8000/v1/chat/completions"])
def test_model_url_with_or_without_v1(url):
    assert chat_base_url(url) == "http://h:8000/v1"


def test_model_url_must_be_http():
    with pytest.raises(ValueError, match="http://"):
        chat_base_url("localhost:8000")


def test_backoff_grows_and_honours_retry_after():
    policy = RetryPolicy(retries=3, backoff_s=1.0, max_backoff_s=5.0)
    assert 0.5 <= policy.delay(0) < 1.5 and 2.0 <= policy.delay(2) < 6.0 and policy.delay(10) <= 7.5
    assert policy.delay(0, retry_after=4.0) >= 4.0


def test_client_reads_tool_calls_and_usage():
    async def main():
        with FakeOpenAIServer(lambda body: Reply("thinking", [ToolCall("Observe", {})])) as server:
            async with ChatClient(server.url, retry=RetryPolicy(retries=0)) as client:
                return await client.complete([{"role": "user", "content": "hi"}], max_tokens=100)

    reply = run(main())
    assert reply.content == "thinking" and reply.finish_reason == "tool_calls"
    assert reply.tool_calls == [{"id": "call_0_0", "type": "function",
                                 "function": {"name": "Observe", "arguments": "{}"}}]
    assert reply.usage and reply.usage["completion_tokens"] > 0


def _cli_has_model_flag() -> bool:
    args, _ = cli.build_parser().parse_known_args(["eval", "--model", "http://x"])
    return getattr(args, "model", None) == "http://x"


@pytest.mark.skipif(not _cli_has_model_flag(), reason="cli.py does not wire `codegym eval --model` yet")
def test_cli_eval_against_a_served_model(text_setup, tmp_path, capsys):
    tasks, _, _ = text_setup
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"ability": f"codegym_v1@{t.env}"}) + "\n" for t in tasks))
    out = tmp_path / "traj.jsonl"
    with FakeOpenAIServer(ScriptedChat(text_scripts(text_setup))) as server:
        rc = cli.main(["eval", "--data", str(rows), "--model", server.url, "--out", str(out), "--json",
                       "--retry-backoff", "0.01", "--no-progress"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["episodes"], summary["accuracy"]) == (len(tasks), 1.0)
    assert len(read_jsonl(out)) == len(tasks)

