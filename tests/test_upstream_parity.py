"""Parity with the paper's setup (issue 12), on the upstream-format envs of ``tests/envs_upstream``:
envs built as upstream builds them, configurations from the files' self-test blocks, ``no_configs``,
``solve_fc_round`` counted as upstream counts it, task text never silently lost, converted rows kept
as they are, and option keys the env does not read. Helpers and expectations come from
``test_upstream_format`` (the envs run directly, without the core)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from test_upstream_format import (
    CONFIGS,
    ENV_STRINGS,
    FOLDER,
    RECORD,
    RECORD_ENV_STRINGS,
    STAIRS,
    _episodes,
    _source_of,
    direct_solve,
    env_class,
    run,
    solve_count,
    split_env_string,
    training_rows,
    write_jsonl,
    write_parquet,
)

from codegym_adapters import cli
from codegym_adapters.calls import ToolCall
from codegym_adapters.catalog import Catalog, read_rows
from codegym_adapters.policies import get_policy
from codegym_adapters.rollout import run_episodes
from codegym_adapters.runtime import make_runtime
from codegym_adapters.tasks import Task


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.from_paths([FOLDER])


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
        assert len(examples) == 2, class_name  # MentionCounterEnv's second one is a reset({...}) call
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
              f"    E().reset({{'epsilon': 5}})\n"
              f"    w = f'E@{{E.default_options()}}'\n"  # a call would have to run: not read
              f"    u = 'Other@{{\"alpha\": 4}}'\n")
    assert example_env_strings(source, "E") == ['E@{"alpha": 2}', "E@{'beta': 3}", "E@{'gamma': [1, 2]}",
                                                'E@{"delta": null}', "E@{'epsilon': 5}"]
    assert known_option_keys(source, "E") == {"alpha", "beta", "gamma", "delta", "epsilon"}
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
    # the rows' configurations, and not the file's self-test ones besides
    assert [split_env_string(r["ability"]) for r in built] == [split_env_string(GRID)]
    assert [r["extra_info"]["config_source"] for r in built] == ["record"]
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
