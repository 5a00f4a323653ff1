"""The parts of ``codegym synthesize`` that need no model: reply parsing, ast splicing and the
actions-only check, prompt templates and overrides, problem files, and the stage stores."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from codegym_adapters.cli import main
from codegym_adapters.errors import CodeGymError
from codegym_adapters.synth import prompts as prompts_mod
from codegym_adapters.synth.problems import code_id_of, read_problems
from codegym_adapters.synth.replies import MalformedReply, json_value, python_code, section, strip_reasoning
from codegym_adapters.synth.splice import add_method, non_action_uses, parse_candidate, replace_method
from codegym_adapters.synth.store import StageStore

ENV = '''import json


class TinyEnv:
    # a comment that must survive
    def __init__(self):
        self.func_mapping = {"Observe": 0, "Done": 1}
        self.value = 3

    def step(self, action):
        return True, "ok"

    @staticmethod
    def helper():
        return 1

    def solve(self):
        # the old oracle
        return self.Done(self.value)


if __name__ == "__main__":
    print(TinyEnv().solve())
'''


# -- replies -------------------------------------------------------------------------------------------
def test_reasoning_is_stripped_closed_or_dangling() -> None:
    assert strip_reasoning("<think>plan ```python\nx(\n```</think>\nanswer") == "answer"
    assert strip_reasoning("thinking that began in the prompt</think>  answer ") == "answer"
    assert strip_reasoning("<THINK>a</THINK>b<think>c</think>d") == "bd"
    assert strip_reasoning("plain") == "plain"


def test_sections_code_and_json() -> None:
    text = "<task>\n find it \n</task><env_code>```python\nx = 1\n```</env_code>"
    assert section(text, "task") == "find it" and section(text, "missing") is None
    assert python_code(section(text, "env_code"), "env") == "x = 1"
    assert python_code("```python\na = 1\n```\ntext\n```py\nlonger = 2\n```", "c") == "longer = 2"
    with pytest.raises(MalformedReply, match="not closed"):
        python_code("```python\nx = 1", "c")
    assert json_value('Sure:\n```json\n[{"a": 1}]\n```', "t") == [{"a": 1}]
    assert json_value('here [1, 2] ok', "t") == [1, 2]
    with pytest.raises(MalformedReply, match="no JSON"):
        json_value("easy ones, then hard ones", "t")


# -- splicing and the actions-only check -----------------------------------------------------------------
def _solve(code: str) -> ast.FunctionDef:
    candidate = parse_candidate(code)
    assert candidate.func is not None, candidate
    return candidate.func


def test_splicing_replaces_only_solve_and_keeps_the_rest_of_the_file() -> None:
    new = _solve("import math\ndef solve(self):\n    return self.step(json.dumps({'name': 'Done'}))[1]\n")
    result = replace_method(ENV, "TinyEnv", new)
    assert "# a comment that must survive" in result and 'if __name__ == "__main__":' in result
    assert "the old oracle" not in result and "@staticmethod" in result
    tree = ast.parse(result)
    solve = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "solve")
    assert isinstance(solve.body[0], ast.Import)  # the candidate's import moved into solve
    assert result.replace(ast.get_source_segment(result, solve), "") == \
        ENV.replace(ast.get_source_segment(ENV, next(n for n in ast.walk(ast.parse(ENV))
                                                      if isinstance(n, ast.FunctionDef) and n.name == "solve")), "")


def test_a_method_is_added_when_absent() -> None:
    result = add_method(ENV, "TinyEnv", "def probe(self):\n    return 42\n")
    cls = next(n for n in ast.parse(result).body if isinstance(n, ast.ClassDef))
    assert [n.name for n in cls.body if isinstance(n, ast.FunctionDef)][-1] == "probe"


@pytest.mark.parametrize(("code", "problem"), [
    ("def solve(self):\n    return self.value", "self.value"),
    ("def solve(self):\n    self.step('{}')\n    return self.get_ref_answer()", "self.get_ref_answer"),
    ("def solve(self):\n    f = getattr(self, 'step')\n    return f('{}')", "getattr"),
    ("def solve(self):\n    return helper(self)\n", "uses self "),
    ("def solve(self):\n    self.step('{}')\n    return self.__dict__", ".__dict__"),
    ("def solve(self):\n    return 1", "never calls self.step"),
])
def test_oracles_that_reach_past_the_actions_are_refused(code: str, problem: str) -> None:
    candidate = parse_candidate(code)
    assert candidate.reason == "oracle_not_actions" and problem in candidate.detail + " "


def test_an_oracle_using_only_step_is_accepted_even_inside_a_class() -> None:
    func = _solve("class X:\n    def solve(self):\n        s = self.step\n        return s('{}')[1]\n")
    assert non_action_uses(func) == []


@pytest.mark.parametrize(("code", "reason"), [
    ("def solve(self):\n    return (", "oracle_syntax_error"),
    ("def other(self):\n    return 1", "oracle_malformed"),
    ("def helper():\n    return 1\n\ndef solve(self):\n    return self.step('x')", "oracle_malformed"),
    ("def solve(self, extra):\n    return self.step('x')", "oracle_malformed"),
])
def test_malformed_candidates(code: str, reason: str) -> None:
    assert parse_candidate(code).reason == reason


# -- prompts ---------------------------------------------------------------------------------------------
def test_default_prompts_use_the_bundled_env_as_worked_example() -> None:
    prompts = prompts_mod.load_prompts()
    text = prompts.render("env", question="Q?", solution="def f(): pass")
    assert "class HouseRobberEnv(gymnasium.Env)" in text and "Q?" in text
    example = prompts.example["example_env"]
    assert "CONFIGS" not in example and "generate_config" not in example and "TASK =" not in example
    assert "HouseRobberEnv.from_env_str('HouseRobberEnv@{\"houses\": [2, 7, 9, 3, 1]}')" in example
    compile(example, "example", "exec")  # the worked example is a valid file
    assert "def solve(self):" in prompts.example["example_solve"]


def test_templates_are_overridden_from_a_folder_or_a_json_file(tmp_path: Path) -> None:
    (tmp_path / "oracle.md").write_text("Write solve for $class_name, attempt $attempt.")
    prompts = prompts_mod.load_prompts(tmp_path)
    assert prompts.render("oracle", class_name="AEnv", attempt=2, attempts=3, task="", env_source="",
                          example_config="") == "Write solve for AEnv, attempt 2."
    assert "# Stage: environment" in prompts.templates["env"]  # the others stay
    file = tmp_path / "p.json"
    file.write_text(json.dumps({"system": "Be brief."}))
    assert prompts_mod.load_prompts(file).render("system") == "Be brief."


@pytest.mark.parametrize(("content", "message"), [
    ({"envv": "x"}, "unknown stage"),
    ({"oracle": "uses $question"}, r"uses \$question"),
    ({"env": "costs 5$"}, r"write \$\$"),
])
def test_bad_templates_fail_before_any_model_call(tmp_path: Path, content: dict, message: str) -> None:
    file = tmp_path / "p.json"
    file.write_text(json.dumps(content))
    with pytest.raises(CodeGymError, match=message):
        prompts_mod.load_prompts(file)


# -- problems --------------------------------------------------------------------------------------------
def test_problems_from_jsonl_and_parquet_with_configurable_columns(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rows = [{"pid": "Leetcode 12/I", "q": "Add two numbers.", "sol": "def add(a, b):\n    return a + b"},
            {"pid": "cf-7", "q": "Negate.", "sol": None}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "p.parquet")
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name in ("p.parquet", "p.jsonl"):
        problems = read_problems(tmp_path / name, id_column="pid", question_column="q", solution_column="sol")
        assert [p.code_id for p in problems] == ["Leetcode_12_I", "cf_7"]
        assert problems[1].solution == ""
    with pytest.raises(CodeGymError, match="no column 'question_id'"):
        read_problems(tmp_path / "p.jsonl")


def test_problem_ids_must_give_distinct_code_ids(tmp_path: Path) -> None:
    (tmp_path / "p.jsonl").write_text('{"question_id": "a-b", "question": "x"}\n{"question_id": "a_b", "question": "y"}\n')
    with pytest.raises(CodeGymError, match="gives code_id 'a_b'"):
        read_problems(tmp_path / "p.jsonl")
    assert code_id_of("x__y") == "x_y" and code_id_of("!!") == "problem"


def test_cli_reports_bad_input_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "p.jsonl").write_text('{"id": "a", "text": "x"}\n')
    code = main(["synthesize", "--problems", str(tmp_path / "p.jsonl"), "--model", "http://127.0.0.1:9",
                 "--out", str(tmp_path / "out"), "--no-progress"])
    assert code == 2 and "--id-column" in capsys.readouterr().err
    code = main(["synthesize", "--problems", str(tmp_path / "p.jsonl"), "--model", "http://127.0.0.1:9",
                 "--out", str(tmp_path / "out"), "--min-rounds", "300"])
    assert code == 2 and "min-rounds 300 is above max-rounds" in capsys.readouterr().err


# -- stores ----------------------------------------------------------------------------------------------
def test_a_store_drops_a_torn_last_line_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "env.jsonl"
    store = StageStore(path)
    store.add_reply("p1", "env", "reply text", finish_reason="stop")
    store.add_result("p1", {"status": "ok"})
    store.close()
    with open(path, "a") as f:
        f.write('{"kind": "reply", "id": "p2", "call": "env", "te')  # killed mid-write
    again = StageStore(path)
    assert again.reply("p1", "env")["text"] == "reply text" and again.result("p1")["status"] == "ok"
    assert again.reply("p2", "env") is None
    again.add_reply("p2", "env", "new")
    again.close()
    assert all(json.loads(line) for line in path.read_text().splitlines())


def test_generated_code_is_never_run_in_the_synthesizing_process() -> None:
    """No exec/eval/import of generated code anywhere in the package: it goes to the sandbox runtime."""
    package = Path(prompts_mod.__file__).parent
    for file in package.glob("*.py"):
        text = file.read_text()
        for pattern in (r"\bexec\(", r"\beval\(", r"load_env_module", r"import_module", r"inprocess",
                        r"InProcess", r"(?<!re\.)\bcompile\("):
            assert not re.search(pattern, text), f"{file.name} uses {pattern}"
    assert 'make_runtime("sandbox"' in (package / "command.py").read_text()
