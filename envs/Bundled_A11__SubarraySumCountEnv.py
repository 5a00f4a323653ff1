import ast
import json
import random

import gymnasium


class SubarraySumCountEnv(gymnasium.Env):
    """Count the contiguous subarrays whose sum equals k, using running prefix sums and a tally of them."""

    VALUE_LIMIT = 10**12

    def __init__(self, env_str: str = None):
        super().__init__()

        # [Required] Define the action names
        self.OBSERVE = 0
        self.ADD_NEXT_ELEMENT = 1
        self.COUNT_PREFIX_SUM = 2
        self.RECORD_PREFIX_SUM = 3
        self.GET_RECORDED_SUMS = 4
        self.DONE = 5

        # [Required] Define the action mapping
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "AddNextElement": self.ADD_NEXT_ELEMENT,
            "CountPrefixSum": self.COUNT_PREFIX_SUM,
            "RecordPrefixSum": self.RECORD_PREFIX_SUM,
            "GetRecordedSums": self.GET_RECORDED_SUMS,
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
        prefix = "SubarraySumCountEnv@"
        if not isinstance(env_str, str) or not env_str.startswith(prefix):
            return None
        return SubarraySumCountEnv(env_str=env_str)

    # [Required] Define the reset method of the environment
    def reset(self, options: dict = {}):  # noqa: B006
        if not isinstance(options, dict):
            options = {}
        nums = options.get("nums", [1, 2, 3, -2, 2, 1])
        self.nums = [int(v) for v in nums]
        self.k = int(options.get("k", 3))
        self.next_index = 0
        self.prefix_sum = 0
        # the empty prefix (sum 0) is recorded from the start
        self.recorded = {0: 1}
        self._reward = 0
        self._done = False
        self.step_count = 0
        return "Environment has been reset."

    # [Required] Get the reference answer of the environment
    def get_ref_answer(self):
        count = 0
        for i in range(len(self.nums)):
            total = 0
            for j in range(i, len(self.nums)):
                total += self.nums[j]
                if total == self.k:
                    count += 1
        return count

    @classmethod
    def _check_value(cls, value) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"value must be an integer, got {type(value).__name__}")
        if not -cls.VALUE_LIMIT <= value <= cls.VALUE_LIMIT:
            raise ValueError(f"value must be between {-cls.VALUE_LIMIT} and {cls.VALUE_LIMIT}, got {value}")
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
            elif code == self.ADD_NEXT_ELEMENT:
                handler = self.AddNextElement
            elif code == self.COUNT_PREFIX_SUM:
                handler = self.CountPrefixSum
            elif code == self.RECORD_PREFIX_SUM:
                handler = self.RecordPrefixSum
            elif code == self.GET_RECORDED_SUMS:
                handler = self.GetRecordedSums
            else:
                handler = self.Done
            msg = handler(**params)
        except Exception as e:
            return True, f"Error: {e}"
        return True, msg

    # All the actions of the environment
    def Observe(self):
        r"""
        Show the array and the target sum k.

        Args:
            None

        Returns:
            str: JSON object with nums, k and the array length.

        Example Output:
            "{\"nums\": [1, 2, 3, -2, 2, 1], \"k\": 3, \"length\": 6}"
        """
        return json.dumps({"nums": self.nums, "k": self.k, "length": len(self.nums)})

    def AddNextElement(self):
        r"""
        Add the next array element (elements are taken in order, starting at index 0) to the running
        prefix sum.

        Args:
            None

        Returns:
            str: JSON object with the index just added and the prefix sum nums[0] + ... + nums[index].

        Example Output:
            "{\"index\": 2, \"prefix_sum\": 6}"
        """
        if self.next_index >= len(self.nums):
            raise ValueError("every element has already been added")
        i = self.next_index
        self.prefix_sum += self.nums[i]
        self.next_index += 1
        return json.dumps({"index": i, "prefix_sum": self.prefix_sum})

    def CountPrefixSum(self, value: int):
        r"""
        Tell how many times a prefix sum equal to value has been recorded. The empty prefix (sum 0)
        counts as recorded once from the start.

        Args:
            value (int): The prefix sum to look up, between -10**12 and 10**12.

        Returns:
            str: JSON object with the value and its count.

        Example Output:
            "{\"value\": 3, \"count\": 1}"
        """
        v = self._check_value(value)
        return json.dumps({"value": v, "count": self.recorded.get(v, 0)})

    def RecordPrefixSum(self, value: int):
        r"""
        Record one more occurrence of a prefix sum.

        Args:
            value (int): The prefix sum to record, between -10**12 and 10**12.

        Returns:
            str: JSON object with the value and how many times it is now recorded.

        Example Output:
            "{\"value\": 6, \"count\": 1}"
        """
        v = self._check_value(value)
        if v not in self.recorded and len(self.recorded) >= 2 * len(self.nums) + 16:
            raise ValueError("too many different prefix sums recorded")
        self.recorded[v] = self.recorded.get(v, 0) + 1
        return json.dumps({"value": v, "count": self.recorded[v]})

    def GetRecordedSums(self):
        r"""
        List every recorded prefix sum with its count, in increasing order of the sum.

        Args:
            None

        Returns:
            str: JSON list of [prefix_sum, count] pairs.

        Example Output:
            "[[0, 1], [1, 1], [3, 1]]"
        """
        return json.dumps([[v, self.recorded[v]] for v in sorted(self.recorded)])

    def Done(self, answer):
        r"""
        Submit the number of contiguous, non-empty subarrays whose elements sum to k.

        Args:
            answer (int): The number of subarrays.

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
        For each prefix sum p, the subarrays ending here with sum k are those that start after an earlier
        prefix with sum p - k: count them, then record p.

        Returns:
            str: The message returned by Done.
        """
        obs = json.loads(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
        k, n = obs["k"], obs["length"]
        total = 0
        for _ in range(n):
            p = json.loads(self.step(json.dumps({"name": "AddNextElement", "parameters": {}}))[1])[
                "prefix_sum"
            ]
            res = json.loads(
                self.step(json.dumps({"name": "CountPrefixSum", "parameters": {"value": p - k}}))[1]
            )
            total += res["count"]
            self.step(json.dumps({"name": "RecordPrefixSum", "parameters": {"value": p}}))
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": total}}))[1]


TASK = """Given an array of integers (possibly negative) and an integer k, count the contiguous non-empty \
subarrays whose elements add up to exactly k. Use Observe to see the array and k; the environment keeps \
a running prefix sum and a tally of recorded prefix sums for you. Submit the count as an integer with Done."""

# fmt: off
CONFIGS = [
    {"nums": [1, 2, 3, -2, 2, 1], "k": 3},
    {"nums": [1, 1, 1, 1, 1], "k": 2},
    {"nums": [0, 0, 0, 0], "k": 0},
    {"nums": [3, 4, 7, 2, -3, 1, 4, 2], "k": 7},
    {"nums": [1, -1, 1, -1, 1, -1, 1, -1, 1], "k": 0},
    {"nums": [5, -2, 3, 1, -4, 2, 6, -1, 0, 3, -3], "k": 4},
    {"nums": [2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2], "k": 6},
    {"nums": [(i * 7) % 9 - 4 for i in range(16)], "k": 1},
    {"nums": [10, -10, 10, -10, 5, 5, -5, 15, -15, 0, 10, 0, -10, 20, -20, 10, 5, -5], "k": 10},
    {"nums": [(i * i * 3 + 1) % 11 - 5 for i in range(20)], "k": -2},
    {"nums": [(i * 13) % 7 - 3 for i in range(25)], "k": 3},
]
# fmt: on


def generate_config(seed: int, size: int) -> dict:
    """`size` random integers (at least 1) in -5..5, and a small target k."""
    rng = random.Random(seed)
    n = max(1, int(size))
    return {"nums": [rng.randint(-5, 5) for _ in range(n)], "k": rng.randint(-4, 6)}


if __name__ == "__main__":
    # test case 1: a fixed configuration
    env = SubarraySumCountEnv.from_env_str(f"SubarraySumCountEnv@{CONFIGS[0]}")
    print(env.solve())
    print("step count:", env.step_count)

    # test case 2: a generated configuration
    env = SubarraySumCountEnv.from_env_str(f"SubarraySumCountEnv@{generate_config(seed=10, size=10)}")
    print(env.solve())
    print("step count:", env.step_count)
