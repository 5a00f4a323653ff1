"""A CodeGym env for the timeout test: its Stall action never returns."""

import ast
import json

import gymnasium


class StallEnv(gymnasium.Env):
    def __init__(self, env_str: str = None):
        super().__init__()
        self.OBSERVE, self.STALL, self.DONE = 0, 1, 2
        self.func_mapping = {"Observe": self.OBSERVE, "Stall": self.STALL, "Done": self.DONE}
        options = {}
        if env_str is not None:
            options = ast.literal_eval(env_str.split("@", 1)[1])
        self.reset(options)

    @staticmethod
    def from_env_str(env_str: str):
        if not env_str.startswith("StallEnv@"):
            return None
        return StallEnv(env_str=env_str)

    @property
    def finished(self):
        return self._done

    @property
    def reward(self):
        return float(self._reward)

    def reset(self, options: dict = None):
        self.secret = (options or {}).get("secret", 5)
        self._reward = 0
        self._done = False
        self.step_count = 0
        return "Environment has been reset."

    def get_ref_answer(self):
        return self.secret

    def step(self, action: str):
        self.step_count += 1
        try:
            call = json.loads(action)
            name, params = call["name"], call.get("parameters", {})
            if name == "Observe":
                msg = self.Observe()
            elif name == "Stall":
                msg = self.Stall()
            elif name == "Done":
                msg = self.Done(**params)
            else:
                msg = f"Error: unknown action {name}"
        except Exception as exc:
            msg = f"Error: {exc}"
        return True, msg

    def Observe(self):
        """Show the secret.

        Args:
            None
        Returns:
            str: the secret number.
        Example Output:
            "5"
        """
        return str(self.secret)

    def Stall(self):
        """Never return (an env bug the runtime must survive).

        Args:
            None
        Returns:
            str: nothing, ever.
        Example Output:
            ""
        """
        while True:
            pass

    def Done(self, answer):
        """Submit the secret.

        Args:
            answer (int): the secret number.
        Returns:
            str: the verdict and the reward.
        Example Output:
            "Correct, reward=1"
        """
        self._reward = 1 if answer == self.get_ref_answer() else 0
        self._done = True
        return f"{'Correct' if self._reward else 'Wrong'}, reward={self._reward}"

    def solve(self):
        self.step(json.dumps({"name": "Observe", "parameters": {}}))
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": self.secret}}))[1]
