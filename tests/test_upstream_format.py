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
from codegym_adapters.catalog import Catalog
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
