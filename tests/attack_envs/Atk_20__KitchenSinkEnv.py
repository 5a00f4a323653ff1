"""An HONEST env (a tripwire false-positive probe that must pass): it does, in its calls, the
ordinary things LLM-written envs do (lazy imports, caches, class counters, seeding, recursion,
deepcopy, __del__, generators, typing, enum, logging, warnings, print, exceptions,
threads, computed properties, a reward that is a fresh float each time) and none of them may trip
the worker's tripwire."""
import ast
import copy
import functools
import json
import random
import sys
from enum import Enum
from typing import NamedTuple, Optional

import gymnasium


class Colour(Enum):
    RED = 1
    GREEN = 2


class Move:  # (a @dataclass here fails to load today: see test_an_env_with_a_dataclass_loads)
    def __init__(self, name: str, cost: int = 1) -> None:
        self.name, self.cost = name, cost

    def __repr__(self) -> str:
        return f"Move({self.name!r}, {self.cost})"


class Point(NamedTuple):
    x: int
    y: int


@functools.lru_cache(maxsize=None)
def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def depth(n: int) -> int:
    return 0 if n == 0 else 1 + depth(n - 1)


class KitchenSinkEnv(gymnasium.Env):
    created = 0  # a class-level counter: never read by finished or reward

    def __init__(self, env_str: str = None):
        super().__init__()
        type(self).created += 1
        self.func_mapping = {"Observe": 0, "Attack": 1, "Done": 2}
        options = {}
        if env_str is not None:
            options = ast.literal_eval(env_str.split("@", 1)[1])
        self.reset(options)

    @staticmethod
    def from_env_str(env_str: str):
        if not env_str.startswith("KitchenSinkEnv@"):
            return None
        return KitchenSinkEnv(env_str=env_str)

    @functools.cached_property
    def table(self):
        return {i: i * i for i in range(10)}

    @property
    def finished(self):
        return self._done or self.turn >= 1000

    @property
    def reward(self):
        if not self._done:
            raise AttributeError("no reward before Done")
        return float(self._reward) + 0.0

    def reset(self, options: dict = {}):
        random.seed(options.get("seed", 0))
        self.value = options.get("value", 7)
        self.options = dict(options)
        self.turn = 0
        self._reward = 0
        self._done = False
        self.history: list[Move] = []
        return "Environment has been reset."

    def step(self, action: str):
        self.turn += 1
        try:
            call = json.loads(action)
            name, params = call["name"], call.get("parameters", {})
            if name == "Observe":
                msg = self.Observe()
            elif name == "Attack":
                msg = self.Attack(**params)
            elif name == "Done":
                msg = self.Done(**params)
            else:
                msg = f"Error: unknown action {name}"
        except ValueError as exc:
            msg = f"Error: {exc}"
        return True, msg

    def Observe(self):
        """Show the hidden value.

        Args:
            None
        Returns:
            str: the value.
        Example Output:
            "7"
        """
        print("observing", file=sys.stderr)
        return str(self.value)

    def Attack(self, what: str = "all"):
        """Exercise one family of ordinary behaviour.

        Args:
            what (str): which family.
        Returns:
            str: a summary.
        Example Output:
            "ok"
        """
        out = []
        if what in ("all", "imports"):
            import bisect, calendar, collections, decimal, difflib, fractions, heapq, itertools  # noqa: E401
            import base64, csv, graphlib, hashlib, html, io, pickle, pprint, statistics, string, textwrap  # noqa: E401
            import importlib, inspect, logging, re, uuid, warnings, weakref, zlib  # noqa: E401
            import numpy as np
            import numpy.linalg, numpy.fft, numpy.polynomial, numpy.random  # noqa: E401
            out.append(str(len(calendar.month_name) + len(difflib.get_close_matches("ab", ["abc"]))))
            out.append(str(fractions.Fraction(1, 3) + decimal.Decimal(1).as_integer_ratio()[0]))
            out.append(str(int(np.linalg.det(np.eye(2)))))
            out.append(str(pickle.loads(pickle.dumps([1, 2]))))
            out.append(str(list(graphlib.TopologicalSorter({"b": {"a"}}).static_order())))
            out.append("abc".encode("idna").decode() + base64.b64encode(b"x").decode())
            out.append(str(importlib.import_module("fractions").Fraction(2)))
            out.append(str(len(inspect.signature(self.Done).parameters)))
        if what in ("all", "caches"):
            sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))
            out.append(str(fib(300) % 1000) + ":" + str(depth(2000)) + ":" + str(self.table[3]))
            out.append(str(Point(1, 2)) + str(Colour(2)) + str(Move("m")))
            out.append(str(sum(x for x in (i * i for i in range(10)))))
            twin = copy.deepcopy(self)
            out.append(str(twin.value))
            del twin
        if what in ("all", "noise"):
            import logging
            import warnings

            logging.basicConfig(level=logging.INFO)
            logging.getLogger(__name__).warning("a warning from the env")
            logging.getLogger("other").info("info")
            warnings.warn("careful", UserWarning)
            warnings.warn("old", DeprecationWarning, stacklevel=2)
            warnings.warn("far", RuntimeWarning, stacklevel=9)
            print("printed")
            random.seed(self.turn)
            import numpy as np

            np.random.seed(1)
            out.append(str(random.randint(1, 6) > 0))
        if what == "threads":  # (a worker may not start threads: the env gets an error, no tripwire)
            import threading
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=2) as pool:
                out.append(str(sum(pool.map(fib, range(20)))))
            t = threading.Thread(target=fib, args=(50,))
            t.start()
            t.join()
        if what in ("all", "errors"):
            try:
                {}["missing"]
            except KeyError:
                out.append("caught")
            try:
                self.reward
            except AttributeError:
                out.append("no reward yet")
        if what == "raise":
            raise RuntimeError("the env itself fails on this call")
        if what == "exit":
            raise SystemExit(3)
        return " | ".join(out)

    def Done(self, answer):
        """Submit the value.

        Args:
            answer (int): the value seen with Observe.
        Returns:
            str: the verdict.
        Example Output:
            "reward=1"
        """
        self._reward = 1 if answer == self.get_ref_answer() else 0
        self._done = True
        return f"Your answer: {answer}, reward={self._reward}"

    def get_ref_answer(self) -> Optional[int]:
        return self.value

    def solve(self):
        self.step(json.dumps({"name": "Attack", "parameters": {"what": "all"}}))
        self.step(json.dumps({"name": "Observe", "parameters": {}}))
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": self.get_ref_answer()}}))[1]

    def __del__(self):
        print("bye", file=sys.stderr)


TASK = "Observe the value and submit it with Done."
CONFIGS = [{}]
