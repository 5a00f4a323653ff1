"""The deliberately broken envs ``tests/test_verify.py`` feeds to ``codegym verify``, each stated as its
one defect: exact text edits of the healthy reference env (``reference/Reference_01__TallyEnv.py``).

``write_broken_envs(folder)`` writes them as env files. Each is the reference with its edits applied,
its class renamed after the file name ``<code_id>__<ClassName>.py``, a docstring saying what is broken,
and no ``generate_config``, so that verify checks only the two fixed configurations.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

REFERENCE = Path(__file__).resolve().parent / "reference" / "Reference_01__TallyEnv.py"


class Defect(NamedTuple):
    what: str  # the env file's docstring: "Broken on purpose: <what>"
    edits: tuple[tuple[str, str], ...]  # (snippet, replacement); each snippet occurs once in the reference


DEFECTS: dict[str, Defect] = {
    "Broken_01__MissingDoneEnv.py": Defect(
        "the class has no Done method (contract).",
        (("    def Done(self, answer):", "    def Submit(self, answer):"),)),
    "Broken_02__RewardsAnythingEnv.py": Defect(
        "Done gives reward 1 whatever the answer.",
        (("self._reward = 1 if answer == ref else 0", "self._reward = 1 if True else 0"),)),
    "Broken_03__NondeterministicEnv.py": Defect(
        "Observe shows a value drawn from an unseeded generator.",
        (('{"count": len(self.nums)}', '{"count": len(self.nums), "ticket": random.random()}'),)),
    "Broken_04__LoopingSolveEnv.py": Defect(
        "solve() loops forever without calling step.",
        (("    def solve(self):\n", "    def solve(self):\n        while True:\n            pass\n"),)),
    "Broken_05__ImportErrorEnv.py": Defect(
        "imports a module that does not exist.",
        (("import gymnasium\n", "import codegym_module_that_does_not_exist\nimport gymnasium\n"),)),
    "Broken_06__HugeMemoryEnv.py": Defect(
        "get_ref_answer() builds a table of ten billion entries.",
        (('        self.nums = list(options.get("nums", [1, 2, 3]))\n',
          '        self.nums = list(options.get("nums", [1, 2, 3]))\n'
          '        self.table_size = int(options.get("table_size", 10**10))\n'),
         ("        return sum(self.nums)\n",
          "        table = [0] * self.table_size  # sized by an option, as some upstream envs do\n"
          "        return sum(self.nums) + len(table) * 0\n"))),
    "Broken_07__WrongOracleEnv.py": Defect(
        "solve() submits the sum plus one.",
        (('{"answer": total}', '{"answer": total + 1}'),)),
    "Broken_08__UndocumentedActionEnv.py": Defect(
        "GetNumber has no Args/Returns sections.",
        (('"""Read one number.\n\n        Args:\n            index (int): its position, from 0.\n'
          '        Returns:\n            str: the number.\n        Example Output:\n            "2"\n        """',
          '"""Read one number."""'),)),
}


def render(file_name: str) -> str:
    """The source of the broken env ``file_name`` (a key of ``DEFECTS``)."""
    defect = DEFECTS[file_name]
    source = REFERENCE.read_text(encoding="utf-8")
    for snippet, replacement in defect.edits:
        count = source.count(snippet)
        assert count == 1, f"{file_name}: {snippet!r} occurs {count} times in the reference, not once"
        source = source.replace(snippet, replacement)
    _, body = source.split("\n", 1)  # the first line is the reference's docstring
    body = body.split("\n\n\ndef generate_config(")[0] + "\n"
    if "random." not in body:
        body = body.replace("import random\n", "")
    class_name = file_name.removesuffix(".py").split("__", 1)[1]
    return f'"""Broken on purpose: {defect.what}"""\n' + body.replace("TallyEnv", class_name)


def write_broken_envs(folder: Path) -> Path:
    """Write every broken env into ``folder`` (made if missing); returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for file_name in DEFECTS:
        (folder / file_name).write_text(render(file_name), encoding="utf-8")
    return folder
