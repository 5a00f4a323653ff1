import ast
import json
import random

import gymnasium


class MaxNonOverlappingMeetingsEnv(gymnasium.Env):
    """Largest set of pairwise non-overlapping meetings (activity selection: sort by end, pick greedily)."""

    def __init__(self, env_str: str = None):
        super().__init__()

        # [Required] Define the action names
        self.OBSERVE = 0
        self.SORT_BY_END_TIME = 1
        self.CHECK_COMPATIBLE = 2
        self.SELECT_MEETING = 3
        self.GET_SELECTION = 4
        self.DONE = 5

        # [Required] Define the action mapping
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "SortByEndTime": self.SORT_BY_END_TIME,
            "CheckCompatible": self.CHECK_COMPATIBLE,
            "SelectMeeting": self.SELECT_MEETING,
            "GetSelection": self.GET_SELECTION,
            "Done": self.DONE,
        }

        options = {}
        if env_str is not None:
            parts = env_str.split("@", 1)
            if len(parts) == 2 and parts[1].strip():
                options = ast.literal_eval(parts[1])
        self.reset(options)

    # [Required] Define the property and staticmethod of the environment
    @property
    def finished(self) -> bool:
        return self._done

    @property
    def reward(self):
        return float(self._reward)

    @staticmethod
    def from_env_str(env_str: str):
        prefix = "MaxNonOverlappingMeetingsEnv@"
        if not isinstance(env_str, str) or not env_str.startswith(prefix):
            return None
        return MaxNonOverlappingMeetingsEnv(env_str=env_str)

    # [Required] Define the reset method of the environment
    def reset(self, options: dict = {}):  # noqa: B006
        if not isinstance(options, dict):
            options = {}
        meetings = options.get("meetings", [[1, 3], [2, 5], [4, 7], [6, 9], [8, 10], [9, 11]])
        self.meetings = [[int(s), int(e)] for s, e in meetings if int(s) < int(e)]
        self.selected = []
        self.last_end = None
        self._reward = 0
        self._done = False
        self.step_count = 0
        return "Environment has been reset."

    # [Required] Get the reference answer of the environment
    def get_ref_answer(self):
        # exact DP over meetings sorted by end time (independent of the greedy the oracle uses)
        items = sorted(self.meetings, key=lambda m: m[1])
        best = [0] * (len(items) + 1)
        for i, (start, _end) in enumerate(items):
            j = i
            while j > 0 and items[j - 1][1] > start:
                j -= 1
            best[i + 1] = max(best[i], best[j] + 1)
        return best[-1]

    def _check_index(self, value) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"index must be an integer, got {type(value).__name__}")
        if not 0 <= value < len(self.meetings):
            raise ValueError(f"index must be between 0 and {len(self.meetings) - 1}, got {value}")
        return value

    # [Required] Define the step method of the environment
    def step(self, action: str) -> tuple[bool, str]:
        self.step_count += 1
        try:
            call = json.loads(action)
            if not isinstance(call, dict):
                raise ValueError("the action must be a JSON object with 'name' and 'parameters'")
            name = call.get("name")
            params = call.get("parameters", {})
            if params is None:
                params = {}
            if not isinstance(name, str) or name not in self.func_mapping:
                raise ValueError(f"unknown action {name!r}; available: {', '.join(self.func_mapping)}")
            if not isinstance(params, dict):
                raise ValueError("'parameters' must be a JSON object")
            code = self.func_mapping[name]
            if code == self.OBSERVE:
                handler = self.Observe
            elif code == self.SORT_BY_END_TIME:
                handler = self.SortByEndTime
            elif code == self.CHECK_COMPATIBLE:
                handler = self.CheckCompatible
            elif code == self.SELECT_MEETING:
                handler = self.SelectMeeting
            elif code == self.GET_SELECTION:
                handler = self.GetSelection
            else:
                handler = self.Done
            msg = handler(**params)
        except Exception as e:
            return True, f"Error: {e}"
        return True, msg

    # All the actions of the environment
    def Observe(self):
        r"""
        Show the meetings as [start, end] pairs, indexed from 0. A meeting occupies the time from start
        up to end; one that starts exactly when another ends does not overlap it.

        Args:
            None

        Returns:
            str: JSON object with the meetings and their count.

        Example Output:
            "{\"meetings\": [[1, 3], [2, 5], [4, 7]], \"count\": 3}"
        """
        return json.dumps({"meetings": self.meetings, "count": len(self.meetings)})

    def SortByEndTime(self):
        r"""
        List the meeting indices ordered by end time (ties broken by start time, then index).

        Args:
            None

        Returns:
            str: JSON list of meeting indices.

        Example Output:
            "[0, 1, 2]"
        """
        order = sorted(range(len(self.meetings)), key=lambda i: (self.meetings[i][1], self.meetings[i][0], i))
        return json.dumps(order)

    def CheckCompatible(self, index: int):
        r"""
        Check whether a meeting can be added to the current selection, i.e. it starts no earlier than
        the end of the last selected meeting.

        Args:
            index (int): Meeting index, from 0 to count - 1.

        Returns:
            str: JSON object with the index, compatible (bool) and the end time of the last selected meeting
            (null when nothing is selected).

        Example Output:
            "{\"index\": 2, \"compatible\": true, \"last_end\": 3}"
        """
        i = self._check_index(index)
        compatible = self.last_end is None or self.meetings[i][0] >= self.last_end
        return json.dumps({"index": i, "compatible": compatible, "last_end": self.last_end})

    def SelectMeeting(self, index: int):
        r"""
        Add a compatible meeting to the selection; its end becomes the new last end time.

        Args:
            index (int): Meeting index, from 0 to count - 1.

        Returns:
            str: JSON object with the number of selected meetings and the last end time.

        Example Output:
            "{\"selected_count\": 2, \"last_end\": 7}"
        """
        i = self._check_index(index)
        if self.last_end is not None and self.meetings[i][0] < self.last_end:
            raise ValueError(
                f"meeting {i} starts at {self.meetings[i][0]}, before the last selected meeting ends ({self.last_end})"
            )
        self.selected.append(i)
        self.last_end = self.meetings[i][1]
        return json.dumps({"selected_count": len(self.selected), "last_end": self.last_end})

    def GetSelection(self):
        r"""
        Show the selected meetings in the order they were chosen.

        Args:
            None

        Returns:
            str: JSON object with the selected indices, their count and the last end time.

        Example Output:
            "{\"selected\": [0, 2, 4], \"count\": 3, \"last_end\": 10}"
        """
        return json.dumps({"selected": self.selected, "count": len(self.selected), "last_end": self.last_end})

    def Done(self, answer):
        r"""
        Submit the largest number of meetings that can be attended without any two overlapping.

        Args:
            answer (int): The number of meetings.

        Returns:
            str: The submitted and reference answers, and the reward.

        Example Output:
            "Your answer: 3, reference answer: 3, result: correct, reward=1"
        """
        ref_answer = self.get_ref_answer()
        correct = answer == ref_answer
        self._reward = 1 if correct else 0
        self._done = True
        msg = f"Your answer: {answer}, reference answer: {ref_answer}, result: {'correct' if correct else 'wrong'}"
        return msg + f", reward={self._reward}"

    # Define the solve method of the environment
    def solve(self):
        r"""
        Earliest-finish-first greedy: go through the meetings by end time and take every one that is
        compatible with the selection so far.

        Returns:
            str: The message returned by Done.
        """
        self.step(json.dumps({"name": "Observe", "parameters": {}}))
        order = json.loads(self.step(json.dumps({"name": "SortByEndTime", "parameters": {}}))[1])
        count = 0
        for i in order:
            res = json.loads(
                self.step(json.dumps({"name": "CheckCompatible", "parameters": {"index": i}}))[1]
            )
            if res["compatible"]:
                sel = json.loads(
                    self.step(json.dumps({"name": "SelectMeeting", "parameters": {"index": i}}))[1]
                )
                count = sel["selected_count"]
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": count}}))[1]


TASK = """You are given meetings as [start, end] time pairs. You can attend one meeting at a time, and a \
meeting that starts exactly when another ends does not overlap it. Find the largest number of meetings \
you can attend. Use Observe to see the meetings; the environment can sort them and keep a selection for \
you. Submit the number of meetings as an integer with Done."""

# fmt: off
CONFIGS = [
    {"meetings": [[1, 3], [2, 5], [4, 7], [6, 9], [8, 10], [9, 11]]},
    {"meetings": [[1, 2], [2, 3], [3, 4], [1, 3], [5, 6], [4, 5], [0, 6]]},
    {"meetings": [[0, 10], [1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [2, 9], [4, 5]]},
    {"meetings": [[5, 9], [1, 4], [3, 5], [0, 6], [5, 7], [8, 9], [6, 10], [8, 11], [2, 13], [12, 14]]},
    {"meetings": [[1, 10], [2, 3], [3, 4], [4, 5], [5, 6], [6, 7], [7, 8], [8, 9], [9, 10], [1, 2], [2, 8],
                  [4, 9]]},
    {"meetings": [[i, i + 3] for i in range(0, 30, 2)]},
    {"meetings": [[(i * 7) % 20, (i * 7) % 20 + 1 + i % 4] for i in range(18)]},
    {"meetings": [[10, 20], [12, 25], [20, 30], [5, 15], [0, 5], [25, 35], [30, 40], [15, 18], [18, 22],
                  [22, 26], [26, 31], [31, 33], [33, 39], [35, 37], [37, 41], [1, 4], [4, 9], [9, 12],
                  [40, 45], [41, 44]]},
    {"meetings": [[(i * 11) % 37, (i * 11) % 37 + 2 + (i * 3) % 5] for i in range(24)]},
    {"meetings": [[i % 5 * 10 + i // 5, i % 5 * 10 + i // 5 + 4] for i in range(30)]},
    {"meetings": [[(i * i * 5 + 3) % 61, (i * i * 5 + 3) % 61 + 1 + (i * 7) % 6] for i in range(36)]},
]
# fmt: on


def generate_config(seed: int, size: int) -> dict:
    """`size` random meetings (at least 1) with start times in 0..3*size and lengths in 1..8."""
    rng = random.Random(seed)
    n = max(1, int(size))
    meetings = []
    for _ in range(n):
        start = rng.randint(0, 3 * n)
        meetings.append([start, start + rng.randint(1, 8)])
    return {"meetings": meetings}


if __name__ == "__main__":
    # test case 1: a fixed configuration
    env = MaxNonOverlappingMeetingsEnv.from_env_str(f"MaxNonOverlappingMeetingsEnv@{CONFIGS[0]}")
    print(env.solve())
    print("step count:", env.step_count)

    # test case 2: a generated configuration
    env = MaxNonOverlappingMeetingsEnv.from_env_str(
        f"MaxNonOverlappingMeetingsEnv@{generate_config(seed=12, size=12)}"
    )
    print(env.solve())
    print("step count:", env.step_count)
