import ast
import json
import random

import gymnasium


class ShipCapacityEnv(gymnasium.Env):
    """Least ship capacity that delivers all packages in order within D days (binary search on the answer)."""

    LIMIT = 10**12

    def __init__(self, env_str: str | None = None):
        super().__init__()
        self.OBSERVE = 0
        self.GET_BOUNDS = 1
        self.GET_MID = 2
        self.DAYS_NEEDED = 3
        self.DONE = 4
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "GetBounds": self.GET_BOUNDS,
            "GetMid": self.GET_MID,
            "DaysNeeded": self.DAYS_NEEDED,
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
        prefix = "ShipCapacityEnv@"
        if not isinstance(env_str, str) or not env_str.startswith(prefix):
            return None
        return ShipCapacityEnv(env_str=env_str)

    def reset(self, options: dict = {}):  # noqa: B006 - the options dict is only read
        if not isinstance(options, dict):
            options = {}
        raw = options.get("weights", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
        weights = [max(1, min(int(w), 10**6)) for w in list(raw)[:1000]]
        self.weights = weights or [1]
        self.days = max(1, min(int(options.get("days", 5)), len(self.weights)))
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
            elif code == self.GET_BOUNDS:
                msg = self.GetBounds(**params)
            elif code == self.GET_MID:
                msg = self.GetMid(**params)
            elif code == self.DAYS_NEEDED:
                msg = self.DaysNeeded(**params)
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
        Show the package weights (in shipping order) and the number of days allowed.

        Args:
            None

        Returns:
            str: JSON object with the weights and days.

        Example Output:
            {"weights": [3, 2, 2, 4, 1, 4], "days": 3}
        """
        return json.dumps({"weights": self.weights, "days": self.days})

    def GetBounds(self):
        """
        The range in which the answer lies: the heaviest package (a smaller ship cannot carry it)
        up to the total weight (everything in one day).

        Args:
            None

        Returns:
            str: JSON object with the low and high bounds.

        Example Output:
            {"low": 4, "high": 16}
        """
        return json.dumps({"low": max(self.weights), "high": sum(self.weights)})

    def GetMid(self, low, high):
        """
        Middle of a search range, rounded down.

        Args:
            low (int): lower end, 0 to 10**12.
            high (int): upper end, low to 10**12.

        Returns:
            str: JSON object with (low + high) // 2.

        Example Output:
            {"low": 4, "high": 16, "mid": 10}
        """
        low = self._as_int(low, "low", 0, self.LIMIT)
        high = self._as_int(high, "high", low, self.LIMIT)
        return json.dumps({"low": low, "high": high, "mid": (low + high) // 2})

    def DaysNeeded(self, capacity):
        """
        Simulate shipping with a given capacity: each day the ship loads packages in order until the
        next one would exceed the capacity.

        Args:
            capacity (int): ship capacity, 1 to 10**12.

        Returns:
            str: JSON object with the days needed (null if some package is heavier than the capacity)
            and whether that fits within the allowed days.

        Example Output:
            {"capacity": 6, "days_needed": 3, "feasible": true}
        """
        capacity = self._as_int(capacity, "capacity", 1, self.LIMIT)
        if capacity < max(self.weights):
            return json.dumps({"capacity": capacity, "days_needed": None, "feasible": False})
        days, load = 1, 0
        for w in self.weights:
            if load + w > capacity:
                days += 1
                load = 0
            load += w
        return json.dumps({"capacity": capacity, "days_needed": days, "feasible": days <= self.days})

    def Done(self, answer):
        """
        Submit the least capacity and finish the episode.

        Args:
            answer (int): the smallest capacity that ships all packages within the allowed days.

        Returns:
            str: the submitted and reference answers, the verdict and the reward.

        Example Output:
            Your answer: 6, reference answer: 6, result: correct, reward=1
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
        # greedy feasibility check + binary search on the capacity
        def fits(cap):
            days, load = 1, 0
            for w in self.weights:
                if load + w > cap:
                    days += 1
                    load = 0
                load += w
            return days <= self.days

        lo, hi = max(self.weights), sum(self.weights)
        while lo < hi:
            mid = (lo + hi) // 2
            if fits(mid):
                hi = mid
            else:
                lo = mid + 1
        return lo

    def solve(self):
        self.step(json.dumps({"name": "Observe", "parameters": {}}))
        bounds = json.loads(self.step(json.dumps({"name": "GetBounds", "parameters": {}}))[1])
        low, high = bounds["low"], bounds["high"]
        while low < high:
            mid_msg = self.step(json.dumps({"name": "GetMid", "parameters": {"low": low, "high": high}}))[1]
            mid = json.loads(mid_msg)["mid"]
            check = json.loads(
                self.step(json.dumps({"name": "DaysNeeded", "parameters": {"capacity": mid}}))[1]
            )
            if check["feasible"]:
                high = mid
            else:
                low = mid + 1
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": low}}))[1]


TASK = """Packages with the given weights must be shipped in their given order within a number of days.
Each day the ship is loaded with the next packages in order as long as their total weight does not exceed
its capacity. Find the least capacity that ships everything within the allowed days. Call Observe to see
the weights and days; GetBounds, GetMid and DaysNeeded support a binary search on the capacity.
Finish with Done(answer), where answer is an integer."""

# fmt: off
CONFIGS = [
    {"weights": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], "days": 5},
    {"weights": [3, 2, 2, 4, 1, 4], "days": 3},
    {"weights": [5, 19, 25, 3, 9], "days": 2},
    {"weights": [4, 6, 6, 24, 11, 20, 17, 39], "days": 2},
    {"weights": [16, 38, 35, 9, 24, 59, 39, 31, 41, 38, 5, 39], "days": 2},
    {"weights": [31, 39, 14, 51, 62, 20, 12, 9, 3, 52, 71, 38, 8, 29, 67, 69, 47], "days": 4},
    {"weights": [80, 33, 95, 46, 102, 89, 108, 95, 84, 68, 4, 108, 60, 100, 32, 84, 7, 21, 15, 48, 61, 32], "days": 8},
    {"weights": [147, 21, 125, 67, 10, 1, 38, 121, 96, 82, 6, 70, 126, 51, 106, 138, 139, 25, 50, 145, 142, 68, 23, 109, 86, 24, 93, 105, 65, 114], "days": 13},
    {"weights": [83, 39, 102, 167, 13, 19, 138, 25, 94, 150, 15, 130, 55, 10, 23, 112, 108, 18, 62, 24, 142, 109, 16, 145, 32, 58, 162, 161, 150, 16, 148, 150, 102, 13, 57, 12, 143, 35], "days": 11},
    {"weights": [59, 95, 97, 33, 50, 181, 12, 22, 36, 64, 208, 130, 54, 103, 165, 8, 118, 125, 117, 100, 127, 147, 50, 230, 213, 104, 23, 125, 60, 195, 6, 180, 69, 134, 105, 122, 231, 234, 98, 186, 30, 170, 67, 25, 209, 17, 99], "days": 21},
    {"weights": [238, 192, 137, 71, 96, 4, 174, 258, 238, 42, 172, 284, 21, 195, 87, 232, 217, 81, 87, 122, 27, 57, 68, 260, 33, 197, 53, 150, 105, 115, 216, 45, 137, 108, 204, 144, 175, 23, 103, 3, 211, 29, 194, 252, 72, 13, 122, 218, 58, 2, 63, 102, 104, 170, 5, 43, 69], "days": 19},
    {"weights": [293, 17, 220, 248, 296, 8, 106, 237, 252, 143, 335, 83, 18, 267, 251, 168, 39, 128, 185, 23, 216, 72, 309, 182, 196, 216, 146, 346, 135, 234, 90, 352, 156, 339, 186, 69, 234, 123, 226, 315, 193, 23, 299, 3, 121, 69, 100, 156, 275, 188, 123, 161, 342, 282, 231, 224, 241, 34, 335, 300, 167, 257, 81, 115, 212, 123, 19, 17, 255, 155, 311, 337], "days": 6},
]
# fmt: on


def generate_config(seed: int, size: int) -> dict:
    """``size`` (clamped to 3..100) sets the package count (size + 2) and the weight range (up to 10 + 5 * size)."""
    rng = random.Random(seed)
    size = max(3, min(int(size), 100))
    n = size + 2
    weights = [rng.randint(1, 10 + 5 * size) for _ in range(n)]
    return {"weights": weights, "days": rng.randint(2, max(2, n // 2))}


if __name__ == "__main__":
    env = ShipCapacityEnv.from_env_str(f"ShipCapacityEnv@{CONFIGS[0]}")
    print(env.Observe())
    print(env.solve(), "| steps:", env.step_count)
    env = ShipCapacityEnv.from_env_str(f"ShipCapacityEnv@{generate_config(7, 20)}")
    print(env.solve(), "| steps:", env.step_count)
