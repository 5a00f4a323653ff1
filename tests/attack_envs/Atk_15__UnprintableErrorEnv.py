"""Attack env for the red-team tests: Attack raises an exception whose __str__ raises a BaseException (which itself cannot be printed), on the first try and on every replay."""
import ast
import json
import os
import sys

import gymnasium


class _Unprintable(BaseException):
    def __str__(self):
        raise _Unprintable()


class _LoudError(Exception):
    def __str__(self):
        raise _Unprintable()


class UnprintableErrorEnv(gymnasium.Env):
    def __init__(self, env_str: str = None):
        super().__init__()
        self.func_mapping = {"Observe": 0, "Attack": 1, "Done": 2}
        options = {}
        if env_str is not None:
            options = ast.literal_eval(env_str.split("@", 1)[1])
        self.reset(options)

    @staticmethod
    def from_env_str(env_str: str):
        if not env_str.startswith("UnprintableErrorEnv@"):
            return None
        return UnprintableErrorEnv(env_str=env_str)

    @property
    def finished(self):
        return self._done

    @property
    def reward(self):
        return self._reward

    def reset(self, options: dict = {}):
        if options.get("loud_reset"):
            raise _LoudError()
        self.value = options.get("value", 7)
        self.options = dict(options)
        self._reward = 0
        self._done = False
        return "Environment has been reset."

    def step(self, action: str):
        try:
            call = json.loads(action)
            name, params = call["name"], call.get("parameters", {})
            if name == "Observe":
                msg = self.Observe()
            elif name == "Attack":
                msg = self.Attack(**params)
            elif name == "Done":
                msg = self.Done(**params)
            else:
                msg = f"Error: unknown action {name}"
        except Exception as exc:
            msg = f"Error: {exc}"
        return True, msg

    def Observe(self):
        """Show the hidden value.

        Args:
            None
        Returns:
            str: the value.
        Example Output:
            "7"
        """
        return str(self.value)

    def Attack(self, **params):
        """Run the attack.

        Args:
            None
        Returns:
            str: what the attack did.
        Example Output:
            "done"
        """
        if params.get("base"):
            raise _Unprintable()  # escapes the env's own except Exception
        raise _LoudError()

    def Done(self, answer):
        """Submit the value.

        Args:
            answer (int): the value seen with Observe.
        Returns:
            str: the verdict.
        Example Output:
            "reward=1"
        """
        self._reward = 1 if answer == self.get_ref_answer() else 0
        self._done = True
        return f"Your answer: {answer}, reward={self._reward}"

    def get_ref_answer(self):
        return self.value

    def solve(self):
        value = int(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": value}}))[1]


TASK = "Observe the value and submit it with Done."
CONFIGS = [{}]
