import ast
import json
import random

import gymnasium


class ModularPowerEnv(gymnasium.Env):
    """base ** exponent mod modulus for a long binary exponent, by repeated squaring."""

    def __init__(self, env_str: str | None = None):
        super().__init__()
        self.OBSERVE = 0
        self.BIT_AT = 1
        self.MUL_MOD = 2
        self.SQUARE_MOD = 3
        self.DONE = 4
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "BitAt": self.BIT_AT,
            "MulMod": self.MUL_MOD,
            "SquareMod": self.SQUARE_MOD,
            "Done": self.DONE,
        }
        options = {}
        if env_str is not None:
            text = env_str.split("@", 1)[1] if "@" in env_str else ""
            try:
                options = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                options = json.loads(text)
        self.reset(options)

    @staticmethod
    def from_env_str(env_str: str):
        prefix = "ModularPowerEnv@"
        if not isinstance(env_str, str) or not env_str.startswith(prefix):
            return None
        return ModularPowerEnv(env_str=env_str)

    def reset(self, options: dict = {}):  # noqa: B006 - the options dict is only read
        if not isinstance(options, dict):
            options = {}
        self.modulus = max(2, min(int(options.get("modulus", 1000)), 10**9 + 7))
        self.base = int(options.get("base", 3)) % self.modulus
        bits = "".join(c for c in str(options.get("exponent", "1101")) if c in "01")[:2000]
        self.exponent = bits.lstrip("0") or "0"
        self._reward = 0
        self._done = False
        self.step_count = 0
        return "Environment has been reset."

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _as_int(value, name, low, high):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer, got {type(value).__name__}")
        if value < low or value > high:
            raise ValueError(f"{name} must be between {low} and {high}, got {value}")
        return value

    def step(self, action: str) -> tuple[bool, str]:
        self.step_count += 1
        try:
            call = json.loads(action)
            if not isinstance(call, dict):
                raise ValueError('the action must be a JSON object {"name": ..., "parameters": {...}}')
            name = call.get("name")
            params = call.get("parameters", {})
            if params is None:
                params = {}
            if not isinstance(name, str) or name not in self.func_mapping:
                raise ValueError(f"unknown action {name!r}; available actions: {list(self.func_mapping)}")
            if not isinstance(params, dict):
                raise ValueError("parameters must be a JSON object")
            code = self.func_mapping[name]
            if code == self.OBSERVE:
                msg = self.Observe(**params)
            elif code == self.BIT_AT:
                msg = self.BitAt(**params)
            elif code == self.MUL_MOD:
                msg = self.MulMod(**params)
            elif code == self.SQUARE_MOD:
                msg = self.SquareMod(**params)
            elif code == self.DONE:
                msg = self.Done(**params)
            else:
                raise ValueError(f"action {name!r} is not implemented")
        except Exception as exc:
            return True, f"Error: {exc}" if str(exc) else f"Error: {type(exc).__name__}"
        return True, msg

    # ------------------------------------------------------------------ actions
    def Observe(self):
        """
        Show the base (already reduced modulo the modulus), the exponent written in binary
        (most significant bit first) with its bit count, and the modulus.

        Args:
            None

        Returns:
            str: JSON object with base, exponent (a binary string), bit_count and modulus.

        Example Output:
            {"base": 3, "exponent": "1101", "bit_count": 4, "modulus": 1000}
        """
        return json.dumps(
            {
                "base": self.base,
                "exponent": self.exponent,
                "bit_count": len(self.exponent),
                "modulus": self.modulus,
            }
        )

    def BitAt(self, position):
        """
        Read one bit of the exponent, counting positions from the least significant bit.

        Args:
            position (int): 0 for the lowest bit, up to bit_count - 1.

        Returns:
            str: JSON object with the position and the bit (0 or 1).

        Example Output:
            {"position": 1, "bit": 0}
        """
        position = self._as_int(position, "position", 0, len(self.exponent) - 1)
        return json.dumps({"position": position, "bit": int(self.exponent[-1 - position])})

    def MulMod(self, a, b):
        """
        Multiply two residues modulo the modulus.

        Args:
            a (int): first factor, 0 to modulus - 1.
            b (int): second factor, 0 to modulus - 1.

        Returns:
            str: JSON object with (a * b) mod modulus.

        Example Output:
            {"a": 3, "b": 81, "result": 243}
        """
        a = self._as_int(a, "a", 0, self.modulus - 1)
        b = self._as_int(b, "b", 0, self.modulus - 1)
        return json.dumps({"a": a, "b": b, "result": a * b % self.modulus})

    def SquareMod(self, a):
        """
        Square a residue modulo the modulus.

        Args:
            a (int): the residue, 0 to modulus - 1.

        Returns:
            str: JSON object with (a * a) mod modulus.

        Example Output:
            {"a": 81, "result": 561}
        """
        a = self._as_int(a, "a", 0, self.modulus - 1)
        return json.dumps({"a": a, "result": a * a % self.modulus})

    def Done(self, answer):
        """
        Submit base ** exponent mod modulus and finish the episode.

        Args:
            answer (int): the value of base raised to the exponent, modulo the modulus.

        Returns:
            str: the submitted and reference answers, the verdict and the reward.

        Example Output:
            Your answer: 323, reference answer: 323, result: correct, reward=1
        """
        ref = self.get_ref_answer()
        correct = answer == ref
        self._reward = 1 if correct else 0
        self._done = True
        verdict = "correct" if correct else "incorrect"
        shown = json.dumps(answer, default=str)
        return f"Your answer: {shown}, reference answer: {ref}, result: {verdict}, reward={self._reward}"

    # ------------------------------------------------------------------ episode info
    @property
    def finished(self) -> bool:
        return self._done

    @property
    def reward(self):
        return float(self._reward)

    def get_ref_answer(self):
        return pow(self.base, int(self.exponent, 2), self.modulus)

    def solve(self):
        info = json.loads(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
        bits = info["exponent"]
        result = 1 % info["modulus"]
        power = info["base"]
        for i, bit in enumerate(reversed(bits)):
            if bit == "1":
                _, msg = self.step(json.dumps({"name": "MulMod", "parameters": {"a": result, "b": power}}))
                result = json.loads(msg)["result"]
            if i < len(bits) - 1:
                _, msg = self.step(json.dumps({"name": "SquareMod", "parameters": {"a": power}}))
                power = json.loads(msg)["result"]
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": result}}))[1]


TASK = """Compute base raised to a very large exponent, modulo a modulus. The exponent is given as a binary
string (most significant bit first) and is far too large to expand. Call Observe to see base, exponent and
modulus; MulMod and SquareMod multiply residues modulo the modulus, so square-and-multiply works one bit at
a time (BitAt reads single bits). Finish with Done(answer), where answer is an integer."""

# fmt: off
CONFIGS = [
    {"base": 2, "exponent": "1111111111", "modulus": 1000000007},
    {"base": 100780965, "exponent": "101011110", "modulus": 1000000007},
    {"base": 83, "exponent": "10010110001", "modulus": 97},
    {"base": 249024355, "exponent": "10110011001110", "modulus": 1000000007},
    {"base": 61799, "exponent": "101100001100110010", "modulus": 65537},
    {"base": 9096, "exponent": "1101000011010000110100", "modulus": 65537},
    {"base": 751212286, "exponent": "10110001110110100101101111", "modulus": 1000000007},
    {"base": 597, "exponent": "11000100001100010000100001100100", "modulus": 1000},
    {"base": 59206, "exponent": "11000000010111110101001111010011001001", "modulus": 65537},
    {"base": 640858130, "exponent": "1110001101010110000000101001010111000101100010", "modulus": 1000000007},
    {"base": 21, "exponent": "11100111001100101011111101101011000001101111010010001100", "modulus": 97},
]
# fmt: on


def generate_config(seed: int, size: int) -> dict:
    """``size`` (clamped to 3..100) sets the exponent's bit count (size + 6)."""
    rng = random.Random(seed)
    size = max(3, min(int(size), 100))
    modulus = rng.choice([97, 1000, 65537, 998244353, 1000000007, rng.randint(1000, 10**6)])
    bits = "1" + "".join(rng.choice("01") for _ in range(size + 5))
    return {"base": rng.randint(2, modulus - 1), "exponent": bits, "modulus": modulus}


if __name__ == "__main__":
    env = ModularPowerEnv.from_env_str(f"ModularPowerEnv@{CONFIGS[0]}")
    print(env.Observe())
    print(env.solve(), "| steps:", env.step_count)
    env = ModularPowerEnv.from_env_str(f"ModularPowerEnv@{generate_config(7, 20)}")
    print(env.solve(), "| steps:", env.step_count)
