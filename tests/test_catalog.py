"""Tests for codegym_adapters.catalog: every source of envs, laziness, lookup and every error path."""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import os
import pathlib
import sys
import uuid
from importlib import metadata
from pathlib import Path

import pytest

from codegym_adapters import catalog as catalog_module
from codegym_adapters.catalog import ENTRY_POINT_GROUP, Catalog, EnvSpec, load_env_module, read_rows
from codegym_adapters.errors import AmbiguousEnv, CodeGymError, EnvLoadError, EnvNotFound, OptionsError

UPSTREAM = Path(__file__).resolve().parent / "envs_upstream"
STAIR_FILE = UPSTREAM / "Leetcode_90001_I__StairClimbEnv.py"
STAIR_SOURCE = STAIR_FILE.read_text(encoding="utf-8")
RECORD_FILE = UPSTREAM / "Leetcode_90006_I__LongestRunEnv.json"


def renamed(source: str, new_class: str, old_class: str = "StairClimbEnv") -> str:
    """The same env under another class name."""
    return source.replace(old_class, new_class)


def assert_loads(spec: EnvSpec) -> type:
    from codegym_adapters.construct import build_env
    from codegym_adapters.envfile import example_options

    module = load_env_module(spec.source, spec.class_name, spec.name)
    cls = getattr(module, spec.class_name)
    examples = example_options(spec.source, spec.class_name)  # some envs' defaults crash
    env, _ = build_env(cls, examples[0] if examples else {})
    assert "Observe" in env.func_mapping and "Done" in env.func_mapping
    return cls


# -- one file -------------------------------------------------------------------------------------
def test_single_named_file() -> None:
    catalog = Catalog.from_paths([STAIR_FILE])
    assert [s.name for s in catalog] == ["Leetcode_90001_I__StairClimbEnv"]
    spec = catalog.get("Leetcode_90001_I__StairClimbEnv")
    assert (spec.code_id, spec.class_name, spec.path) == ("Leetcode_90001_I", "StairClimbEnv", STAIR_FILE)
    assert catalog.get("StairClimbEnv") is spec
    assert spec.source == STAIR_SOURCE
    assert_loads(spec)


def test_single_unnamed_file(tmp_path: Path) -> None:
    helper_first = "class Helper:\n    pass\n\n\n" + STAIR_SOURCE
    path = tmp_path / "my_stairs.py"
    path.write_text(helper_first, encoding="utf-8")
    catalog = Catalog.from_paths([str(path)])
    spec = catalog.get("StairClimbEnv")
    assert (spec.name, spec.code_id) == ("StairClimbEnv", "")
    assert_loads(spec)


def test_unnamed_file_without_a_class(tmp_path: Path) -> None:
    path = tmp_path / "nothing.py"
    path.write_text("x = 1\n", encoding="utf-8")
    with pytest.raises(EnvLoadError, match="no class definition"):
        Catalog.from_paths([path])


# -- folders: indexed by file name, nothing read or run -----------------------------------------
@contextlib.contextmanager
def nothing_may_be_read_or_run():
    """Every way to open, read, compile or run a file raises inside this block."""

    def forbidden(*args, **kwargs):
        raise AssertionError(f"indexing touched file contents or code: {args[:1]!r}")

    with pytest.MonkeyPatch.context() as mp:
        for owner, name in [(builtins, "open"), (io, "open"), (os, "open"), (builtins, "compile"),
                            (builtins, "exec"), (pathlib.Path, "read_text"), (pathlib.Path, "read_bytes"),
                            (pathlib.Path, "open")]:
            mp.setattr(owner, name, forbidden)
        yield


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "envs"
    folder.mkdir()
    (folder / "Leetcode_1_I__GoodEnv.py").write_text(renamed(STAIR_SOURCE, "GoodEnv"), encoding="utf-8")
    (folder / "Leetcode_2_I__BrokenSyntaxEnv.py").write_text("class BrokenSyntaxEnv(:\n    pass\n")
    (folder / "Leetcode_3_I__BadImportEnv.py").write_text(
        "import gymnasium\nimport no_such_module_for_codegym_tests\n\n\nclass BadImportEnv(gymnasium.Env):\n    pass\n"
    )
    (folder / "Leetcode_4_I__ExitingEnv.py").write_text("raise SystemExit('env file exits at import')\n")
    (folder / "Leetcode_5_I__NotUtf8Env.py").write_bytes(b"class NotUtf8Env:\n    x = '\xff\xfe'\n")
    (folder / "Leetcode_6_I__WrongClassEnv.py").write_text(renamed(STAIR_SOURCE, "SomethingElseEnv"))
    # not envs: ignored
    (folder / "README.md").write_text("# notes\n")
    (folder / "helpers.py").write_text("raise RuntimeError('must not be imported')\n")
    (folder / "__init__.py").write_text("")
    (folder / "sub").mkdir()
    (folder / "sub" / "Leetcode_7_I__NestedEnv.py").write_text(STAIR_SOURCE)
    return folder


def test_folder_indexing_reads_and_runs_nothing(mixed_folder: Path) -> None:
    with nothing_may_be_read_or_run():
        catalog = Catalog.from_paths([mixed_folder])
        names = sorted(s.name for s in catalog)
    assert names == [
        "Leetcode_1_I__GoodEnv",
        "Leetcode_2_I__BrokenSyntaxEnv",
        "Leetcode_3_I__BadImportEnv",
        "Leetcode_4_I__ExitingEnv",
        "Leetcode_5_I__NotUtf8Env",
        "Leetcode_6_I__WrongClassEnv",
    ]
    assert all(s._source is None for s in catalog)  # nothing was read


def test_folder_failures_appear_only_on_load(mixed_folder: Path) -> None:
    catalog = Catalog.from_paths([mixed_folder])
    assert_loads(catalog.get("GoodEnv"))

    def load_error(name: str) -> str:
        spec = catalog.get(name)
        with pytest.raises(EnvLoadError) as info:
            load_env_module(spec.source, spec.class_name, spec.name)
        assert spec.name in str(info.value)
        return str(info.value)

    assert "syntax error at line 1" in load_error("BrokenSyntaxEnv")
    assert "ModuleNotFoundError" in load_error("BadImportEnv")
    assert "no_such_module_for_codegym_tests" in load_error("BadImportEnv")
    assert "SystemExit" in load_error("ExitingEnv")
    message = load_error("WrongClassEnv")
    assert "no class 'WrongClassEnv'" in message and "SomethingElseEnv" in message
    spec = catalog.get("NotUtf8Env")
    with pytest.raises(EnvLoadError, match="Leetcode_5_I__NotUtf8Env: cannot read"):
        _ = spec.source


def test_folder_load_does_not_run_the_main_block(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = STAIR_SOURCE + "\n\nif __name__ == '__main__':\n    raise SystemExit('main ran')\n"
    (tmp_path / "A_1__StairClimbEnv.py").write_text(source)
    spec = Catalog.from_paths([tmp_path]).get("StairClimbEnv")
    module = load_env_module(spec.source, spec.class_name, spec.name)
    assert module.__name__ != "__main__"
    assert capsys.readouterr().out == ""  # the upstream self-tests print; they must not run
    # the upstream folder's own files have self-tests that would print
    upstream = Catalog.from_paths([UPSTREAM])
    for spec in upstream:
        assert_loads(spec)
    assert capsys.readouterr().out == ""


def test_folder_of_upstream_envs_and_its_record() -> None:
    catalog = Catalog.from_paths([UPSTREAM])
    assert sorted(s.name for s in catalog) == [
        "Codeforces_90002_I__LargestNumberEnv",
        "Codeforces_90004_I__TribonacciMemoEnv",
        "Codeforces_90008_I__TreeDepthEnv",
        "Leetcode_90001_I__StairClimbEnv",
        "Leetcode_90003_I__MentionCounterEnv",
        "Leetcode_90005_I__PairSumPointerEnv",
        "Leetcode_90006_I__LongestRunEnv",  # from the record JSON in the same folder
        "Leetcode_90007_I__GridPathCountEnv",
    ]
    assert catalog.get("LongestRunEnv").task.startswith("A hidden string")


# -- verified records -----------------------------------------------------------------------------
def test_record_json_single() -> None:
    record = json.loads(RECORD_FILE.read_text(encoding="utf-8"))
    catalog = Catalog.from_paths([RECORD_FILE])
    spec = catalog.get("LongestRunEnv")
    assert spec.name == "Leetcode_90006_I__LongestRunEnv"
    assert spec.source == record["gym_env"]
    assert spec.task == record["gym_task"]
    assert spec.path is None
    assert_loads(spec)
    # the record's unit tests use the bare class spelling
    for unit in record["unit_test_list"]:
        found, options = catalog.resolve(unit["unit_test"])
        assert found is spec and isinstance(options, dict) and "s" in options


def test_record_json_list(tmp_path: Path) -> None:
    record = json.loads(RECORD_FILE.read_text(encoding="utf-8"))
    other = dict(record, code_id="Leetcode_90016_I", env_name="StairClimbEnv", gym_env=STAIR_SOURCE,
                 gym_task="Climb.")
    path = tmp_path / "records.json"
    path.write_text(json.dumps([record, other]), encoding="utf-8")
    catalog = Catalog.from_paths([path])
    assert sorted(s.name for s in catalog) == ["Leetcode_90006_I__LongestRunEnv", "Leetcode_90016_I__StairClimbEnv"]
    assert catalog.get("StairClimbEnv").task == "Climb."
    for spec in catalog:
        assert_loads(spec)


@pytest.mark.parametrize(
    "content, words",
    [
        ("{not json", "cannot read JSON"),
        (json.dumps({"code_id": "X_1", "env_name": "XEnv"}), "no 'gym_env'"),
        (json.dumps([{"code_id": "X_1", "gym_env": STAIR_SOURCE}, 3]), "#1"),
    ],
)
def test_bad_record_json(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EnvLoadError, match=words) as info:
        Catalog.from_paths([path])
    assert str(path) in str(info.value)


# -- dataset rows ---------------------------------------------------------------------------------
def hub_rows() -> list[dict]:
    """Rows shaped like the hub data set's ``envs_en`` config."""
    return [
        {"env_code": STAIR_SOURCE, "env_name": "StairClimbEnv", "source": "Codeforces_28928_I"},
        {"env_code": renamed(STAIR_SOURCE, "StepsEnv"), "env_name": "StepsEnv", "source": "Leetcode_13510_I"},
    ]


def training_rows() -> list[dict]:
    """Rows shaped like the ``task_*`` configs: ``ability`` plus the source in ``extra_info.gym_env``."""
    rows = []
    for i, (code_id, cls) in enumerate([("Leetcode_1_I", "StairClimbEnv"), ("Leetcode_2_I", "ClimbTwoEnv")]):
        rows.append({
            "data_source": "codegym_v1",
            "prompt": [{"role": "system", "name": "functions", "content": "Function: ..."},
                       {"role": "user", "content": "Solve it."}],
            "ability": f'codegym_v1@{code_id}__{cls}@{{"n": {i + 3}, "moves": [1, 2]}}',
            "reward_model": {"style": "agent_env", "ground_truth": None},
            "answer": "placeholder",
            "code_id": code_id,
            "extra_info": {"index": i, "solve_fc_round": i + 8, "plugin_call_max_round": 256,
                           "gym_env": renamed(STAIR_SOURCE, cls), "qwen32b_Bo4_score": 0.25,
                           "qwen32b_Bo8_score": 0.125},
        })
    return rows


def write_rows(path: Path, rows: list[dict]) -> Path:
    if path.suffix == ".parquet":
        pa = pytest.importorskip("pyarrow")
        pq = pytest.importorskip("pyarrow.parquet")
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_hub_env_rows(tmp_path: Path, suffix: str) -> None:
    path = write_rows(tmp_path / f"envs_en{suffix}", hub_rows())
    catalog = Catalog.from_paths([path])
    assert sorted(s.name for s in catalog) == ["Codeforces_28928_I__StairClimbEnv", "Leetcode_13510_I__StepsEnv"]
    for spec in catalog:
        assert spec.origin.startswith(str(path))
        assert_loads(spec)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_training_rows_with_extra_info_gym_env(tmp_path: Path, suffix: str) -> None:
    path = write_rows(tmp_path / f"train{suffix}", training_rows())
    catalog = Catalog.from_paths([path])
    assert sorted(s.name for s in catalog) == ["Leetcode_1_I__StairClimbEnv", "Leetcode_2_I__ClimbTwoEnv"]
    spec, options = catalog.resolve(read_rows(path)[1]["ability"])
    assert spec.class_name == "ClimbTwoEnv" and options == {"n": 4, "moves": [1, 2]}
    assert_loads(spec)


def test_rows_with_top_level_gym_env_and_without_names() -> None:
    catalog = Catalog()
    added = catalog.add_rows([
        {"ability": 'codegym_v1@A_1__StairClimbEnv@{"n": 2}', "gym_env": STAIR_SOURCE},
        {"env_code": renamed(STAIR_SOURCE, "OnlySourceEnv")},  # the name comes from the source
        {"ability": "codegym_v1@B_1__NoSourceEnv@{}"},  # no source: skipped
        {"ability": 'codegym_v1@A_1__StairClimbEnv@{"n": 3}', "gym_env": STAIR_SOURCE},  # same env again
        {"env_code": "", "env_name": "EmptyEnv", "source": "C_1"},  # empty source: skipped
    ], origin="memory")
    assert added == 2
    assert sorted(s.name for s in catalog) == ["A_1__StairClimbEnv", "OnlySourceEnv"]
    assert_loads(catalog.get("OnlySourceEnv"))


def test_row_files_errors(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"ability": "X@{}"}\nnot json\n', encoding="utf-8")
    with pytest.raises(EnvLoadError, match=r"rows.jsonl:2: not a JSON line"):
        Catalog.from_paths([path])
    path.write_text(json.dumps({"ability": "codegym_v1@A_1__XEnv@{oops", "gym_env": STAIR_SOURCE}) + "\n")
    with pytest.raises(OptionsError, match="A_1__XEnv"):
        Catalog.from_paths([path])


def test_read_rows_formats(tmp_path: Path) -> None:
    rows = training_rows()
    assert read_rows(write_rows(tmp_path / "r.jsonl", rows)) == rows
    (tmp_path / "r.json").write_text(json.dumps(rows))
    assert read_rows(tmp_path / "r.json") == rows
    parquet = read_rows(write_rows(tmp_path / "r.parquet", rows))
    assert [r["ability"] for r in parquet] == [r["ability"] for r in rows]
    assert parquet[0]["extra_info"]["gym_env"] == rows[0]["extra_info"]["gym_env"]


# -- installed env packs --------------------------------------------------------------------------
def test_bundled_pack_is_installed() -> None:
    eps = {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert "bundled" in eps  # the distribution's own pack
    bundled_folder = catalog_module._folder_of(eps["bundled"].load())
    assert bundled_folder is not None and bundled_folder.is_dir()
    catalog = Catalog.default()
    assert len(catalog) > 0
    assert all(s.path is not None and s.path.parent == bundled_folder for s in catalog)
    assert all(s.path.name == f"{s.name}.py" for s in catalog)
    merged = Catalog.from_paths([UPSTREAM], installed=True)
    assert len(merged) == len(catalog) + 8
    assert "Leetcode_90001_I__StairClimbEnv" in merged


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, *entries: tuple[str, str]) -> None:
    eps = [metadata.EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP) for name, value in entries]

    def entry_points(**params):
        return eps if params.get("group") == ENTRY_POINT_GROUP else []

    monkeypatch.setattr(catalog_module.metadata, "entry_points", entry_points)


def test_fake_env_pack_package_and_folder_attribute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = f"fake_codegym_pack_{uuid.uuid4().hex[:8]}"
    (tmp_path / pkg).mkdir()
    (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / pkg / "Pack_1_I__PackedEnv.py").write_text(renamed(STAIR_SOURCE, "PackedEnv"))
    other = tmp_path / "other_folder"
    other.mkdir()
    (other / "Pack_2_I__FolderEnv.py").write_text(renamed(STAIR_SOURCE, "FolderEnv"))
    (tmp_path / f"{pkg}_where.py").write_text(f"FOLDER = {str(other)!r}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "modules", dict(sys.modules))  # forget the fake modules afterwards
    fake_entry_points(monkeypatch, ("pack", pkg), ("where", f"{pkg}_where:FOLDER"))
    catalog = Catalog.default()
    assert sorted(s.name for s in catalog) == ["Pack_1_I__PackedEnv", "Pack_2_I__FolderEnv"]
    for spec in catalog:
        assert_loads(spec)


@pytest.mark.parametrize(
    "value, words", [("no_such_codegym_pack_module", "failed to load"), ("json:dumps", "not a package or folder")]
)
def test_broken_env_pack(monkeypatch: pytest.MonkeyPatch, value: str, words: str) -> None:
    fake_entry_points(monkeypatch, ("broken", value))
    with pytest.raises(EnvLoadError, match=words) as info:
        Catalog.default()
    assert "'broken'" in str(info.value) and value in str(info.value)


# -- lookup errors --------------------------------------------------------------------------------
@pytest.fixture
def two_code_ids(tmp_path: Path) -> Catalog:
    (tmp_path / "Leetcode_1_I__StairClimbEnv.py").write_text(STAIR_SOURCE)
    (tmp_path / "Codeforces_2_I__StairClimbEnv.py").write_text(STAIR_SOURCE)
    (tmp_path / "Leetcode_3_I__HouseRobberEnv.py").write_text(renamed(STAIR_SOURCE, "HouseRobberEnv"))
    return Catalog.from_paths([tmp_path])


def test_unknown_env_with_did_you_mean(two_code_ids: Catalog) -> None:
    with pytest.raises(EnvNotFound, match=r"unknown env 'HouseRober'.*did you mean .*HouseRobberEnv"):
        two_code_ids.get("HouseRober")
    with pytest.raises(EnvNotFound, match="did you mean Leetcode_3_I__HouseRobberEnv"):
        two_code_ids.resolve('Leetcode_3_I__HouseRobberEmv@{"n": 1}')
    with pytest.raises(EnvNotFound, match=r"'QuiteDifferentThing' \(3 envs in the catalog\)$"):
        two_code_ids.get("QuiteDifferentThing")
    # a right class with a wrong code id says where the class is
    with pytest.raises(EnvNotFound, match="that class exists as Leetcode_3_I__HouseRobberEnv"):
        two_code_ids.get("Leetcode_9_I__HouseRobberEnv")
    with pytest.raises(LookupError):
        Catalog().get("AnyEnv")


def test_ambiguous_class_name(two_code_ids: Catalog) -> None:
    with pytest.raises(AmbiguousEnv) as info:
        two_code_ids.resolve('StairClimbEnv@{"n": 2}')
    message = str(info.value)
    assert "2 envs" in message and "Codeforces_2_I__StairClimbEnv" in message and "Leetcode_1_I__StairClimbEnv" in message
    spec, options = two_code_ids.resolve('codegym_v1@Codeforces_2_I__StairClimbEnv@{"n": 2}')
    assert spec.code_id == "Codeforces_2_I" and options == {"n": 2}
    assert two_code_ids.get("HouseRobberEnv").code_id == "Leetcode_3_I"


def test_unparsable_options_name_the_env(two_code_ids: Catalog) -> None:
    with pytest.raises(OptionsError, match="Leetcode_3_I__HouseRobberEnv"):
        two_code_ids.resolve("Leetcode_3_I__HouseRobberEnv@{'n': ")
    with pytest.raises(OptionsError, match="must be a dict"):
        two_code_ids.resolve("HouseRobberEnv@[1, 2]")


def test_resolve_returns_a_fresh_options_dict(two_code_ids: Catalog) -> None:
    _, first = two_code_ids.resolve('HouseRobberEnv@{"a": 1}')
    first["a"] = 2
    assert two_code_ids.resolve('HouseRobberEnv@{"a": 1}')[1] == {"a": 1}


@pytest.mark.parametrize("name", ["nope_dir", "Leetcode_1_I__MissingEnv.py", "missing.py", "missing.json",
                                  "missing.jsonl", "missing.txt"])
def test_missing_path(tmp_path: Path, name: str) -> None:
    with pytest.raises(EnvLoadError) as info:
        Catalog.from_paths([tmp_path / name])
    assert name in str(info.value)


@pytest.mark.parametrize("content", [None, b"not a parquet file"])
def test_missing_or_corrupt_parquet(tmp_path: Path, content: bytes | None) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "rows.parquet"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(EnvLoadError, match="rows.parquet"):
        Catalog.from_paths([path])


def test_unsupported_file_type(tmp_path: Path) -> None:
    path = tmp_path / "envs.txt"
    path.write_text("hello")
    with pytest.raises(EnvLoadError, match="expected a folder, .py, .json, .jsonl or .parquet"):
        Catalog.from_paths([path])


def test_errors_share_a_base_class() -> None:
    for cls in (EnvNotFound, AmbiguousEnv, OptionsError, EnvLoadError):
        assert issubclass(cls, CodeGymError)


# -- catalog basics -------------------------------------------------------------------------------
def test_add_replaces_by_name_and_source_hash_is_by_content(tmp_path: Path) -> None:
    catalog = Catalog()
    catalog.add(EnvSpec("StairClimbEnv", "A_1", _source=STAIR_SOURCE))
    catalog.add(EnvSpec("StairClimbEnv", "B_1", _source=STAIR_SOURCE))
    replacement = EnvSpec("StairClimbEnv", "A_1", _source=renamed(STAIR_SOURCE, "StairClimbEnv") + "\n# v2\n")
    catalog.add(replacement)
    assert len(catalog) == 2 and "A_1__StairClimbEnv" in catalog
    assert catalog.get("A_1__StairClimbEnv") is replacement
    assert catalog.get("B_1__StairClimbEnv").source_hash != replacement.source_hash
    assert EnvSpec("X", _source="abc").source_hash == EnvSpec("Y", "Z", _source="abc").source_hash
    with pytest.raises(EnvLoadError, match="no source and no path"):
        _ = EnvSpec("LonelyEnv").source


def test_load_env_module_isolates_modules() -> None:
    first = load_env_module(STAIR_SOURCE, "StairClimbEnv", "A_1__StairClimbEnv")
    second = load_env_module(STAIR_SOURCE, "StairClimbEnv", "B_1__StairClimbEnv")
    assert first is not second and first.StairClimbEnv is not second.StairClimbEnv
    with pytest.raises(EnvLoadError, match=r"env A_1__NoSuchEnv: no class 'NoSuchEnv'.*StairClimbEnv"):
        load_env_module(STAIR_SOURCE, "NoSuchEnv", "A_1__NoSuchEnv")


def test_folder_skips_json_that_is_not_an_env_record(tmp_path: Path) -> None:
    (tmp_path / "Leetcode_1_I__StairClimbEnv.py").write_text(STAIR_SOURCE)
    (tmp_path / "notes.json").write_text('{"comment": "not an env"}')
    (tmp_path / "broken.json").write_text("{")
    with pytest.warns(UserWarning, match="skipping"):
        catalog = Catalog.from_paths([tmp_path])
    assert [spec.name for spec in catalog] == ["Leetcode_1_I__StairClimbEnv"]
    with pytest.raises(EnvLoadError, match="notes.json"):  # named explicitly, it must be a record
        Catalog.from_paths([tmp_path / "notes.json"])


def test_row_nulls_do_not_hide_extra_info_values() -> None:
    from codegym_adapters.tasks import Task

    row = {"ability": "codegym_v1@A_1__XEnv@{}", "plugin_call_max_round": None, "index": None,
           "extra_info": {"plugin_call_max_round": 512, "index": 3, "solve_fc_round": None}}
    task = Task.from_row(row)
    assert (task.turn_limit, task.index, task.solve_fc_round) == (512, 3, None)


def test_rows_whose_extra_info_is_a_python_literal_string() -> None:
    row = {"ability": 'codegym_v1@Leetcode_7_I__StairClimbEnv@{"n": 3, "moves": [1, 2]}', "code_id": "Leetcode_7_I",
           "extra_info": str({"gym_env": STAIR_SOURCE, "index": 4, "solve_fc_round": "12", "flag": True}),
           "prompt": [{"role": "user", "content": "Rules.\nQuestion: Climb the stairs."}]}
    catalog = Catalog()
    assert catalog.add_rows([row]) == 1
    spec = catalog.get("Leetcode_7_I__StairClimbEnv")
    assert spec.task == "Climb the stairs."
    assert_loads(spec)
    from codegym_adapters.tasks import Task

    task = Task.from_row(row)
    assert (task.index, task.solve_fc_round, task.extra_info["flag"]) == (4, 12, True)
