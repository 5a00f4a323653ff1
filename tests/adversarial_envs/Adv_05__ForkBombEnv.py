"""Adversarial env for the sandbox tests: an action that forks, or starts threads (at most 16 of
either; each sleeps 20 s, then exits)."""
import ast
import json
import os
import threading
import time

import gymnasium


class ForkBombEnv(gymnasium.Env):
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
        if not env_str.startswith("ForkBombEnv@"):
            return None
        return ForkBombEnv(env_str=env_str)

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

    def Attack(self, kind: str = "fork"):
        """Fork 16 children (kind='fork') or start 16 threads (kind='thread').

        Args:
            kind (str): fork or thread.
        Returns:
            str: how many were started.
        Example Output:
            "forked 16 children"
        """
        if kind == "thread":
            threads = []
            for _ in range(16):
                t = threading.Thread(target=time.sleep, args=(20,), daemon=True)
                t.start()
                threads.append(t)
            return f"started {len(threads)} threads"
        pids = []
        for _ in range(16):
            pid = os.fork()
            if pid == 0:
                time.sleep(20)
                os._exit(0)
            pids.append(pid)
        return f"forked {len(pids)} children"

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
