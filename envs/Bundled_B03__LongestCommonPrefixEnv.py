import ast
import json
import random

import gymnasium


class LongestCommonPrefixEnv(gymnasium.Env):
    """Longest common prefix of several strings, found by scanning one column at a time."""

    def __init__(self, env_str: str | None = None):
        super().__init__()
        self.OBSERVE = 0
        self.MIN_LENGTH = 1
        self.CHECK_COLUMN = 2
        self.GET_PREFIX = 3
        self.DONE = 4
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "MinLength": self.MIN_LENGTH,
            "CheckColumn": self.CHECK_COLUMN,
            "GetPrefix": self.GET_PREFIX,
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
        prefix = "LongestCommonPrefixEnv@"
        if not isinstance(env_str, str) or not env_str.startswith(prefix):
            return None
        return LongestCommonPrefixEnv(env_str=env_str)

    def reset(self, options: dict = {}):  # noqa: B006 - the options dict is only read
        if not isinstance(options, dict):
            options = {}
        raw = options.get("strings", ["flower", "flow", "flight"])
        self.strings = [str(s) for s in list(raw)[:200]] or [""]
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
            elif code == self.MIN_LENGTH:
                msg = self.MinLength(**params)
            elif code == self.CHECK_COLUMN:
                msg = self.CheckColumn(**params)
            elif code == self.GET_PREFIX:
                msg = self.GetPrefix(**params)
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
        Show the strings whose longest common prefix is wanted.

        Args:
            None

        Returns:
            str: JSON object with the list of strings and how many there are.

        Example Output:
            {"strings": ["flower", "flow", "flight"], "count": 3}
        """
        return json.dumps({"strings": self.strings, "count": len(self.strings)})

    def MinLength(self):
        """
        Length of the shortest string (the common prefix cannot be longer).

        Args:
            None

        Returns:
            str: JSON object with the minimum length.

        Example Output:
            {"min_length": 4}
        """
        return json.dumps({"min_length": min(len(s) for s in self.strings)})

    def CheckColumn(self, position):
        """
        Compare the characters of all strings at one position.

        Args:
            position (int): 0-based character position.

        Returns:
            str: JSON object with the position, the character of each string there (null where a
            string is too short) and whether all strings have the same character there.

        Example Output:
            {"position": 2, "chars": ["o", "o", "i"], "all_match": false}
        """
        longest = max(len(s) for s in self.strings)
        position = self._as_int(position, "position", 0, max(longest, 1) - 1)
        chars = [s[position] if position < len(s) else None for s in self.strings]
        all_match = None not in chars and len(set(chars)) == 1
        return json.dumps({"position": position, "chars": chars, "all_match": all_match})

    def GetPrefix(self, length):
        """
        Return the first `length` characters of the first string.

        Args:
            length (int): how many characters to take (0 up to the first string's length).

        Returns:
            str: JSON object with the prefix.

        Example Output:
            {"prefix": "fl"}
        """
        length = self._as_int(length, "length", 0, len(self.strings[0]))
        return json.dumps({"prefix": self.strings[0][:length]})

    def Done(self, answer):
        """
        Submit the longest common prefix and finish the episode.

        Args:
            answer (str): the longest common prefix ("" when there is none).

        Returns:
            str: the submitted and reference answers, the verdict and the reward.

        Example Output:
            Your answer: "fl", reference answer: "fl", result: correct, reward=1
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
        prefix = self.strings[0]
        for s in self.strings[1:]:
            k = 0
            while k < len(prefix) and k < len(s) and prefix[k] == s[k]:
                k += 1
            prefix = prefix[:k]
        return prefix

    def solve(self):
        self.step(json.dumps({"name": "Observe", "parameters": {}}))
        shortest = json.loads(self.step(json.dumps({"name": "MinLength", "parameters": {}}))[1])["min_length"]
        length = 0
        while length < shortest:
            column = json.loads(
                self.step(json.dumps({"name": "CheckColumn", "parameters": {"position": length}}))[1]
            )
            if not column["all_match"]:
                break
            length += 1
        prefix = json.loads(self.step(json.dumps({"name": "GetPrefix", "parameters": {"length": length}}))[1])
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": prefix["prefix"]}}))[1]


TASK = """Find the longest string that is a prefix of every string in the list (the empty string if the
strings share no first character). Call Observe to see the strings; MinLength, CheckColumn and GetPrefix
let you scan the strings column by column. Finish with Done(answer), where answer is the prefix as a string."""

# fmt: off
CONFIGS = [
    {"strings": ["classification", "classifier", "classified", "classify"]},
    {"strings": ["cbebhhhg", "cbebhhhgagg", "cbebhhhgahed", "cbebhhhgbfaa"]},
    {"strings": ["abbfceedacgfhea", "abbfceedacafhfgg", "abbfceedacccdd", "abbfceedac", "abbfceedacf", "abbfceedacc"]},
    {"strings": ["dcfhbaheddhhgc", "dcfhbaheddhhggabcae", "dcfhbaheddhhgaehggg", "dcfhbaheddhhghcfba"]},
    {"strings": ["debghcbbageadfecba", "debghcbbageadfecbeedcee", "debghcbbageadfecbfbfgd", "debghcbbageadfecbd", "debghcbbageadfecbebe"]},
    {"strings": ["efahdacbfhdgbdadgecgch", "efahdacbfhdgbdadgecgcc", "efahdacbfhdgbdadgecgc"]},
    {"strings": ["bheaachffaehdgbdebgfbfgehdebadf", "bheaachffaehdgbdebgfbfgehdaf", "bheaachffaehdgbdebgfbfgehg"]},
    {"strings": ["fcgabbfadabggbdbgabdagadacegcbcbdf", "fcgabbfadabggbdbgabdagadacegcb", "fcgabbfadabggbdbgabdagadacegcbbadh", "fcgabbfadabggbdbgabdagadacegcbgfhhf", "fcgabbfadabggbdbgabdagadacegcbdc"]},
    {"strings": ["dfgcdabcddgahhhghdgbhdaeghgbebbggbab", "dfgcdabcddgahhhghdgbhdaeghgbebbggbadcb", "dfgcdabcddgahhhghdgbhdaeghgbebbggbaahdc", "dfgcdabcddgahhhghdgbhdaeghgbebbggbahhefgc", "dfgcdabcddgahhhghdgbhdaeghgbebbggbab"]},
    {"strings": ["hfeccafhbfagchgccdabcbgbeddgbedgefadagaghcadgabdd", "hfeccafhbfagchgccdabcbgbeddgbedgefadagaghcadgab", "hfeccafhbfagchgccdabcbgbeddgbedgefadagaghcadga"]},
    {"strings": ["aghadhhecahfbdfagcfggeehcefchdhgaadcdefdfhghbfcdgdaahebbcgfcbhcdfg", "aghadhhecahfbdfagcfggeehcefchdhgaadcdefdfhghbfcdgdaahebbcgfchde", "aghadhhecahfbdfagcfggeehcefchdhgaadcdefdfhghbfcdgdaahebbcgfcc"]},
]
# fmt: on


def generate_config(seed: int, size: int) -> dict:
    """Strings sharing a random prefix of about ``size`` + 5 letters (``size`` clamped to 3..100)."""
    rng = random.Random(seed)
    size = max(3, min(int(size), 100))
    letters = "abcdefgh"
    shared = "".join(rng.choice(letters) for _ in range(size + 5))
    count = rng.randint(3, 6)
    strings = []
    for _ in range(count):
        tail = "".join(rng.choice(letters) for _ in range(rng.randint(0, 6)))
        strings.append(shared + tail)
    return {"strings": strings}


if __name__ == "__main__":
    env = LongestCommonPrefixEnv.from_env_str(f"LongestCommonPrefixEnv@{CONFIGS[0]}")
    print(env.Observe())
    print(env.solve(), "| steps:", env.step_count)
    env = LongestCommonPrefixEnv.from_env_str(f"LongestCommonPrefixEnv@{generate_config(7, 20)}")
    print(env.solve(), "| steps:", env.step_count)
