import ast
import json
import random

import gymnasium


class MergeIntervalsEnv(gymnasium.Env):
    """Merge overlapping closed intervals with a sort-then-sweep procedure."""

    def __init__(self, env_str: str | None = None):
        super().__init__()
        self.OBSERVE = 0
        self.SORT_BY_START = 1
        self.MERGE_NEXT = 2
        self.GET_MERGED = 3
        self.DONE = 4
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "SortByStart": self.SORT_BY_START,
            "MergeNext": self.MERGE_NEXT,
            "GetMerged": self.GET_MERGED,
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
        prefix = "MergeIntervalsEnv@"
        if not isinstance(env_str, str) or not env_str.startswith(prefix):
            return None
        return MergeIntervalsEnv(env_str=env_str)

    def reset(self, options: dict = {}):  # noqa: B006 - the options dict is only read
        if not isinstance(options, dict):
            options = {}
        raw = options.get("intervals", [[1, 3], [2, 6], [8, 10], [15, 18]])
        intervals = []
        for item in list(raw)[:1000]:
            start, end = int(item[0]), int(item[1])
            if start > end:
                start, end = end, start
            intervals.append([start, end])
        self.intervals = intervals
        self.sorted_intervals = None
        self.merged = []
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
            elif code == self.SORT_BY_START:
                msg = self.SortByStart(**params)
            elif code == self.MERGE_NEXT:
                msg = self.MergeNext(**params)
            elif code == self.GET_MERGED:
                msg = self.GetMerged(**params)
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
        Show the intervals to merge, in their original order.

        Args:
            None

        Returns:
            str: JSON object with the list of [start, end] intervals and their count.

        Example Output:
            {"intervals": [[8, 10], [1, 3], [2, 6]], "count": 3}
        """
        return json.dumps({"intervals": self.intervals, "count": len(self.intervals)})

    def SortByStart(self):
        """
        Sort a working copy of the intervals by start (ties by end) and return it.
        MergeNext works on this sorted copy.

        Args:
            None

        Returns:
            str: JSON list of the sorted [start, end] intervals.

        Example Output:
            [[1, 3], [2, 6], [8, 10]]
        """
        self.sorted_intervals = sorted(self.intervals, key=lambda iv: (iv[0], iv[1]))
        return json.dumps(self.sorted_intervals)

    def MergeNext(self, index):
        """
        Take the sorted interval at position index and merge it into the last interval of the
        result list if they overlap or touch (start <= last end); otherwise append it as a new interval.

        Args:
            index (int): 0-based position in the sorted list produced by SortByStart.

        Returns:
            str: JSON object saying whether the last interval was "extended" or a new one "appended",
            the last result interval, and the number of result intervals.

        Example Output:
            {"action": "extended", "last": [1, 6], "merged_count": 1}
        """
        if self.sorted_intervals is None:
            raise ValueError("call SortByStart before MergeNext")
        index = self._as_int(index, "index", 0, len(self.sorted_intervals) - 1)
        start, end = self.sorted_intervals[index]
        if self.merged and start <= self.merged[-1][1]:
            self.merged[-1][1] = max(self.merged[-1][1], end)
            kind = "extended"
        else:
            self.merged.append([start, end])
            kind = "appended"
        return json.dumps({"action": kind, "last": self.merged[-1], "merged_count": len(self.merged)})

    def GetMerged(self):
        """
        Return the result list built so far by MergeNext.

        Args:
            None

        Returns:
            str: JSON list of [start, end] intervals.

        Example Output:
            [[1, 6], [8, 10]]
        """
        return json.dumps(self.merged)

    def Done(self, answer):
        """
        Submit the merged intervals and finish the episode.

        Args:
            answer (list): the merged intervals as a list of [start, end] pairs sorted by start.

        Returns:
            str: the submitted and reference answers, the verdict and the reward.

        Example Output:
            Your answer: [[1, 6], [8, 10]], reference answer: [[1, 6], [8, 10]], result: correct, reward=1
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
        result = []
        for start, end in sorted(self.intervals):
            if result and start <= result[-1][1]:
                result[-1][1] = max(result[-1][1], end)
            else:
                result.append([start, end])
        return result

    def solve(self):
        obs = json.loads(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
        self.step(json.dumps({"name": "SortByStart", "parameters": {}}))
        for i in range(obs["count"]):
            self.step(json.dumps({"name": "MergeNext", "parameters": {"index": i}}))
        merged = json.loads(self.step(json.dumps({"name": "GetMerged", "parameters": {}}))[1])
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": merged}}))[1]


TASK = """You are given a list of closed integer intervals [start, end] in no particular order.
Merge every group of intervals that overlap or touch (an interval starting at or before another's end
joins it) and report the result. Call Observe to see the intervals; SortByStart, MergeNext and GetMerged
let you run the sort-and-sweep merge step by step. Finish with Done(answer), where answer is the list of
merged [start, end] pairs sorted by start."""

# fmt: off
CONFIGS = [
    {"intervals": [[1, 3], [2, 6], [8, 10], [15, 18], [17, 20], [4, 5], [9, 9], [0, 0]]},
    {"intervals": [[4, 8], [27, 33], [24, 24], [8, 8], [15, 21], [14, 17], [20, 23], [25, 26], [3, 6]]},
    {"intervals": [[3, 3], [5, 7], [10, 15], [19, 21], [13, 17], [2, 6], [10, 13], [25, 31], [32, 34], [28, 32], [17, 17]]},
    {"intervals": [[15, 19], [34, 35], [23, 27], [30, 35], [37, 37], [38, 38], [30, 32], [35, 36], [12, 17], [30, 34], [35, 38], [25, 30], [9, 10], [40, 41]]},
    {"intervals": [[15, 17], [6, 11], [25, 28], [9, 9], [4, 4], [25, 29], [18, 24], [48, 48], [14, 18], [34, 36], [17, 23], [11, 17], [6, 8], [13, 13], [53, 58], [51, 53], [51, 53], [12, 13]]},
    {"intervals": [[32, 37], [45, 51], [3, 9], [59, 65], [31, 36], [6, 7], [14, 16], [60, 66], [31, 34], [13, 17], [31, 31], [27, 30], [35, 36], [49, 50], [9, 10], [56, 57], [16, 16], [0, 1], [27, 28], [21, 23], [40, 41], [26, 27]]},
    {"intervals": [[73, 79], [10, 13], [33, 33], [0, 1], [75, 78], [47, 49], [2, 4], [62, 68], [25, 30], [52, 56], [69, 74], [12, 13], [72, 76], [33, 38], [78, 83], [11, 17], [54, 56], [11, 13], [52, 58], [32, 35], [12, 18], [25, 30], [37, 37], [5, 9], [25, 31], [46, 49]]},
    {"intervals": [[41, 42], [50, 55], [6, 6], [68, 68], [46, 50], [7, 11], [27, 27], [11, 14], [53, 53], [30, 30], [70, 73], [7, 13], [72, 72], [28, 33], [80, 84], [7, 11], [74, 77], [6, 7], [5, 9], [17, 19], [53, 54], [69, 69], [73, 75], [71, 77], [87, 88], [13, 17], [73, 78], [24, 26], [12, 16], [91, 91], [72, 72]]},
    {"intervals": [[29, 31], [48, 49], [24, 29], [5, 5], [17, 18], [103, 107], [26, 29], [82, 82], [58, 61], [58, 61], [63, 67], [24, 30], [51, 51], [62, 63], [97, 97], [89, 91], [66, 69], [60, 63], [92, 92], [84, 86], [12, 18], [8, 11], [79, 85], [48, 48], [84, 84], [43, 44], [88, 88], [63, 68], [66, 67], [74, 80], [18, 22], [8, 12], [4, 7], [89, 90], [18, 24], [74, 77]]},
    {"intervals": [[118, 122], [95, 97], [35, 36], [1, 3], [128, 131], [20, 22], [10, 15], [97, 98], [115, 120], [108, 109], [43, 44], [13, 13], [33, 37], [16, 22], [98, 104], [26, 28], [52, 57], [57, 62], [107, 107], [68, 69], [101, 103], [87, 93], [11, 12], [1, 4], [14, 17], [125, 126], [6, 7], [108, 113], [28, 32], [0, 0], [50, 56], [51, 53], [2, 2], [34, 38], [4, 8], [21, 25], [127, 131], [50, 53], [17, 20], [49, 54], [23, 28], [37, 38], [10, 10], [69, 73], [38, 43], [68, 73]]},
    {"intervals": [[146, 146], [109, 112], [147, 147], [52, 55], [125, 131], [71, 76], [41, 41], [133, 136], [83, 83], [63, 68], [92, 92], [107, 113], [35, 39], [90, 93], [107, 109], [67, 70], [44, 49], [77, 82], [92, 93], [116, 122], [61, 64], [157, 160], [11, 15], [1, 2], [34, 35], [77, 81], [93, 99], [61, 63], [140, 143], [111, 114], [16, 21], [149, 151], [128, 129], [57, 60], [61, 61], [8, 11], [77, 83], [155, 160], [18, 22], [20, 21], [98, 102], [95, 99], [38, 38], [24, 27], [42, 48], [48, 50], [110, 113], [114, 115], [70, 71], [158, 162], [45, 51], [30, 32], [116, 118], [42, 47], [166, 172], [44, 50]]},
]
# fmt: on


def generate_config(seed: int, size: int) -> dict:
    """Random intervals; ``size`` (clamped to 3..100) sets how many there are (size + 6)."""
    rng = random.Random(seed)
    size = max(3, min(int(size), 100))
    n = size + 6
    span = 3 * n
    intervals = []
    for _ in range(n):
        start = rng.randint(0, span)
        intervals.append([start, start + rng.randint(0, 6)])
    return {"intervals": intervals}


if __name__ == "__main__":
    env = MergeIntervalsEnv.from_env_str(f"MergeIntervalsEnv@{CONFIGS[0]}")
    print(env.Observe())
    print(env.solve(), "| steps:", env.step_count)
    env = MergeIntervalsEnv.from_env_str(f"MergeIntervalsEnv@{generate_config(7, 20)}")
    print(env.solve(), "| steps:", env.step_count)
