import ast
import json
import random

import gymnasium


class HouseRobberEnv(gymnasium.Env):
    """Maximum loot from a row of houses where two adjacent houses cannot both be robbed."""

    def __init__(self, env_str: str = None):
        super().__init__()

        # [Required] Define the action names
        self.OBSERVE = 0
        self.INITIALIZE_DP = 1
        self.COMPUTE_DP_VALUE = 2
        self.GET_DP_VALUE = 3
        self.DONE = 4

        # [Required] Define the action mapping
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "InitializeDp": self.INITIALIZE_DP,
            "ComputeDpValue": self.COMPUTE_DP_VALUE,
            "GetDpValue": self.GET_DP_VALUE,
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
        prefix = "HouseRobberEnv@"
        if not isinstance(env_str, str) or not env_str.startswith(prefix):
            return None
        return HouseRobberEnv(env_str=env_str)

    # [Required] Define the reset method of the environment
    def reset(self, options: dict = {}):  # noqa: B006
        if not isinstance(options, dict):
            options = {}
        houses = options.get("houses", [2, 7, 9, 3, 1])
        self.houses = [int(v) for v in houses]
        self.dp = None
        self._reward = 0
        self._done = False
        self.step_count = 0
        return "Environment has been reset."

    # [Required] Get the reference answer of the environment
    def get_ref_answer(self):
        take, skip = 0, 0
        for value in self.houses:
            take, skip = skip + value, max(take, skip)
        return max(take, skip)

    @staticmethod
    def _check_index(value, name: str, size: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer, got {type(value).__name__}")
        if not 0 <= value < size:
            raise ValueError(f"{name} must be between 0 and {size - 1}, got {value}")
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
            elif code == self.INITIALIZE_DP:
                handler = self.InitializeDp
            elif code == self.COMPUTE_DP_VALUE:
                handler = self.ComputeDpValue
            elif code == self.GET_DP_VALUE:
                handler = self.GetDpValue
            else:
                handler = self.Done
            msg = handler(**params)
        except Exception as e:
            return True, f"Error: {e}"
        return True, msg

    # All the actions of the environment
    def Observe(self):
        r"""
        Show the money stored in each house of the street.

        Args:
            None

        Returns:
            str: JSON object with the list of house values and the number of houses.

        Example Output:
            "{\"houses\": [2, 7, 9, 3, 1], \"num_houses\": 5}"
        """
        return json.dumps({"houses": self.houses, "num_houses": len(self.houses)})

    def InitializeDp(self):
        r"""
        Create an empty DP table with one entry per house; dp[i] will hold the best loot
        obtainable from houses 0..i. Calling it again clears the table.

        Args:
            None

        Returns:
            str: A confirmation with the table size.

        Example Output:
            "DP table initialized with 5 empty entries."
        """
        self.dp = [None] * len(self.houses)
        return f"DP table initialized with {len(self.dp)} empty entries."

    def ComputeDpValue(self, index: int):
        r"""
        Compute dp[index] = max(dp[index-1], dp[index-2] + houses[index]) (missing terms count as 0)
        and store it. dp[index-1] and dp[index-2] must already be computed.

        Args:
            index (int): The house index, from 0 to num_houses - 1.

        Returns:
            str: The computed value of dp[index].

        Example Output:
            "11"
        """
        if self.dp is None:
            raise ValueError("the DP table is not initialized; call InitializeDp first")
        i = self._check_index(index, "index", len(self.houses))
        for j in (i - 1, i - 2):
            if j >= 0 and self.dp[j] is None:
                raise ValueError(f"dp[{j}] has not been computed yet")
        prev1 = self.dp[i - 1] if i >= 1 else 0
        prev2 = self.dp[i - 2] if i >= 2 else 0
        self.dp[i] = max(prev1, prev2 + self.houses[i])
        return str(self.dp[i])

    def GetDpValue(self, index: int):
        r"""
        Read a value already stored in the DP table.

        Args:
            index (int): The house index, from 0 to num_houses - 1.

        Returns:
            str: The stored value of dp[index].

        Example Output:
            "12"
        """
        if self.dp is None:
            raise ValueError("the DP table is not initialized; call InitializeDp first")
        i = self._check_index(index, "index", len(self.houses))
        if self.dp[i] is None:
            raise ValueError(f"dp[{i}] has not been computed yet")
        return str(self.dp[i])

    def Done(self, answer):
        r"""
        Submit the maximum amount of money that can be robbed.

        Args:
            answer (int): The maximum total loot.

        Returns:
            str: The submitted and reference answers, and the reward.

        Example Output:
            "Your answer: 12, reference answer: 12, result: correct, reward=1"
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
        Fill the DP table house by house through the environment's actions and submit dp[n-1].

        Returns:
            str: The message returned by Done.
        """
        obs = json.loads(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
        n = obs["num_houses"]
        self.step(json.dumps({"name": "InitializeDp", "parameters": {}}))
        for i in range(n):
            self.step(json.dumps({"name": "ComputeDpValue", "parameters": {"index": i}}))
        answer = 0
        if n > 0:
            answer = int(self.step(json.dumps({"name": "GetDpValue", "parameters": {"index": n - 1}}))[1])
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": answer}}))[1]


TASK = """A robber walks along a street of houses, each holding some amount of money. Robbing two \
neighbouring houses sets off the alarm, so no two adjacent houses may both be robbed. Find the largest \
total amount of money that can be robbed. Use Observe to see the house values, and submit the \
maximum total as an integer with Done."""

# fmt: off
CONFIGS = [
    {"houses": [2, 7, 9, 3, 1, 5, 8, 4]},
    {"houses": [5, 1, 1, 5, 3, 9, 2, 2, 6, 4, 7]},
    {"houses": [10, 0, 0, 10, 0, 0, 10, 1, 1, 20, 3, 0, 7]},
    {"houses": [4, 8, 15, 16, 23, 42, 8, 15, 4, 16, 23, 42, 1, 2, 3, 4]},
    {"houses": [3, 90, 4, 5, 88, 2, 1, 70, 60, 3, 2, 45, 46, 7, 0, 12, 30, 31, 5]},
    {"houses": [1] * 22},
    {"houses": [14, 3, 27, 8, 0, 19, 33, 6, 2, 41, 17, 9, 24, 5, 38, 11, 0, 29, 16, 7, 22, 3, 35, 12, 4]},
    {"houses": [i * 7 % 31 for i in range(30)]},
    {"houses": [50, 1, 2, 50, 1, 2, 50, 1, 2, 50, 1, 2, 50, 1, 2, 50, 1, 2, 50, 1, 2, 50, 1, 2, 50, 1, 2,
                50, 1, 2, 50, 1, 2, 50, 1]},
    {"houses": [(i * i * 13 + 5) % 97 for i in range(44)]},
    {"houses": [(i * 37 + 11) % 100 for i in range(60)]},
]
# fmt: on


def generate_config(seed: int, size: int) -> dict:
    """A random street of `size` houses (at least 1) with values in 0..100."""
    rng = random.Random(seed)
    n = max(1, int(size))
    return {"houses": [rng.randint(0, 100) for _ in range(n)]}


if __name__ == "__main__":
    # test case 1: a fixed configuration
    env = HouseRobberEnv.from_env_str(f"HouseRobberEnv@{CONFIGS[0]}")
    print(env.solve())
    print("step count:", env.step_count)

    # test case 2: a generated configuration
    env = HouseRobberEnv.from_env_str(f"HouseRobberEnv@{generate_config(seed=7, size=12)}")
    print(env.solve())
    print("step count:", env.step_count)
