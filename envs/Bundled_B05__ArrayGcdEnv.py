import ast
import json
import math
import random

import gymnasium


class ArrayGcdEnv(gymnasium.Env):
    """Greatest common divisor of an array, folded pairwise with Euclid's algorithm."""

    MAX_VALUE = 10**12

    def __init__(self, env_str: str | None = None):
        super().__init__()
        self.OBSERVE = 0
        self.GCD = 1
        self.REMAINDER = 2
        self.IS_DIVISIBLE = 3
        self.DONE = 4
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "Gcd": self.GCD,
            "Remainder": self.REMAINDER,
            "IsDivisible": self.IS_DIVISIBLE,
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
        prefix = "ArrayGcdEnv@"
        if not isinstance(env_str, str) or not env_str.startswith(prefix):
            return None
        return ArrayGcdEnv(env_str=env_str)

    def reset(self, options: dict = {}):  # noqa: B006 - the options dict is only read
        if not isinstance(options, dict):
            options = {}
        raw = options.get("numbers", [84, 126, 210, 42])
        numbers = [min(abs(int(x)), self.MAX_VALUE) for x in list(raw)[:1000]]
        self.numbers = numbers or [1]
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
            elif code == self.GCD:
                msg = self.Gcd(**params)
            elif code == self.REMAINDER:
                msg = self.Remainder(**params)
            elif code == self.IS_DIVISIBLE:
                msg = self.IsDivisible(**params)
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
        Show the array of non-negative integers.

        Args:
            None

        Returns:
            str: JSON object with the numbers and how many there are.

        Example Output:
            {"numbers": [84, 126, 210, 42], "count": 4}
        """
        return json.dumps({"numbers": self.numbers, "count": len(self.numbers)})

    def Gcd(self, a, b):
        """
        Greatest common divisor of two non-negative integers (Euclid's algorithm); gcd(0, 0) is 0.

        Args:
            a (int): first number, 0 to 10**12.
            b (int): second number, 0 to 10**12.

        Returns:
            str: JSON object with both inputs, their gcd and the number of Euclid steps used.

        Example Output:
            {"a": 84, "b": 126, "gcd": 42, "euclid_steps": 3}
        """
        a = self._as_int(a, "a", 0, self.MAX_VALUE)
        b = self._as_int(b, "b", 0, self.MAX_VALUE)
        x, y, steps = a, b, 0
        while y:
            x, y = y, x % y
            steps += 1
        return json.dumps({"a": a, "b": b, "gcd": x, "euclid_steps": steps})

    def Remainder(self, a, b):
        """
        Remainder of a divided by b (one Euclid step).

        Args:
            a (int): dividend, 0 to 10**12.
            b (int): divisor, 1 to 10**12.

        Returns:
            str: JSON object with the quotient and the remainder.

        Example Output:
            {"a": 126, "b": 84, "quotient": 1, "remainder": 42}
        """
        a = self._as_int(a, "a", 0, self.MAX_VALUE)
        b = self._as_int(b, "b", 1, self.MAX_VALUE)
        return json.dumps({"a": a, "b": b, "quotient": a // b, "remainder": a % b})

    def IsDivisible(self, a, d):
        """
        Check whether d divides a exactly.

        Args:
            a (int): the number, 0 to 10**12.
            d (int): the candidate divisor, 1 to 10**12.

        Returns:
            str: JSON object with the verdict.

        Example Output:
            {"a": 210, "d": 42, "divisible": true}
        """
        a = self._as_int(a, "a", 0, self.MAX_VALUE)
        d = self._as_int(d, "d", 1, self.MAX_VALUE)
        return json.dumps({"a": a, "d": d, "divisible": a % d == 0})

    def Done(self, answer):
        """
        Submit the gcd of the whole array and finish the episode.

        Args:
            answer (int): the greatest common divisor of all the numbers.

        Returns:
            str: the submitted and reference answers, the verdict and the reward.

        Example Output:
            Your answer: 42, reference answer: 42, result: correct, reward=1
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
        g = 0
        for x in self.numbers:
            g = math.gcd(g, x)
        return g

    def solve(self):
        info = json.loads(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
        numbers = info["numbers"]
        g = numbers[0]
        for x in numbers[1:]:
            result = self.step(json.dumps({"name": "Gcd", "parameters": {"a": g, "b": x}}))[1]
            g = json.loads(result)["gcd"]
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": g}}))[1]


TASK = """Find the greatest common divisor of all the numbers in an array of non-negative integers (the gcd
of an array is built by folding gcd over it; gcd(x, 0) = x). Call Observe to see the numbers; Gcd, Remainder
and IsDivisible do the arithmetic on pairs. Finish with Done(answer), where answer is an integer."""

# fmt: off
CONFIGS = [
    {"numbers": [84, 126, 210, 42, 0, 588, 1470, 2058, 462, 294]},
    {"numbers": [5687, 22990, 10626, 44649, 40513, 42559, 34210, 18920, 8459, 43967, 2563]},
    {"numbers": [751, 696, 2958, 1386, 2525, 2061, 4964, 1739, 4971, 293, 4762, 1298, 3529]},
    {"numbers": [49049, 11759, 33341, 54428, 42724, 52349, 5907, 54582, 1188, 42284, 23375, 49643, 21120, 17281, 42383, 48752]},
    {"numbers": [4230, 16225, 19615, 6350, 3695, 2725, 815, 16450, 22505, 11855, 2415, 9095, 21315, 21985, 14760, 11335, 7075, 4350, 10725, 8785]},
    {"numbers": [282295, 15470, 247975, 132665, 27625, 83525, 60320, 197990, 249795, 131300, 202800, 289575, 54340, 305630, 132795, 7020, 115440, 217360, 148850, 96980, 207415, 85020, 38350, 73905]},
    {"numbers": [3974, 2144, 302, 4, 1193, 4805, 3853, 3057, 2617, 180, 2234, 4005, 1623, 3392, 4410, 4418, 772, 1581, 4616, 4536, 2176, 4998, 722, 3480, 2750, 763, 2967, 3359]},
    {"numbers": [8316, 12474, 92190, 16212, 62916, 100275, 9996, 87297, 36939, 6468, 14805, 74613, 71946, 12033, 41412, 15624, 94815, 73038, 10185, 97293, 21315, 38409, 100296, 10647, 99288, 100737, 68250, 8547, 38052, 8022, 95781, 22911, 49833, 72114]},
    {"numbers": [15380, 5175, 7915, 1795, 3490, 5610, 10140, 20745, 8580, 16415, 1245, 18810, 19965, 18565, 15995, 20275, 23480, 7875, 16495, 3670, 19870, 9595, 820, 10930, 21310, 16700, 19430, 15530, 4660, 10585, 3980, 2585, 15830, 15455, 4415, 2380, 13865, 9605, 3525, 20385]},
    {"numbers": [312125, 419375, 14575, 762300, 1132725, 1044725, 1362350, 182325, 752675, 1248775, 92400, 853875, 381700, 1018325, 952050, 354200, 379500, 536250, 115775, 249975, 298375, 1140700, 1330175, 142725, 864325, 229075, 656150, 462000, 505450, 950400, 197725, 601150, 473000, 893475, 633600, 769725, 97350, 449625, 12100, 926475, 123475, 853600, 1107975, 313500, 53075, 533500, 957000, 252450]},
    {"numbers": [3514, 3954, 4736, 122, 1689, 3790, 4025, 2274, 1313, 282, 4266, 4015, 2686, 624, 2048, 2959, 366, 3444, 1137, 4942, 2909, 3127, 3451, 2324, 2149, 3743, 1431, 2484, 2971, 1090, 3744, 1962, 3602, 3074, 363, 4776, 34, 1931, 1098, 1598, 2482, 4394, 3000, 1968, 2576, 4498, 3692, 3572, 3851, 533, 4789, 2660, 4112, 1282, 1838, 3383, 1953, 303]},
]
# fmt: on


def generate_config(seed: int, size: int) -> dict:
    """Multiples of a random common factor; ``size`` (clamped to 3..100) sets the length (size + 8)."""
    rng = random.Random(seed)
    size = max(3, min(int(size), 100))
    n = size + 8
    factor = 1
    for _ in range(rng.randint(0, 3)):
        factor *= rng.choice([2, 3, 5, 7, 11, 13])
    numbers = [factor * rng.randint(1, 5000) for _ in range(n)]
    return {"numbers": numbers}


if __name__ == "__main__":
    env = ArrayGcdEnv.from_env_str(f"ArrayGcdEnv@{CONFIGS[0]}")
    print(env.Observe())
    print(env.solve(), "| steps:", env.step_count)
    env = ArrayGcdEnv.from_env_str(f"ArrayGcdEnv@{generate_config(7, 20)}")
    print(env.solve(), "| steps:", env.step_count)
