"""Broken on purpose: imports a module that does not exist."""

import ast
import json

import codegym_module_that_does_not_exist  # noqa: F401
import gymnasium


class ImportErrorEnv(gymnasium.Env):
    def __init__(self, env_str: str = None):
        super().__init__()
        self.OBSERVE, self.GET_NUMBER, self.ADD, self.DONE = 0, 1, 2, 3
        self.func_mapping = {"Observe": self.OBSERVE, "GetNumber": self.GET_NUMBER, "Add": self.ADD,
                             "Done": self.DONE}
        options = {}
        if env_str is not None:
            options = ast.literal_eval(env_str.split("@", 1)[1])
        self.reset(options)

    @property
    def finished(self) -> bool:
        return self._done

    @property
    def reward(self):
        return float(self._reward)

    @staticmethod
    def from_env_str(env_str: str):
        prefix = "ImportErrorEnv@"
        if not env_str.startswith(prefix):
            return None
        return ImportErrorEnv(env_str=env_str)

    def reset(self, options: dict = {}):  # noqa: B006
        self.nums = list(options.get("nums", [1, 2, 3]))
        self._reward = 0
        self._done = False
        self.step_count = 0
        return "Environment has been reset."

    def get_ref_answer(self):
        return sum(self.nums)

    def step(self, action: str):
        self.step_count += 1
        try:
            call = json.loads(action)
            name, params = call["name"], call.get("parameters", {})
            if name not in self.func_mapping:
                raise ValueError(f"unknown action {name}")
            msg = getattr(self, name)(**params)
        except Exception as exc:
            msg = f"Error: {exc}"
        return True, msg

    def Observe(self):
        """Show how many numbers there are.

        Args:
            None
        Returns:
            str: JSON with the count.
        Example Output:
            "{\\"count\\": 3}"
        """
        return json.dumps({"count": len(self.nums)})

    def GetNumber(self, index: int):
        """Read one number.

        Args:
            index (int): its position, from 0.
        Returns:
            str: the number.
        Example Output:
            "2"
        """
        return str(self.nums[index])

    def Add(self, a: int, b: int):
        """Add two integers.

        Args:
            a (int): the first.
            b (int): the second.
        Returns:
            str: a + b.
        Example Output:
            "5"
        """
        return str(a + b)

    def Done(self, answer):
        """Submit the sum.

        Args:
            answer (int): the sum of all numbers.
        Returns:
            str: the verdict, ending in reward=1 or reward=0.
        Example Output:
            "Your answer: 7, reference answer: 7, reward=1"
        """
        ref = self.get_ref_answer()
        self._reward = 1 if answer == ref else 0
        self._done = True
        return f"Your answer: {answer}, reference answer: {ref}, reward={self._reward}"

    def solve(self):
        count = json.loads(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])["count"]
        total = 0
        for i in range(count):
            value = int(self.step(json.dumps({"name": "GetNumber", "parameters": {"index": i}}))[1])
            total = int(self.step(json.dumps({"name": "Add", "parameters": {"a": total, "b": value}}))[1])
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": total}}))[1]


TASK = "Add up all the numbers and submit the sum with Done."
CONFIGS = [{"nums": [4, 8, 15, 16, 23]}, {"nums": [3, 1, 4, 1, 5, 9, 2, 6]}]
