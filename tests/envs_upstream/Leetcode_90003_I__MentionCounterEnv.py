import gymnasium
import ast
import json


class MentionCounterEnv(gymnasium.Env):
    def __init__(self, env_str: str = None):
        super().__init__()

        # [Required] Define the action names
        self.OBSERVE = 0
        self.CHAR_AT = 1
        self.MATCH_AT = 2
        self.DONE = 3

        # [Required] Define the action mapping
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "CharAt": self.CHAR_AT,
            "MatchAt": self.MATCH_AT,
            "Done": self.DONE,
        }

        if env_str is not None:
            # note: breaks when the text itself contains "@", and on JSON true/false/null
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
        prefix = "MentionCounterEnv@"
        if not env_str.startswith(prefix):
            return None
        return MentionCounterEnv(env_str=env_str)

    # [Required] Define the reset method of the environment
    def reset(self, options={}):
        self.text = options.get("text", "")
        self.symbol = options.get("symbol", "@")
        self.ignore_case = options.get("ignore_case", False)
        self.limit = options.get("limit", None)
        self._reward = 0
        self._done = False
        self.step_count = 0
        return "Environment has been reset."

    def _norm(self, s):
        return s.lower() if self.ignore_case else s

    # [Required] Get the reference answer of the environment
    def get_ref_answer(self):
        text, symbol = self._norm(self.text), self._norm(self.symbol)
        count = sum(1 for i in range(len(text) - len(symbol) + 1) if text.startswith(symbol, i))
        if self.limit is not None:
            count = min(count, self.limit)
        return count

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
            elif action_code == self.CHAR_AT:
                if "index" in params:
                    msg = self.CharAt(params["index"])
                else:
                    msg = "Error: 'index' parameter is missing for CHAR_AT action."
            elif action_code == self.MATCH_AT:
                if "index" in params:
                    msg = self.MatchAt(params["index"])
                else:
                    msg = "Error: 'index' parameter is missing for MATCH_AT action."
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
        Show the text length, the symbol to count, whether case is ignored and the cap on the count.

        Args:
            None

        Returns:
            str: JSON with length, symbol, ignore_case and limit (null when there is no cap).

        Example Output:
            "{\"length\": 12, \"symbol\": \"@\", \"ignore_case\": true, \"limit\": null}"
        """
        return json.dumps({
            "length": len(self.text),
            "symbol": self.symbol,
            "ignore_case": self.ignore_case,
            "limit": self.limit,
        })

    def CharAt(self, index: int):
        r"""
        Read one character of the text.

        Args:
            index (int): A position in the text, from 0 to length - 1.

        Returns:
            str: The character at that position.

        Example Output:
            "@"
        """
        return self.text[index]

    def MatchAt(self, index: int):
        r"""
        Tell whether an occurrence of the symbol starts at a position (respecting ignore_case).

        Args:
            index (int): A position in the text.

        Returns:
            str: "true" or "false".

        Example Output:
            "true"
        """
        return "true" if self._norm(self.text).startswith(self._norm(self.symbol), index) else "false"

    def Done(self, answer):
        r"""
        Submit the number of occurrences of the symbol, capped at limit when a limit is set.

        Args:
            answer (int): The (capped) number of occurrences.

        Returns:
            str: The result, with the reward.

        Example Output:
            "Your answer: 3, Reference answer: 3, Result: Correct, reward=1"
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
        Test every start position for the symbol, then submit the (capped) count.

        Returns:
            str: The result message of Done.
        """
        info = json.loads(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
        count = 0
        for i in range(info["length"] - len(info["symbol"]) + 1):
            if self.step(json.dumps({"name": "MatchAt", "parameters": {"index": i}}))[1] == "true":
                count += 1
        if info["limit"] is not None:
            count = min(count, info["limit"])
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": count}}))[1]


# Test the environment
if __name__ == "__main__":
    # test case 1
    print("Test Case 1:")
    test_env_str1 = "MentionCounterEnv@{\"text\": \"banana bandana\", \"symbol\": \"an\", \"ignore_case\": False, \"limit\": None}"
    env1 = MentionCounterEnv.from_env_str(test_env_str1)
    print(env1.solve())
    print("step count:", env1.step_count)

    # test case 2
    print("\nTest Case 2:")
    env2 = MentionCounterEnv()
    env2.reset({"text": "Ping AN and An", "symbol": "an", "ignore_case": True, "limit": 2})
    print(env2.solve())
    print("step count:", env2.step_count)
