"""An honest env for the integrity tests: it imports calendar (which an attack env poisons in its own
process) and asks for the number of days in a month."""
import ast
import calendar
import json

import gymnasium


class MonthDaysEnv(gymnasium.Env):
    def __init__(self, env_str: str = None):
        super().__init__()
        self.func_mapping = {"Observe": 0, "Done": 1}
        options = {}
        if env_str is not None:
            options = ast.literal_eval(env_str.split("@", 1)[1])
        self.reset(options)

    @staticmethod
    def from_env_str(env_str: str):
        if not env_str.startswith("MonthDaysEnv@"):
            return None
        return MonthDaysEnv(env_str=env_str)

    @property
    def finished(self):
        return self._done

    @property
    def reward(self):
        return float(self._reward)

    def reset(self, options: dict = {}):
        self.year = options.get("year", 2024)
        self.month = options.get("month", 2)
        self._reward = 0
        self._done = False
        return f"How many days has month {self.month} of {self.year}?"

    def step(self, action: str):
        try:
            call = json.loads(action)
            name, params = call["name"], call.get("parameters", {})
            if name == "Observe":
                msg = self.Observe()
            elif name == "Done":
                msg = self.Done(**params)
            else:
                msg = f"Error: unknown action {name}"
        except Exception as exc:
            msg = f"Error: {exc}"
        return True, msg

    def Observe(self):
        """Show the month as a calendar.

        Args:
            None
        Returns:
            str: the month's calendar.
        Example Output:
            "February 2024 ..."
        """
        return calendar.month(self.year, self.month)

    def Done(self, answer):
        """Submit the number of days.

        Args:
            answer (int): days in the month.
        Returns:
            str: the verdict.
        Example Output:
            "reward=1"
        """
        self._reward = 1 if answer == self.get_ref_answer() else 0
        self._done = True
        return f"Your answer: {answer}, reward={self._reward}"

    def get_ref_answer(self):
        return calendar.monthrange(self.year, self.month)[1]

    def solve(self):
        self.step(json.dumps({"name": "Observe", "parameters": {}}))
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": self.get_ref_answer()}}))[1]


TASK = "Look at the month and submit how many days it has."
CONFIGS = [{"year": 2024, "month": 2}, {"year": 2023, "month": 2}, {"year": 2024, "month": 4}]
