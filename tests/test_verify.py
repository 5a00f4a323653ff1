"""Tests for ``codegym verify``: bundled envs pass; each deliberately broken env is rejected with its
reason (nothing hangs); upstream-format folders, records and ``--configs`` files work."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

import pytest
from broken_envs.defects import write_broken_envs

from codegym_adapters import cli, contract
from codegym_adapters.catalog import Catalog
from codegym_adapters.configs import ConfigIndex
from codegym_adapters.runtime import make_runtime
from codegym_adapters.verify import VerifyOptions, verify_env

REPO = Path(__file__).resolve().parent.parent
BUNDLED = REPO / "envs"
TALLY = (REPO / "tests" / "broken_envs" / "reference" / "Reference_01__TallyEnv.py").read_text(encoding="utf-8")
EXPECTED_REASONS = {
    "Broken_01__MissingDoneEnv": "contract",
    "Broken_02__RewardsAnythingEnv": "rewards_wrong_answer",
    "Broken_03__NondeterministicEnv": "nondeterministic",
    "Broken_04__LoopingSolveEnv": "timeout",
    "Broken_05__ImportErrorEnv": "import_error",
    "Broken_06__HugeMemoryEnv": "memory",
    "Broken_07__WrongOracleEnv": "oracle_not_solved",
    "Broken_08__UndocumentedActionEnv": "contract",
}
# The reference env as an upstream file: no CONFIGS, no TASK, no generator.
UPSTREAM_TALLY = TALLY.split("\nTASK = ")[0] + "\n"
SOLVE_DONE = '        return self.step(json.dumps({"name": "Done", "parameters": {"answer": total}}))[1]\n'


def codegym(*argv: str) -> int:
    """Run the real CLI entry point."""
    return cli.main(list(argv))


@pytest.fixture
def tally_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "tally"
    folder.mkdir()
    (folder / "Reference_01__TallyEnv.py").write_text(TALLY)
    return folder


def read_report(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# -- the acceptance runs ---------------------------------------------------------------------------
def test_bundled_envs_pass_in_the_sandbox(tmp_path, capsys):
    report_path = tmp_path / "report.json"
    assert codegym("verify", str(BUNDLED), "--report", str(report_path), "--jobs", "4") == 0
    report = read_report(report_path)
    files = [p for p in BUNDLED.glob("*.py") if not p.name.startswith("__")]
    assert report["runtime"] == "sandbox"
    assert report["summary"] == {"envs": len(files), "passed": len(files), "failed": 0, "no_configs": 0,
                                 "configs_checked": report["summary"]["configs_checked"]}
    assert report["quarantined"] == []
    for env in report["envs"]:
        assert env["status"] == "passed", env
        assert env["configs_checked"] >= 10 + VerifyOptions.generated
        assert {"fixed", "generated"} <= {c["source"] for c in env["configs"]}
        assert all(c["ok"] and c["solve_fc_round"] >= 1 for c in env["configs"])
        assert 4 <= len(env["actions"]) <= 10 and {"Observe", "Done"} <= set(env["actions"])
        assert env["solve_fc_round"]["min"] <= env["solve_fc_round"]["max"]
    out = capsys.readouterr().out
    assert f"{len(files)} of {len(files)} envs passed" in out


@pytest.fixture(scope="module")
def broken_dir(tmp_path_factory) -> Path:
    """A folder of the broken envs, written from their defects (tests/broken_envs/defects.py)."""
    return write_broken_envs(tmp_path_factory.mktemp("broken_envs"))


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory, broken_dir):
    folder = tmp_path_factory.mktemp("broken")
    report_path = folder / "report.json"
    rc = codegym("verify", str(broken_dir), "--report", str(report_path), "--step-timeout", "2",
                 "--memory-mb", "512", "--jobs", "8")
    return rc, read_report(report_path)


@pytest.mark.timeout(120)
def test_broken_suite_fails_the_run(broken_run, broken_dir):
    rc, report = broken_run
    assert rc == 1
    assert report["summary"]["failed"] == len(EXPECTED_REASONS) == len(list(broken_dir.glob("Broken_*.py")))
    assert {q["env"] for q in report["quarantined"]} == set(EXPECTED_REASONS)


@pytest.mark.parametrize("env,reason", sorted(EXPECTED_REASONS.items()))
def test_each_broken_env_is_rejected_with_its_reason(broken_run, env, reason):
    _, report = broken_run
    verdict = next(e for e in report["envs"] if e["env"] == env)
    assert (verdict["status"], verdict["reason"]) == ("failed", reason), verdict["detail"]


def test_broken_details_say_what_happened(broken_run):
    _, report = broken_run
    detail = {e["env"]: e["detail"] for e in report["envs"]}
    assert "lacks Done" in detail["Broken_01__MissingDoneEnv"]
    assert "got reward 1" in detail["Broken_02__RewardsAnythingEnv"]
    assert "Observe" in detail["Broken_03__NondeterministicEnv"]
    assert "solve()" in detail["Broken_04__LoopingSolveEnv"]
    assert "codegym_module_that_does_not_exist" in detail["Broken_05__ImportErrorEnv"]
    assert "memory" in detail["Broken_06__HugeMemoryEnv"].lower()
    assert "GetNumber" in detail["Broken_08__UndocumentedActionEnv"]


def test_table_and_quarantine_list_are_printed(tmp_path, broken_dir, capsys):
    report_path = tmp_path / "r.json"
    rc = codegym("verify", str(broken_dir / "Broken_02__RewardsAnythingEnv.py"), str(BUNDLED / sorted(
        p.name for p in BUNDLED.glob("Bundled_*.py"))[0]), "--report", str(report_path), "--runtime", "inprocess")
    out = capsys.readouterr().out
    assert rc == 1
    assert "FAILED" in out and "rewards_wrong_answer" in out and "1 of 2 envs passed" in out
    assert "quarantined (1):\n  Broken_02__RewardsAnythingEnv: rewards_wrong_answer" in out


def test_json_flag_prints_the_report(tmp_path, tally_dir, capsys):
    rc = codegym("verify", str(tally_dir), "--json", "--report", str(tmp_path / "r.json"), "--runtime", "inprocess")
    printed = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert printed == read_report(tmp_path / "r.json")
    env = printed["envs"][0]
    assert env["env"] == "Reference_01__TallyEnv" and env["status"] == "passed"
    # Observe, a GetNumber and an Add per number, Done; two fixed configurations, then sizes 4 and 12
    assert [c["solve_fc_round"] for c in env["configs"]] == [12, 18, 10, 26]
    assert [c["source"] for c in env["configs"]] == ["fixed", "fixed", "generated", "generated"]
    assert [c["ref_answer"] for c in env["configs"]][:2] == [66, 31]
    assert env["solve_fc_round"] == {"min": 10, "max": 26, "mean": 16.5}


# -- upstream formats -----------------------------------------------------------------------------
def test_upstream_file_without_configs_is_checked_with_empty_options(tmp_path):
    folder = tmp_path / "up"
    folder.mkdir()
    (folder / "Leetcode_1_I__TallyEnv.py").write_text(UPSTREAM_TALLY)
    assert codegym("verify", str(folder), "--report", str(tmp_path / "r.json")) == 0
    env = read_report(tmp_path / "r.json")["envs"][0]
    assert [c["source"] for c in env["configs"]] == ["default"]
    assert env["configs"][0]["solve_fc_round"] == 8  # the default numbers [1, 2, 3]
    assert any("no configurations" in n for n in env["notes"])
    assert any("no task text" in n for n in env["notes"])


def test_verified_record_unit_tests_are_the_configurations(tmp_path):
    record = {
        "code_id": "Leetcode_2_I", "idx": 2, "env_name": "TallyEnv", "gym_env": UPSTREAM_TALLY,
        "gym_task": "Add up the numbers.", "docstring": "",
        "unit_test_list": [
            {"unit_test": "TallyEnv@{'nums': [1, 2]}", "ref_answer": 3, "time": 0.0, "mem": 0, "solve_fc_round": 6},
            {"unit_test": 'TallyEnv@{"nums": [5]}', "ref_answer": 6, "time": 0.0, "mem": 0, "solve_fc_round": 4},
        ],
    }
    path = tmp_path / "Leetcode_2_I__TallyEnv.json"
    path.write_text(json.dumps(record))
    assert codegym("verify", str(path), "--report", str(tmp_path / "r.json")) == 0
    env = read_report(tmp_path / "r.json")["envs"][0]
    assert env["env"] == "Leetcode_2_I__TallyEnv"
    assert [(c["source"], c["options"], c["solve_fc_round"]) for c in env["configs"]] == [
        ("record", {"nums": [1, 2]}, 6), ("record", {"nums": [5]}, 4)]
    # the record's second ref_answer is wrong: noted, not fatal (the env's own answer decides)
    assert any("differs from get_ref_answer()" in n for n in env["notes"])
    assert not any("no task text" in n for n in env["notes"])


def test_configs_file_adds_configurations(tmp_path, capsys):
    folder = tmp_path / "up"
    folder.mkdir()
    (folder / "Leetcode_3_I__TallyEnv.py").write_text(UPSTREAM_TALLY)
    configs = tmp_path / "configs.txt"
    configs.write_text('Leetcode_3_I__TallyEnv@{"nums": [9]}\nTallyEnv@{\'nums\': [1]}\nOther_1__TallyEnv@{}\n')
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"ability": 'codegym_v1@Leetcode_3_I__TallyEnv@{"nums": [4]}'}) + "\n")
    rc = codegym("verify", str(folder), "--configs", str(configs), "--configs", str(rows),
                 "--report", str(tmp_path / "r.json"), "--runtime", "inprocess")
    assert rc == 0, capsys.readouterr()
    env = read_report(tmp_path / "r.json")["envs"][0]
    assert sorted(c["options"]["nums"][0] for c in env["configs"]) == [1, 4, 9]  # not Other_1's


def test_row_files_are_verified_on_their_own_configurations(tmp_path):
    rows = [{"ability": f"codegym_v1@Code_Contests_7_I__TallyEnv@{{'nums': {n}}}", "data_source": "codegym_v1",
             "extra_info": {"index": i, "gym_env": UPSTREAM_TALLY}} for i, n in enumerate(([2], [3, 4], [2]))]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert codegym("verify", str(path), "--report", str(tmp_path / "r.json"), "--runtime", "inprocess") == 0
    env = read_report(tmp_path / "r.json")["envs"][0]
    assert [c["options"] for c in env["configs"]] == [{"nums": [2]}, {"nums": [3, 4]}]  # deduplicated


# -- the checks, one by one -----------------------------------------------------------------------
def _verify_source(tmp_path: Path, source: str, name: str = "Test_9_I__TallyEnv", **options):
    assert source != TALLY, "the edit to the reference env did not apply"
    folder = tmp_path / "one"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.py").write_text(source)
    catalog = Catalog.from_paths([folder])

    async def main():
        async with make_runtime("inprocess", catalog) as runtime:
            return await verify_env(runtime, catalog.get(name), ConfigIndex(), VerifyOptions(**options))

    return asyncio.run(main())


def test_solve_that_calls_done_twice_is_judged_at_the_first_done(tmp_path):
    wrong_first = '        self.step(json.dumps({"name": "Done", "parameters": {"answer": -1}}))\n'
    report = _verify_source(tmp_path, TALLY.replace(SOLVE_DONE, wrong_first + SOLVE_DONE))
    assert report.reason == "oracle_not_solved"
    assert "ends at call 12 of 13 with reward 0" in report.detail


def test_solve_without_done_is_an_oracle_failure(tmp_path):
    report = _verify_source(tmp_path, TALLY.replace(SOLVE_DONE, "        self._reward = 1\n        return 'done'\n"))
    assert report.reason == "oracle_failed" and "never called Done" in report.detail


def test_failing_reference_answer_is_rejected(tmp_path):
    report = _verify_source(tmp_path, TALLY.replace("        return sum(self.nums)\n", "        return 1 / 0\n"))
    assert report.reason == "ref_answer_failed" and "ZeroDivisionError" in report.detail


def test_reset_failure_is_rejected(tmp_path):
    check = '        if "numbers" in options:\n            raise KeyError("numbers is not an option")\n'
    source = TALLY.replace("        self._reward = 0\n", check + "        self._reward = 0\n", 1)
    source = source.replace('{"nums": [3, 1, 4, 1, 5, 9, 2, 6]}]', '{"numbers": [3, 1]}]')
    report = _verify_source(tmp_path, source)
    assert report.reason == "reset_failed" and "KeyError" in report.detail and "configuration 1" in report.detail
    assert report.configs[0].ok and not report.configs[1].ok


def test_failing_generator_is_rejected(tmp_path):
    source = TALLY.replace("    rng = random.Random(seed)\n", "    rng = random.Random(seed)\n    assert size < 10, 'too big'\n")
    report = _verify_source(tmp_path, source, generated=2)
    assert report.reason == "generator_failed" and "size=12" in report.detail and "too big" in report.detail


def test_max_configs_and_notes(tmp_path):
    report = _verify_source(tmp_path, TALLY.replace("TASK = ", "TASK_TEXT = "), max_configs=1, generated=0)
    assert report.passed and len(report.configs) == 1
    assert any("checked 1 of 2" in n for n in report.notes)
    assert any("no task text" in n for n in report.notes)


# -- static contract checks -----------------------------------------------------------------------
def test_contract_sees_members_of_base_classes_in_the_same_file():
    source = textwrap.dedent('''
        import gymnasium
        class Base(gymnasium.Env):
            def step(self, action): ...
            def reset(self, options={}): ...
            @property
            def finished(self): ...
        class ChildEnv(Base):
            def __init__(self):
                self.func_mapping = {}
            @property
            def reward(self): ...
            def Observe(self): ...
    ''')
    shape = contract.class_shape(source, "ChildEnv")
    assert contract.missing_members(shape) == ["Done", "get_ref_answer", "solve", "from_env_str"]
    assert {"finished", "reward"} <= shape.properties


def test_contract_action_docs():
    source = textwrap.dedent('''
        class E:
            def A(self):
                """Do a.

                Args:
                    None
                Returns:
                    str: text.
                """
            def B(self):
                """Do b.

                Returns:
                    str: text.
                Example Output:
                    "x"
                """
            def C(self): pass
    ''')
    shape = contract.class_shape(source, "E")
    problems, notes = contract.action_doc_problems(shape, ["A", "B", "C", "D"])
    assert problems == ["action 'B' docstring lacks Args:", "action 'C' has no docstring",
                        "action 'D' in func_mapping is not a method of E"]
    assert notes == ["no 'Example Output:' section in A"]


def test_missing_paths_and_empty_folders_are_clear_errors(tmp_path, broken_dir, capsys):
    assert codegym("verify", str(tmp_path / "nope")) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert codegym("verify", str(tmp_path / "empty"), "--report", "") == 2
    assert "no envs found" in capsys.readouterr().err
    assert codegym("verify", str(broken_dir), "--configs", str(tmp_path / "missing.txt")) == 2
    assert "configs file" in capsys.readouterr().err


# -- one source for the numbers (issue 14 item 10) -------------------------------------------------
def test_readme_bundled_table_is_what_verify_finds() -> None:
    from codegym_adapters import envtable

    reports = asyncio.run(envtable.bundled_reports())
    readme = envtable.readme_path().read_text(encoding="utf-8")
    assert envtable.section_of(readme) == envtable.render(reports), "run scripts/bundled_table.py"
    assert len(reports) == 22


def test_list_show_and_verify_count_the_same_configurations(tmp_path, capsys) -> None:
    report_path = tmp_path / "r.json"
    assert codegym("verify", str(BUNDLED / "Bundled_A01__HouseRobberEnv.py"), "--runtime", "inprocess",
                   "--report", str(report_path)) == 0
    (env,) = read_report(report_path)["envs"]
    capsys.readouterr()
    assert codegym("list", str(BUNDLED), "--json", "--runtime", "inprocess") == 0
    listed = {r["env"]: r for r in json.loads(capsys.readouterr().out)}["Bundled_A01__HouseRobberEnv"]
    assert listed["configs"] == env["configs_checked"] == 13
    assert listed["config_counts"] == {"fixed": 11, "generated": 2}
    assert codegym("show", "HouseRobberEnv", "--runtime", "inprocess") == 0
    out = capsys.readouterr().out
    assert "Configurations verify checks: 13 (11 fixed, 2 generated)" in out
    assert "... and 8 more" in out and "+ 2 from generate_config(seed, size)" in out
    rounds = f"{env['solve_fc_round']['min']}–{env['solve_fc_round']['max']}"
    from codegym_adapters import envtable

    assert f"| 13 (11 fixed, 2 generated) | {rounds} |" in envtable.section_of(envtable.readme_path().read_text())
