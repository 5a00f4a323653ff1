import ast
import heapq
import json
import random

import gymnasium


class KthLargestHeapEnv(gymnasium.Env):
    """K-th largest element of an array, kept with a min-heap of size k."""

    def __init__(self, env_str: str | None = None):
        super().__init__()
        self.OBSERVE = 0
        self.PUSH_TO_HEAP = 1
        self.POP_FROM_HEAP = 2
        self.PEEK_TOP = 3
        self.DONE = 4
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "PushToHeap": self.PUSH_TO_HEAP,
            "PopFromHeap": self.POP_FROM_HEAP,
            "PeekTop": self.PEEK_TOP,
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
        prefix = "KthLargestHeapEnv@"
        if not isinstance(env_str, str) or not env_str.startswith(prefix):
            return None
        return KthLargestHeapEnv(env_str=env_str)

    def reset(self, options: dict = {}):  # noqa: B006 - the options dict is only read
        if not isinstance(options, dict):
            options = {}
        raw = options.get("numbers", [3, 2, 1, 5, 6, 4])
        self.numbers = [int(x) for x in list(raw)[:1000]] or [0]
        self.k = max(1, min(int(options.get("k", 2)), len(self.numbers)))
        self.heap = []
        self.pushed = [False] * len(self.numbers)
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
            elif code == self.PUSH_TO_HEAP:
                msg = self.PushToHeap(**params)
            elif code == self.POP_FROM_HEAP:
                msg = self.PopFromHeap(**params)
            elif code == self.PEEK_TOP:
                msg = self.PeekTop(**params)
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
        Show the numbers, k, and the current size of the min-heap.

        Args:
            None

        Returns:
            str: JSON object with the numbers, k and heap_size.

        Example Output:
            {"numbers": [3, 2, 1, 5, 6, 4], "k": 2, "heap_size": 0}
        """
        return json.dumps({"numbers": self.numbers, "k": self.k, "heap_size": len(self.heap)})

    def PushToHeap(self, index):
        """
        Push the number at position index onto the min-heap. Each position can be pushed once.

        Args:
            index (int): 0-based position in the numbers list.

        Returns:
            str: JSON object with the pushed value, the heap size and the smallest value in the heap.

        Example Output:
            {"pushed": 5, "heap_size": 3, "top": 2}
        """
        index = self._as_int(index, "index", 0, len(self.numbers) - 1)
        if self.pushed[index]:
            raise ValueError(f"the number at index {index} was already pushed")
        self.pushed[index] = True
        value = self.numbers[index]
        heapq.heappush(self.heap, value)
        return json.dumps({"pushed": value, "heap_size": len(self.heap), "top": self.heap[0]})

    def PopFromHeap(self):
        """
        Remove the smallest value from the min-heap.

        Args:
            None

        Returns:
            str: JSON object with the removed value, the new heap size and the new smallest value
            (null when the heap is empty).

        Example Output:
            {"popped": 2, "heap_size": 2, "top": 3}
        """
        if not self.heap:
            raise ValueError("the heap is empty")
        value = heapq.heappop(self.heap)
        top = self.heap[0] if self.heap else None
        return json.dumps({"popped": value, "heap_size": len(self.heap), "top": top})

    def PeekTop(self):
        """
        Look at the smallest value in the min-heap without removing it.

        Args:
            None

        Returns:
            str: JSON object with the smallest value (null when empty) and the heap size.

        Example Output:
            {"top": 5, "heap_size": 2}
        """
        top = self.heap[0] if self.heap else None
        return json.dumps({"top": top, "heap_size": len(self.heap)})

    def Done(self, answer):
        """
        Submit the k-th largest number and finish the episode.

        Args:
            answer (int): the k-th largest number (duplicates count separately).

        Returns:
            str: the submitted and reference answers, the verdict and the reward.

        Example Output:
            Your answer: 5, reference answer: 5, result: correct, reward=1
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
        return sorted(self.numbers, reverse=True)[self.k - 1]

    def solve(self):
        info = json.loads(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
        k = info["k"]
        for i in range(len(info["numbers"])):
            pushed = json.loads(self.step(json.dumps({"name": "PushToHeap", "parameters": {"index": i}}))[1])
            if pushed["heap_size"] > k:
                self.step(json.dumps({"name": "PopFromHeap", "parameters": {}}))
        top = json.loads(self.step(json.dumps({"name": "PeekTop", "parameters": {}}))[1])["top"]
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": top}}))[1]


TASK = """Find the k-th largest number in an array (counting duplicates separately, so k = 1 is the maximum).
Call Observe to see the numbers and k. A min-heap is available through PushToHeap, PopFromHeap and PeekTop:
keeping only the k largest numbers seen so far leaves the answer on top. Finish with Done(answer), where
answer is an integer."""

# fmt: off
CONFIGS = [
    {"numbers": [3, 2, 3, 1, 2, 4, 5, 5, 6], "k": 4},
    {"numbers": [-33, 22, 58, 52, 47, -42, -18], "k": 1},
    {"numbers": [72, 60, 71, 58, -43, -39, -40, -4, 56], "k": 2},
    {"numbers": [10, 89, -17, 44, 71, -34, -47, 70, 16, 9, -1, 70], "k": 5},
    {"numbers": [10, 27, -24, 51, 72, -11, -27, -33, -45, 52, 90, 24, -35, 6, 83, 87], "k": 6},
    {"numbers": [109, 15, 41, 126, 116, 85, -43, 69, 13, 116, -37, -10, -22, 45, 70, 13, 47, 89, -24, 96], "k": 4},
    {"numbers": [96, -30, 74, 145, 16, -41, -50, -13, 119, 100, 70, 144, 138, 45, 31, 147, -45, 19, 75, 0, 136, 55, 87, 88], "k": 11},
    {"numbers": [32, -12, 51, 116, -38, -32, 160, 87, -26, 43, 99, -36, 79, 4, -41, -28, 61, 57, -33, 11, -27, 91, 58, -35, 161, 94, -19, 7, 111], "k": 11},
    {"numbers": [8, 44, 196, 46, -18, -1, 130, -39, -29, -15, 13, 157, 79, 3, 52, 114, -43, 67, 74, 66, 49, 76, 96, -1, 179, 162, 53, -28, 74, 9, 144, -45, 129, 18], "k": 17},
    {"numbers": [187, 141, 86, 20, 45, -47, 123, 207, 187, -9, 121, 233, -30, 144, 36, 181, 166, 30, 36, 71, -24, 6, 17, 209, -18, 146, 2, 99, 54, 64, 165, -6, 86, 57, 153, 93, 124, -28, 52, -48, 160, -22], "k": 13},
    {"numbers": [242, -34, 169, 197, 245, -43, 55, 186, 201, 92, 32, -33, 216, 200, 117, -12, 77, 134, -28, 165, 21, 258, 131, 145, 165, 95, 84, 183, 39, 105, 135, 18, 183, 72, 175, 264, 142, -28, 248, -48, 70, 18, 49, 105, 224, 137, 72, 110, 231], "k": 15},
]
# fmt: on


def generate_config(seed: int, size: int) -> dict:
    """``size`` (clamped to 3..100) sets the array length (size + 4); k is up to half of it."""
    rng = random.Random(seed)
    size = max(3, min(int(size), 100))
    n = size + 4
    numbers = [rng.randint(-50, 50 + 5 * size) for _ in range(n)]
    return {"numbers": numbers, "k": rng.randint(1, max(1, n // 2))}


if __name__ == "__main__":
    env = KthLargestHeapEnv.from_env_str(f"KthLargestHeapEnv@{CONFIGS[0]}")
    print(env.Observe())
    print(env.solve(), "| steps:", env.step_count)
    env = KthLargestHeapEnv.from_env_str(f"KthLargestHeapEnv@{generate_config(7, 20)}")
    print(env.solve(), "| steps:", env.step_count)
