"""An HONEST env (a tripwire false-positive probe): a timed quiz whose `finished` property says
True once its time limit has passed, whether or not a call came in meanwhile."""
import ast
import json
import time

import gymnasium



class ClockEnv(gymnasium.Env):

    def __init__(self, env_str: str = None):
        super().__init__()
        self.func_mapping = {"Observe": 0, "Attack": 1, "Done": 2}
        options = {}
        if env_str is not None:
            options = ast.literal_eval(env_str.split("@", 1)[1])
        self.reset(options)

    @staticmethod
    def from_env_str(env_str: str):
        if not env_str.startswith("ClockEnv@"):
            return None
        return ClockEnv(env_str=env_str)

    @property
    def finished(self):
        return self._done or time.monotonic() - self._start > self.time_limit

    @property
    def reward(self):
        return self._reward

    def reset(self, options: dict = {}):
        self.value = options.get("value", 7)
        self.options = dict(options)
        self._reward = 0
        self._done = False
        self.time_limit = options.get("time_limit", 60.0)
        self._start = time.monotonic()
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
        return "tick"

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
