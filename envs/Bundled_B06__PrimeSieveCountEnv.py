import ast
import json
import random

import gymnasium


class PrimeSieveCountEnv(gymnasium.Env):
    """Count the primes below n by running the sieve of Eratosthenes one prime at a time."""

    MAX_N = 200000

    def __init__(self, env_str: str | None = None):
        super().__init__()
        self.OBSERVE = 0
        self.INIT_SIEVE = 1
        self.NEXT_CANDIDATE = 2
        self.MARK_MULTIPLES = 3
        self.COUNT_UNMARKED = 4
        self.DONE = 5
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "InitSieve": self.INIT_SIEVE,
            "NextCandidate": self.NEXT_CANDIDATE,
            "MarkMultiples": self.MARK_MULTIPLES,
            "CountUnmarked": self.COUNT_UNMARKED,
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
        prefix = "PrimeSieveCountEnv@"
        if not isinstance(env_str, str) or not env_str.startswith(prefix):
            return None
        return PrimeSieveCountEnv(env_str=env_str)

    def reset(self, options: dict = {}):  # noqa: B006 - the options dict is only read
        if not isinstance(options, dict):
            options = {}
        self.n = max(2, min(int(options.get("n", 100)), self.MAX_N))
        self.sieve = None
        self.marked_primes = []
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

    def _require_sieve(self):
        if self.sieve is None:
            raise ValueError("the sieve is not initialised; call InitSieve first")

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
            elif code == self.INIT_SIEVE:
                msg = self.InitSieve(**params)
            elif code == self.NEXT_CANDIDATE:
                msg = self.NextCandidate(**params)
            elif code == self.MARK_MULTIPLES:
                msg = self.MarkMultiples(**params)
            elif code == self.COUNT_UNMARKED:
                msg = self.CountUnmarked(**params)
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
        Show n (count the primes strictly below it), whether the sieve exists yet, and the primes
        whose multiples have been crossed out so far.

        Args:
            None

        Returns:
            str: JSON object with n, sieve_ready and marked_primes.

        Example Output:
            {"n": 100, "sieve_ready": true, "marked_primes": [2, 3]}
        """
        return json.dumps(
            {"n": self.n, "sieve_ready": self.sieve is not None, "marked_primes": self.marked_primes}
        )

    def InitSieve(self):
        """
        Create (or recreate) the sieve for the numbers 0 .. n-1 with 0 and 1 crossed out and
        every other number still unmarked.

        Args:
            None

        Returns:
            str: JSON object with the sieve size and how many numbers are unmarked.

        Example Output:
            {"size": 100, "unmarked": 98}
        """
        self.sieve = [True] * self.n
        self.sieve[0] = False
        self.sieve[1] = False
        self.marked_primes = []
        return json.dumps({"size": self.n, "unmarked": self.n - 2})

    def NextCandidate(self, start):
        """
        Find the smallest number >= start that is still unmarked in the sieve.

        Args:
            start (int): where to start looking, 0 to n.

        Returns:
            str: JSON object with the number found, or -1 if every number from start to n-1 is marked.

        Example Output:
            {"start": 4, "candidate": 5}
        """
        self._require_sieve()
        start = self._as_int(start, "start", 0, self.n)
        found = -1
        for i in range(start, self.n):
            if self.sieve[i]:
                found = i
                break
        return json.dumps({"start": start, "candidate": found})

    def MarkMultiples(self, p):
        """
        Cross out the multiples of an unmarked number p, starting from p * p (smaller multiples
        were crossed out by smaller primes). p itself stays unmarked.

        Args:
            p (int): an unmarked number, 2 to n-1.

        Returns:
            str: JSON object with p, how many numbers were newly crossed out and how many stay unmarked.

        Example Output:
            {"p": 3, "newly_marked": 17, "unmarked": 34}
        """
        self._require_sieve()
        if self.n <= 2:
            raise ValueError("there are no numbers from 2 to n-1 to sieve")
        p = self._as_int(p, "p", 2, self.n - 1)
        if not self.sieve[p]:
            raise ValueError(f"{p} is already crossed out, so it is not a prime")
        newly = 0
        for m in range(p * p, self.n, p):
            if self.sieve[m]:
                self.sieve[m] = False
                newly += 1
        if p not in self.marked_primes:
            self.marked_primes.append(p)
        return json.dumps({"p": p, "newly_marked": newly, "unmarked": sum(self.sieve)})

    def CountUnmarked(self):
        """
        Count the numbers still unmarked in the sieve.

        Args:
            None

        Returns:
            str: JSON object with the count.

        Example Output:
            {"unmarked": 25}
        """
        self._require_sieve()
        return json.dumps({"unmarked": sum(self.sieve)})

    def Done(self, answer):
        """
        Submit the number of primes below n and finish the episode.

        Args:
            answer (int): how many primes are strictly less than n.

        Returns:
            str: the submitted and reference answers, the verdict and the reward.

        Example Output:
            Your answer: 25, reference answer: 25, result: correct, reward=1
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
        flags = bytearray([1]) * self.n
        flags[0] = flags[1] = 0
        k = 2
        while k * k < self.n:
            if flags[k]:
                flags[k * k :: k] = bytearray(len(range(k * k, self.n, k)))
            k += 1
        return sum(flags)

    def solve(self):
        n = json.loads(self.step(json.dumps({"name": "Observe", "parameters": {}}))[1])["n"]
        self.step(json.dumps({"name": "InitSieve", "parameters": {}}))
        result = self.step(json.dumps({"name": "NextCandidate", "parameters": {"start": 2}}))[1]
        p = json.loads(result)["candidate"]
        while p != -1 and p * p < n:
            self.step(json.dumps({"name": "MarkMultiples", "parameters": {"p": p}}))
            result = self.step(json.dumps({"name": "NextCandidate", "parameters": {"start": p + 1}}))[1]
            p = json.loads(result)["candidate"]
        count = json.loads(self.step(json.dumps({"name": "CountUnmarked", "parameters": {}}))[1])["unmarked"]
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": count}}))[1]


TASK = """Count the prime numbers strictly less than n. Call Observe to see n. Run the sieve of Eratosthenes
with the actions: InitSieve creates it, NextCandidate finds the next unmarked number, MarkMultiples crosses
out a prime's multiples, and CountUnmarked counts what is left. Finish with Done(answer), where answer is
an integer."""

# fmt: off
CONFIGS = [
    {"n": 50},
    {"n": 40000},
    {"n": 102},
    {"n": 182},
    {"n": 296},
    {"n": 491},
    {"n": 748},
    {"n": 1405},
    {"n": 2229},
    {"n": 3263},
    {"n": 5988},
    {"n": 9482},
]
# fmt: on


def generate_config(seed: int, size: int) -> dict:
    """n near (size + 7) ** 2, so the sieve needs about pi(size + 7) rounds (``size`` clamped to 3..100)."""
    rng = random.Random(seed)
    size = max(3, min(int(size), 100))
    root = size + 7
    return {"n": root * root + rng.randint(0, root)}


if __name__ == "__main__":
    env = PrimeSieveCountEnv.from_env_str(f"PrimeSieveCountEnv@{CONFIGS[0]}")
    print(env.Observe())
    print(env.solve(), "| steps:", env.step_count)
    env = PrimeSieveCountEnv.from_env_str(f"PrimeSieveCountEnv@{generate_config(7, 20)}")
    print(env.solve(), "| steps:", env.step_count)
