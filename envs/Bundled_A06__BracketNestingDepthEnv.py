import ast
import json
import random

import gymnasium


class BracketNestingDepthEnv(gymnasium.Env):
    """Check a bracket string with a stack; report its maximum nesting depth, or -1 if it is invalid."""

    OPENERS = "([{"
    CLOSERS = ")]}"
    PAIRS = {")": "(", "]": "[", "}": "{"}

    def __init__(self, env_str: str = None):
        super().__init__()

        # [Required] Define the action names
        self.OBSERVE = 0
        self.PUSH_BRACKET = 1
        self.POP_BRACKET = 2
        self.IS_MATCHING_PAIR = 3
        self.GET_STACK_STATE = 4
        self.DONE = 5

        # [Required] Define the action mapping
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "PushBracket": self.PUSH_BRACKET,
            "PopBracket": self.POP_BRACKET,
            "IsMatchingPair": self.IS_MATCHING_PAIR,
            "GetStackState": self.GET_STACK_STATE,
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
        prefix = "BracketNestingDepthEnv@"
        if not isinstance(env_str, str) or not env_str.startswith(prefix):
            return None
        return BracketNestingDepthEnv(env_str=env_str)

    # [Required] Define the reset method of the environment
    def reset(self, options: dict = {}):  # noqa: B006
        if not isinstance(options, dict):
            options = {}
        self.s = str(options.get("s", "([]{()})"))
        self.stack = []
        self._reward = 0
        self._done = False
        self.step_count = 0
        return "Environment has been reset."

    # [Required] Get the reference answer of the environment
    def get_ref_answer(self):
        stack = []
        deepest = 0
        for ch in self.s:
            if ch in self.OPENERS:
                stack.append(ch)
                deepest = max(deepest, len(stack))
            elif ch in self.CLOSERS:
                if not stack or stack.pop() != self.PAIRS[ch]:
                    return -1
            else:
                return -1
        return deepest if not stack else -1

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
            elif code == self.PUSH_BRACKET:
                handler = self.PushBracket
            elif code == self.POP_BRACKET:
                handler = self.PopBracket
            elif code == self.IS_MATCHING_PAIR:
                handler = self.IsMatchingPair
            elif code == self.GET_STACK_STATE:
                handler = self.GetStackState
            else:
                handler = self.Done
            msg = handler(**params)
        except Exception as e:
            return True, f"Error: {e}"
        return True, msg

    # All the actions of the environment
    def Observe(self):
        r"""
        Show the bracket string.

        Args:
            None

        Returns:
            str: JSON object with the string and its length.

        Example Output:
            "{\"s\": \"([]{()})\", \"length\": 8}"
        """
        return json.dumps({"s": self.s, "length": len(self.s)})

    def PushBracket(self, index: int):
        r"""
        Push the opening bracket s[index] onto the stack.

        Args:
            index (int): Position of an opening bracket '(', '[' or '{' in s.

        Returns:
            str: JSON object with the stack contents (bottom first, as a string) and its depth.

        Example Output:
            "{\"stack\": \"({\", \"depth\": 2}"
        """
        if isinstance(index, bool) or not isinstance(index, int):
            raise ValueError(f"index must be an integer, got {type(index).__name__}")
        if not 0 <= index < len(self.s):
            raise ValueError(f"index must be between 0 and {len(self.s) - 1}, got {index}")
        if self.s[index] not in self.OPENERS:
            raise ValueError(f"s[{index}] = {self.s[index]!r} is not an opening bracket")
        if len(self.stack) >= len(self.s):
            raise ValueError("the stack is full (it cannot hold more entries than the string length)")
        self.stack.append(self.s[index])
        return json.dumps({"stack": "".join(self.stack), "depth": len(self.stack)})

    def PopBracket(self):
        r"""
        Remove the bracket on top of the stack.

        Args:
            None

        Returns:
            str: JSON object with the popped bracket and the depth left.

        Example Output:
            "{\"popped\": \"{\", \"depth\": 1}"
        """
        if not self.stack:
            raise ValueError("the stack is empty")
        top = self.stack.pop()
        return json.dumps({"popped": top, "depth": len(self.stack)})

    def IsMatchingPair(self, opening: str, closing: str):
        r"""
        Check whether an opening bracket and a closing bracket form a pair: (), [] or {}.

        Args:
            opening (str): One of '(', '[', '{'.
            closing (str): One of ')', ']', '}'.

        Returns:
            str: "true" or "false".

        Example Output:
            "true"
        """
        if not isinstance(opening, str) or opening not in self.OPENERS or len(opening) != 1:
            raise ValueError(f"opening must be one of '(', '[', '{{', got {opening!r}")
        if not isinstance(closing, str) or closing not in self.CLOSERS or len(closing) != 1:
            raise ValueError(f"closing must be one of ')', ']', '}}', got {closing!r}")
        return "true" if self.PAIRS[closing] == opening else "false"

    def GetStackState(self):
        r"""
        Show the stack contents and depth.

        Args:
            None

        Returns:
            str: JSON object with the stack (bottom first, as a string) and its depth.

        Example Output:
            "{\"stack\": \"([\", \"depth\": 2}"
        """
        return json.dumps({"stack": "".join(self.stack), "depth": len(self.stack)})

    def Done(self, answer):
        r"""
        Submit the maximum nesting depth of the string, or -1 if the brackets are not balanced.

        Args:
            answer (int): The depth, or -1.

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
        Scan the string: push openers, pop and match on closers, and check that the stack ends empty.

        Returns:
            str: The message returned by Done.
        """
        obs = json.loads(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])
        s = obs["s"]
        depth, deepest, valid = 0, 0, True
        for i, ch in enumerate(s):
            if ch in "([{":
                res = json.loads(
                    self.step(json.dumps({"name": "PushBracket", "parameters": {"index": i}}))[1]
                )
                depth = res["depth"]
                deepest = max(deepest, depth)
                continue
            if ch not in ")]}" or depth == 0:
                valid = False
                break
            res = json.loads(self.step(json.dumps({"name": "PopBracket", "parameters": {}}))[1])
            depth = res["depth"]
            params = {"opening": res["popped"], "closing": ch}
            match = self.step(json.dumps({"name": "IsMatchingPair", "parameters": params}))[1]
            if match != "true":
                valid = False
                break
        if valid:
            state = json.loads(self.step(json.dumps({"name": "GetStackState", "parameters": {}}))[1])
            valid = state["depth"] == 0
        answer = deepest if valid else -1
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": answer}}))[1]


TASK = """You are given a string made of the brackets ( ) [ ] { }. If every bracket is closed by the \
matching bracket type in the right order, report the maximum nesting depth (the largest number of \
brackets open at the same moment); otherwise report -1. Use Observe to see the string; a stack is \
available to help. Submit the depth or -1 as an integer with Done."""

# fmt: off
CONFIGS = [
    {"s": "([]{()})"},
    {"s": "(()[{}])[]"},
    {"s": "{[()()]}(())"},
    {"s": "(((([]))))[]{}"},
    {"s": "{}(()){[]}[{}]([)]"},
    {"s": "{[()]}{[()]}{[(((]]}"},
    {"s": "()[]{}()[]{}()[]{}()[]{}"},
    {"s": "{([]{()})}[({})]((([[[]]])))"},
    {"s": "((({[[(){}]]})))[{()}]({[]})(("},
    {"s": "[{()}([])]{[(())]}(((([{}]))))[](){}"},
    {"s": "({[({[()]})]})[[]]{{}}((()))([{}])({[]})[[[]]]}"},
]
# fmt: on


def generate_config(seed: int, size: int) -> dict:
    """A random bracket string of about `size` characters (at least 2); roughly 40% are made invalid
    by a change in their second half, so that a solver has to scan most of the string."""
    rng = random.Random(seed)
    n = max(2, int(size))
    pairs = {"(": ")", "[": "]", "{": "}"}
    chars, stack = [], []
    max_depth = rng.randint(2, 6)
    while len(chars) + len(stack) < n:
        if stack and (len(stack) >= max_depth or rng.random() < 0.45):
            chars.append(pairs[stack.pop()])
        else:
            op = rng.choice("([{")
            stack.append(op)
            chars.append(op)
    while stack:
        chars.append(pairs[stack.pop()])
    if rng.random() < 0.4:
        half = len(chars) // 2
        kind = rng.randint(0, 2)
        if kind == 0:
            positions = [i for i in range(half, len(chars)) if chars[i] in ")]}"]
            pos = rng.choice(positions)
            chars[pos] = rng.choice([c for c in ")]}" if c != chars[pos]])
        elif kind == 1:
            chars.pop()
        else:
            chars.append(rng.choice(")]}"))
    return {"s": "".join(chars)}


if __name__ == "__main__":
    # test case 1: a fixed configuration
    env = BracketNestingDepthEnv.from_env_str(f"BracketNestingDepthEnv@{CONFIGS[0]}")
    print(env.solve())
    print("step count:", env.step_count)

    # test case 2: a generated configuration
    env = BracketNestingDepthEnv.from_env_str(f"BracketNestingDepthEnv@{generate_config(seed=4, size=16)}")
    print(env.solve())
    print("step count:", env.step_count)
