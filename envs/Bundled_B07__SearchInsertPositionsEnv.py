import ast
import bisect
import json
import random

import gymnasium


class SearchInsertPositionsEnv(gymnasium.Env):
    """Insert positions of several targets in a hidden sorted array, found by binary search."""

    LIMIT = 10**9

    def __init__(self, env_str: str | None = None):
        super().__init__()
        self.OBSERVE = 0
        self.GET_MID = 1
        self.VALUE_AT = 2
        self.COMPARE_AT = 3
        self.DONE = 4
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "GetMid": self.GET_MID,
            "ValueAt": self.VALUE_AT,
            "CompareAt": self.COMPARE_AT,
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
        prefix = "SearchInsertPositionsEnv@"
        if not isinstance(env_str, str) or not env_str.startswith(prefix):
            return None
        return SearchInsertPositionsEnv(env_str=env_str)

    def reset(self, options: dict = {}):  # noqa: B006 - the options dict is only read
        if not isinstance(options, dict):
            options = {}
        raw_nums = options.get("nums", [1, 3, 5, 6, 9, 12])
        raw_targets = options.get("targets", [5, 2, 7, 13, 0])
        nums = sorted({max(-self.LIMIT, min(int(x), self.LIMIT)) for x in list(raw_nums)[:10000]})
        self.nums = nums
        self.targets = [max(-self.LIMIT, min(int(t), self.LIMIT)) for t in list(raw_targets)[:100]]
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
            elif code == self.GET_MID:
                msg = self.GetMid(**params)
            elif code == self.VALUE_AT:
                msg = self.ValueAt(**params)
            elif code == self.COMPARE_AT:
                msg = self.CompareAt(**params)
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
        Show the length of the hidden sorted array (distinct integers, ascending) and the targets.
        The array's values are read one at a time with ValueAt or CompareAt.

        Args:
            None

        Returns:
            str: JSON object with the array length and the list of targets.

        Example Output:
            {"length": 6, "targets": [5, 2, 7]}
        """
        return json.dumps({"length": len(self.nums), "targets": self.targets})

    def GetMid(self, low, high):
        """
        Middle index of the half-open search range [low, high), rounded down.

        Args:
            low (int): start of the range, 0 to length.
            high (int): end of the range (exclusive), low to length.

        Returns:
            str: JSON object with the middle index (equal to low when the range is empty).

        Example Output:
            {"low": 0, "high": 6, "mid": 3}
        """
        n = len(self.nums)
        low = self._as_int(low, "low", 0, n)
        high = self._as_int(high, "high", low, n)
        return json.dumps({"low": low, "high": high, "mid": (low + high) // 2})

    def ValueAt(self, index):
        """
        Read one element of the hidden sorted array.

        Args:
            index (int): 0-based position, 0 to length-1.

        Returns:
            str: JSON object with the index and the value stored there.

        Example Output:
            {"index": 3, "value": 6}
        """
        if not self.nums:
            raise ValueError("the array is empty")
        index = self._as_int(index, "index", 0, len(self.nums) - 1)
        return json.dumps({"index": index, "value": self.nums[index]})

    def CompareAt(self, index, target):
        """
        Compare the element at index with a target value.

        Args:
            index (int): 0-based position, 0 to length-1.
            target (int): the value to compare with, between -10**9 and 10**9.

        Returns:
            str: JSON object whose "result" is "less" if the element is smaller than the target,
            "equal" if it is the same, and "greater" if it is larger.

        Example Output:
            {"index": 3, "target": 7, "result": "less"}
        """
        if not self.nums:
            raise ValueError("the array is empty")
        index = self._as_int(index, "index", 0, len(self.nums) - 1)
        target = self._as_int(target, "target", -self.LIMIT, self.LIMIT)
        value = self.nums[index]
        result = "less" if value < target else ("equal" if value == target else "greater")
        return json.dumps({"index": index, "target": target, "result": result})

    def Done(self, answer):
        """
        Submit the insert position of every target and finish the episode.

        Args:
            answer (list): one integer per target, in the order of the targets: the index of the
                target in the array if present, else the index where it would be inserted to keep
                the array sorted.

        Returns:
            str: the submitted and reference answers, the verdict and the reward.

        Example Output:
            Your answer: [2, 1, 4], reference answer: [2, 1, 4], result: correct, reward=1
        """
        ref = self.get_ref_answer()
        correct = answer == ref
        self._reward = 1 if correct else 0
        self._done = True
        verdict = "correct" if correct else "incorrect"
        shown = json.dumps(answer, default=str)
        return f"Your answer: {shown}, reference answer: {json.dumps(ref)}, result: {verdict}, reward={self._reward}"

    # ------------------------------------------------------------------ episode info
    @property
    def finished(self) -> bool:
        return self._done

    @property
    def reward(self):
        return float(self._reward)

    def get_ref_answer(self):
        return [bisect.bisect_left(self.nums, t) for t in self.targets]

    def solve(self):
        info = json.loads(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
        n = info["length"]
        positions = []
        for target in info["targets"]:
            low, high = 0, n
            while low < high:
                _, mid_msg = self.step(
                    json.dumps({"name": "GetMid", "parameters": {"low": low, "high": high}})
                )
                mid = json.loads(mid_msg)["mid"]
                cmp_msg = self.step(
                    json.dumps({"name": "CompareAt", "parameters": {"index": mid, "target": target}})
                )[1]
                if json.loads(cmp_msg)["result"] == "less":
                    low = mid + 1
                else:
                    high = mid
            positions.append(low)
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": positions}}))[1]


TASK = """A sorted array of distinct integers is hidden; Observe shows its length and a list of targets.
For each target, find its index in the array if it is present, otherwise the index where it would be
inserted to keep the array sorted. Read the array only through ValueAt and CompareAt (GetMid helps with
binary search). Finish with Done(answer), where answer is the list of positions, one integer per target."""

# fmt: off
CONFIGS = [
    {"nums": [1, 3, 5, 6, 9, 12, 15, 20], "targets": [5, 2, 7, 21, 0]},
    {"nums": [-12, -9, -8, 0, 12, 14, 15, 20], "targets": [-2, -12]},
    {"nums": [-19, -17, -12, -6, -3, 1, 16, 20, 25, 30, 32], "targets": [-19, -12]},
    {"nums": [-29, -22, -14, -6, -1, 0, 3, 4, 5, 17, 23, 30, 37, 39, 40], "targets": [23, -3]},
    {"nums": [-38, -33, -32, -29, -27, -21, -12, -10, -5, -3, -2, 6, 10, 11, 21, 26, 28, 30, 52, 57], "targets": [-28, -38]},
    {"nums": [-47, -44, -37, -36, -30, -19, -18, -5, -3, -2, 9, 10, 17, 19, 29, 33, 38, 44, 49, 51, 57, 60, 66, 68, 72], "targets": [-49, 2, 72]},
    {"nums": [-66, -61, -57, -46, -44, -43, -42, -29, -17, -16, -2, 0, 1, 3, 15, 19, 26, 29, 38, 39, 42, 47, 54, 58, 59, 71, 72, 75, 78, 80, 84, 91, 98], "targets": [5, -57, -18]},
    {"nums": [-73, -71, -70, -68, -67, -65, -64, -60, -59, -58, -51, -48, -46, -44, -28, -26, -25, -21, -8, 0, 11, 19, 25, 26, 29, 47, 55, 59, 60, 62, 65, 67, 78, 79, 84, 94, 100, 106, 113, 118, 120], "targets": [70, -48, 100]},
    {"nums": [-95, -93, -89, -86, -84, -79, -78, -76, -73, -71, -68, -65, -51, -47, -42, -41, -37, -34, -32, -14, -6, -4, -3, -2, -1, 2, 3, 4, 16, 17, 21, 24, 26, 29, 33, 46, 58, 64, 69, 79, 80, 85, 94, 107, 110, 112, 131, 144, 146, 147], "targets": [-79, 85, -45, -62]},
    {"nums": [-119, -118, -117, -116, -112, -108, -100, -98, -94, -92, -88, -79, -78, -77, -76, -68, -64, -63, -58, -53, -52, -50, -49, -40, -34, -25, -19, -18, -17, -16, -13, -6, 1, 16, 23, 29, 49, 51, 53, 54, 71, 73, 74, 76, 83, 90, 95, 96, 97, 111, 117, 131, 134, 136, 137, 139, 156, 163, 173, 176], "targets": [-21, -25, 97, 51]},
    {"nums": [-148, -143, -134, -133, -132, -128, -117, -114, -112, -109, -101, -93, -82, -79, -74, -70, -68, -65, -61, -51, -45, -36, -30, -28, -23, -16, -8, -5, 4, 5, 10, 16, 17, 31, 34, 35, 37, 41, 42, 45, 46, 61, 65, 69, 73, 75, 76, 80, 83, 86, 90, 97, 100, 101, 104, 106, 116, 123, 124, 131, 140, 142, 145, 148, 149, 157, 158, 160, 164, 184, 186, 188, 191, 195, 201], "targets": [-54, 70, 77, 35, 158]},
]
# fmt: on


def generate_config(seed: int, size: int) -> dict:
    """``size`` (clamped to 3..100) sets the array length (size + 5) and the targets (2 + size // 20)."""
    rng = random.Random(seed)
    size = max(3, min(int(size), 100))
    n = size + 5
    nums = sorted(rng.sample(range(-2 * n, 3 * n), n))
    targets = []
    for _ in range(2 + size // 20):
        if rng.random() < 0.5:
            targets.append(rng.choice(nums))
        else:
            targets.append(rng.randint(nums[0] - 3, nums[-1] + 3))
    return {"nums": nums, "targets": targets}


if __name__ == "__main__":
    env = SearchInsertPositionsEnv.from_env_str(f"SearchInsertPositionsEnv@{CONFIGS[0]}")
    print(env.Observe())
    print(env.solve(), "| steps:", env.step_count)
    env = SearchInsertPositionsEnv.from_env_str(f"SearchInsertPositionsEnv@{generate_config(7, 20)}")
    print(env.solve(), "| steps:", env.step_count)
