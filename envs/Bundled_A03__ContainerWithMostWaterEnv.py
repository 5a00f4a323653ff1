import ast
import json
import random

import gymnasium


class ContainerWithMostWaterEnv(gymnasium.Env):
    """Largest water area between two vertical lines, found with two converging pointers."""

    def __init__(self, env_str: str = None):
        super().__init__()

        # [Required] Define the action names
        self.OBSERVE = 0
        self.CALCULATE_AREA = 1
        self.COMPARE_HEIGHTS = 2
        self.MOVE_LEFT_POINTER = 3
        self.MOVE_RIGHT_POINTER = 4
        self.DONE = 5

        # [Required] Define the action mapping
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "CalculateArea": self.CALCULATE_AREA,
            "CompareHeights": self.COMPARE_HEIGHTS,
            "MoveLeftPointer": self.MOVE_LEFT_POINTER,
            "MoveRightPointer": self.MOVE_RIGHT_POINTER,
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
        prefix = "ContainerWithMostWaterEnv@"
        if not isinstance(env_str, str) or not env_str.startswith(prefix):
            return None
        return ContainerWithMostWaterEnv(env_str=env_str)

    # [Required] Define the reset method of the environment
    def reset(self, options: dict = {}):  # noqa: B006
        if not isinstance(options, dict):
            options = {}
        heights = options.get("heights", [1, 8, 6, 2, 5, 4, 8, 3, 7])
        self.heights = [int(v) for v in heights]
        self.left = 0
        self.right = max(0, len(self.heights) - 1)
        self._reward = 0
        self._done = False
        self.step_count = 0
        return "Environment has been reset."

    # [Required] Get the reference answer of the environment
    def get_ref_answer(self):
        best = 0
        h = self.heights
        for i in range(len(h)):
            for j in range(i + 1, len(h)):
                best = max(best, min(h[i], h[j]) * (j - i))
        return best

    def _pointers(self) -> dict:
        return {"left": self.left, "right": self.right}

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
            elif code == self.CALCULATE_AREA:
                handler = self.CalculateArea
            elif code == self.COMPARE_HEIGHTS:
                handler = self.CompareHeights
            elif code == self.MOVE_LEFT_POINTER:
                handler = self.MoveLeftPointer
            elif code == self.MOVE_RIGHT_POINTER:
                handler = self.MoveRightPointer
            else:
                handler = self.Done
            msg = handler(**params)
        except Exception as e:
            return True, f"Error: {e}"
        return True, msg

    # All the actions of the environment
    def Observe(self):
        r"""
        Show the line heights and the current positions of the two pointers
        (left starts at index 0, right at the last index).

        Args:
            None

        Returns:
            str: JSON object with the heights, left and right.

        Example Output:
            "{\"heights\": [1, 8, 6, 2, 5, 4, 8, 3, 7], \"left\": 0, \"right\": 8}"
        """
        return json.dumps({"heights": self.heights, "left": self.left, "right": self.right})

    def CalculateArea(self):
        r"""
        Compute the water held between the lines at the two pointers:
        min(heights[left], heights[right]) * (right - left).

        Args:
            None

        Returns:
            str: JSON object with left, right and the area.

        Example Output:
            "{\"left\": 1, \"right\": 8, \"area\": 49}"
        """
        if self.left >= self.right:
            raise ValueError("the pointers have met; no container is left between them")
        area = min(self.heights[self.left], self.heights[self.right]) * (self.right - self.left)
        return json.dumps({"left": self.left, "right": self.right, "area": area})

    def CompareHeights(self):
        r"""
        Tell which pointer stands on the shorter line.

        Args:
            None

        Returns:
            str: "left" if heights[left] < heights[right], "right" if heights[right] < heights[left],
            otherwise "equal".

        Example Output:
            "left"
        """
        if self.left >= self.right:
            raise ValueError("the pointers have met; there is nothing to compare")
        hl, hr = self.heights[self.left], self.heights[self.right]
        if hl < hr:
            return "left"
        if hr < hl:
            return "right"
        return "equal"

    def MoveLeftPointer(self):
        r"""
        Move the left pointer one position to the right.

        Args:
            None

        Returns:
            str: JSON object with the new pointer positions.

        Example Output:
            "{\"left\": 1, \"right\": 8}"
        """
        if self.left >= self.right:
            raise ValueError("the pointers have met and cannot move further")
        self.left += 1
        return json.dumps(self._pointers())

    def MoveRightPointer(self):
        r"""
        Move the right pointer one position to the left.

        Args:
            None

        Returns:
            str: JSON object with the new pointer positions.

        Example Output:
            "{\"left\": 1, \"right\": 7}"
        """
        if self.left >= self.right:
            raise ValueError("the pointers have met and cannot move further")
        self.right -= 1
        return json.dumps(self._pointers())

    def Done(self, answer):
        r"""
        Submit the largest area any two lines can hold.

        Args:
            answer (int): The maximum area.

        Returns:
            str: The submitted and reference answers, and the reward.

        Example Output:
            "Your answer: 49, reference answer: 49, result: correct, reward=1"
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
        Two pointers: measure the area, then move the pointer on the shorter line inwards.

        Returns:
            str: The message returned by Done.
        """
        obs = json.loads(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
        left, right = obs["left"], obs["right"]
        best = 0
        while left < right:
            res = json.loads(self.step(json.dumps({"name": "CalculateArea", "parameters": {}}))[1])
            best = max(best, res["area"])
            shorter = self.step(json.dumps({"name": "CompareHeights", "parameters": {}}))[1]
            move = "MoveRightPointer" if shorter == "right" else "MoveLeftPointer"
            pos = json.loads(self.step(json.dumps({"name": move, "parameters": {}}))[1])
            left, right = pos["left"], pos["right"]
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": best}}))[1]


TASK = """You are given the heights of vertical lines standing at positions 0, 1, 2, ... Two lines together \
with the x-axis form a container; it holds min(height_i, height_j) * (j - i) units of water. Find the \
largest amount of water any container can hold. Use Observe to see the heights and the two pointers \
(one at each end) that you can move inwards, and submit the maximum area as an integer with Done."""

# fmt: off
CONFIGS = [
    {"heights": [1, 8, 6, 2, 5, 4, 8, 3, 7]},
    {"heights": [1, 1, 1, 1, 1]},
    {"heights": [4, 3, 2, 1, 4, 2, 6, 1, 3, 5]},
    {"heights": [2, 9, 1, 1, 1, 1, 1, 1, 9, 2, 3, 4]},
    {"heights": [10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2, 3]},
    {"heights": [3, 7, 2, 8, 4, 9, 1, 6, 5, 10, 2, 7, 3, 8, 1, 4]},
    {"heights": [0, 0, 5, 0, 0, 0, 0, 5, 0, 0, 0, 3, 0, 0, 2, 0, 1, 0]},
    {"heights": [(i * 13) % 17 + 1 for i in range(20)]},
    {"heights": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2]},
    {"heights": [(i * i * 5 + 7) % 29 for i in range(24)]},
    {"heights": [50, 3, 48, 6, 45, 9, 42, 12, 39, 15, 36, 18, 33, 21, 30, 24, 27, 26, 28, 25, 31, 22, 34, 19,
                 37, 16]},
]
# fmt: on


def generate_config(seed: int, size: int) -> dict:
    """Random heights for `size` lines (at least 2), each in 0..60."""
    rng = random.Random(seed)
    n = max(2, int(size))
    return {"heights": [rng.randint(0, 60) for _ in range(n)]}


if __name__ == "__main__":
    # test case 1: a fixed configuration
    env = ContainerWithMostWaterEnv.from_env_str(f"ContainerWithMostWaterEnv@{CONFIGS[0]}")
    print(env.solve())
    print("step count:", env.step_count)

    # test case 2: a generated configuration
    env = ContainerWithMostWaterEnv.from_env_str(
        f"ContainerWithMostWaterEnv@{generate_config(seed=5, size=10)}"
    )
    print(env.solve())
    print("step count:", env.step_count)
