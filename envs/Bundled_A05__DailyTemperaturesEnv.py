import ast
import json
import random

import gymnasium


class DailyTemperaturesEnv(gymnasium.Env):
    """For each day, how many days until a warmer one, using a monotonic stack of day indices."""

    def __init__(self, env_str: str = None):
        super().__init__()

        # [Required] Define the action names
        self.OBSERVE = 0
        self.PEEK_TOP = 1
        self.PUSH_INDEX = 2
        self.POP_INDEX = 3
        self.GET_STACK = 4
        self.DONE = 5

        # [Required] Define the action mapping
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "PeekTop": self.PEEK_TOP,
            "PushIndex": self.PUSH_INDEX,
            "PopIndex": self.POP_INDEX,
            "GetStack": self.GET_STACK,
            "Done": self.DONE,
        }

        options = {}
        if env_str is not None:
            parts = env_str.split("@", 1)
            if len(parts) == 2 and parts[1].strip():
                options = ast.literal_eval(parts[1])
        self.reset(options)

    # [Required] Define the property and staticmethod of the environment
    @property
    def finished(self) -> bool:
        return self._done

    @property
    def reward(self):
        return float(self._reward)

    @staticmethod
    def from_env_str(env_str: str):
        prefix = "DailyTemperaturesEnv@"
        if not isinstance(env_str, str) or not env_str.startswith(prefix):
            return None
        return DailyTemperaturesEnv(env_str=env_str)

    # [Required] Define the reset method of the environment
    def reset(self, options: dict = {}):  # noqa: B006
        if not isinstance(options, dict):
            options = {}
        temps = options.get("temperatures", [73, 74, 75, 71, 69, 72, 76, 73])
        self.temperatures = [int(v) for v in temps]
        self.stack = []
        self._reward = 0
        self._done = False
        self.step_count = 0
        return "Environment has been reset."

    # [Required] Get the reference answer of the environment
    def get_ref_answer(self):
        t = self.temperatures
        answer = []
        for i in range(len(t)):
            wait = 0
            for j in range(i + 1, len(t)):
                if t[j] > t[i]:
                    wait = j - i
                    break
            answer.append(wait)
        return answer

    # [Required] Define the step method of the environment
    def step(self, action: str) -> tuple[bool, str]:
        self.step_count += 1
        try:
            call = json.loads(action)
            if not isinstance(call, dict):
                raise ValueError("the action must be a JSON object with 'name' and 'parameters'")
            name = call.get("name")
            params = call.get("parameters", {})
            if params is None:
                params = {}
            if not isinstance(name, str) or name not in self.func_mapping:
                raise ValueError(f"unknown action {name!r}; available: {', '.join(self.func_mapping)}")
            if not isinstance(params, dict):
                raise ValueError("'parameters' must be a JSON object")
            code = self.func_mapping[name]
            if code == self.OBSERVE:
                handler = self.Observe
            elif code == self.PEEK_TOP:
                handler = self.PeekTop
            elif code == self.PUSH_INDEX:
                handler = self.PushIndex
            elif code == self.POP_INDEX:
                handler = self.PopIndex
            elif code == self.GET_STACK:
                handler = self.GetStack
            else:
                handler = self.Done
            msg = handler(**params)
        except Exception as e:
            return True, f"Error: {e}"
        return True, msg

    # All the actions of the environment
    def Observe(self):
        r"""
        Show the daily temperatures.

        Args:
            None

        Returns:
            str: JSON object with the temperatures and the number of days.

        Example Output:
            "{\"temperatures\": [73, 74, 75, 71, 69, 72, 76, 73], \"days\": 8}"
        """
        return json.dumps({"temperatures": self.temperatures, "days": len(self.temperatures)})

    def PeekTop(self):
        r"""
        Look at the day index on top of the stack without removing it.

        Args:
            None

        Returns:
            str: JSON object with empty (bool), and when not empty the top index and its temperature.

        Example Output:
            "{\"empty\": false, \"index\": 4, \"temperature\": 69}"
        """
        if not self.stack:
            return json.dumps({"empty": True})
        top = self.stack[-1]
        return json.dumps({"empty": False, "index": top, "temperature": self.temperatures[top]})

    def PushIndex(self, index: int):
        r"""
        Push a day index onto the stack.

        Args:
            index (int): A day index, from 0 to days - 1.

        Returns:
            str: JSON object with the stack contents (bottom first).

        Example Output:
            "{\"stack\": [2, 3, 4]}"
        """
        if isinstance(index, bool) or not isinstance(index, int):
            raise ValueError(f"index must be an integer, got {type(index).__name__}")
        if not 0 <= index < len(self.temperatures):
            raise ValueError(f"index must be between 0 and {len(self.temperatures) - 1}, got {index}")
        if len(self.stack) >= len(self.temperatures):
            raise ValueError("the stack is full (it cannot hold more entries than there are days)")
        self.stack.append(index)
        return json.dumps({"stack": self.stack})

    def PopIndex(self):
        r"""
        Remove the day index on top of the stack.

        Args:
            None

        Returns:
            str: JSON object with the popped index, its temperature and the remaining stack (bottom first).

        Example Output:
            "{\"index\": 4, \"temperature\": 69, \"stack\": [2, 3]}"
        """
        if not self.stack:
            raise ValueError("the stack is empty")
        top = self.stack.pop()
        return json.dumps({"index": top, "temperature": self.temperatures[top], "stack": self.stack})

    def GetStack(self):
        r"""
        Show the whole stack (bottom first) with the temperatures of its days.

        Args:
            None

        Returns:
            str: JSON object with the indices and their temperatures.

        Example Output:
            "{\"stack\": [2, 5], \"temperatures\": [75, 72]}"
        """
        return json.dumps({"stack": self.stack, "temperatures": [self.temperatures[i] for i in self.stack]})

    def Done(self, answer):
        r"""
        Submit, for every day, the number of days to wait for a strictly warmer day (0 if none comes).

        Args:
            answer (list[int]): One integer per day.

        Returns:
            str: The submitted and reference answers, and the reward.

        Example Output:
            "Your answer: [1, 1, 4, 2, 1, 1, 0, 0], reference answer: [1, 1, 4, 2, 1, 1, 0, 0], result: correct, reward=1"
        """
        ref_answer = self.get_ref_answer()
        correct = answer == ref_answer
        self._reward = 1 if correct else 0
        self._done = True
        msg = f"Your answer: {answer}, reference answer: {ref_answer}, result: {'correct' if correct else 'wrong'}"
        return msg + f", reward={self._reward}"

    # Define the solve method of the environment
    def solve(self):
        r"""
        Monotonic stack: before pushing day i, pop every colder day from the top; each popped day
        waits i - popped days.

        Returns:
            str: The message returned by Done.
        """
        obs = json.loads(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
        temps = obs["temperatures"]
        waits = [0] * len(temps)
        stack = json.loads(self.step(json.dumps({"name": "GetStack", "parameters": {}}))[1])["stack"]
        for i, t in enumerate(temps):
            # the stack returned by the last push/pop tells which day is on top
            while stack and temps[stack[-1]] < t:
                popped = json.loads(self.step(json.dumps({"name": "PopIndex", "parameters": {}}))[1])
                waits[popped["index"]] = i - popped["index"]
                stack = popped["stack"]
            res = json.loads(self.step(json.dumps({"name": "PushIndex", "parameters": {"index": i}}))[1])
            stack = res["stack"]
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": waits}}))[1]


TASK = """You are given a list of daily temperatures. For each day, find how many days you have to wait \
until a strictly warmer day; if no warmer day follows, the value is 0. Use Observe to see the \
temperatures; a stack of day indices is available to help. Submit a list of integers, one per day, \
with Done."""

# fmt: off
CONFIGS = [
    {"temperatures": [73, 74, 75, 71, 69, 72, 76, 73]},
    {"temperatures": [30, 40, 50, 60, 55, 45]},
    {"temperatures": [90, 80, 70, 60, 50, 40, 100]},
    {"temperatures": [55, 55, 55, 56, 54, 54, 57, 50, 58]},
    {"temperatures": [64, 61, 68, 60, 59, 62, 70, 66, 65, 71]},
    {"temperatures": [80, 79, 78, 77, 76, 75, 74, 73, 72, 71, 70, 85]},
    {"temperatures": [41, 52, 38, 47, 60, 33, 45, 58, 49, 62, 35, 40, 50]},
    {"temperatures": [70, 71, 69, 72, 68, 73, 67, 74, 66, 75, 65, 76, 64, 77]},
    {"temperatures": [(i * 11) % 19 + 50 for i in range(26)]},
    {"temperatures": [60, 58, 62, 57, 59, 63, 55, 61, 64, 54, 52, 65, 51, 66, 50, 49, 67, 48]},
    {"temperatures": [(i * i * 3 + 7) % 23 + 40 for i in range(38)]},
]
# fmt: on


def generate_config(seed: int, size: int) -> dict:
    """Random temperatures for `size` days (at least 1), each in 30..100."""
    rng = random.Random(seed)
    n = max(1, int(size))
    return {"temperatures": [rng.randint(30, 100) for _ in range(n)]}


if __name__ == "__main__":
    # test case 1: a fixed configuration
    env = DailyTemperaturesEnv.from_env_str(f"DailyTemperaturesEnv@{CONFIGS[0]}")
    print(env.solve())
    print("step count:", env.step_count)

    # test case 2: a generated configuration
    env = DailyTemperaturesEnv.from_env_str(f"DailyTemperaturesEnv@{generate_config(seed=2, size=9)}")
    print(env.solve())
    print("step count:", env.step_count)
