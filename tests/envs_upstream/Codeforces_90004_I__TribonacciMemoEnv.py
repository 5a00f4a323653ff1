import gymnasium
import ast
import json


class TribonacciMemoEnv(gymnasium.Env):
    def __init__(self, env_str: str = None):
        super().__init__()

        # [Required] Define the action names
        self.OBSERVE = 0
        self.COMPUTE = 1
        self.COMPUTE_UP_TO = 2
        self.LOOKUP = 3
        self.DONE = 4

        # [Required] Define the action mapping
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "Compute": self.COMPUTE,
            "ComputeUpTo": self.COMPUTE_UP_TO,
            "Lookup": self.LOOKUP,
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
        prefix = "TribonacciMemoEnv@"
        if not env_str.startswith(prefix):
            return None
        return TribonacciMemoEnv(env_str=env_str)

    # [Required] Define the reset method of the environment
    def reset(self, options={}):
        self.n = options.get("n", 0)
        self.modulo = options.get("modulo", 1000000007)
        # one memo for both the actions and get_ref_answer
        self.memo = {0: 0, 1: 1, 2: 1}
        self._reward = 0
        self._done = False
        self.step_count = 0
        return "Environment has been reset."

    def _trib(self, k):
        if k not in self.memo:
            self.memo[k] = (self._trib(k - 1) + self._trib(k - 2) + self._trib(k - 3)) % self.modulo
        return self.memo[k]

    # [Required] Get the reference answer of the environment
    def get_ref_answer(self):
        for k in range(self.n + 1):
            self._trib(k)
        return self.memo[self.n]

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
            elif action_code == self.COMPUTE:
                if "k" in params:
                    msg = self.Compute(params["k"])
                else:
                    msg = "Error: 'k' parameter is missing for COMPUTE action."
            elif action_code == self.COMPUTE_UP_TO:
                if "k" in params:
                    msg = self.ComputeUpTo(params["k"])
                else:
                    msg = "Error: 'k' parameter is missing for COMPUTE_UP_TO action."
            elif action_code == self.LOOKUP:
                if "k" in params:
                    msg = self.Lookup(params["k"])
                else:
                    msg = "Error: 'k' parameter is missing for LOOKUP action."
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
        Show the index n whose Tribonacci number is wanted and the modulo.

        Args:
            None

        Returns:
            str: JSON with n, the modulo and the largest index already in the memo.

        Example Output:
            "{\"n\": 10, \"modulo\": 1000000007, \"known_up_to\": 2}"
        """
        return json.dumps({"n": self.n, "modulo": self.modulo, "known_up_to": max(self.memo)})

    def Compute(self, k: int):
        r"""
        Compute T(k) = T(k-1) + T(k-2) + T(k-3) mod modulo from the memo and store it.
        T(k-1), T(k-2) and T(k-3) must already be in the memo.

        Args:
            k (int): The index to compute, k >= 3.

        Returns:
            str: The value T(k).

        Example Output:
            "24"
        """
        if k in self.memo:
            return str(self.memo[k])
        for j in (k - 1, k - 2, k - 3):
            if j not in self.memo:
                raise ValueError(f"T({j}) is not known yet")
        self.memo[k] = (self.memo[k - 1] + self.memo[k - 2] + self.memo[k - 3]) % self.modulo
        return str(self.memo[k])

    def ComputeUpTo(self, k: int):
        r"""
        Compute every missing value from the largest known index up to k, one Compute call each.

        Args:
            k (int): The last index to compute.

        Returns:
            str: The value T(k).

        Example Output:
            "149"
        """
        start = max(self.memo) + 1
        for j in range(start, k + 1):
            result = self.step(json.dumps({"name": "Compute", "parameters": {"k": j}}))[1]
            if result.startswith("Error"):
                return result
        return str(self.memo[k])

    def Lookup(self, k: int):
        r"""
        Read a value from the memo.

        Args:
            k (int): An index already computed.

        Returns:
            str: The stored value T(k).

        Example Output:
            "81"
        """
        if k not in self.memo:
            raise ValueError(f"T({k}) is not known yet")
        return str(self.memo[k])

    def Done(self, answer):
        r"""
        Submit T(n) mod modulo.

        Args:
            answer (int): The value T(n).

        Returns:
            str: The result, with the reward.

        Example Output:
            "Your answer: 149, Reference answer: 149, Result: Correct, reward=1"
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
        Fill the first half of the memo with one ComputeUpTo call, the rest with Compute calls,
        then look up T(n) and submit it.

        Returns:
            str: The result message of Done.
        """
        info = json.loads(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
        n = info["n"]
        half = n // 2
        self.step(json.dumps({"name": "ComputeUpTo", "parameters": {"k": half}}))
        for k in range(max(half + 1, 3), n + 1):
            self.step(json.dumps({"name": "Compute", "parameters": {"k": k}}))
        value = int(self.step(json.dumps({"name": "Lookup", "parameters": {"k": n}}))[1])
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": value}}))[1]


# Test the environment
if __name__ == "__main__":
    # test case 1
    print("Test Case 1:")
    test_env_str1 = "TribonacciMemoEnv@{\"n\": 12}"
    env1 = TribonacciMemoEnv.from_env_str(test_env_str1)
    print(env1.solve())
    print("step count:", env1.step_count)

    # test case 2
    print("\nTest Case 2:")
    test_env_str2 = "TribonacciMemoEnv@{\"n\": 40, \"modulo\": 1000}"
    env2 = TribonacciMemoEnv.from_env_str(test_env_str2)
    print(env2.solve())
    print("step count:", env2.step_count)
