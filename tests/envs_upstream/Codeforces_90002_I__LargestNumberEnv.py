import gymnasium
import ast
import json
from collections import Counter


class LargestNumberEnv(gymnasium.Env):
    def __init__(self, env_str: str = None):
        super().__init__()

        # [Required] Define the action names
        self.OBSERVE = 0
        self.COUNT_DIGIT = 1
        self.REPEAT_DIGIT = 2
        self.JOIN_PARTS = 3
        self.DONE = 4

        # [Required] Define the action mapping
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "CountDigit": self.COUNT_DIGIT,
            "RepeatDigit": self.REPEAT_DIGIT,
            "JoinParts": self.JOIN_PARTS,
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
        prefix = "LargestNumberEnv@"
        if not env_str.startswith(prefix):
            return None
        return LargestNumberEnv(env_str=env_str)

    # [Required] Define the reset method of the environment
    def reset(self, options={}):
        self.digits = options.get("digits", "")
        self._reward = 0
        self._done = False
        self.step_count = 0
        return "Environment has been reset."

    # [Required] Get the reference answer of the environment
    def get_ref_answer(self):
        # a string: "007" must be submitted as "700", and "3" is not 3
        return "".join(sorted(self.digits, reverse=True))

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
            elif action_code == self.COUNT_DIGIT:
                if "digit" in params:
                    msg = self.CountDigit(params["digit"])
                else:
                    msg = "Error: 'digit' parameter is missing for COUNT_DIGIT action."
            elif action_code == self.REPEAT_DIGIT:
                if "digit" in params and "times" in params:
                    msg = self.RepeatDigit(params["digit"], params["times"])
                else:
                    msg = "Error: 'digit' or 'times' parameter is missing for REPEAT_DIGIT action."
            elif action_code == self.JOIN_PARTS:
                if "parts" in params:
                    msg = self.JoinParts(params["parts"])
                else:
                    msg = "Error: 'parts' parameter is missing for JOIN_PARTS action."
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
        Show the digits that must be arranged.

        Args:
            None

        Returns:
            str: The digit string.

        Example Output:
            "30451"
        """
        return self.digits

    def CountDigit(self, digit: int):
        r"""
        Count how many times a digit occurs among the given digits.

        Args:
            digit (int): A digit from 0 to 9.

        Returns:
            str: The number of occurrences.

        Example Output:
            "2"
        """
        return str(Counter(self.digits)[str(digit)])

    def RepeatDigit(self, digit: int, times: int):
        r"""
        Write a digit a number of times in a row.

        Args:
            digit (int): A digit from 0 to 9.
            times (int): How many copies to write.

        Returns:
            str: The repeated digit as a string.

        Example Output:
            "555"
        """
        return str(digit) * times

    def JoinParts(self, parts: list):
        r"""
        Concatenate strings in the given order.

        Args:
            parts (list[str]): The strings to join.

        Returns:
            str: The concatenation.

        Example Output:
            "55310"
        """
        return "".join(parts)

    def Done(self, answer):
        r"""
        Submit the largest number that can be formed from all the digits, as a string.

        Args:
            answer (str): The largest number, written as a string of digits.

        Returns:
            str: The result, with the reward.

        Example Output:
            "Your answer: 54310, Reference answer: 54310, Result: Correct, reward=1"
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
        Count every digit from 9 down to 0, write each run, join the runs and submit the string.

        Returns:
            str: The result message of Done.
        """
        self.step(json.dumps({"name": "Observe", "parameters": {}}))
        parts = []
        for d in range(9, -1, -1):
            count = int(self.step(json.dumps({"name": "CountDigit", "parameters": {"digit": d}}))[1])
            if count:
                run = self.step(json.dumps({"name": "RepeatDigit", "parameters": {"digit": d, "times": count}}))[1]
                parts.append(run)
        number = self.step(json.dumps({"name": "JoinParts", "parameters": {"parts": parts}}))[1]
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": number}}))[1]


# Test the environment
if __name__ == "__main__":
    # test case 1
    print("Test Case 1:")
    test_env_str1 = "LargestNumberEnv@{\"digits\": \"30451\"}"
    env1 = LargestNumberEnv.from_env_str(test_env_str1)
    print(env1.solve())
    print("step count:", env1.step_count)

    # test case 2
    print("\nTest Case 2:")
    test_env_str2 = "LargestNumberEnv@{\"digits\": \"3\"}"
    env2 = LargestNumberEnv.from_env_str(test_env_str2)
    print(env2.solve())
    print("step count:", env2.step_count)
