import ast
import heapq
import json
import random

import gymnasium


class MergeKSortedListsEnv(gymnasium.Env):
    """Merge k sorted lists into one sorted list with a min-heap of list heads."""

    def __init__(self, env_str: str | None = None):
        super().__init__()
        self.OBSERVE = 0
        self.PUSH_HEAD = 1
        self.POP_MIN = 2
        self.GET_MERGED = 3
        self.DONE = 4
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "PushHead": self.PUSH_HEAD,
            "PopMin": self.POP_MIN,
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
        prefix = "MergeKSortedListsEnv@"
        if not isinstance(env_str, str) or not env_str.startswith(prefix):
            return None
        return MergeKSortedListsEnv(env_str=env_str)

    def reset(self, options: dict = {}):  # noqa: B006 - the options dict is only read
        if not isinstance(options, dict):
            options = {}
        raw = options.get("lists", [[1, 4, 5], [1, 3, 4], [2, 6]])
        self.lists = [sorted(int(x) for x in list(lst)[:1000]) for lst in list(raw)[:100]] or [[]]
        self.pointers = [0] * len(self.lists)
        self.heap = []
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
            elif code == self.PUSH_HEAD:
                msg = self.PushHead(**params)
            elif code == self.POP_MIN:
                msg = self.PopMin(**params)
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
        Show the sorted lists and the length of each.

        Args:
            None

        Returns:
            str: JSON object with the lists and their lengths.

        Example Output:
            {"lists": [[1, 4, 5], [1, 3, 4], [2, 6]], "lengths": [3, 3, 2]}
        """
        return json.dumps({"lists": self.lists, "lengths": [len(lst) for lst in self.lists]})

    def PushHead(self, list_index):
        """
        Take the next unused element of one list and push it onto the min-heap.

        Args:
            list_index (int): 0-based index of the list.

        Returns:
            str: JSON object with the pushed value, its list, the heap size and how many elements of
            that list are still unused.

        Example Output:
            {"pushed": 1, "list_index": 0, "heap_size": 1, "remaining_in_list": 2}
        """
        li = self._as_int(list_index, "list_index", 0, len(self.lists) - 1)
        if self.pointers[li] >= len(self.lists[li]):
            raise ValueError(f"list {li} has no elements left")
        value = self.lists[li][self.pointers[li]]
        self.pointers[li] += 1
        heapq.heappush(self.heap, (value, li))
        remaining = len(self.lists[li]) - self.pointers[li]
        return json.dumps(
            {"pushed": value, "list_index": li, "heap_size": len(self.heap), "remaining_in_list": remaining}
        )

    def PopMin(self):
        """
        Pop the smallest value from the min-heap (ties go to the lower list index) and append it to
        the merged output.

        Args:
            None

        Returns:
            str: JSON object with the value, the list it came from, the heap size and the merged length.

        Example Output:
            {"value": 1, "list_index": 0, "heap_size": 2, "merged_length": 1}
        """
        if not self.heap:
            raise ValueError("the heap is empty")
        value, li = heapq.heappop(self.heap)
        self.merged.append(value)
        return json.dumps(
            {"value": value, "list_index": li, "heap_size": len(self.heap), "merged_length": len(self.merged)}
        )

    def GetMerged(self):
        """
        Return the merged output built so far by PopMin.

        Args:
            None

        Returns:
            str: JSON list of the merged values.

        Example Output:
            [1, 1, 2, 3]
        """
        return json.dumps(self.merged)

    def Done(self, answer):
        """
        Submit the fully merged list and finish the episode.

        Args:
            answer (list): all the values of all the lists, in ascending order.

        Returns:
            str: the submitted and reference answers, the verdict and the reward.

        Example Output:
            Your answer: [1, 1, 2, 3, 4, 4, 5, 6], reference answer: [1, 1, 2, 3, 4, 4, 5, 6], result: correct, reward=1
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
        return sorted(x for lst in self.lists for x in lst)

    def solve(self):
        info = json.loads(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
        in_heap = 0
        for i, length in enumerate(info["lengths"]):
            if length > 0:
                pushed = json.loads(
                    self.step(json.dumps({"name": "PushHead", "parameters": {"list_index": i}}))[1]
                )
                in_heap = pushed["heap_size"]
        remaining = [max(0, length - 1) for length in info["lengths"]]
        while in_heap > 0:
            popped = json.loads(self.step(json.dumps({"name": "PopMin", "parameters": {}}))[1])
            in_heap = popped["heap_size"]
            li = popped["list_index"]
            if remaining[li] > 0:
                pushed = json.loads(
                    self.step(json.dumps({"name": "PushHead", "parameters": {"list_index": li}}))[1]
                )
                in_heap = pushed["heap_size"]
                remaining[li] = pushed["remaining_in_list"]
        merged = json.loads(self.step(json.dumps({"name": "GetMerged", "parameters": {}}))[1])
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": merged}}))[1]


TASK = """Merge several lists, each already sorted in ascending order, into one ascending list holding every
value (duplicates included). Call Observe to see the lists. PushHead moves the next element of a list onto
a min-heap and PopMin moves the heap's smallest element to the merged output (GetMerged shows it).
Finish with Done(answer), where answer is the merged list of integers."""

# fmt: off
CONFIGS = [
    {"lists": [[1, 4, 5], [1, 3, 4], [2, 6], [], [0, 7, 7]]},
    {"lists": [[8, 12, 15, 15], [6, 15]]},
    {"lists": [[2, 13, 18, 19], [5, 8, 17, 23]]},
    {"lists": [[10, 14, 19, 23, 30, 30, 33], [0, 4, 14, 25]]},
    {"lists": [[1, 5, 6, 10, 33, 41], [3, 6, 13, 17, 17, 18, 30, 35]]},
    {"lists": [[8, 10, 23, 36], [0, 41, 49], [47, 50], [10, 15, 17, 34, 49], [1], [13, 41, 53]]},
    {"lists": [[5, 18, 46, 46, 62], [33, 37, 52], [2, 4, 62], [12, 24, 32, 42], [12, 25, 64], [11, 46, 47, 60]]},
    {"lists": [[9, 28, 46, 55, 64, 70, 72, 73, 73, 79], [4, 5, 11, 13, 37, 47, 50, 63], [31, 71], [6, 7, 8, 18, 40, 46, 74]]},
    {"lists": [[2, 8, 17, 18, 24, 51, 51, 62, 64], [13, 30, 48, 48, 49, 62, 73, 79, 83, 89], [3, 4, 5, 7, 8, 11, 14, 18, 26, 33, 34, 52, 58]]},
    {"lists": [[14, 15, 17, 25, 30, 43, 64, 76, 93, 98, 112, 114, 117], [30, 42, 50, 64, 92, 110], [17, 26, 43, 70, 116], [7, 17, 20, 21, 92, 94, 101, 108, 113], [8, 10, 25, 47, 59, 89, 117]]},
    {"lists": [[1, 24, 52, 63, 107, 109, 127, 133], [9, 30, 34, 77, 80, 89, 90, 98, 105, 112, 116, 122, 133], [18, 41, 42, 67, 116], [16, 42, 44, 62, 83, 106, 107, 111, 125, 147], [20, 38, 40, 93, 95, 96], [44, 70, 77, 83, 92, 92, 140]]},
]
# fmt: on


def generate_config(seed: int, size: int) -> dict:
    """``size`` (clamped to 3..100) sets the total element count (4 + 0.9 * size) spread over 2-6 lists."""
    rng = random.Random(seed)
    size = max(3, min(int(size), 100))
    total = 4 + (size * 9) // 10
    k = rng.randint(2, min(6, max(2, total // 3)))
    lists = [[] for _ in range(k)]
    for _ in range(total):
        lists[rng.randrange(k)].append(rng.randint(0, 3 * total))
    return {"lists": [sorted(lst) for lst in lists]}


if __name__ == "__main__":
    env = MergeKSortedListsEnv.from_env_str(f"MergeKSortedListsEnv@{CONFIGS[0]}")
    print(env.Observe())
    print(env.solve(), "| steps:", env.step_count)
    env = MergeKSortedListsEnv.from_env_str(f"MergeKSortedListsEnv@{generate_config(7, 20)}")
    print(env.solve(), "| steps:", env.step_count)
