"""An HONEST env (a tripwire false-positive probe): at import it teaches json to write numpy
numbers and arrays by replacing json.JSONEncoder.default, the documented extension point, a
widespread idiom (it never touches anything the worker answers with: plain data never reaches default)."""
import ast
import json
import numpy as np

import gymnasium

_plain_default = json.JSONEncoder.default


def _numpy_default(self, obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return _plain_default(self, obj)


json.JSONEncoder.default = _numpy_default


class NumpyJsonEnv(gymnasium.Env):

    def __init__(self, env_str: str = None):
        super().__init__()
        self.func_mapping = {"Observe": 0, "Attack": 1, "Done": 2}
        options = {}
        if env_str is not None:
            options = ast.literal_eval(env_str.split("@", 1)[1])
        self.reset(options)

    @staticmethod
    def from_env_str(env_str: str):
        if not env_str.startswith("NumpyJsonEnv@"):
            return None
        return NumpyJsonEnv(env_str=env_str)

    @property
    def finished(self):
        return self._done

    @property
    def reward(self):
        return self._reward

    def reset(self, options: dict = {}):
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
        """Do the env's extra thing (nothing hostile: this env is honest).

        Args:
            None
        Returns:
            str: what it did.
        Example Output:
            "done"
        """
        return json.dumps({"grid": np.arange(3), "best": np.int64(self.value)})

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
        self.step(json.dumps({"name": "Observe", "parameters": {}}))
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": self.get_ref_answer()}}))[1]


TASK = "Observe the value and submit it with Done."
CONFIGS = [{}]
