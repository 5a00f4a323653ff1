"""The synthesis prompts: our own templates (``templates/*.md``, :class:`string.Template` syntax with
``$name`` placeholders), one bundled env (``Bundled_A01__HouseRobberEnv``) as the worked example, and
overrides from a user's folder or JSON file (``--prompts``)."""

from __future__ import annotations

import ast
import json
import textwrap
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template

from .. import pyast
from ..errors import CodeGymError

STAGES = ("system", "env", "unit_tests", "oracle")
PLACEHOLDERS = {
    "system": (),
    "env": ("question", "solution", "example_question", "example_solution", "example_task", "example_env",
            "example_solution_call"),
    "unit_tests": ("class_name", "task", "env_source", "count", "per_level", "example_tests"),
    "oracle": ("class_name", "task", "env_source", "attempt", "attempts", "example_config", "example_solve"),
}
EXAMPLE_FILE = "Bundled_A01__HouseRobberEnv.py"
EXAMPLE_QUESTION = (
    "You are given a list of non-negative integers, the money in each house along a street. You may not "
    "take money from two neighbouring houses. Return the largest total you can take.")
EXAMPLE_SOLUTION = textwrap.dedent("""\
    def rob(nums):
        take, skip = 0, 0
        for value in nums:
            take, skip = skip + value, max(take, skip)
        return max(take, skip)""")
EXAMPLE_SOLUTION_CALL = 'rob(options["houses"])'


@dataclass
class Prompts:
    """The four templates, after overrides."""

    templates: dict[str, str]
    example: dict[str, str] = field(default_factory=dict)

    def render(self, stage: str, **values: object) -> str:
        return Template(self.templates[stage]).substitute({**self.example, **values})

    def messages(self, stage: str, **values: object) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.render("system")},
                {"role": "user", "content": self.render(stage, **values)}]


def _default_templates() -> dict[str, str]:
    folder = resources.files(__package__) / "templates"
    return {stage: (folder / f"{stage}.md").read_text(encoding="utf-8") for stage in STAGES}


def load_prompts(path: str | Path | None = None) -> Prompts:
    """The default templates with those in ``path`` (a folder of ``<stage>.md`` files, or a JSON object
    ``{stage: template}``) put over them. Raises :class:`CodeGymError` for an unknown stage or a
    template using a placeholder its stage does not have."""
    templates = _default_templates()
    if path is not None:
        path = Path(path).expanduser()
        if path.is_dir():
            overrides = {p.stem: p.read_text(encoding="utf-8") for p in sorted(path.glob("*.md"))}
        elif path.is_file():
            try:
                overrides = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise CodeGymError(f"--prompts {path}: not a JSON object of templates: {exc}") from None
            if not isinstance(overrides, dict) or not all(isinstance(v, str) for v in overrides.values()):
                raise CodeGymError(f"--prompts {path}: expected a JSON object {{stage: template text}}")
        else:
            raise CodeGymError(f"--prompts {path}: no such file or folder")
        unknown = sorted(set(overrides) - set(STAGES))
        if unknown:
            raise CodeGymError(f"--prompts {path}: unknown stage(s) {', '.join(unknown)}; known: {', '.join(STAGES)}")
        if not overrides:
            raise CodeGymError(f"--prompts {path}: no templates (<stage>.md files) found")
        templates.update(overrides)
    prompts = Prompts(templates, worked_example())
    for stage in STAGES:  # fail now, not after an hour of model calls
        try:
            Template(templates[stage]).substitute({**prompts.example, **{k: "x" for k in PLACEHOLDERS[stage]}})
        except KeyError as exc:
            raise CodeGymError(f"prompt template {stage!r} uses ${exc.args[0]}, which it does not have; "
                               f"available: {', '.join(PLACEHOLDERS[stage]) or 'none'}") from None
        except ValueError as exc:
            raise CodeGymError(f"prompt template {stage!r}: {exc} (write $$ for a literal $)") from None
    return prompts


def _example_source() -> str:
    try:
        return (resources.files("codegym_adapters.envs") / EXAMPLE_FILE).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return (Path(__file__).resolve().parents[2] / "envs" / EXAMPLE_FILE).read_text(encoding="utf-8")


def worked_example() -> dict[str, str]:
    """The worked example's pieces, from the bundled HouseRobberEnv: its file as the upstream format has
    it (no ``TASK``/``CONFIGS``/``generate_config``, a ``__main__`` block with literal env strings), its
    task text, three of its configurations and its ``solve``."""
    source = _example_source()
    tree = pyast.parse(source)
    values = {}
    drop: list[tuple[int, int]] = []
    for node in tree.body:
        name = getattr(node, "name", None) or next(
            (t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)), None)
        if isinstance(node, ast.If) or name in ("TASK", "CONFIGS", "generate_config") or (
                isinstance(node, ast.Import) and [a.name for a in node.names] == ["random"]):
            if name in ("TASK", "CONFIGS"):
                values[name] = pyast.literal_eval(node.value) if name == "TASK" else None
            drop.append((node.lineno, node.end_lineno or node.lineno))
    configs = [{"houses": [2, 7, 9, 3, 1]}, {"houses": [5, 1, 1, 5, 3, 9, 2, 2, 6, 4, 7]},
               {"houses": [14, 3, 27, 8, 0, 19, 33, 6, 2, 41, 17, 9, 24, 5, 38, 11, 0, 29, 16, 7]}]
    lines = source.splitlines()
    kept = [line for i, line in enumerate(lines, 1)
            if not any(a <= i <= b for a, b in drop) and line.strip() not in ("# fmt: off", "# fmt: on")]
    body = "\n".join(kept).rstrip() + "\n\n\n" + textwrap.dedent(f"""\
        if __name__ == "__main__":
            # test case 1
            env = HouseRobberEnv.from_env_str('HouseRobberEnv@{json.dumps(configs[0])}')
            print(env.solve())
            print("step count:", env.step_count)

            # test case 2
            env = HouseRobberEnv.from_env_str('HouseRobberEnv@{json.dumps(configs[1])}')
            print(env.solve())
            print("step count:", env.step_count)""")
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    solve = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "solve")
    tests = [{"level": level, "options": c} for level, c in zip(("easy", "medium", "hard"), configs, strict=True)]
    return {
        "example_question": EXAMPLE_QUESTION,
        "example_solution": EXAMPLE_SOLUTION,
        "example_solution_call": EXAMPLE_SOLUTION_CALL,
        "example_task": str(values.get("TASK", "")),
        "example_env": body.strip("\n"),
        "example_tests": json.dumps(tests, indent=2),
        "example_solve": textwrap.dedent(ast.get_source_segment(source, solve) or ""),
    }
