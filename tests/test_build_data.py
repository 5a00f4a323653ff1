"""Tests for ``codegym build-data``: the CodeGym row layout for veRL and OpenRLHF, loading with pandas,
pyarrow and datasets, byte-identical output for a seed, the rounds filter, the env-level split, and
the conversion of upstream rows."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from broken_envs.defects import render

from codegym_adapters import cli
from codegym_adapters.catalog import Catalog, read_rows
from codegym_adapters.envstring import parse_env_string
from codegym_adapters.policies import get_policy
from codegym_adapters.rollout import run_episode
from codegym_adapters.runtime import make_runtime
from codegym_adapters.tasks import Task

REPO = Path(__file__).resolve().parent.parent
BUNDLED = REPO / "envs"
TALLY = (REPO / "tests" / "broken_envs" / "reference" / "Reference_01__TallyEnv.py").read_text(encoding="utf-8")
UPSTREAM_TALLY = TALLY.split("\nTASK = ")[0] + "\n"  # as an upstream file: no TASK, CONFIGS or generator
FILES = ("train.parquet", "val.parquet", "train.jsonl", "val.jsonl", "manifest.json")


def codegym(*argv: str) -> int:
    """Run the real CLI entry point."""
    return cli.main(list(argv))


def build(out: Path, *extra: str, envs: Path = BUNDLED) -> dict:
    assert codegym("build-data", "--envs", str(envs), "--out", str(out), *extra) == 0
    return json.loads((out / "manifest.json").read_text())


def digests(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in FILES}


@pytest.fixture
def tally_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "tally"
    folder.mkdir()
    (folder / "Reference_01__TallyEnv.py").write_text(TALLY)
    return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict]:
    """The bundled envs, 12 candidates each, 3 envs held out, in the sandbox (the default runtime)."""
    out = tmp_path_factory.mktemp("built") / "data"
    return out, build(out, "--per-env", "12", "--val-envs", "3", "--seed", "7", "--jobs", "4")


# -- layout and loading ----------------------------------------------------------------------------
def test_writes_both_layouts_and_a_manifest(built):
    out, manifest = built
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    assert manifest["counts"]["train_rows"] == len(read_rows(out / "train.jsonl")) > 0
    assert manifest["counts"]["val_rows"] == len(read_rows(out / "val.jsonl")) > 0
    assert manifest["files"] == {k: v for k, v in digests(out).items() if k != "manifest.json"}


def test_rows_follow_the_codegym_training_layout(built):
    out, _ = built
    verl = pq.read_table(out / "train.parquet").to_pylist()
    openrlhf = read_rows(out / "train.jsonl")
    assert len(verl) == len(openrlhf)
    for a, b in zip(verl, openrlhf, strict=True):
        assert a["agent_name"] == "codegym_agent" and "agent_name" not in b
        assert b["datasource"] == b["data_source"] == a["data_source"] == "codegym_v1" and "datasource" not in a
        assert json.loads(b["label"]) == {"ability": b["ability"], "plugin_call_max_round": b["plugin_call_max_round"]}
        assert "label" not in a
        assert a["ability"] == b["ability"] and a["ability"].startswith("codegym_v1@Bundled_")
        ref = parse_env_string(a["ability"])
        assert ref.code_id.startswith("Bundled_") and ref.options
        system, user = b["prompt"]
        assert (system["role"], system["name"], user["role"]) == ("system", "functions", "user")
        assert system["content"].startswith("Function:\ndef Observe(") and "Example Output" not in system["content"]
        assert "<|FunctionCallBegin|>" in user["content"]
        assert a["prompt"][0]["content"] == system["content"] and a["prompt"][1]["content"] == user["content"]
        assert a["reward_model"] == b["reward_model"] == {"style": "agent_env", "ground_truth": None}
        assert isinstance(b["answer"], str) and b["answer"]
        assert a["plugin_call_max_round"] == b["plugin_call_max_round"] == 256
        extra = b["extra_info"]
        assert extra == a["extra_info"]
        assert 10 <= extra["solve_fc_round"] <= 256
        assert extra["plugin_call_max_round"] == 256 and extra["split"] == "train"
        assert extra["env_name"] == ref.name
    assert [r["extra_info"]["index"] for r in openrlhf] == list(range(len(openrlhf)))


def test_output_loads_with_pandas_pyarrow_and_datasets(built, tmp_path):
    datasets = pytest.importorskip("datasets")
    out, manifest = built
    frame = pd.read_parquet(out / "train.parquet")
    assert list(frame.columns) == ["data_source", "prompt", "ability", "reward_model", "answer",
                                   "plugin_call_max_round", "extra_info", "agent_name"]
    assert len(frame) == manifest["counts"]["train_rows"]
    assert len(pd.read_json(out / "val.jsonl", lines=True)) == manifest["counts"]["val_rows"]
    assert pq.read_schema(out / "train.parquet").metadata is None  # no pandas or writer timestamps
    assert pq.read_schema(out / "train.parquet") == pq.read_schema(out / "val.parquet")
    parquet = datasets.load_dataset("parquet", data_files={s: str(out / f"{s}.parquet") for s in ("train", "val")},
                                    cache_dir=str(tmp_path / "hf"))
    jsonl = datasets.load_dataset("json", data_files={s: str(out / f"{s}.jsonl") for s in ("train", "val")},
                                  cache_dir=str(tmp_path / "hf"))
    for split in ("train", "val"):
        assert parquet[split].num_rows == jsonl[split].num_rows == manifest["counts"][f"{split}_rows"]
    row = parquet["train"][0]
    assert row["prompt"][0]["name"] == "functions" and row["reward_model"]["ground_truth"] is None
    assert jsonl["val"][0]["extra_info"]["split"] == "val"


def test_built_rows_run_as_episodes_with_the_oracle(built):
    """The rows are what the trainers consume: Task.from_row, the row's own prompt, the oracle solves it
    in exactly solve_fc_round turns."""
    out, _ = built
    rows = read_rows(out / "val.jsonl")[:3] + pq.read_table(out / "train.parquet").to_pylist()[:3]

    async def main():
        async with make_runtime("inprocess", Catalog.from_paths([BUNDLED])) as runtime:
            return [await run_episode(runtime, Task.from_row(r), get_policy("oracle")) for r in rows]

    for row, summary in zip(rows, asyncio.run(main()), strict=True):
        assert (summary["done_reason"], summary["reward"]) == ("done", 1.0), summary
        assert summary["turns"] == row["extra_info"]["solve_fc_round"] == summary["solve_fc_round"]
        assert summary["turn_limit"] == 256


# -- determinism, filter, split --------------------------------------------------------------------
def test_same_seed_gives_byte_identical_files(built, tmp_path):
    out, _ = built
    again = tmp_path / "again"
    build(again, "--per-env", "12", "--val-envs", "3", "--seed", "7", "--jobs", "1", "--runtime", "inprocess")
    first = digests(out)
    second = digests(again)
    assert {k: v for k, v in first.items() if k != "manifest.json"} == \
        {k: v for k, v in second.items() if k != "manifest.json"}
    strip = ("inputs",)
    m1, m2 = (json.loads((d / "manifest.json").read_text()) for d in (out, again))
    assert {k: v for k, v in m1.items() if k not in strip} == {k: v for k, v in m2.items() if k not in strip}
    third = tmp_path / "third"
    build(third, "--per-env", "12", "--val-envs", "3", "--seed", "7", "--jobs", "1", "--runtime", "inprocess")
    assert digests(third) == second  # same command, same bytes, manifest included


def test_another_seed_changes_generated_configs_and_split(built, tmp_path):
    _, manifest = built
    other = build(tmp_path / "o", "--per-env", "12", "--val-envs", "3", "--seed", "8", "--runtime", "inprocess")
    assert other["split"]["val"] != manifest["split"]["val"]
    assert other["files"]["train.jsonl"] != manifest["files"]["train.jsonl"]


def test_validation_split_is_made_of_whole_held_out_envs(built):
    out, manifest = built
    train = {r["extra_info"]["env_name"] for r in read_rows(out / "train.jsonl")}
    val = {r["extra_info"]["env_name"] for r in read_rows(out / "val.jsonl")}
    assert len(val) == 3 and not train & val
    assert sorted(train) == manifest["split"]["train"] and sorted(val) == manifest["split"]["val"]
    assert all(manifest["envs"][e]["split"] == "val" for e in val)
    assert sum(e["rows"] for e in manifest["envs"].values()) == manifest["counts"]["train_rows"] + \
        manifest["counts"]["val_rows"]


def test_rounds_filter_keeps_only_rows_in_range(tmp_path):
    manifest = build(tmp_path / "f", "--per-env", "14", "--min-rounds", "20", "--max-rounds", "40",
                     "--runtime", "inprocess")
    rows = read_rows(tmp_path / "f" / "train.jsonl")
    assert rows and all(20 <= r["extra_info"]["solve_fc_round"] <= 40 for r in rows)
    counts = manifest["counts"]
    assert counts["dropped"]["rounds_below_min"] > 0 and counts["dropped"]["rounds_above_max"] > 0
    assert counts["candidates"] == counts["train_rows"] + counts["val_rows"] + sum(counts["dropped"].values())
    assert manifest["filters"]["min_rounds"] == 20 and manifest["filters"]["max_rounds"] == 40


def test_fixed_configs_come_first_then_generated_ones(tmp_path, tally_dir):
    manifest = build(tmp_path / "c", "--per-env", "5", "--min-rounds", "0", "--sizes", "10:40",
                     "--runtime", "inprocess", envs=tally_dir)
    rows = read_rows(tmp_path / "c" / "train.jsonl")
    sources = [(r["extra_info"]["config_source"], r["extra_info"]["config_size"]) for r in rows]
    assert sources == [("fixed", None), ("fixed", None), ("generated", 10), ("generated", 25), ("generated", 40)]
    assert [r["extra_info"]["solve_fc_round"] for r in rows] == [12, 18, 22, 52, 82]
    assert [len(parse_env_string(r["ability"]).options["nums"]) for r in rows] == [5, 8, 10, 25, 40]
    assert manifest["counts"]["train_rows"] == 5 and manifest["envs"]["Reference_01__TallyEnv"]["rows"] == 5


def test_upstream_env_files_take_configurations_from_a_configs_file(tmp_path, capsys):
    folder = tmp_path / "up"
    folder.mkdir()
    (folder / "Leetcode_5_I__TallyEnv.py").write_text(UPSTREAM_TALLY)
    configs = tmp_path / "configs.txt"
    configs.write_text("".join(f"TallyEnv@{{'nums': {list(range(n))}}}\n" for n in (3, 6, 9)))
    assert codegym("build-data", "--envs", str(folder), "--out", str(tmp_path / "none"), "--runtime", "inprocess") == 2
    # an env string file carries no task text and the env file none either: refused, naming the env
    capsys.readouterr()
    assert codegym("build-data", "--envs", str(folder), "--configs", str(configs), "--out", str(tmp_path / "r"),
                   "--runtime", "inprocess") == 2
    err = capsys.readouterr().err
    assert "no task text" in err and "Leetcode_5_I__TallyEnv" in err and "--tasks" in err
    assert "--allow-missing-task" in err and not (tmp_path / "r" / "train.jsonl").exists()
    # written anyway only when asked, and the rows say so
    manifest = build(tmp_path / "o", "--configs", str(configs), "--allow-missing-task", "--runtime", "inprocess",
                     envs=folder)
    rows = read_rows(tmp_path / "o" / "train.jsonl")
    assert [r["extra_info"]["solve_fc_round"] for r in rows] == [14, 20]  # 3 numbers: 8 calls, under 10
    assert [r["extra_info"]["config_source"] for r in rows] == ["record", "record"]
    assert all(r["extra_info"]["task_missing"] is True for r in rows)
    assert manifest["counts"]["dropped"]["rounds_below_min"] == 1
    assert manifest["envs"]["Leetcode_5_I__TallyEnv"]["task_missing"] is True
    assert "Leetcode_5_I__TallyEnv" in rows[0]["prompt"][1]["content"]  # the generic text names the env
    # a --tasks file gives the problem statement, keyed by code_id
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"code_id": "Leetcode_5_I", "task": "Add up the hidden numbers."}) + "\n")
    build(tmp_path / "t", "--configs", str(configs), "--tasks", str(tasks), "--runtime", "inprocess", envs=folder)
    rows = read_rows(tmp_path / "t" / "train.jsonl")
    assert rows and all(r["prompt"][1]["content"].endswith("Add up the hidden numbers.") for r in rows)
    assert all("task_missing" not in r["extra_info"] for r in rows)


def test_native_prompt_style_carries_tool_schemas(tmp_path, tally_dir):
    build(tmp_path / "n", "--prompt-style", "native", "--min-rounds", "0", "--format", "openrlhf",
          "--runtime", "inprocess", envs=tally_dir)
    assert sorted(p.name for p in (tmp_path / "n").iterdir()) == ["manifest.json", "train.jsonl"]  # no val envs
    row = read_rows(tmp_path / "n" / "train.jsonl")[0]
    assert [m["role"] for m in row["prompt"]] == ["system", "user"] and "name" not in row["prompt"][0]
    assert row["prompt"][1]["content"] == "Add up all the numbers and submit the sum with Done."
    tools = json.loads(row["extra_info"]["tools"])
    assert [t["function"]["name"] for t in tools] == ["Observe", "GetNumber", "Add", "Done"]


@pytest.mark.timeout(60)
def test_broken_envs_give_no_rows_and_do_not_stop_the_build(tmp_path, tally_dir):
    for name in ("Broken_04__LoopingSolveEnv.py", "Broken_05__ImportErrorEnv.py", "Broken_07__WrongOracleEnv.py"):
        (tally_dir / name).write_text(render(name))
    manifest = build(tmp_path / "b", "--per-env", "2", "--min-rounds", "0", "--step-timeout", "1",
                     "--memory-mb", "512", envs=tally_dir)
    envs = manifest["envs"]
    assert envs["Reference_01__TallyEnv"]["rows"] == 2 and manifest["split"]["train"] == ["Reference_01__TallyEnv"]
    assert envs["Broken_04__LoopingSolveEnv"]["dropped"] == {"oracle_failed": 2}
    assert envs["Broken_07__WrongOracleEnv"]["dropped"] == {"oracle_failed": 2}
    assert "ModuleNotFoundError" in envs["Broken_05__ImportErrorEnv"]["error"]
    assert manifest["counts"]["envs_without_rows"] == 3


# -- upstream rows -----------------------------------------------------------------------------------
def oracle_trajectory(nums: list[int]) -> list[dict]:
    calls = [{"name": "Observe", "parameters": {}}]
    total = 0
    for i, value in enumerate(nums):
        calls += [{"name": "GetNumber", "parameters": {"index": i}},
                  {"name": "Add", "parameters": {"a": total, "b": value}}]
        total += value
    return calls + [{"name": "Done", "parameters": {"answer": total}}]


def upstream_rows() -> list[dict]:
    """Rows shaped like the published task configs: python-literal options, extra_info with the env
    source, scores and the oracle trajectory; plugin_call_max_round inside extra_info or top-level."""
    rows = []
    cases = [("Leetcode_11_I", 6), ("Leetcode_11_I", 15), ("Codeforces_12_I", 7), ("Codeforces_12_I", 2),
             ("Leetcode_13_I", 10)]
    for i, (code_id, length) in enumerate(cases):
        nums = [(7 * i + 3 * k) % 10 for k in range(length)]
        traj = oracle_trajectory(nums)
        rows.append({
            "ability": f"codegym_v1@{code_id}__TallyEnv@{{'nums': {nums}}}",
            "answer": "",
            "code_id": code_id,
            "data_source": "codegym_gym_v1",
            "prompt": [{"role": "system", "name": "functions", "content": "Function:\ndef Observe():"},
                       {"role": "user", "content": f"Add up {length} numbers."}],
            "reward_model": {"style": "agent_env", "ground_truth": None},
            "extra_info": {"index": 100 + i, "solve_fc_round": len(traj), "gym_env": UPSTREAM_TALLY,
                           "qwen32b_Bo4_score": 0.25, "qwen32b_Bo8_score": [0.0, 0.125, 0.5, 0.25, 0.0][i],
                           "std_traj": json.dumps(traj), "obs_traj": json.dumps(["..."] * len(traj))},
        })
    rows[0]["plugin_call_max_round"] = 512
    for row in rows[1:]:
        row["extra_info"]["plugin_call_max_round"] = 256
    rows[4]["extra_info"]["std_traj"] = json.loads(rows[4]["extra_info"]["std_traj"])  # a list, in jsonl
    return rows


def write_parquet_rows(rows: list[dict], path: Path) -> None:
    """As published: a parquet file whose extra_info is a struct (std_traj text)."""
    fixed = [{**r, "extra_info": {**r["extra_info"], "std_traj": json.dumps(r["extra_info"]["std_traj"])
                                  if isinstance(r["extra_info"]["std_traj"], list) else r["extra_info"]["std_traj"],
                                  "plugin_call_max_round": r["extra_info"].get("plugin_call_max_round", 256)}}
             for r in rows]
    for r in fixed:
        r.pop("plugin_call_max_round", None)
    pq.write_table(pa.Table.from_pylist(fixed), path)


def test_convert_upstream_jsonl_and_parquet_rows(tmp_path):
    rows = upstream_rows()
    jsonl = tmp_path / "up.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    parquet = tmp_path / "up.parquet"
    write_parquet_rows(rows, parquet)
    for source in (jsonl, parquet):
        out = tmp_path / f"out_{source.suffix[1:]}"
        assert codegym("build-data", "--convert", str(source), "--out", str(out), "--min-rounds", "10") == 0
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["mode"] == "convert" and manifest["counts"]["dropped"]["rounds_below_min"] == 1
        converted = read_rows(out / "train.jsonl")
        as_parquet = pq.read_table(out / "train.parquet").to_pylist()
        assert [r["ability"] for r in converted] == [r["ability"] for r in as_parquet] and len(converted) == 4
        assert [r["extra_info"] for r in converted] == [r["extra_info"] for r in as_parquet]
        by_index = {r["extra_info"]["index"]: r for r in converted}
        assert sorted(by_index) == [100, 101, 102, 104]  # upstream indexes kept; 6 rounds filtered out
        assert by_index[100]["plugin_call_max_round"] == by_index[100]["extra_info"]["plugin_call_max_round"]
        assert by_index[101]["plugin_call_max_round"] == 256
        assert by_index[100]["plugin_call_max_round"] == (512 if source is jsonl else 256)
        for r in converted:
            assert r["datasource"] == r["data_source"] == "codegym_gym_v1"
            assert r["extra_info"]["gym_env"] == UPSTREAM_TALLY
            assert isinstance(r["extra_info"]["std_traj"], str)
            assert r["extra_info"]["qwen32b_Bo4_score"] == 0.25

        async def main(rows=converted):
            catalog = Catalog()
            catalog.add_rows(rows)  # the env source travels with the rows
            async with make_runtime("inprocess", catalog) as runtime:
                return [await run_episode(runtime, Task.from_row(r), get_policy("oracle")) for r in rows]

        for row, summary in zip(converted, asyncio.run(main()), strict=True):
            assert summary["reward"] == 1.0 and summary["turns"] == row["extra_info"]["solve_fc_round"]


def test_convert_pass_rate_filter_and_env_split(tmp_path):
    rows = upstream_rows()
    src = tmp_path / "up.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "o"
    assert codegym("build-data", "--convert", str(src), "--out", str(out), "--max-pass-rate", "0.25",
                   "--val-envs", "1", "--seed", "3", "--min-rounds", "0") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["dropped"]["pass_rate_above_max"] == 1  # Bo8 0.5
    train = {r["extra_info"]["env_name"] for r in read_rows(out / "train.jsonl")}
    val = {r["extra_info"]["env_name"] for r in read_rows(out / "val.jsonl")}
    assert len(val) == 1 and not train & val and len(train | val) == 3


# -- bad input -------------------------------------------------------------------------------------
def test_bad_input_gets_clear_errors(tmp_path, capsys, tally_dir):
    (tmp_path / "empty").mkdir()
    assert codegym("build-data", "--envs", str(tmp_path / "empty"), "--out", str(tmp_path / "o")) == 2
    assert "no envs found" in capsys.readouterr().err
    assert codegym("build-data", "--envs", str(tmp_path / "missing"), "--out", str(tmp_path / "o")) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert codegym("build-data", "--envs", str(tally_dir), "--out", str(tmp_path / "file")) == 2
    assert "not a folder" in capsys.readouterr().err
    assert codegym("build-data", "--envs", str(tally_dir), "--out", str(tmp_path / "o"), "--val-envs", "1",
                   "--min-rounds", "0", "--runtime", "inprocess") == 2
    assert "leaves no env to train on" in capsys.readouterr().err
    assert codegym("build-data", "--envs", str(tally_dir), "--out", str(tmp_path / "o"), "--min-rounds", "500",
                   "--max-rounds", "600", "--runtime", "inprocess") == 2
    assert "no rows left" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        codegym("build-data", "--envs", str(tally_dir), "--out", str(tmp_path / "o"), "--format", "csv")
    assert exc.value.code == 2 and "invalid choice: 'csv'" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"ability": "codegym_v1@X__TallyEnv@{'nums': [2]}", "prompt": []}) + "\n"
                   + json.dumps({"prompt": [{"role": "user", "content": "hi"}]}) + "\n")
    assert codegym("build-data", "--convert", str(bad), "--out", str(tmp_path / "o")) == 2
    assert f"{bad}:1: 'prompt' must be a non-empty list" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# -- one reader per numeric row field (issue 11) ---------------------------------------------------
@pytest.mark.parametrize(
    "value, expected, warns",
    [(20, 20, False), (20.0, 20, False), ("20.0", 20, False), ("1e2", 100, False), (" 64 ", 64, False),
     (True, None, True), (False, None, True), ("twenty", None, True), (float("inf"), None, True),
     ("nan", None, False), (None, None, False), ("", None, False)],
)
def test_training_and_build_data_read_a_turn_limit_the_same_way(tmp_path, value, expected, warns, monkeypatch):
    from codegym_adapters import rows
    from codegym_adapters.rows import convert_row, read_count

    monkeypatch.setattr(rows, "_field_warnings", {})

    ability = "codegym_v1@Reference_01__TallyEnv@{\"nums\": [1, 2]}"
    row = {"ability": ability, "prompt": [{"role": "user", "content": "Add up."}], "plugin_call_max_round": value,
           "extra_info": {"index": 1, "solve_fc_round": 12}}
    with pytest.warns(UserWarning, match="Reference_01__TallyEnv") if warns else _no_warning():
        task = Task.from_row(row)  # the training path (both plugins read rows through Task.from_row)
    with pytest.warns(UserWarning, match="up.jsonl:3") if warns else _no_warning():
        converted = convert_row(row, default_turn_limit=256, where="up.jsonl:3")  # build-data --convert
    assert task.turn_limit == expected
    assert converted["plugin_call_max_round"] == (256 if expected is None else expected)
    with pytest.warns(UserWarning, match="plugin_call_max_round") if warns else _no_warning():
        assert read_count(value, "plugin_call_max_round", "row 1") == expected
    # inside extra_info (the hub's placement), also as a Python-literal extra_info string
    extras = [{"plugin_call_max_round": value}]
    if not isinstance(value, float):  # str() of inf/nan is no literal
        extras.append(str({"plugin_call_max_round": value}))
    for extra in extras:
        with pytest.warns(UserWarning, match="plugin_call_max_round") if warns else _no_warning():
            assert Task.from_row({"ability": ability, "extra_info": extra}).turn_limit == expected


def _no_warning():
    import warnings
    from contextlib import contextmanager

    @contextmanager
    def manager():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            yield

    return manager()


def _warnings_allowed():
    import warnings

    return warnings.catch_warnings()


def test_bad_numbers_in_many_rows_warn_a_few_times(monkeypatch):
    from codegym_adapters import rows

    monkeypatch.setattr(rows, "_field_warnings", {})
    with pytest.warns(UserWarning) as caught:
        for i in range(50):
            assert Task.from_row({"ability": f"codegym_v1@A_{i}__TallyEnv@{{}}", "plugin_call_max_round": True}) \
                .turn_limit is None
    messages = [str(w.message) for w in caught]
    assert len(messages) == rows.MAX_FIELD_WARNINGS + 1
    assert "A_0__TallyEnv" in messages[0] and "further ones are not reported" in messages[-1]
