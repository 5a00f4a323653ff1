import ast
import json
import random

import gymnasium


class PalindromicSubstringsEnv(gymnasium.Env):
    """Count the palindromic substrings of a string by expanding around every center."""

    def __init__(self, env_str: str | None = None):
        super().__init__()
        self.OBSERVE = 0
        self.IS_PALINDROME = 1
        self.EXPAND_AROUND_CENTER = 2
        self.GET_TOTAL = 3
        self.DONE = 4
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "IsPalindrome": self.IS_PALINDROME,
            "ExpandAroundCenter": self.EXPAND_AROUND_CENTER,
            "GetTotal": self.GET_TOTAL,
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
        prefix = "PalindromicSubstringsEnv@"
        if not isinstance(env_str, str) or not env_str.startswith(prefix):
            return None
        return PalindromicSubstringsEnv(env_str=env_str)

    def reset(self, options: dict = {}):  # noqa: B006 - the options dict is only read
        if not isinstance(options, dict):
            options = {}
        text = str(options.get("s", "abaab"))[:1000]
        self.s = text or "a"
        self.counted = {}
        self.total = 0
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
            elif code == self.IS_PALINDROME:
                msg = self.IsPalindrome(**params)
            elif code == self.EXPAND_AROUND_CENTER:
                msg = self.ExpandAroundCenter(**params)
            elif code == self.GET_TOTAL:
                msg = self.GetTotal(**params)
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
        Show the string and its length.

        Args:
            None

        Returns:
            str: JSON object with the string and its length.

        Example Output:
            {"s": "abaab", "length": 5}
        """
        return json.dumps({"s": self.s, "length": len(self.s)})

    def IsPalindrome(self, start, end):
        """
        Check whether the substring from start to end (both inclusive) reads the same backwards.

        Args:
            start (int): 0-based index of the first character.
            end (int): 0-based index of the last character, at least start.

        Returns:
            str: JSON object with the substring and whether it is a palindrome.

        Example Output:
            {"substring": "aba", "is_palindrome": true}
        """
        n = len(self.s)
        start = self._as_int(start, "start", 0, n - 1)
        end = self._as_int(end, "end", start, n - 1)
        sub = self.s[start : end + 1]
        return json.dumps({"substring": sub, "is_palindrome": sub == sub[::-1]})

    def ExpandAroundCenter(self, left, right):
        """
        Expand outwards from a center while the two ends match, counting the palindromes found.
        Use left == right for odd-length palindromes and right == left + 1 for even-length ones.
        The count of each center is added once to the running total (see GetTotal).

        Args:
            left (int): 0-based index where the expansion starts on the left.
            right (int): left or left + 1.

        Returns:
            str: JSON object with the number of palindromes around this center, the longest one
            found (null if none), and the running total.

        Example Output:
            {"center": [1, 1], "count": 2, "longest": "aba", "total": 4}
        """
        n = len(self.s)
        left = self._as_int(left, "left", 0, n - 1)
        right = self._as_int(right, "right", left, min(left + 1, n - 1))
        lo, hi = left, right
        count = 0
        while lo >= 0 and hi < n and self.s[lo] == self.s[hi]:
            count += 1
            lo -= 1
            hi += 1
        longest = self.s[lo + 1 : hi] if count else None
        key = (left, right)
        if key not in self.counted:
            self.counted[key] = count
            self.total += count
        return json.dumps({"center": [left, right], "count": count, "longest": longest, "total": self.total})

    def GetTotal(self):
        """
        Return the running total of palindromes counted by ExpandAroundCenter, and how many
        distinct centers have been expanded.

        Args:
            None

        Returns:
            str: JSON object with the total and the number of centers expanded so far.

        Example Output:
            {"total": 7, "centers_done": 9}
        """
        return json.dumps({"total": self.total, "centers_done": len(self.counted)})

    def Done(self, answer):
        """
        Submit the number of palindromic substrings and finish the episode.

        Args:
            answer (int): how many substrings (counted by position) are palindromes.

        Returns:
            str: the submitted and reference answers, the verdict and the reward.

        Example Output:
            Your answer: 7, reference answer: 7, result: correct, reward=1
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
        n = len(self.s)
        pal = [[False] * n for _ in range(n)]
        count = 0
        for i in range(n - 1, -1, -1):
            for j in range(i, n):
                if self.s[i] == self.s[j] and (j - i < 2 or pal[i + 1][j - 1]):
                    pal[i][j] = True
                    count += 1
        return count

    def solve(self):
        info = json.loads(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
        n = info["length"]
        for i in range(n):
            self.step(json.dumps({"name": "ExpandAroundCenter", "parameters": {"left": i, "right": i}}))
            if i + 1 < n:
                self.step(
                    json.dumps({"name": "ExpandAroundCenter", "parameters": {"left": i, "right": i + 1}})
                )
        total = json.loads(self.step(json.dumps({"name": "GetTotal", "parameters": {}}))[1])["total"]
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": total}}))[1]


TASK = """Count how many substrings of the given string are palindromes. Substrings are counted by position,
so equal substrings at different places count separately, and every single character counts. Call Observe
to see the string; ExpandAroundCenter counts the palindromes around one center and keeps a running total
(GetTotal), and IsPalindrome checks any substring. Finish with Done(answer), where answer is an integer."""

# fmt: off
CONFIGS = [
    {"s": "abacabadabacaba"},
    {"s": "ababbb"},
    {"s": "aababbaa"},
    {"s": "abbaabbaabb"},
    {"s": "babbaaaabbaabb"},
    {"s": "cbccccabacaaabbabc"},
    {"s": "bbaaabbbabbabaababbabb"},
    {"s": "abcaacabcacaaabbaaacbacaacc"},
    {"s": "bbaaaaaaababbbbbababaabbbbabaabb"},
    {"s": "cbbaacabcbcabcccacbacbcbaaaaaaccacbcabac"},
    {"s": "bbaabbbaabbaabababbbbbbabbababbaaaaabbabbbbabaaba"},
]
# fmt: on


def generate_config(seed: int, size: int) -> dict:
    """A random string over 2-3 letters; ``size`` (clamped to 3..100) sets its length (4 + 0.9 * size)."""
    rng = random.Random(seed)
    size = max(3, min(int(size), 100))
    n = 4 + (size * 9) // 10
    letters = "abc"[: rng.randint(2, 3)]
    return {"s": "".join(rng.choice(letters) for _ in range(n))}


if __name__ == "__main__":
    env = PalindromicSubstringsEnv.from_env_str(f"PalindromicSubstringsEnv@{CONFIGS[0]}")
    print(env.Observe())
    print(env.solve(), "| steps:", env.step_count)
    env = PalindromicSubstringsEnv.from_env_str(f"PalindromicSubstringsEnv@{generate_config(7, 20)}")
    print(env.solve(), "| steps:", env.step_count)
