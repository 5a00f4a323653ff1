"""An HONEST but buggy env (a tripwire false-positive probe): like many LLM-written envs it keeps
its move history in a mutable CLASS attribute, so sessions of this env share it, and its
`finished` property (a move budget) reads it."""
import ast
import json

import gymnasium



class SharedMovesEnv(gymnasium.Env):
    moves = []  # the classic mistake: shared by every instance

    def __init__(self, env_str: str = None):
        super().__init__()
        self.func_mapping = {"Observe": 0, "Attack": 1, "Done": 2}
        options = {}
        if env_str is not None:
            options = ast.literal_eval(env_str.split("@", 1)[1])
        self.reset(options)

    @staticmethod
    def from_env_str(env_str: str):
        if not env_str.startswith("SharedMovesEnv@"):
            return None
        return SharedMovesEnv(env_str=env_str)

    @property
    def finished(self):
        return self._done or len(self.moves) >= self.max_moves

    @property
    def reward(self):
        return self._reward

    def reset(self, options: dict = {}):
        self.value = options.get("value", 7)
        self.options = dict(options)
        self._reward = 0
        self._done = False
        self.max_moves = options.get("max_moves", 3)
        return "Environment has been reset."

    def step(self, action: str):
        try:
            call = json.loads(action)
            name, params = call["name"], call.get("parameters", {})
            if name == "Observe":
                msg = self.Observe()
            elif name == "Attack":
                msg = self.Attack(**params)
            elif name == "Done":
                msg = self.Done(**params)
            else:
                msg = f"Error: unknown action {name}"
        except Exception as exc:
            msg = f"Error: {exc}"
        return True, msg

    def Observe(self):
        """Show the hidden value.

        Args:
            None
        Returns:
            str: the value.
        Example Output:
            "7"
        """
        self.moves.append("Observe")
        return str(self.value)

    def Attack(self, **params):
        """Do the env's extra thing (nothing hostile: this env is honest).

        Args:
            None
        Returns:
            str: what it did.
        Example Output:
            "done"
        """
        self.moves.append("Attack")
        return "moved"

    def Done(self, answer):
        """Submit the value.

        Args:
            answer (int): the value seen with Observe.
        Returns:
            str: the verdict.
        Example Output:
            "reward=1"
        """
        self._reward = 1 if answer == self.get_ref_answer() else 0
        self._done = True
        return f"Your answer: {answer}, reward={self._reward}"

    def get_ref_answer(self):
        return self.value

    def solve(self):
        self.step(json.dumps({"name": "Observe", "parameters": {}}))
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": self.get_ref_answer()}}))[1]


TASK = "Observe the value and submit it with Done."
CONFIGS = [{}]
