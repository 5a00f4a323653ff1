import ast
import json
import random

import gymnasium


class MinimumJumpsEnv(gymnasium.Env):
    """Fewest jumps from the first to the last index of an array of maximum jump lengths (greedy)."""

    def __init__(self, env_str: str = None):
        super().__init__()

        # [Required] Define the action names
        self.OBSERVE = 0
        self.EXTEND_REACH = 1
        self.TAKE_JUMP = 2
        self.GET_STATE = 3
        self.DONE = 4

        # [Required] Define the action mapping
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "ExtendReach": self.EXTEND_REACH,
            "TakeJump": self.TAKE_JUMP,
            "GetState": self.GET_STATE,
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
        prefix = "MinimumJumpsEnv@"
        if not isinstance(env_str, str) or not env_str.startswith(prefix):
            return None
        return MinimumJumpsEnv(env_str=env_str)

    # [Required] Define the reset method of the environment
    def reset(self, options: dict = {}):  # noqa: B006
        if not isinstance(options, dict):
            options = {}
        nums = options.get("nums", [2, 3, 1, 1, 4])
        self.nums = [max(0, int(v)) for v in nums] or [0]
        self.current_end = 0
        self.farthest = 0
        self.jumps = 0
        self._reward = 0
        self._done = False
        self.step_count = 0
        return "Environment has been reset."

    # [Required] Get the reference answer of the environment
    def get_ref_answer(self):
        # breadth-first search over indices: the number of jumps is the BFS distance
        n = len(self.nums)
        dist = [-1] * n
        dist[0] = 0
        queue = [0]
        head = 0
        while head < len(queue):
            i = queue[head]
            head += 1
            for j in range(i + 1, min(n, i + self.nums[i] + 1)):
                if dist[j] == -1:
                    dist[j] = dist[i] + 1
                    queue.append(j)
        return dist[n - 1]

    def _state(self) -> dict:
        return {"current_end": self.current_end, "farthest": self.farthest, "jumps": self.jumps}

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
            elif code == self.EXTEND_REACH:
                handler = self.ExtendReach
            elif code == self.TAKE_JUMP:
                handler = self.TakeJump
            elif code == self.GET_STATE:
                handler = self.GetState
            else:
                handler = self.Done
            msg = handler(**params)
        except Exception as e:
            return True, f"Error: {e}"
        return True, msg

    # All the actions of the environment
    def Observe(self):
        r"""
        Show the array: nums[i] is the longest jump allowed from index i.

        Args:
            None

        Returns:
            str: JSON object with nums and its length.

        Example Output:
            "{\"nums\": [2, 3, 1, 1, 4], \"length\": 5}"
        """
        return json.dumps({"nums": self.nums, "length": len(self.nums)})

    def ExtendReach(self, index: int):
        r"""
        Consider jumping from index: farthest becomes max(farthest, index + nums[index]).
        The index must be reachable, i.e. not beyond the current farthest.

        Args:
            index (int): From 0 to the current farthest (and at most length - 1).

        Returns:
            str: JSON object with the index, the reach from it and the updated farthest.

        Example Output:
            "{\"index\": 1, \"reach\": 4, \"farthest\": 4}"
        """
        if isinstance(index, bool) or not isinstance(index, int):
            raise ValueError(f"index must be an integer, got {type(index).__name__}")
        if not 0 <= index < len(self.nums):
            raise ValueError(f"index must be between 0 and {len(self.nums) - 1}, got {index}")
        if index > self.farthest:
            raise ValueError(f"index {index} is not reachable yet (farthest is {self.farthest})")
        reach = index + self.nums[index]
        self.farthest = max(self.farthest, reach)
        return json.dumps({"index": index, "reach": reach, "farthest": self.farthest})

    def TakeJump(self):
        r"""
        Count one more jump and move the end of the current jump range to farthest.
        Not allowed when farthest does not go beyond the current end.

        Args:
            None

        Returns:
            str: JSON object with current_end, farthest and jumps.

        Example Output:
            "{\"current_end\": 2, \"farthest\": 2, \"jumps\": 1}"
        """
        if self.farthest <= self.current_end:
            raise ValueError(
                f"cannot jump: farthest ({self.farthest}) does not go beyond the current end ({self.current_end})"
            )
        self.jumps += 1
        self.current_end = self.farthest
        return json.dumps(self._state())

    def GetState(self):
        r"""
        Show the greedy state: the end of the current jump range, the farthest reach found so far and
        the number of jumps taken.

        Args:
            None

        Returns:
            str: JSON object with current_end, farthest and jumps.

        Example Output:
            "{\"current_end\": 0, \"farthest\": 0, \"jumps\": 0}"
        """
        return json.dumps(self._state())

    def Done(self, answer):
        r"""
        Submit the minimum number of jumps to reach the last index, or -1 if it cannot be reached.

        Args:
            answer (int): The number of jumps, or -1.

        Returns:
            str: The submitted and reference answers, and the reward.

        Example Output:
            "Your answer: 2, reference answer: 2, result: correct, reward=1"
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
        Greedy: scan the indices of the current range, extending the farthest reach; when the end of the
        range is reached, take a jump to the farthest point. Stuck (no progress possible) means -1.

        Returns:
            str: The message returned by Done.
        """
        obs = json.loads(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
        n = obs["length"]
        state = json.loads(self.step(json.dumps({"name": "GetState", "parameters": {}}))[1])
        end, jumps = state["current_end"], state["jumps"]
        answer = 0
        for i in range(n - 1):
            res = json.loads(self.step(json.dumps({"name": "ExtendReach", "parameters": {"index": i}}))[1])
            if i == end:
                if res["farthest"] <= i:
                    answer = -1
                    break
                state = json.loads(self.step(json.dumps({"name": "TakeJump", "parameters": {}}))[1])
                end, jumps = state["current_end"], state["jumps"]
                if end >= n - 1:
                    break
        if answer != -1:
            answer = jumps
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": answer}}))[1]


TASK = """You start at index 0 of an array of non-negative integers, where each value is the longest \
jump you may make forward from that index. Find the minimum number of jumps needed to reach the last \
index, or -1 if it cannot be reached. Use Observe to see the array; the environment tracks a greedy \
state (current range end, farthest reach, jumps taken) for you. Submit the answer as an integer with Done."""

# fmt: off
CONFIGS = [
    {"nums": [2, 3, 1, 1, 4, 2, 1, 1, 3]},
    {"nums": [2, 3, 1, 1, 2, 1, 1, 2, 1, 0, 0, 0, 1, 1]},
    {"nums": [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]},
    {"nums": [2, 1, 3, 1, 1, 2, 1, 4, 1, 1, 1, 2]},
    {"nums": [4, 1, 1, 3, 1, 1, 1, 0, 2, 1, 1, 1, 1, 3, 1]},
    {"nums": [1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1]},
    {"nums": [2, 2, 0, 1, 3, 1, 3, 0, 0, 2, 1, 3, 1, 1, 2, 1, 1, 1, 1, 2, 2, 1]},
    {"nums": [(i * 7) % 4 + 1 for i in range(28)]},
    {"nums": [1, 3, 1, 1, 1, 2, 3, 1, 0, 3, 1, 1, 2, 1, 1, 4, 1, 1, 1, 1, 2, 1, 3, 1, 1, 1, 1, 2, 1, 1, 1, 2]},
    {"nums": [(i * i + 3) % 3 + 1 for i in range(38)]},
    {"nums": [2, 1, 1] * 16},
]
# fmt: on


def generate_config(seed: int, size: int) -> dict:
    """A random array of `size` jump lengths (at least 1): mostly 1..3, with some zeros and a few long
    jumps. The last index is reachable, except in about one in five arrays, which get a wall of zeros
    in their second half that cannot be crossed."""
    rng = random.Random(seed)
    n = max(1, int(size))
    nums = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.1:
            nums.append(0)
        elif roll < 0.9:
            nums.append(rng.randint(1, 3))
        else:
            nums.append(rng.randint(4, 6))
    # repair accidental dead ends so that, without a wall, the last index is always reachable
    farthest = 0
    for i in range(n - 1):
        if farthest == i and nums[i] == 0:
            nums[i] = rng.randint(1, 3)
        farthest = max(farthest, i + nums[i])
    if n >= 6 and rng.random() < 0.2:
        # a wall: a block of zeros too wide to be jumped over, somewhere after the first few cells
        start = rng.randint(n // 2, n - 2)
        for i in range(max(0, start - 6), start):
            nums[i] = min(nums[i], start - i)
        for i in range(start, min(n - 1, start + 3)):
            nums[i] = 0
    return {"nums": nums}


if __name__ == "__main__":
    # test case 1: a fixed configuration
    env = MinimumJumpsEnv.from_env_str(f"MinimumJumpsEnv@{CONFIGS[0]}")
    print(env.solve())
    print("step count:", env.step_count)

    # test case 2: a generated configuration
    env = MinimumJumpsEnv.from_env_str(f"MinimumJumpsEnv@{generate_config(seed=9, size=20)}")
    print(env.solve())
    print("step count:", env.step_count)
