"""A well-behaved but careless env for the sandbox tests: deterministic, with actions whose cost is
set by the caller's arguments (Fill allocates n items, CountTo loops n times), as a quarter of the
published envs have."""
import ast
import json

import gymnasium


class CarelessCounterEnv(gymnasium.Env):
    def __init__(self, env_str: str = None):
        super().__init__()
        self.OBSERVE, self.ADD, self.FILL, self.COUNT_TO, self.ECHO, self.DONE = range(6)
        self.func_mapping = {"Observe": self.OBSERVE, "Add": self.ADD, "Fill": self.FILL,
                             "CountTo": self.COUNT_TO, "Echo": self.ECHO, "Done": self.DONE}
        options = {}
        if env_str is not None:
            options = ast.literal_eval(env_str.split("@", 1)[1])
        self.reset(options)

    @staticmethod
    def from_env_str(env_str: str):
        if not env_str.startswith("CarelessCounterEnv@"):
            return None
        return CarelessCounterEnv(env_str=env_str)

    @property
    def finished(self):
        return self._done

    @property
    def reward(self):
        return float(self._reward)

    def reset(self, options: dict = {}):
        self.target = options.get("target", 4)
        self.total = 0
        self.buffer = []
        self._reward = 0
        self._done = False
        self.step_count = 0
        return f"Reach {self.target}."

    def step(self, action: str):
        self.step_count += 1
        try:
            call = json.loads(action)
            name, params = call["name"], call["parameters"]
            handler = {"Observe": self.Observe, "Add": self.Add, "Fill": self.Fill, "CountTo": self.CountTo,
                       "Echo": self.Echo, "Done": self.Done}.get(name)
            if handler is None:
                return True, f"Error: unknown action {name}"
            msg = handler(**params)
        except Exception as exc:
            msg = f"Error: {exc}"
        return True, msg

    def Observe(self):
        """Show the total and the target.

        Args:
            None
        Returns:
            str: the state as JSON.
        Example Output:
            "{\\"total\\": 0, \\"target\\": 4}"
        """
        return json.dumps({"total": self.total, "target": self.target, "buffer": len(self.buffer)})

    def Add(self, x: int):
        """Add x to the total.

        Args:
            x (int): the amount.
        Returns:
            str: the new total.
        Example Output:
            "1"
        """
        self.total += x
        return str(self.total)

    def Fill(self, n: int):
        """Fill the buffer with n zeros (no bound on n).

        Args:
            n (int): how many.
        Returns:
            str: the buffer size.
        Example Output:
            "3"
        """
        self.buffer = [0] * n
        return str(len(self.buffer))

    def CountTo(self, n: int):
        """Count from 0 to n, one by one (no bound on n).

        Args:
            n (int): where to stop.
        Returns:
            str: the sum of the numbers.
        Example Output:
            "6"
        """
        s = 0
        for i in range(n):
            s += i
        return str(s)

    def Echo(self, text: str):
        """Repeat the text.

        Args:
            text (str): anything.
        Returns:
            str: the text.
        Example Output:
            "hello"
        """
        return text

    def Done(self, answer):
        """Submit the total.

        Args:
            answer (int): the total.
        Returns:
            str: the verdict.
        Example Output:
            "reward=1"
        """
        self._reward = 1 if answer == self.get_ref_answer() else 0
        self._done = True
        return f"Your answer: {answer}, reward={self._reward}"

    def get_ref_answer(self):
        return self.target

    def solve(self):
        state = json.loads(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
        for _ in range(state["target"]):
            self.step(json.dumps({"name": "Add", "parameters": {"x": 1}}))
        self.step(json.dumps({"name": "CountTo", "parameters": {"n": 10}}))
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": state["target"]}}))[1]


TASK = "Add ones until the total reaches the target, then submit it with Done."
CONFIGS = [{"target": 3}, {"target": 6}, {"target": 9}]
