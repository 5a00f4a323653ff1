"""Attack env for the integrity tests (hostile return values): its Done sets a reward of 1e308 (or another value outside [0, 1], chosen by the options)."""
import ast
import json
import os
import sys

import gymnasium



class HugeRewardEnv(gymnasium.Env):
    def __init__(self, env_str: str = None):
        super().__init__()
        self.func_mapping = {"Observe": 0, "Attack": 1, "Done": 2}
        options = {}
        if env_str is not None:
            options = ast.literal_eval(env_str.split("@", 1)[1])
        self.reset(options)

    @staticmethod
    def from_env_str(env_str: str):
        if not env_str.startswith("HugeRewardEnv@"):
            return None
        return HugeRewardEnv(env_str=env_str)

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
        """Run the attack.

        Args:
            None
        Returns:
            str: what the attack did.
        Example Output:
            "done"
        """
        return "ok"

    def Done(self, answer):
        """Submit the value.

        Args:
            answer (int): the value seen with Observe.
        Returns:
            str: the verdict.
        Example Output:
            "reward=1"
        """

        bad = self.options.get("bad_reward", "1e308")
        self._reward = {"1e308": 1e308, "nan": float("nan"), "inf": float("inf"), "two": 2.0, "minus": -1.0,
                        "text": "1"}[bad]
        self._done = True
        return f"Your answer: {answer}, reward={self._reward}"

    def get_ref_answer(self):
        return self.value

    def solve(self):
        value = int(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": value}}))[1]


TASK = "Observe the value and submit it with Done."
CONFIGS = [{}]
