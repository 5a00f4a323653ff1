import gymnasium
import ast
import json


class StairClimbEnv(gymnasium.Env):
    def __init__(self, env_str: str = None):
        super().__init__()

        # [Required] Define the action names
        self.OBSERVE = 0
        self.INIT_TABLE = 1
        self.FILL_ENTRY = 2
        self.READ_ENTRY = 3
        self.DONE = 4

        # [Required] Define the action mapping
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "InitTable": self.INIT_TABLE,
            "FillEntry": self.FILL_ENTRY,
            "ReadEntry": self.READ_ENTRY,
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
        prefix = "StairClimbEnv@"
        if not env_str.startswith(prefix):
            return None
        return StairClimbEnv(env_str=env_str)

    # [Required] Define the reset method of the environment
    def reset(self, options={}):
        # wrong keys fall back to an empty staircase without a word
        self.n = options.get("n", 0)
        self.moves = options.get("moves", [])
        self.table = []
        self._reward = 0
        self._done = False
        self.step_count = 0
        return "Environment has been reset."

    # [Required] Get the reference answer of the environment
    def get_ref_answer(self):
        ways = [0] * (self.n + 1)
        ways[0] = 1
        for i in range(1, self.n + 1):
            for m in self.moves:
                if i - m >= 0:
                    ways[i] += ways[i - m]
        return ways[self.n]

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
            elif action_code == self.INIT_TABLE:
                msg = self.InitTable()
            elif action_code == self.FILL_ENTRY:
                if "i" in params:
                    msg = self.FillEntry(params["i"])
                else:
                    msg = "Error: 'i' parameter is missing for FILL_ENTRY action."
            elif action_code == self.READ_ENTRY:
                if "i" in params:
                    msg = self.ReadEntry(params["i"])
                else:
                    msg = "Error: 'i' parameter is missing for READ_ENTRY action."
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
        Show the height of the staircase and the allowed jump sizes.

        Args:
            None

        Returns:
            str: JSON with the number of stairs and the allowed moves.

        Example Output:
            "{\"n\": 4, \"moves\": [1, 2]}"
        """
        return json.dumps({"n": self.n, "moves": self.moves})

    def InitTable(self):
        r"""
        Create an empty table with n + 1 entries. Entry i will hold the number of distinct
        ways to reach stair i; entry 0 stands for the empty climb itself.

        Args:
            None

        Returns:
            str: A confirmation with the table size.

        Example Output:
            "Table initialized with 5 entries."
        """
        self.table = [None] * (self.n + 1)
        return f"Table initialized with {len(self.table)} entries."

    def FillEntry(self, i: int):
        r"""
        Compute entry i of the table from the entries below it (the table refers to itself:
        self-referential recurrence ways[i] = sum of ways[i - m] over the allowed moves m).
        Entry 0 is always 1. Every entry it depends on must already be filled.

        Args:
            i (int): The stair index, from 0 to n; the entry itself is overwritten.

        Returns:
            str: The value stored in entry i.

        Example Output:
            "5"
        """
        if not self.table:
            raise ValueError("table is not initialized, call InitTable first")
        if i < 0 or i > self.n:
            raise IndexError(f"stair index {i} out of range")
        if i == 0:
            self.table[0] = 1
            return "1"
        total = 0
        for m in self.moves:
            if i - m >= 0:
                if self.table[i - m] is None:
                    raise ValueError(f"entry {i - m} has not been filled yet")
                total += self.table[i - m]
        self.table[i] = total
        return str(total)

    def ReadEntry(self, i: int):
        r"""
        Read a filled entry of the table.

        Args:
            i (int): The stair index, from 0 to n.

        Returns:
            str: The number of ways to reach stair i.

        Example Output:
            "8"
        """
        if not self.table or self.table[i] is None:
            raise ValueError(f"entry {i} has not been filled yet")
        return str(self.table[i])

    def Done(self, answer):
        r"""
        Submit the number of distinct ways to climb to the top. Calling it again re-checks
        the new answer by itself.

        Args:
            answer (int): The number of ways to reach stair n.

        Returns:
            str: The result, with the reward.

        Example Output:
            "Your answer: 8, Reference answer: 8, Result: Correct, reward=1"
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
        Fill the table stair by stair with the environment's actions and submit the top entry.

        Returns:
            str: The result message of Done.
        """
        info = json.loads(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
        n = info["n"]
        self.step(json.dumps({"name": "InitTable", "parameters": {}}))
        for i in range(n + 1):
            self.step(json.dumps({"name": "FillEntry", "parameters": {"i": i}}))
        ways = int(self.step(json.dumps({"name": "ReadEntry", "parameters": {"i": n}}))[1])
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": ways}}))[1]


# Test the environment
if __name__ == "__main__":
    # test case 1
    print("Test Case 1:")
    test_env_str1 = "StairClimbEnv@{\"n\": 6, \"moves\": [1, 2]}"
    env1 = StairClimbEnv.from_env_str(test_env_str1)
    print(env1.solve())
    print("step count:", env1.step_count)

    # test case 2
    print("\nTest Case 2:")
    test_env_str2 = "StairClimbEnv@{\"n\": 9, \"moves\": [1, 3, 4]}"
    env2 = StairClimbEnv.from_env_str(test_env_str2)
    print(env2.solve())
    print("step count:", env2.step_count)
