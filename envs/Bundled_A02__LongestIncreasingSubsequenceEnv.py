import ast
import bisect
import json
import random

import gymnasium


class LongestIncreasingSubsequenceEnv(gymnasium.Env):
    """Length of the longest strictly increasing subsequence, built with a 'tails' array."""

    VALUE_LIMIT = 10**9

    def __init__(self, env_str: str = None):
        super().__init__()

        # [Required] Define the action names
        self.OBSERVE = 0
        self.FIND_INSERT_POSITION = 1
        self.UPDATE_TAILS = 2
        self.GET_TAILS = 3
        self.DONE = 4

        # [Required] Define the action mapping
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "FindInsertPosition": self.FIND_INSERT_POSITION,
            "UpdateTails": self.UPDATE_TAILS,
            "GetTails": self.GET_TAILS,
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
        prefix = "LongestIncreasingSubsequenceEnv@"
        if not isinstance(env_str, str) or not env_str.startswith(prefix):
            return None
        return LongestIncreasingSubsequenceEnv(env_str=env_str)

    # [Required] Define the reset method of the environment
    def reset(self, options: dict = {}):  # noqa: B006
        if not isinstance(options, dict):
            options = {}
        nums = options.get("nums", [10, 9, 2, 5, 3, 7, 101, 18])
        self.nums = [int(v) for v in nums]
        self.tails = []
        self._reward = 0
        self._done = False
        self.step_count = 0
        return "Environment has been reset."

    # [Required] Get the reference answer of the environment
    def get_ref_answer(self):
        best = [1] * len(self.nums)
        for i in range(len(self.nums)):
            for j in range(i):
                if self.nums[j] < self.nums[i]:
                    best[i] = max(best[i], best[j] + 1)
        return max(best, default=0)

    @classmethod
    def _check_value(cls, value, name: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer, got {type(value).__name__}")
        if not -cls.VALUE_LIMIT <= value <= cls.VALUE_LIMIT:
            raise ValueError(f"{name} must be between {-cls.VALUE_LIMIT} and {cls.VALUE_LIMIT}, got {value}")
        return value

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
            elif code == self.FIND_INSERT_POSITION:
                handler = self.FindInsertPosition
            elif code == self.UPDATE_TAILS:
                handler = self.UpdateTails
            elif code == self.GET_TAILS:
                handler = self.GetTails
            else:
                handler = self.Done
            msg = handler(**params)
        except Exception as e:
            return True, f"Error: {e}"
        return True, msg

    # All the actions of the environment
    def Observe(self):
        r"""
        Show the integer sequence.

        Args:
            None

        Returns:
            str: JSON object with the sequence and its length.

        Example Output:
            "{\"nums\": [10, 9, 2, 5, 3, 7, 101, 18], \"length\": 8}"
        """
        return json.dumps({"nums": self.nums, "length": len(self.nums)})

    def FindInsertPosition(self, value: int):
        r"""
        Binary-search the tails array for the leftmost position whose entry is >= value
        (the length of the tails array if every entry is smaller). tails[k] holds the smallest
        possible last element of an increasing subsequence of length k + 1.

        Args:
            value (int): The value to place, between -10**9 and 10**9.

        Returns:
            str: The position, an integer from 0 to len(tails).

        Example Output:
            "1"
        """
        v = self._check_value(value, "value")
        return str(bisect.bisect_left(self.tails, v))

    def UpdateTails(self, position: int, value: int):
        r"""
        Write value into the tails array at position: it replaces tails[position], or is appended
        when position equals the current length of the array.

        Args:
            position (int): From 0 to len(tails).
            value (int): The value to store, between -10**9 and 10**9.

        Returns:
            str: JSON object with the updated tails array and its length.

        Example Output:
            "{\"tails\": [2, 3, 7], \"length\": 3}"
        """
        if isinstance(position, bool) or not isinstance(position, int):
            raise ValueError(f"position must be an integer, got {type(position).__name__}")
        if not 0 <= position <= len(self.tails):
            raise ValueError(f"position must be between 0 and {len(self.tails)}, got {position}")
        v = self._check_value(value, "value")
        if position == len(self.tails):
            if len(self.tails) >= max(1, len(self.nums)):
                raise ValueError("the tails array cannot grow longer than the sequence")
            self.tails.append(v)
        else:
            self.tails[position] = v
        return json.dumps({"tails": self.tails, "length": len(self.tails)})

    def GetTails(self):
        r"""
        Show the current tails array.

        Args:
            None

        Returns:
            str: JSON object with the tails array and its length.

        Example Output:
            "{\"tails\": [2, 3, 7, 18], \"length\": 4}"
        """
        return json.dumps({"tails": self.tails, "length": len(self.tails)})

    def Done(self, answer):
        r"""
        Submit the length of the longest strictly increasing subsequence.

        Args:
            answer (int): The length.

        Returns:
            str: The submitted and reference answers, and the reward.

        Example Output:
            "Your answer: 4, reference answer: 4, result: correct, reward=1"
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
        Patience sorting: for each element find its position in tails and write it there.

        Returns:
            str: The message returned by Done.
        """
        obs = json.loads(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
        for v in obs["nums"]:
            pos = int(self.step(json.dumps({"name": "FindInsertPosition", "parameters": {"value": v}}))[1])
            self.step(json.dumps({"name": "UpdateTails", "parameters": {"position": pos, "value": v}}))
        state = json.loads(self.step(json.dumps({"name": "GetTails", "parameters": {}}))[1])
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": state["length"]}}))[1]


TASK = """Given a sequence of integers, find the length of its longest strictly increasing subsequence \
(elements kept in their original order, not necessarily contiguous). Use Observe to see the sequence. \
The environment keeps a 'tails' array that you can search and update to build the answer step by step. \
Submit the length as an integer with Done."""

# fmt: off
CONFIGS = [
    {"nums": [10, 9, 2, 5, 3, 7, 101, 18]},
    {"nums": [0, 1, 0, 3, 2, 3, 4, -1, 5]},
    {"nums": [7, 7, 7, 7, 7, 7, 7, 7, 7, 7]},
    {"nums": [5, 4, 3, 2, 1, 6, 7, 2, 8, 3, 9, 1]},
    {"nums": [3, 10, 2, 1, 20, 4, 6, 7, 30, 5, 8, 9, 0, 11]},
    {"nums": [12, -3, 45, 7, 7, 19, 0, 33, 21, 50, -8, 60, 14, 15, 16, 2]},
    {"nums": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]},
    {"nums": [(i * 17) % 23 for i in range(22)]},
    {"nums": [40, 2, 38, 4, 36, 6, 34, 8, 32, 10, 30, 12, 28, 14, 26, 16, 24, 18, 22, 20, 21, 19, 23, 17, 25]},
    {"nums": [((i * 29) % 31) - 15 for i in range(30)]},
    {"nums": [(i * i * 7 + 3 * i) % 53 for i in range(36)]},
]
# fmt: on


def generate_config(seed: int, size: int) -> dict:
    """A random sequence of `size` integers (at least 1) in -50..50."""
    rng = random.Random(seed)
    n = max(1, int(size))
    return {"nums": [rng.randint(-50, 50) for _ in range(n)]}


if __name__ == "__main__":
    # test case 1: a fixed configuration
    env = LongestIncreasingSubsequenceEnv.from_env_str(f"LongestIncreasingSubsequenceEnv@{CONFIGS[0]}")
    print(env.solve())
    print("step count:", env.step_count)

    # test case 2: a generated configuration
    env = LongestIncreasingSubsequenceEnv.from_env_str(
        f"LongestIncreasingSubsequenceEnv@{generate_config(seed=3, size=15)}"
    )
    print(env.solve())
    print("step count:", env.step_count)
