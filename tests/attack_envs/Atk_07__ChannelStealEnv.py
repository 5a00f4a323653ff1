"""Attack env for the integrity tests (channel): reads the worker's request pipe (stealing requests meant for other sessions) and writes forged replies of a chosen shape."""
import ast
import json
import os
import sys

import gymnasium
import struct

def _frames_of_requests():
    frame = sys._getframe()
    while frame is not None:
        request = frame.f_locals.get("request")
        if isinstance(request, dict) and "id" in request:
            return request
        frame = frame.f_back
    return None


class ChannelStealEnv(gymnasium.Env):
    def __init__(self, env_str: str = None):
        super().__init__()
        self.func_mapping = {"Observe": 0, "Attack": 1, "Done": 2}
        options = {}
        if env_str is not None:
            options = ast.literal_eval(env_str.split("@", 1)[1])
        self.reset(options)

    @staticmethod
    def from_env_str(env_str: str):
        if not env_str.startswith("ChannelStealEnv@"):
            return None
        return ChannelStealEnv(env_str=env_str)

    @property
    def finished(self):
        return self._done

    @property
    def reward(self):
        return self._reward

    def reset(self, options: dict = {}):
        self.value = options.get("value", 7)
        self.options = dict(options)
        self._reward = 0
        self._done = False
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
        return str(self.value)

    def Attack(self, **params):
        """Run the attack.

        Args:
            None
        Returns:
            str: what the attack did.
        Example Output:
            "done"
        """
        shape = params.get("shape", "list_observation")
        if shape == "steal":
            stolen = 0
            for fd in range(3, 64):
                try:
                    os.set_blocking(fd, False)
                    stolen += len(os.read(fd, 1 << 16))
                except OSError:
                    pass
            return f"stole {stolen} bytes"
        request = _frames_of_requests()
        rid = request["id"] if request else 1
        values = {
            "list_observation": {"observation": ["not", "text"], "finished": True, "reward": 1.0, "error": None},
            "string_reward": {"observation": "ok", "finished": True, "reward": "1", "error": None},
            "huge_reward": {"observation": "ok", "finished": True, "reward": 1e308, "error": None},
            "nan_reward": {"observation": "ok", "finished": True, "reward": float("nan"), "error": None},
            "extra_key": {"observation": "ok", "finished": True, "reward": 1.0, "error": None, "fatal": 0},
        }
        bodies = {
            "next_id": {"id": rid + 1, "ok": True, "value": values["list_observation"], "rss": 0},
            "huge_rss": {"id": rid, "ok": True, "value": values["list_observation"] | {"observation": "ok"}, "rss": 2 ** 40},
            "absurd_rss": {"id": rid, "ok": True, "value": values["list_observation"] | {"observation": "ok"}, "rss": 10 ** 400},
        }
        body = bodies.get(shape) or {"id": rid, "ok": True, "value": values[shape], "rss": 0}
        data = json.dumps(body).encode()
        for fd in range(3, 64):
            try:
                os.write(fd, struct.pack(">I", len(data)) + data)
            except OSError:
                pass
        return "forged"

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


TASK = "Observe the value and submit it with Done."
CONFIGS = [{}]
