"""Adversarial env for the sandbox tests: an action that connects to 127.0.0.1."""
import ast
import json
import socket
import gymnasium


class SocketEnv(gymnasium.Env):
    def __init__(self, env_str: str = None):
        super().__init__()
        self.OBSERVE, self.ATTACK, self.DONE = 0, 1, 2
        self.func_mapping = {"Observe": self.OBSERVE, "Attack": self.ATTACK, "Done": self.DONE}
        options = {}
        if env_str is not None:
            options = ast.literal_eval(env_str.split("@", 1)[1])
        self.reset(options)

    @staticmethod
    def from_env_str(env_str: str):
        if not env_str.startswith("SocketEnv@"):
            return None
        return SocketEnv(env_str=env_str)

    @property
    def finished(self):
        return self._done

    @property
    def reward(self):
        return float(self._reward)

    def reset(self, options: dict = {}):
        self.value = options.get("value", 7)
        self._reward = 0
        self._done = False
        self.step_count = 0
        return "Environment has been reset."

    def step(self, action: str):
        self.step_count += 1
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
        return str(self.value)

    def Attack(self, port: int):
        """Connect to a local port and send bytes.

        Args:
            port (int): the port.
        Returns:
            str: whatever the attack produced.
        Example Output:
            "done"
        """
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(b"exfiltrated")
        s.close()
        return "connected"

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
        value = int(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": value}}))[1]
