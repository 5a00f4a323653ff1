import ast
import heapq
import json
import random

import gymnasium


class MinMeetingRoomsEnv(gymnasium.Env):
    """Minimum number of rooms for a set of meetings, using a min-heap of end times."""

    def __init__(self, env_str: str | None = None):
        super().__init__()
        self.OBSERVE = 0
        self.SORT_BY_START = 1
        self.PEEK_EARLIEST_END = 2
        self.RELEASE_ROOM = 3
        self.ASSIGN_ROOM = 4
        self.DONE = 5
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "SortByStart": self.SORT_BY_START,
            "PeekEarliestEnd": self.PEEK_EARLIEST_END,
            "ReleaseRoom": self.RELEASE_ROOM,
            "AssignRoom": self.ASSIGN_ROOM,
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
        prefix = "MinMeetingRoomsEnv@"
        if not isinstance(env_str, str) or not env_str.startswith(prefix):
            return None
        return MinMeetingRoomsEnv(env_str=env_str)

    def reset(self, options: dict = {}):  # noqa: B006 - the options dict is only read
        if not isinstance(options, dict):
            options = {}
        raw = options.get("meetings", [[0, 30], [5, 10], [15, 20], [10, 16], [30, 35]])
        meetings = []
        for item in list(raw)[:1000]:
            start, end = int(item[0]), int(item[1])
            if start > end:
                start, end = end, start
            if start == end:
                end = start + 1
            meetings.append([start, end])
        self.meetings = meetings
        self.sorted_meetings = None
        self.end_heap = []
        self.assigned = [False] * len(meetings)
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
            elif code == self.PEEK_EARLIEST_END:
                msg = self.PeekEarliestEnd(**params)
            elif code == self.RELEASE_ROOM:
                msg = self.ReleaseRoom(**params)
            elif code == self.ASSIGN_ROOM:
                msg = self.AssignRoom(**params)
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
        Show the meetings as [start, end] pairs in their original order.

        Args:
            None

        Returns:
            str: JSON object with the meetings and their count.

        Example Output:
            {"meetings": [[0, 30], [5, 10], [15, 20]], "count": 3}
        """
        return json.dumps({"meetings": self.meetings, "count": len(self.meetings)})

    def SortByStart(self):
        """
        Sort a working copy of the meetings by start time (ties by end) and return it.
        AssignRoom refers to meetings by their position in this sorted list.

        Args:
            None

        Returns:
            str: JSON list of the sorted [start, end] meetings.

        Example Output:
            [[0, 30], [5, 10], [15, 20]]
        """
        self.sorted_meetings = sorted(self.meetings, key=lambda m: (m[0], m[1]))
        self.assigned = [False] * len(self.sorted_meetings)
        self.end_heap = []
        return json.dumps(self.sorted_meetings)

    def PeekEarliestEnd(self):
        """
        Look at the earliest end time among the rooms currently in use (the top of the min-heap).

        Args:
            None

        Returns:
            str: JSON object with the earliest end time (null when no room is in use) and the
            number of rooms in use.

        Example Output:
            {"earliest_end": 10, "rooms_in_use": 2}
        """
        earliest = self.end_heap[0] if self.end_heap else None
        return json.dumps({"earliest_end": earliest, "rooms_in_use": len(self.end_heap)})

    def ReleaseRoom(self):
        """
        Free the room whose meeting ends earliest (pop the top of the min-heap).

        Args:
            None

        Returns:
            str: JSON object with the end time that was removed and the number of rooms still in use.

        Example Output:
            {"released_end": 10, "rooms_in_use": 1}
        """
        if not self.end_heap:
            raise ValueError("no room is in use, nothing to release")
        released = heapq.heappop(self.end_heap)
        return json.dumps({"released_end": released, "rooms_in_use": len(self.end_heap)})

    def AssignRoom(self, index):
        """
        Give the sorted meeting at position index a room: push its end time onto the min-heap.
        Each meeting can be assigned once.

        Args:
            index (int): 0-based position in the list returned by SortByStart.

        Returns:
            str: JSON object with the meeting and the number of rooms now in use.

        Example Output:
            {"meeting": [15, 20], "rooms_in_use": 2}
        """
        if self.sorted_meetings is None:
            raise ValueError("call SortByStart before AssignRoom")
        index = self._as_int(index, "index", 0, len(self.sorted_meetings) - 1)
        if self.assigned[index]:
            raise ValueError(f"meeting {index} already has a room")
        self.assigned[index] = True
        meeting = self.sorted_meetings[index]
        heapq.heappush(self.end_heap, meeting[1])
        return json.dumps({"meeting": meeting, "rooms_in_use": len(self.end_heap)})

    def Done(self, answer):
        """
        Submit the minimum number of rooms and finish the episode.

        Args:
            answer (int): the minimum number of rooms needed.

        Returns:
            str: the submitted and reference answers, the verdict and the reward.

        Example Output:
            Your answer: 2, reference answer: 2, result: correct, reward=1
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
        starts = sorted(m[0] for m in self.meetings)
        ends = sorted(m[1] for m in self.meetings)
        rooms = best = 0
        j = 0
        for start in starts:
            while j < len(ends) and ends[j] <= start:
                j += 1
                rooms -= 1
            rooms += 1
            best = max(best, rooms)
        return best

    def solve(self):
        self.step(json.dumps({"name": "Observe", "parameters": {}}))
        ordered = json.loads(self.step(json.dumps({"name": "SortByStart", "parameters": {}}))[1])
        in_use = 0
        best = 0
        for i, (start, _end) in enumerate(ordered):
            if in_use > 0:
                peek = json.loads(self.step(json.dumps({"name": "PeekEarliestEnd", "parameters": {}}))[1])
                if peek["earliest_end"] <= start:
                    released = json.loads(self.step(json.dumps({"name": "ReleaseRoom", "parameters": {}}))[1])
                    in_use = released["rooms_in_use"]
            assigned = json.loads(
                self.step(json.dumps({"name": "AssignRoom", "parameters": {"index": i}}))[1]
            )
            in_use = assigned["rooms_in_use"]
            best = max(best, in_use)
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": best}}))[1]


TASK = """Each meeting is a half-open time range [start, end): a room freed at time t can host a meeting
that starts at t. Find the minimum number of rooms needed so that no two meetings in the same room overlap.
Call Observe to see the meetings. SortByStart, PeekEarliestEnd, ReleaseRoom and AssignRoom let you run the
classic sweep with a min-heap of end times. Finish with Done(answer), where answer is an integer."""

# fmt: off
CONFIGS = [
    {"meetings": [[0, 30], [5, 10], [15, 20], [10, 16], [30, 35], [20, 30], [16, 21]]},
    {"meetings": [[4, 23], [27, 30], [8, 12], [15, 30], [15, 28]]},
    {"meetings": [[3, 6], [5, 17], [10, 20], [16, 36], [13, 33], [2, 21], [10, 24]]},
    {"meetings": [[15, 34], [34, 39], [23, 43], [30, 49], [4, 24], [0, 16], [16, 34], [14, 21], [45, 61]]},
    {"meetings": [[30, 40], [13, 26], [61, 66], [11, 14], [2, 15], [37, 39], [28, 45], [46, 55], [22, 26], [33, 40], [3, 12]]},
    {"meetings": [[79, 88], [45, 62], [3, 18], [31, 33], [20, 24], [47, 63], [31, 44], [69, 73], [73, 81], [1, 8], [52, 61], [23, 36], [20, 23], [17, 37]]},
    {"meetings": [[101, 120], [10, 26], [97, 106], [4, 5], [18, 37], [60, 72], [40, 41], [34, 50], [102, 109], [93, 107], [68, 86], [87, 91], [24, 43], [70, 79], [84, 104], [87, 90], [54, 65]]},
    {"meetings": [[41, 46], [50, 52], [9, 27], [12, 24], [74, 76], [116, 133], [27, 29], [11, 25], [53, 56], [30, 33], [70, 84], [7, 26], [15, 23], [80, 99], [7, 26], [74, 87], [6, 14], [5, 23], [109, 114], [37, 51]]},
    {"meetings": [[58, 70], [96, 101], [49, 51], [21, 26], [63, 80], [53, 66], [7, 22], [124, 139], [99, 115], [49, 62], [22, 38], [59, 60], [68, 85], [104, 120], [97, 101], [66, 70], [16, 29], [96, 100], [14, 25], [60, 63], [127, 144], [53, 72], [36, 56], [16, 34]]},
    {"meetings": [[118, 138], [95, 104], [35, 41], [173, 174], [86, 103], [118, 138], [20, 31], [141, 161], [10, 23], [43, 58], [108, 114], [43, 51], [13, 17], [33, 50], [151, 154], [98, 102], [74, 81], [172, 180], [107, 110], [68, 75], [101, 110], [87, 89], [51, 52], [105, 107], [96, 112], [35, 36], [60, 74], [28, 48], [0, 4]]},
    {"meetings": [[146, 148], [109, 125], [147, 148], [52, 67], [125, 134], [167, 173], [8, 25], [125, 136], [19, 27], [190, 202], [11, 25], [35, 55], [90, 103], [107, 117], [172, 181], [116, 122], [175, 185], [169, 181], [34, 49], [196, 204], [112, 132], [96, 98], [149, 150], [60, 65], [49, 59], [137, 149], [197, 205], [80, 98], [115, 129], [120, 123], [167, 186], [83, 100], [40, 48], [105, 113]]},
]
# fmt: on


def generate_config(seed: int, size: int) -> dict:
    """Random meetings; ``size`` (clamped to 3..100) sets how many there are (4 + size // 2)."""
    rng = random.Random(seed)
    size = max(3, min(int(size), 100))
    n = 4 + size // 2
    horizon = 6 * n
    meetings = []
    for _ in range(n):
        start = rng.randint(0, horizon)
        meetings.append([start, start + rng.randint(1, 20)])
    return {"meetings": meetings}


if __name__ == "__main__":
    env = MinMeetingRoomsEnv.from_env_str(f"MinMeetingRoomsEnv@{CONFIGS[0]}")
    print(env.Observe())
    print(env.solve(), "| steps:", env.step_count)
    env = MinMeetingRoomsEnv.from_env_str(f"MinMeetingRoomsEnv@{generate_config(7, 20)}")
    print(env.solve(), "| steps:", env.step_count)
