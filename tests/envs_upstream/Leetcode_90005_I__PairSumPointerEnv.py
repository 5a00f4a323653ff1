import gymnasium
import ast
import json
from typing import List


class PairSumPointerEnv(gymnasium.Env):
    def __init__(self, env_str: str = None):
        super().__init__()

        # [Required] Define the action names
        self.OBSERVE = 0
        self.READ_POINTERS = 1
        self.MOVE_LEFT = 2
        self.MOVE_RIGHT = 3
        self.DONE = 4

        # [Required] Define the action mapping
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "ReadPointers": self.READ_POINTERS,
            "MoveLeft": self.MOVE_LEFT,
            "MoveRight": self.MOVE_RIGHT,
            "Done": self.DONE,
        }

        if env_str is not None:
            options = ast.literal_eval(env_str.split("@")[1])
            self.reset(options)
        else:
            self.reset()

    # [Required] Define the property and staticmethod of the environment
    @property
    def finished(self) -> bool:
        return self._done

    @property
    def reward(self):
        return float(self._reward)

    @staticmethod
    def from_env_str(env_str: str):
        prefix = "PairSumPointerEnv@"
        if not env_str.startswith(prefix):
            return None
        return PairSumPointerEnv(env_str=env_str)

    # [Required] Define the reset method of the environment
    def reset(self, options={}):
        self.nums = sorted(options.get("nums", []))
        self.target = options.get("target", 0)
        self.left = 0
        self.right = len(self.nums) - 1
        self._reward = 0
        self._done = False
        self.step_count = 0
        return "Environment has been reset."

    # [Required] Get the reference answer of the environment
    def get_ref_answer(self):
        lo, hi = 0, len(self.nums) - 1
        while lo < hi:
            s = self.nums[lo] + self.nums[hi]
            if s == self.target:
                return [lo, hi]
            if s < self.target:
                lo += 1
            else:
                hi -= 1
        return [-1, -1]

    # [Required] Define the step method of the environment
    def step(self, action: str):
        self.step_count += 1
        try:
            call_dict = json.loads(action)
            assert "name" in call_dict, "function call doesn't have `name`"
            assert "parameters" in call_dict, "function call doesn't have `parameters`"
            action_name = call_dict["name"]
            params = call_dict["parameters"]

            if action_name not in self.func_mapping:
                raise ValueError(f"Invalid action: {action_name}")

            action_code = self.func_mapping[action_name]

            if action_code == self.OBSERVE:
                msg = self.Observe()
            elif action_code == self.READ_POINTERS:
                msg = self.ReadPointers()
            elif action_code == self.MOVE_LEFT:
                msg = self.MoveLeft()
            elif action_code == self.MOVE_RIGHT:
                msg = self.MoveRight()
            elif action_code == self.DONE:
                if "answer" in params:
                    msg = self.Done(params["answer"])
                else:
                    msg = "Error: 'answer' parameter is missing for DONE action."
        except Exception as e:
            msg = f"Error: {str(e)}"

        return True, msg

    # All the actions of the environment
    def Observe(self):
        r"""
        Show the sorted array length and the target sum. The values themselves are hidden.

        Args:
            None

        Returns:
            str: JSON with the array length and the target.

        Example Output:
            "{\"length\": 6, \"target\": 9}"
        """
        return json.dumps({"length": len(self.nums), "target": self.target})

    def ReadPointers(self):
        r"""
        Show both pointers and the sum of the values they point at.

        Args:
            None

        Returns:
            str: JSON with left, right and sum (sum is null once the pointers meet).

        Example Output:
            "{\"left\": 0, \"right\": 5, \"sum\": 11}"
        """
        s = self.nums[self.left] + self.nums[self.right] if self.left < self.right else None
        return json.dumps({"left": self.left, "right": self.right, "sum": s})

    def MoveLeft(self):
        r"""
        Move the left pointer one position to the right.

        Args:
            None

        Returns:
            str: The new left pointer.

        Example Output:
            "1"
        """
        if self.left >= self.right:
            raise ValueError("the pointers have met")
        self.left += 1
        return str(self.left)

    def MoveRight(self):
        r"""
        Move the right pointer one position to the left.

        Args:
            None

        Returns:
            str: The new right pointer.

        Example Output:
            "4"
        """
        if self.left >= self.right:
            raise ValueError("the pointers have met")
        self.right -= 1
        return str(self.right)

    def Done(self, answer: List[int]):
        r"""
        Submit the pair of indices [i, j] (i < j) found by the two pointers, or [-1, -1] if none.

        Args:
            answer (list[int]): The two indices.

        Returns:
            str: The result, with the reward.

        Example Output:
            "Your answer: [1, 4], Reference answer: [1, 4], Result: Correct, reward=1"
        """
        ref_answer = self.get_ref_answer()
        correct = answer == ref_answer
        self._reward = 1 if correct else 0
        self._done = True
        msg = f"Your answer: {answer}, Reference answer: {ref_answer}, Result: {'Correct' if correct else 'Incorrect'}"
        return msg + f", reward={self._reward}"

    # Define the solve method of the environment
    def solve(self):
        r"""
        Walk the two pointers towards each other until their sum hits the target or they meet.

        Returns:
            str: The result message of Done.
        """
        info = json.loads(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
        target = info["target"]
        while True:
            state = json.loads(self.step(json.dumps({"name": "ReadPointers", "parameters": {}}))[1])
            if state["sum"] is None:
                answer = [-1, -1]
                break
            if state["sum"] == target:
                answer = [state["left"], state["right"]]
                break
            if state["sum"] < target:
                self.step(json.dumps({"name": "MoveLeft", "parameters": {}}))
            else:
                self.step(json.dumps({"name": "MoveRight", "parameters": {}}))
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": answer}}))[1]


# Test the environment
if __name__ == "__main__":
    # test case 1
    print("Test Case 1:")
    test_env_str1 = "PairSumPointerEnv@{\"nums\": [1, 3, 4, 6, 8, 11], \"target\": 10}"
    env1 = PairSumPointerEnv.from_env_str(test_env_str1)
    print(env1.solve())
    print("step count:", env1.step_count)

    # test case 2
    print("\nTest Case 2:")
    test_env_str2 = "PairSumPointerEnv@{\"nums\": [2, 5, 9, 12], \"target\": 100}"
    env2 = PairSumPointerEnv.from_env_str(test_env_str2)
    print(env2.solve())
    print("step count:", env2.step_count)
