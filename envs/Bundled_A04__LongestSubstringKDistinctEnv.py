import ast
import json
import random

import gymnasium


class LongestSubstringKDistinctEnv(gymnasium.Env):
    """Longest substring with at most k distinct characters, via a sliding window."""

    def __init__(self, env_str: str = None):
        super().__init__()

        # [Required] Define the action names
        self.OBSERVE = 0
        self.EXPAND_WINDOW = 1
        self.SHRINK_WINDOW = 2
        self.GET_WINDOW_STATE = 3
        self.DONE = 4

        # [Required] Define the action mapping
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "ExpandWindow": self.EXPAND_WINDOW,
            "ShrinkWindow": self.SHRINK_WINDOW,
            "GetWindowState": self.GET_WINDOW_STATE,
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
        prefix = "LongestSubstringKDistinctEnv@"
        if not isinstance(env_str, str) or not env_str.startswith(prefix):
            return None
        return LongestSubstringKDistinctEnv(env_str=env_str)

    # [Required] Define the reset method of the environment
    def reset(self, options: dict = {}):  # noqa: B006
        if not isinstance(options, dict):
            options = {}
        self.s = str(options.get("s", "eceba"))
        self.k = max(0, int(options.get("k", 2)))
        self.left = 0
        self.right = 0
        self.counts = {}
        self._reward = 0
        self._done = False
        self.step_count = 0
        return "Environment has been reset."

    # [Required] Get the reference answer of the environment
    def get_ref_answer(self):
        best = 0
        for i in range(len(self.s)):
            seen = set()
            for j in range(i, len(self.s)):
                seen.add(self.s[j])
                if len(seen) > self.k:
                    break
                best = max(best, j - i + 1)
        return best

    def _state(self) -> dict:
        return {
            "left": self.left,
            "right": self.right,
            "window": self.s[self.left : self.right],
            "length": self.right - self.left,
            "distinct": len(self.counts),
        }

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
            elif code == self.EXPAND_WINDOW:
                handler = self.ExpandWindow
            elif code == self.SHRINK_WINDOW:
                handler = self.ShrinkWindow
            elif code == self.GET_WINDOW_STATE:
                handler = self.GetWindowState
            else:
                handler = self.Done
            msg = handler(**params)
        except Exception as e:
            return True, f"Error: {e}"
        return True, msg

    # All the actions of the environment
    def Observe(self):
        r"""
        Show the string, the limit k on distinct characters, and the string length.
        The window s[left:right] starts empty at left = right = 0.

        Args:
            None

        Returns:
            str: JSON object with s, k and length.

        Example Output:
            "{\"s\": \"eceba\", \"k\": 2, \"length\": 5}"
        """
        return json.dumps({"s": self.s, "k": self.k, "length": len(self.s)})

    def ExpandWindow(self):
        r"""
        Add the character s[right] to the window and advance right by one.

        Args:
            None

        Returns:
            str: JSON object with left, right, the window text, its length and its number of distinct characters.

        Example Output:
            "{\"left\": 0, \"right\": 3, \"window\": \"ece\", \"length\": 3, \"distinct\": 2}"
        """
        if self.right >= len(self.s):
            raise ValueError("the window already reaches the end of the string")
        ch = self.s[self.right]
        self.counts[ch] = self.counts.get(ch, 0) + 1
        self.right += 1
        return json.dumps(self._state())

    def ShrinkWindow(self):
        r"""
        Remove the character s[left] from the window and advance left by one.

        Args:
            None

        Returns:
            str: JSON object with left, right, the window text, its length and its number of distinct characters.

        Example Output:
            "{\"left\": 1, \"right\": 4, \"window\": \"ceb\", \"length\": 3, \"distinct\": 3}"
        """
        if self.left >= self.right:
            raise ValueError("the window is empty")
        ch = self.s[self.left]
        self.counts[ch] -= 1
        if self.counts[ch] == 0:
            del self.counts[ch]
        self.left += 1
        return json.dumps(self._state())

    def GetWindowState(self):
        r"""
        Show the current window, including how many times each character occurs in it.

        Args:
            None

        Returns:
            str: JSON object with left, right, window, length, distinct and counts.

        Example Output:
            "{\"left\": 0, \"right\": 3, \"window\": \"ece\", \"length\": 3, \"distinct\": 2, \"counts\": {\"c\": 1, \"e\": 2}}"
        """
        state = self._state()
        state["counts"] = {ch: self.counts[ch] for ch in sorted(self.counts)}
        return json.dumps(state)

    def Done(self, answer):
        r"""
        Submit the length of the longest substring with at most k distinct characters.

        Args:
            answer (int): The length.

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
        Sliding window: expand to the right, shrink from the left while more than k distinct
        characters are inside, and remember the longest valid window.

        Returns:
            str: The message returned by Done.
        """
        obs = json.loads(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
        k, n = obs["k"], obs["length"]
        best = 0
        for _ in range(n):
            state = json.loads(self.step(json.dumps({"name": "ExpandWindow", "parameters": {}}))[1])
            while state["distinct"] > k:
                state = json.loads(self.step(json.dumps({"name": "ShrinkWindow", "parameters": {}}))[1])
            best = max(best, state["length"])
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": best}}))[1]


TASK = """Given a string s and an integer k, find the length of the longest contiguous substring of s \
that contains at most k distinct characters. Use Observe to see s and k. The environment keeps a \
window s[left:right] that you can expand to the right or shrink from the left, and it reports how many \
distinct characters the window holds. Submit the length as an integer with Done."""

# fmt: off
CONFIGS = [
    {"s": "eceba", "k": 2},
    {"s": "aabbccdd", "k": 2},
    {"s": "abaccccbdeeea", "k": 2},
    {"s": "abcabcabcabcab", "k": 2},
    {"s": "aaaaaaaaaaaaaaaa", "k": 1},
    {"s": "abcdefghijabcdefghij", "k": 3},
    {"s": "xyzzyxxyzzzzabababx", "k": 2},
    {"s": "mississippiriverbank", "k": 3},
    {"s": "aabacbebebeabcdefggggg", "k": 3},
    {"s": "thequickbrownfoxjumpsoverthelazydog", "k": 4},
    {"s": "abababcbcbcbcdcdcdcdedededefefefaaa", "k": 2},
]
# fmt: on


def generate_config(seed: int, size: int) -> dict:
    """A random string of length `size` (at least 1) over a small alphabet, with k in 1..4."""
    rng = random.Random(seed)
    n = max(1, int(size))
    alphabet = "abcdefgh"[: rng.randint(3, 8)]
    chars = []
    while len(chars) < n:
        # runs of repeated characters make the windows more interesting
        chars.extend(rng.choice(alphabet) * rng.randint(1, 3))
    return {"s": "".join(chars[:n]), "k": rng.randint(1, 4)}


if __name__ == "__main__":
    # test case 1: a fixed configuration
    env = LongestSubstringKDistinctEnv.from_env_str(f"LongestSubstringKDistinctEnv@{CONFIGS[0]}")
    print(env.solve())
    print("step count:", env.step_count)

    # test case 2: a generated configuration
    env = LongestSubstringKDistinctEnv.from_env_str(
        f"LongestSubstringKDistinctEnv@{generate_config(seed=11, size=20)}"
    )
    print(env.solve())
    print("step count:", env.step_count)
