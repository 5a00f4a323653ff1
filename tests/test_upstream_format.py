"""Tried as a new user would: a folder of envs written in the upstream CodeGym file format.

``tests/envs_upstream/`` holds seven env files and one verified-record JSON, written in the upstream
format with none of our extensions (no TASK, CONFIGS or generate_config). Between them they have the
quirks of ``codegym-format.md`` sections 1 and 5: ``Done`` is not terminal, strict ``==`` answers (a
string answer and a list answer), state kept across actions, actions that call ``self.step`` themselves,
a memo shared by an action and ``get_ref_answer``, ``reset`` falling back to empty defaults on wrong
keys, options holding "@" and booleans/None, docstrings saying "itself"/"self", a ``solve()`` with a
``while True`` loop, defaults that crash (``GridPathCountEnv()`` raises), options only its constructor
can decode (``TreeDepthEnv`` turns nested lists into nodes), and self-test blocks with example env
strings (the only configurations the folder carries).

Expected numbers come from the envs themselves: each configuration's ``solve()`` is run directly on an
instance built as upstream builds it (loaded here without the core); its top-level ``step`` calls (the
turns a model needs) and its ``step_count`` (upstream's ``solve_fc_round``) are counted.
"""

from __future__ import annotations

import ast
import asyncio
import json
import subprocess
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from codegym_adapters import cli
from codegym_adapters.calls import ToolCall, render_call
from codegym_adapters.catalog import Catalog, read_rows
from codegym_adapters.episode import Episode, EpisodeConfig
from codegym_adapters.policies import ScriptedPolicy, get_policy
from codegym_adapters.rollout import run_episode, run_episodes
from codegym_adapters.runtime import make_runtime
from codegym_adapters.runtime.base import Runtime
from codegym_adapters.tasks import Task
from codegym_adapters.tools import Action, openai_tools, tool_listing

FOLDER = Path(__file__).resolve().parent / "envs_upstream"
RECORD = json.loads((FOLDER / "Leetcode_90006_I__LongestRunEnv.json").read_text(encoding="utf-8"))

# every configuration, in the spelling a user would write (JSON and Python literals both appear)
CONFIGS: dict[str, list[str]] = {
    "Leetcode_90001_I__StairClimbEnv": [
        '{"n": 6, "moves": [1, 2]}',
        '{"n": 9, "moves": [1, 3, 4]}',
        "{'n': 15, 'moves': [2, 5]}",
        '{"n": 0, "moves": [1]}',
        '{"stairs": 6, "steps": [1, 2]}',  # wrong keys: reset silently falls back to n=0, moves=[]
    ],
    "Codeforces_90002_I__LargestNumberEnv": [
        '{"digits": "30451"}',
        '{"digits": "3"}',  # the answer is the string "3", not the number 3
        '{"digits": "0070"}',
        '{"digits": "99887766554433221100"}',
    ],
    "Leetcode_90003_I__MentionCounterEnv": [
        '{"text": "ping @ann, @bob and @ carol@home", "symbol": "@", "ignore_case": false, "limit": null}',
        "{'text': 'mail@me@@now', 'symbol': '@', 'ignore_case': True, 'limit': 2}",
        '{"text": "Banana BANDANA", "symbol": "an", "ignore_case": true, "limit": null}',
        '{"text": "x@y", "symbol": "@@", "ignore_case": false, "limit": 0}',
    ],
    "Codeforces_90004_I__TribonacciMemoEnv": [
        '{"n": 12}',
        '{"n": 40, "modulo": 1000}',
        '{"n": 3}',
        "{'n': 75, 'modulo': 97}",
    ],
    "Leetcode_90005_I__PairSumPointerEnv": [
        '{"nums": [1, 3, 4, 6, 8, 11], "target": 10}',
        '{"nums": [2, 5, 9, 12], "target": 100}',
        '{"nums": [-7, -3, 0, 2, 5, 9, 14, 20], "target": 7}',
        '{"nums": [4], "target": 4}',
    ],
    "Leetcode_90007_I__GridPathCountEnv": [
        '{"grid": ["....", ".#..", "...."]}',
        "{'grid': ['.....', '..#..', '.....', '#....']}",
    ],
    "Codeforces_90008_I__TreeDepthEnv": [
        "{'tree': [1, [[2, []], [3, [[4, []]]]]]}",
        '{"tree": [5, []]}',
    ],
}
# the record's own unit tests, in their "<ClassName>@<options>" spelling
RECORD_ENV_STRINGS = [unit["unit_test"] for unit in RECORD["unit_test_list"]]
ENV_STRINGS = [f"codegym_v1@{name}@{opts}" for name, options in CONFIGS.items() for opts in options]
ENV_STRINGS += RECORD_ENV_STRINGS
# env name -> index of its first configuration in ENV_STRINGS
CONFIG_INDEX = {name: ENV_STRINGS.index(f"codegym_v1@{name}@{options[0]}") for name, options in CONFIGS.items()}


# -- the envs, run directly (no core code involved) -----------------------------------------------
def _source_of(class_name: str) -> str:
    if class_name == RECORD["env_name"]:
        return RECORD["gym_env"]
    (path,) = FOLDER.glob(f"*__{class_name}.py")
    return path.read_text(encoding="utf-8")


@cache
def env_class(class_name: str) -> type:
    namespace: dict[str, Any] = {"__name__": f"direct_{class_name}"}
    exec(compile(_source_of(class_name), class_name, "exec"), namespace)  # trusted test envs
    return namespace[class_name]


def split_env_string(env_string: str) -> tuple[str, dict[str, Any]]:
    """Class name and options, parsed here independently of the core."""
    if env_string.startswith("codegym_v1@"):
        env_string = env_string[len("codegym_v1@"):]
    name, _, options = env_string.partition("@")
    try:
        parsed = json.loads(options)
    except ValueError:
        parsed = ast.literal_eval(options)
    return name.split("__")[-1], parsed


def fresh_env(env_string: str) -> Any:
    """Built as upstream builds it (``from_env_str``), except for options with "@", which upstream's
    split would cut: those are passed to ``reset`` directly."""
    class_name, options = split_env_string(env_string)
    if "@" not in repr(options):
        return env_class(class_name).from_env_str(f"{class_name}@{options!r}")
    env = env_class(class_name)()
    env.reset(options)
    return env


@cache
def direct_solve(env_string: str) -> tuple[tuple[tuple[str, str], ...], float, int]:
    """(top-level calls of solve() as (name, parameters JSON), final reward, env.step_count)."""
    env = fresh_env(env_string)
    calls: list[tuple[str, str]] = []
    depth = 0
    inner = env.step

    def counting_step(action: str):
        nonlocal depth
        if depth == 0:
            data = json.loads(action)
            calls.append((data["name"], json.dumps(data["parameters"], sort_keys=True)))
        depth += 1
        try:
            return inner(action)
        finally:
            depth -= 1

    env.step = counting_step
    env.solve()
    return tuple(calls), env.reward, env.step_count


def solve_count(env_string: str) -> int:
    return len(direct_solve(env_string)[0])


def test_the_envs_themselves_have_the_quirks() -> None:
    for env_string in ENV_STRINGS:
        calls, reward, _ = direct_solve(env_string)
        assert reward == 1.0, env_string
        assert calls[-1][0] == "Done"
    # recursive self.step calls make step_count larger than the number of top-level calls
    _, _, step_count = direct_solve(ENV_STRINGS[CONFIG_INDEX["Codeforces_90004_I__TribonacciMemoEnv"]])
    assert step_count > solve_count(ENV_STRINGS[CONFIG_INDEX["Codeforces_90004_I__TribonacciMemoEnv"]])
    # Done is not terminal: it can be called again, overwrites the reward, and other actions still work
    env = fresh_env('StairClimbEnv@{"n": 6, "moves": [1, 2]}')
    assert env.step(json.dumps({"name": "Done", "parameters": {"answer": 12}}))[1].endswith("reward=0")
    assert env.finished and env.reward == 0.0
    assert env.step(json.dumps({"name": "Observe", "parameters": {}}))[1] == '{"n": 6, "moves": [1, 2]}'
    assert env.step(json.dumps({"name": "Done", "parameters": {"answer": 13}}))[1].endswith("reward=1")
    assert env.reward == 1.0
    # the upstream option parsing breaks on "@" in strings and on JSON literals
    for env_string in (ENV_STRINGS[CONFIG_INDEX["Leetcode_90003_I__MentionCounterEnv"]],
                       'StairClimbEnv@{"n": 1, "moves": [1], "fast": true}'):
        cls = env_class(split_env_string(env_string)[0])
        with pytest.raises((ValueError, SyntaxError)):
            cls.from_env_str(env_string.removeprefix("codegym_v1@").split("__")[-1])


# -- through the core -----------------------------------------------------------------------------
def run(coro):
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.from_paths([FOLDER])


async def _episodes(catalog: Catalog, policy: ScriptedPolicy, env_strings: Sequence[str], **kw: Any) -> list[dict]:
    async with make_runtime("inprocess", catalog) as runtime:
        tasks = [Task.from_env_string(s) for s in env_strings]
        return await run_episodes(runtime, tasks, policy, keep_trajectory=True, **kw)


def test_catalog_of_the_folder(catalog: Catalog) -> None:
    assert sorted(s.name for s in catalog) == sorted([*CONFIGS, "Leetcode_90006_I__LongestRunEnv"])

    async def actions() -> dict[str, list[Action]]:
        async with make_runtime("inprocess", catalog) as runtime:
            out = {}
            for spec in catalog:  # with a valid configuration: some envs' defaults crash
                first = next(s for s in ENV_STRINGS if split_env_string(s)[0] == spec.class_name)
                async with await runtime.open(first) as session:
                    out[spec.class_name] = session.info.actions
            return out

    for class_name, actions_ in run(actions()).items():
        assert [a.name for a in actions_] == list(
            fresh_env(next(s for s in ENV_STRINGS if split_env_string(s)[0] == class_name)).func_mapping)
        for tool in openai_tools(actions_):
            assert "self" not in tool["function"]["parameters"]["properties"]
        assert "Example Output" not in tool_listing(actions_)


def test_oracle_reaches_reward_1_in_exactly_the_solve_calls(catalog: Catalog) -> None:
    records = run(_episodes(catalog, get_policy("oracle"), ENV_STRINGS))
    assert len(records) == len(ENV_STRINGS) == 29
    for env_string, record in zip(ENV_STRINGS, records, strict=True):
        expected_calls, _, _ = direct_solve(env_string)
        assert record["done_reason"] == "done", (env_string, record)
        assert record["reward"] == 1.0 and record["env_reward"] == 1.0, (env_string, record)
        assert record["turns"] == len(expected_calls) == record["valid_calls"], env_string
        assert record["invalid_calls"] == 0 and record["env_errors"] == 0 and record["error_observations"] == 0
        made = tuple((t["call"]["name"], json.dumps(t["call"]["arguments"], sort_keys=True)) for t in record["trajectory"])
        assert made == expected_calls, env_string
        assert record["trajectory"][-1]["observation"].endswith("reward=1")


def test_wrong_policy_gets_0(catalog: Catalog) -> None:
    records = run(_episodes(catalog, get_policy("wrong"), ENV_STRINGS))
    for env_string, record in zip(ENV_STRINGS, records, strict=True):
        assert record["done_reason"] == "done", env_string
        assert record["reward"] == 0.0 and record["env_reward"] == 0.0, env_string
        assert [t["call"]["name"] for t in record["trajectory"]] == ["Observe", "Done"]
        assert record["trajectory"][-1]["observation"].endswith("reward=0")


class Scripted(ScriptedPolicy):
    name = "scripted"

    def __init__(self, turns: Sequence[ToolCall | str]) -> None:
        super().__init__()
        self.turns = list(turns)

    async def calls(self, runtime: Runtime, task: Task, info: Any) -> list[ToolCall | str]:
        return list(self.turns)


STAIRS = 'codegym_v1@Leetcode_90001_I__StairClimbEnv@{"n": 6, "moves": [1, 2]}'  # answer 13


@pytest.mark.parametrize(
    "answers, reward",
    [([12, 13], 0.0), ([13, 12], 1.0), (["13", 13], 0.0)],
)
def test_episode_ends_at_the_first_done(catalog: Catalog, answers: list[Any], reward: float) -> None:
    turns = [ToolCall("Done", {"answer": a}) for a in answers] + [ToolCall("Observe", {})]
    (record,) = run(_episodes(catalog, Scripted(turns), [STAIRS]))
    assert record["done_reason"] == "done"
    assert record["reward"] == reward
    assert record["turns"] == len(record["trajectory"]) == 1
    assert record["valid_calls"] == 1


def test_calls_after_done_never_reach_the_env(catalog: Catalog) -> None:
    async def main() -> None:
        async with make_runtime("inprocess", catalog) as runtime:
            episode = Episode(runtime, Task.from_env_string(STAIRS), EpisodeConfig(end_on_no_call=False))
            await episode.start()
            first = await episode.step(render_call(ToolCall("Done", {"answer": 12}), "codegym"))
            assert first.done and first.reward == 0.0 and first.done_reason == "done"
            again = await episode.step(render_call(ToolCall("Done", {"answer": 13}), "codegym"))
            assert again.done and again.reward == 0.0
            assert episode.session is not None
            assert await episode.session.attribute("step_count") == 1
            assert await episode.session.attribute("reward") == 0.0
            assert episode.summary()["turns"] == 1
            await episode.close()

    run(main())


@pytest.mark.parametrize("fmt", ["codegym", "hermes", "json"])
@pytest.mark.parametrize(
    "env_string, answer, reward",
    [
        ('Codeforces_90002_I__LargestNumberEnv@{"digits": "3"}', "3", 1.0),
        ('Codeforces_90002_I__LargestNumberEnv@{"digits": "3"}', 3, 0.0),
        ('Codeforces_90002_I__LargestNumberEnv@{"digits": "0070"}', "7000", 1.0),
        ('Codeforces_90002_I__LargestNumberEnv@{"digits": "0070"}', 7000, 0.0),
        (STAIRS, 13, 1.0),
        (STAIRS, "13", 0.0),
        ('PairSumPointerEnv@{"nums": [1, 3, 4, 6, 8, 11], "target": 10}', [2, 3], 1.0),
        ('PairSumPointerEnv@{"nums": [1, 3, 4, 6, 8, 11], "target": 10}', "[2, 3]", 0.0),
    ],
)
def test_strict_answers_pass_through_unchanged(
    catalog: Catalog, fmt: str, env_string: str, answer: Any, reward: float
) -> None:
    text = render_call(ToolCall("Done", {"answer": answer}), fmt)
    (record,) = run(_episodes(catalog, Scripted([text]), [env_string]))
    assert record["trajectory"][0]["call"]["arguments"] == {"answer": answer}
    assert type(record["trajectory"][0]["call"]["arguments"]["answer"]) is type(answer)
    assert (record["done_reason"], record["reward"]) == ("done", reward)


def test_string_encoded_arguments_keep_their_types(catalog: Catalog) -> None:
    text = '<tool_call>{"name": "Done", "arguments": "{\\"answer\\": \\"3\\"}"}</tool_call>'
    (record,) = run(_episodes(catalog, Scripted([text]), ['LargestNumberEnv@{"digits": "3"}']))
    assert record["reward"] == 1.0


@pytest.mark.parametrize(
    "env_string",
    [
        'codegym_v1@Leetcode_90003_I__MentionCounterEnv@{"text": "a@b @@ c@", "symbol": "@", "ignore_case": true, "limit": null}',
        "Leetcode_90003_I__MentionCounterEnv@{'text': 'a@b @@ c@', 'symbol': '@', 'ignore_case': True, 'limit': None}",
        'MentionCounterEnv@{"text": "a@b @@ c@", "symbol": "@", "ignore_case": true, "limit": null}',
    ],
)
def test_options_with_at_signs_and_json_literals(catalog: Catalog, env_string: str) -> None:
    expected = {"text": "a@b @@ c@", "symbol": "@", "ignore_case": True, "limit": None}

    async def main() -> None:
        async with make_runtime("inprocess", catalog) as runtime:
            async with await runtime.open(env_string) as session:
                assert session.info.options == expected
                observed = await session.step(ToolCall("Observe", {}))
                assert json.loads(observed.observation) == {"length": 9, "symbol": "@", "ignore_case": True,
                                                            "limit": None}
                assert (await session.step(ToolCall("CharAt", {"index": 1}))).observation == "@"
                done = await session.step(ToolCall("Done", {"answer": 4}))
                assert done.finished and done.reward == 1.0

    run(main())


def test_reset_falls_back_silently_on_wrong_keys(catalog: Catalog) -> None:
    env_string = 'Leetcode_90001_I__StairClimbEnv@{"stairs": 6, "steps": [1, 2]}'

    async def main() -> dict:
        async with make_runtime("inprocess", catalog) as runtime:
            async with await runtime.open(env_string) as session:
                assert session.info.options == {"stairs": 6, "steps": [1, 2]}
                assert (await session.step(ToolCall("Observe", {}))).observation == '{"n": 0, "moves": []}'
            return await run_episode(runtime, Task.from_env_string(env_string), get_policy("oracle"))

    record = run(main())
    assert (record["reward"], record["turns"], record["error"]) == (1.0, 5, "")


def test_recursive_step_and_shared_memo(catalog: Catalog) -> None:
    async def main() -> None:
        async with make_runtime("inprocess", catalog) as runtime:
            episode = Episode(runtime, Task.from_env_string('TribonacciMemoEnv@{"n": 12}'))
            await episode.start()
            assert episode.session is not None
            turn = await episode.step(render_call(ToolCall("ComputeUpTo", {"k": 6}), "codegym"))
            assert turn.observation == "13" and not turn.done
            assert episode.metrics.turns == 1 and episode.metrics.valid_calls == 1
            assert await episode.session.attribute("step_count") == 5  # 1 call + 4 nested Compute calls
            # get_ref_answer fills the memo the actions read: T(12) becomes readable without computing it
            assert await episode.session.attribute("get_ref_answer") == 504
            turn = await episode.step(render_call(ToolCall("Lookup", {"k": 12}), "codegym"))
            assert turn.observation == "504"
            turn = await episode.step(render_call(ToolCall("Done", {"answer": 504}), "codegym"))
            assert turn.done and turn.reward == 1.0 and episode.metrics.turns == 3
            await episode.close()

    run(main())


# -- the CLI --------------------------------------------------------------------------------------
def training_rows(env_strings: Sequence[str], *, with_source: bool = False) -> list[dict]:
    rows = []
    for i, env_string in enumerate(env_strings):
        ability = env_string if env_string.startswith("codegym_v1@") else f"codegym_v1@{env_string}"
        extra: dict[str, Any] = {"index": i, "solve_fc_round": solve_count(env_string),
                                 "qwen32b_Bo4_score": 0.0, "qwen32b_Bo8_score": 0.0}
        if with_source:
            extra["gym_env"] = _source_of(split_env_string(env_string)[0])
        rows.append({
            "data_source": "codegym_v1",
            "prompt": [{"role": "system", "name": "functions", "content": "Function: ..."},
                       {"role": "user", "content": "Solve the task."}],
            "ability": ability,
            "reward_model": {"style": "agent_env", "ground_truth": None},
            "answer": "placeholder",
            "plugin_call_max_round": 256,
            "extra_info": extra,
        })
    return rows


def write_jsonl(path: Path, rows: Sequence[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_parquet(path: Path, rows: Sequence[dict]) -> Path:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.Table.from_pylist(list(rows)), path)
    return path


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert cli.main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["list", str(FOLDER)]) == 0
    out = capsys.readouterr().out
    assert "8 envs" in out and "ERROR" not in out
    assert "Observe, InitTable, FillEntry, ReadEntry, Done" in out
    listed = cli_json(capsys, "list", str(FOLDER), "--json")
    assert {r["env"]: r["actions"] for r in listed}["Leetcode_90005_I__PairSumPointerEnv"] == [
        "Observe", "ReadPointers", "MoveLeft", "MoveRight", "Done"]


def test_cli_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["show", "StairClimbEnv", "--envs", str(FOLDER)]) == 0
    out = capsys.readouterr().out
    assert "Leetcode_90001_I__StairClimbEnv" in out
    assert "def FillEntry(i: int):" in out and "def Observe():" in out
    assert "refers to itself" in out and "self-referential" in out and "the entry itself is overwritten" in out
    assert "Example Output" not in out and "self," not in out and "(self" not in out
    assert cli.main(["show", "LongestRunEnv", "--envs", str(FOLDER)]) == 0
    assert RECORD["gym_task"] in capsys.readouterr().out
    assert cli.main(["show", "StairClimEnv", "--envs", str(FOLDER)]) == 2
    assert "did you mean" in capsys.readouterr().err


def test_cli_eval_oracle_and_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_jsonl(tmp_path / "rows.jsonl", training_rows(ENV_STRINGS))
    n = len(ENV_STRINGS)
    summary = cli_json(capsys, "eval", "--data", str(data), "--envs", str(FOLDER), "--json")
    assert summary["episodes"] == n
    assert summary["accuracy"] == 1.0 and summary["avg_reward"] == 1.0
    assert summary["avg_turns"] == pytest.approx(sum(map(solve_count, ENV_STRINGS)) / n)
    assert summary["invalid_call_rate"] == 0.0
    assert summary["done_reasons"]["done"] == n
    summary = cli_json(capsys, "eval", "--data", str(data), "--envs", str(FOLDER), "--json", "--policy", "wrong")
    assert (summary["episodes"], summary["accuracy"], summary["avg_reward"], summary["avg_turns"]) == (n, 0.0, 0.0, 2.0)


def test_cli_eval_rows_that_carry_their_envs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # training rows with extra_info.gym_env: no --envs needed
    data = write_parquet(tmp_path / "train.parquet", training_rows(ENV_STRINGS, with_source=True))
    summary = cli_json(capsys, "eval", "--data", str(data), "--json")
    assert (summary["episodes"], summary["accuracy"]) == (len(ENV_STRINGS), 1.0)
    # hub-style envs_* rows (env_code, env_name, source) as the env source, plain rows as the data
    hub = [{"env_code": _source_of(name.split("__")[1]), "env_name": name.split("__")[1], "source": name.split("__")[0]}
           for name in CONFIGS]
    for path in (write_jsonl(tmp_path / "envs_en.jsonl", hub), write_parquet(tmp_path / "envs_en.parquet", hub)):
        data = write_jsonl(tmp_path / "rows.jsonl", training_rows(ENV_STRINGS[:-len(RECORD_ENV_STRINGS)]))
        summary = cli_json(capsys, "eval", "--data", str(data), "--envs", str(path), "--json")
        assert (summary["episodes"], summary["accuracy"]) == (len(ENV_STRINGS) - len(RECORD_ENV_STRINGS), 1.0)


def codegym_command() -> list[str]:
    script = Path(sys.executable).with_name("codegym")
    return [str(script)] if script.exists() else [sys.executable, "-m", "codegym_adapters.cli"]


def test_cli_play_from_stdin(tmp_path: Path) -> None:
    lines = ["Observe", ":tools", 'Done {"answer": "13"}', 'Done {"answer": 13}', ""]
    proc = subprocess.run(
        [*codegym_command(), "play", 'StairClimbEnv@{"n": 6, "moves": [1, 2]}', "--envs", str(FOLDER)],
        input="\n".join(lines), capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert '{"n": 6, "moves": [1, 2]}' in out  # Observe's answer
    assert "def FillEntry(i: int):" in out  # :tools
    assert "Your answer: 13, Reference answer: 13, Result: Incorrect, reward=0" in out  # "13" is not 13
    assert "Result: Correct" not in out  # the episode ended at the first Done
    assert "episode over: done, reward=0.0, turns=2" in out

    proc = subprocess.run(
        [*codegym_command(), "play",
         'codegym_v1@MentionCounterEnv@{"text": "a@b @@ c@", "symbol": "@", "ignore_case": true, "limit": null}',
         "--envs", str(FOLDER)],
        input='Observe\nDone {"answer": 4}\n', capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert '{"length": 9, "symbol": "@", "ignore_case": true, "limit": null}' in proc.stdout
    assert "episode over: done, reward=1.0, turns=2" in proc.stdout


def test_cli_eval_1000_oracle_episodes_with_progress(tmp_path: Path) -> None:
    env_strings = [ENV_STRINGS[i % len(ENV_STRINGS)] for i in range(1000)]
    data = write_jsonl(tmp_path / "rows.jsonl", training_rows(env_strings))
    proc = subprocess.run(
        [*codegym_command(), "eval", "--data", str(data), "--envs", str(FOLDER), "--policy", "oracle",
         "--progress", "--json"],
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["episodes"] == 1000
    assert summary["accuracy"] == 1.0 and summary["avg_reward"] == 1.0
    assert summary["avg_turns"] == pytest.approx(sum(map(solve_count, env_strings)) / 1000)
    assert summary["done_reasons"]["done"] == 1000 and summary["env_errors"] == 0
    assert "1000/1000" in proc.stderr and "100%" in proc.stderr  # the progress bar, on stderr


# -- parity with the paper's setup (issue 12) ------------------------------------------------------
GRID = "codegym_v1@Leetcode_90007_I__GridPathCountEnv@" + CONFIGS["Leetcode_90007_I__GridPathCountEnv"][0]
TREE = "codegym_v1@Codeforces_90008_I__TreeDepthEnv@" + CONFIGS["Codeforces_90008_I__TreeDepthEnv"][0]


def test_the_new_envs_break_the_old_way_of_building() -> None:
    # a bare GridPathCountEnv() runs reset({}) first, which raises; TreeDepthEnv's reset cannot read
    # the options dict itself: only its constructor decodes the tree
    with pytest.raises(KeyError):
        env_class("GridPathCountEnv")()
    with pytest.raises(KeyError):
        env_class("TreeDepthEnv")().reset(split_env_string(TREE)[1])


@pytest.mark.parametrize("runtime_name", ["inprocess", "sandbox"])
def test_envs_are_built_the_upstream_way_in_every_runtime(catalog: Catalog, runtime_name: str) -> None:
    async def main() -> tuple[list[str], list[dict]]:
        async with make_runtime(runtime_name, catalog) as runtime:
            async with await runtime.open(TREE) as session:
                seen = [(await session.step(ToolCall(name, args))).observation
                        for name, args in (("Observe", {}), ("Children", {"node": 0}), ("Value", {"node": 3}))]
                assert session.info.reset_observation == "Environment has been reset."
            records = await run_episodes(runtime, [Task.from_env_string(s) for s in (GRID, TREE)], get_policy("oracle"))
            return seen, records

    seen, records = run(main())
    assert seen == ["4", "[1, 2]", "4"]  # nodes 1, 2, 3 (=value 4) exist only as the constructor decoded them
    assert [(r["done_reason"], r["reward"]) for r in records] == [("done", 1.0), ("done", 1.0)]
    assert [r["turns"] for r in records] == [solve_count(GRID), solve_count(TREE)]


def test_construct_ways_for_envs_outside_the_upstream_template() -> None:
    from codegym_adapters.construct import build_env

    namespace: dict[str, Any] = {}
    exec(  # trusted test code: three classes, one per way of building
        "import json\n"
        "class Plain:\n"
        "    def __init__(self):\n        self.reset()\n"
        "    def reset(self, options={}):\n        self.n = options['n']\n        return f'n={self.n}'\n"
        "class JsonOnly:\n"
        "    def __init__(self, env_str=None):\n"
        "        self.options = json.loads(env_str.split('@', 1)[1]) if env_str else {}\n"
        "    @staticmethod\n"
        "    def from_env_str(env_str):\n        return JsonOnly(env_str)\n"
        "class ByConstructor:\n"
        "    def __init__(self, env_str):\n        self.text = env_str\n        self.reset()\n"
        "    def reset(self):\n        return 'ready'\n",
        namespace,
    )
    env, text = build_env(namespace["Plain"], {"n": 3})  # its default reset() would raise KeyError
    assert (env.n, text) == (3, "n=3")
    env, _ = build_env(namespace["JsonOnly"], {"flag": True, "none": None})  # rejects the Python literal
    assert env.options == {"flag": True, "none": None}
    env, text = build_env(namespace["ByConstructor"], {"k": [1]})
    assert (env.text, text) == ("ByConstructor@{'k': [1]}", "ready")
    env, text = build_env(namespace["Plain"], {"n": "a@b"})  # "@" cannot travel in an env string
    assert (env.n, text) == ("a@b", "n=a@b")


def test_solve_fc_round_counts_nested_steps_as_upstream(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report_path = tmp_path / "report.json"
    assert cli.main(["verify", str(FOLDER), "--runtime", "inprocess", "--report", str(report_path)]) == 0
    envs = {e["env"]: e for e in json.loads(report_path.read_text())["envs"]}
    for name in ("Leetcode_90007_I__GridPathCountEnv", "Codeforces_90004_I__TribonacciMemoEnv"):
        for config in envs[name]["configs"]:
            env_string = f"{name}@{json.dumps(config['options'])}"
            calls, _, step_count = direct_solve(env_string)
            assert (config["solve_fc_round"], config["oracle_turns"]) == (step_count, len(calls))
        assert any(c["solve_fc_round"] > c["oracle_turns"] for c in envs[name]["configs"])
    # build-data filters on upstream's count: the grid's 6 top-level calls are 33 steps, kept by 10..256
    capsys.readouterr()
    out = tmp_path / "data"
    assert cli.main(["build-data", "--envs", str(FOLDER / "Leetcode_90007_I__GridPathCountEnv.py"), "--out", str(out),
                     "--allow-missing-task", "--runtime", "inprocess", "--format", "openrlhf"]) == 0
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    expected = []
    for r in rows:
        calls, _, step_count = direct_solve(r["ability"])
        expected.append((step_count, len(calls)))
        assert len(calls) < 10 <= step_count
    assert [(r["extra_info"]["solve_fc_round"], r["extra_info"]["oracle_turns"]) for r in rows] == expected
    assert len(rows) == 2


def test_verify_without_a_configuration_file_uses_the_self_test_env_strings(tmp_path: Path) -> None:
    from codegym_adapters.envfile import example_env_strings

    folder = tmp_path / "only_files"
    folder.mkdir()
    for path in FOLDER.glob("*.py"):
        (folder / path.name).write_text(path.read_text())
    report_path = tmp_path / "report.json"
    assert cli.main(["verify", str(folder), "--report", str(report_path), "--jobs", "2"]) == 0  # sandbox
    report = json.loads(report_path.read_text())
    assert report["summary"]["passed"] == report["summary"]["envs"] == 7
    for env in report["envs"]:
        class_name = env["env"].split("__")[1]
        examples = example_env_strings(_source_of(class_name), class_name)
        assert len(examples) >= 1, class_name
        assert env["configs_checked"] >= 1 and {c["source"] for c in env["configs"]} == {"example"}


def test_example_env_strings_are_read_without_running_the_file(tmp_path: Path) -> None:
    from codegym_adapters.envfile import example_env_strings, known_option_keys

    marker = tmp_path / "ran"
    source = (f"class E:\n    def reset(self, options={{}}):\n        self.a = options.get('alpha', 1)\n"
              f"if __name__ == '__main__':\n"
              f"    open({str(marker)!r}, 'w').write('x')\n"
              f"    raise SystemExit(E.from_env_str('E@{{\"alpha\": 2}}'))\n"
              f"    s = 'E@' + \"{{'beta': 3}}\"\n"
              f"    options = {{'gamma': [1, 2]}}\n"
              f"    t = f'E@{{options}}'\n"  # f-strings of literals, and names bound to them, are literals
              f"    v = 'E@' + json.dumps({{'delta': None}})\n"
              f"    w = f'E@{{E.default_options()}}'\n"  # a call would have to run: not read
              f"    u = 'Other@{{\"alpha\": 4}}'\n")
    assert example_env_strings(source, "E") == ['E@{"alpha": 2}', "E@{'beta': 3}", "E@{'gamma': [1, 2]}",
                                                'E@{"delta": null}']
    assert known_option_keys(source, "E") == {"alpha", "beta", "gamma", "delta"}
    assert not marker.exists()
    assert example_env_strings("def broken(:\n", "E") == []


def _upstream_without_examples(class_name: str = "GridPathCountEnv") -> str:
    source = _source_of(class_name)
    return source[: source.index("# Test the environment")]


def _stairs_whose_defaults_break_get_ref_answer() -> str:
    source = _upstream_without_examples("StairClimbEnv")
    edit = "    def get_ref_answer(self):\n"
    assert source.count(edit) == 1
    return source.replace(edit, edit + "        smallest = self.moves[0]  # IndexError with the empty defaults\n")


@pytest.mark.parametrize("file_name, source, failure, config", [
    ("Leetcode_90007_I__GridPathCountEnv.py", lambda: _upstream_without_examples(), "KeyError",
     'GridPathCountEnv@{"grid": ["...", "..."]}'),  # reset({}) raises
    ("Leetcode_90001_I__StairClimbEnv.py", _stairs_whose_defaults_break_get_ref_answer, "IndexError",
     'StairClimbEnv@{"n": 5, "moves": [1, 2]}'),  # get_ref_answer() raises on the defaults
])
def test_no_configs_is_its_own_status_with_advice(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  file_name: str, source: Any, failure: str, config: str) -> None:
    folder = tmp_path / "bare"
    folder.mkdir()
    (folder / file_name).write_text(source())
    report_path = tmp_path / "report.json"
    assert cli.main(["verify", str(folder), "--runtime", "inprocess", "--report", str(report_path)]) == 1
    out = capsys.readouterr().out
    assert "NO CFG" in out and "no_configs" in out
    report = json.loads(report_path.read_text())
    (env,) = report["envs"]
    assert (env["status"], env["reason"]) == ("no_configs", "no_configs")
    assert failure in env["detail"] and "--configs" in env["detail"] and "__main__" in env["detail"]
    assert report["summary"]["failed"] == 0 and report["summary"]["no_configs"] == 1
    configs = tmp_path / "configs.txt"
    configs.write_text(config + "\n")
    assert cli.main(["verify", str(folder), "--runtime", "inprocess", "--report", "", "--configs", str(configs)]) == 0


def _upstream_rows(env_strings: Sequence[str], task: str) -> list[dict]:
    rows = training_rows(env_strings)
    for row in rows:
        row["prompt"][1]["content"] = f"Call one function at a time.\n\nQuestion:\n{task}\n"
    return rows


def test_build_data_takes_the_task_from_the_rows(tmp_path: Path) -> None:
    task = "Count the right/down paths through the grid, avoiding '#' cells."
    rows = write_jsonl(tmp_path / "rows.jsonl", _upstream_rows([GRID], task))
    out = tmp_path / "data"
    assert cli.main(["build-data", "--envs", str(FOLDER), "--configs", str(rows), "--out", str(out),
                     "--runtime", "inprocess", "--format", "openrlhf", "--min-rounds", "0"]) == 2  # others: no task
    assert cli.main(["build-data", "--envs", str(FOLDER / "Leetcode_90007_I__GridPathCountEnv.py"), "--configs",
                     str(rows), "--out", str(out), "--runtime", "inprocess", "--format", "openrlhf"]) == 0
    built = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert built and all(r["prompt"][1]["content"].endswith(task) for r in built)
    assert all("task_missing" not in r["extra_info"] for r in built)
    # a verified record's gym_task wins over the rows
    record = tmp_path / "record.json"
    record.write_text(json.dumps({**RECORD, "gym_task": "From the record."}))
    task_rows = write_jsonl(tmp_path / "lr.jsonl", _upstream_rows([RECORD_ENV_STRINGS[0]], "From the rows."))
    assert cli.main(["build-data", "--envs", str(record), "--configs", str(task_rows), "--out", str(out),
                     "--runtime", "inprocess", "--format", "openrlhf", "--min-rounds", "0"]) == 0
    built = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert built and all(r["prompt"][1]["content"].endswith("From the record.") for r in built)


def test_eval_warns_once_per_env_without_a_task(catalog: Catalog) -> None:
    from codegym_adapters import task_text

    task_text._warned.discard("Leetcode_90007_I__GridPathCountEnv")
    with pytest.warns(UserWarning, match="GridPathCountEnv has no task text") as caught:
        records = run(_episodes(catalog, get_policy("oracle"), [GRID, GRID]))
    assert [r["reward"] for r in records] == [1.0, 1.0]
    assert sum("no task text" in str(w.message) for w in caught) == 1


def test_convert_keeps_prompts_code_id_and_reads_python_literal_extra_info(tmp_path: Path) -> None:
    rows = _upstream_rows(ENV_STRINGS[:3], "Sum it.\n\twith a tab, ünïcode and \"quotes\"")
    for i, row in enumerate(rows):
        row["code_id"] = f"Leetcode_{i}_I"
        del row["plugin_call_max_round"]
        row["extra_info"] = str({**row["extra_info"], "plugin_call_max_round": 128, "flag": True, "none": None})
    out = tmp_path / "conv"
    for path in (write_jsonl(tmp_path / "up.jsonl", rows), write_parquet(tmp_path / "up.parquet", rows)):
        assert cli.main(["build-data", "--convert", str(path), "--out", str(out),
                         "--min-rounds", "0"]) == 0
        built = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
        assert [r["prompt"] for r in built] == [r["prompt"] for r in read_rows(path)]  # parquet adds name: None
        assert [[m["content"] for m in r["prompt"]] for r in built] == [[m["content"] for m in r["prompt"]] for r in rows]
        assert [r["code_id"] for r in built] == ["Leetcode_0_I", "Leetcode_1_I", "Leetcode_2_I"]
        assert all(r["plugin_call_max_round"] == 128 and r["extra_info"]["flag"] is True for r in built)
        import pyarrow.parquet as pq

        table = pq.read_table(out / "train.parquet").to_pylist()
        assert [r["code_id"] for r in table] == [r["code_id"] for r in built]
        assert [[m["content"] for m in r["prompt"]] for r in table] == [[m["content"] for m in r["prompt"]] for r in rows]


def test_unknown_option_keys_warn(capsys: pytest.CaptureFixture[str]) -> None:
    from codegym_adapters import catalog as catalog_module

    bundled = Catalog.default()
    catalog_module._warned_keys.clear()
    with pytest.warns(UserWarning, match=r"'housez' \(did you mean 'houses'\?\)"):
        bundled.resolve('HouseRobberEnv@{"housez": [1, 2]}')
    upstream = Catalog.from_paths([FOLDER])
    with pytest.warns(UserWarning, match="'grids'"):
        upstream.resolve('GridPathCountEnv@{"grids": ["..."]}')
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bundled.resolve('HouseRobberEnv@{"houses": [1, 2]}')
        upstream.resolve(GRID)
        upstream.resolve(STAIRS)
        bundled.resolve('HouseRobberEnv@{"housez": [1, 2]}')  # warned once already


def test_eval_takes_the_task_from_rows_given_with_the_envs(tmp_path: Path) -> None:
    from codegym_adapters.prompts import build_prompt

    task = "Count the paths."
    rows = write_jsonl(tmp_path / "rows.jsonl", _upstream_rows([GRID], task))
    for paths in ([FOLDER, rows], [rows, FOLDER]):  # the rows before or after the env files
        catalog = Catalog.from_paths(paths)
        assert catalog.get("GridPathCountEnv").task == task
        assert catalog.get("TreeDepthEnv").task is None

    async def main() -> str:
        async with make_runtime("inprocess", Catalog.from_paths([FOLDER, rows])) as runtime:
            async with await runtime.open(GRID) as session:
                return build_prompt("codegym", session.info, "codegym").messages[1]["content"]

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run(main()).endswith(task)


def test_unknown_option_keys_in_a_configs_file_warn(tmp_path: Path) -> None:
    from codegym_adapters import catalog as catalog_module

    catalog_module._warned_keys.clear()
    configs = tmp_path / "configs.txt"
    configs.write_text('StairClimbEnv@{"n": 4, "move": [1, 2]}\n')
    with pytest.warns(UserWarning, match=r"'move' \(did you mean 'moves'\?\)"):
        assert cli.main(["verify", str(FOLDER / "Leetcode_90001_I__StairClimbEnv.py"), "--configs", str(configs),
                         "--runtime", "inprocess", "--report", ""]) == 0
