"""Shared fixtures: small envs written in the CodeGym file format, and runtimes over them."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest

from codegym_adapters.catalog import Catalog

REPO = Path(__file__).resolve().parent.parent

COUNTER_ENV = textwrap.dedent('''
    import ast
    import json

    import gymnasium


    class CounterEnv(gymnasium.Env):
        def __init__(self, env_str: str = None):
            super().__init__()
            self.OBSERVE, self.ADD, self.DONE, self.EXPLODE = 0, 1, 2, 3
            self.func_mapping = {"Observe": self.OBSERVE, "Add": self.ADD, "Done": self.DONE,
                                 "Explode": self.EXPLODE}
            if env_str is not None:
                options = ast.literal_eval(env_str.split("@", 1)[1])
                self.reset(options)

        @staticmethod
        def from_env_str(env_str: str):
            prefix = "CounterEnv@"
            if not env_str.startswith(prefix):
                return None
            return CounterEnv(env_str=env_str)

        def reset(self, options: dict = {}):
            self.target = options.get("target", 3)
            self.total = 0
            self._reward = 0
            self._done = False
            self.step_count = 0
            return "Environment has been reset."

        def step(self, action: str):
            self.step_count += 1
            if "Explode" in action:
                raise RuntimeError("boom")
            try:
                call = json.loads(action)
                name, params = call["name"], call["parameters"]
                if name == "Observe":
                    msg = self.Observe()
                elif name == "Add":
                    msg = self.Add(**params)
                elif name == "Done":
                    msg = self.Done(**params)
                else:
                    msg = f"Error: unknown action {name}"
            except Exception as exc:
                msg = f"Error: {exc}"
            return True, msg

        def Observe(self):
            """Show the running total and the target.

            Args:
                None
            Returns:
                str: the state as JSON.
            Example Output:
                "{\\"total\\": 0, \\"target\\": 3}"
            """
            return json.dumps({"total": self.total, "target": self.target})

        def Add(self, x: int):
            """Add x to the running total.

            Args:
                x (int): the amount to add.
            Returns:
                str: the new total.
            Example Output:
                "1"
            """
            if not isinstance(x, int):
                raise ValueError("x must be an integer")
            self.total += x
            return str(self.total)

        def Explode(self):
            """An action whose step raises (an env bug).

            Args:
                None
            Returns:
                str: never returns.
            Example Output:
                ""
            """
            raise RuntimeError("boom")

        def Done(self, answer):
            """Submit the final total.

            Args:
                answer (int): the total.
            Returns:
                str: the verdict.
            Example Output:
                "Your answer: 3, reward=1"
            """
            ref = self.get_ref_answer()
            self._reward = 1 if answer == ref else 0
            self._done = True
            return f"Your answer: {answer}, reference: {ref}, reward={self._reward}"

        @property
        def finished(self):
            return self._done

        @property
        def reward(self):
            return float(self._reward)

        def get_ref_answer(self):
            return self.target

        def solve(self):
            state = json.loads(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
            for _ in range(state["target"]):
                self.step(json.dumps({"name": "Add", "parameters": {"x": 1}}))
            return self.step(json.dumps({"name": "Done", "parameters": {"answer": state["target"]}}))[1]


    TASK = "Add ones until the total reaches the target, then submit the total with Done."
    CONFIGS = [{"target": 2}, {"target": 5}]
''')


@pytest.fixture
def counter_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "envs"
    folder.mkdir()
    (folder / "Test_0001__CounterEnv.py").write_text(COUNTER_ENV)
    return folder


@pytest.fixture
def counter_catalog(counter_dir: Path) -> Catalog:
    return Catalog.from_paths([counter_dir])


def run(coro):
    """Run a coroutine on a fresh event loop. Prefer ``from asyncio import run`` in new tests:
    ``conftest`` is not a unique module name once the trainer suites add their own."""
    return asyncio.run(coro)
