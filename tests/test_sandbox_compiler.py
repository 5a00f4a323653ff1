"""The sandbox's compiler worker: one confined worker compiles each env source once (never runs
it) and the source's workers run the marshalled code, so no worker keeps the compiler's memory
high-water mark. Whatever happens to the compiler, a source's workers compile it themselves: its
errors stay its own, and nobody is blamed for the compiler's troubles."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import textwrap
from pathlib import Path

import pytest
from test_sandbox_support import catalog, clean_episodes, drive

from codegym_adapters.catalog import Catalog
from codegym_adapters.errors import EnvLoadError
from codegym_adapters.runtime.sandbox import SandboxRuntime
from codegym_adapters.runtime.worker import Worker, _Remote

COUNTER_ENV = textwrap.dedent('''
    import json


    class CounterEnv:
        def __init__(self, env_str=None):
            self.func_mapping = {"Add": self.Add, "Done": self.Done}
            self.total, self._done, self._reward = 0, False, 0

        @property
        def finished(self):
            return self._done

        @property
        def reward(self):
            return float(self._reward)

        def reset(self, options={}):
            self.total = 0
            return "0"

        def step(self, action):
            call = json.loads(action)
            return True, getattr(self, call["name"])(**call.get("parameters", {}))

        def Add(self, x: int):
            """Add x.

            Args:
                x (int): the number to add.
            Returns:
                str: the total.
            """
            self.total += x
            return f"{self.total} {__file__}"

        def Done(self, answer: int):
            """Submit.

            Args:
                answer (int): the answer.
            Returns:
                str: the verdict.
            """
            self._done, self._reward = True, int(answer == self.total)
            return "ok"
''')


def _worker() -> Worker:
    config = {"reward_range": [0.0, 1.0], "max_observation_chars": 10000, "max_message_bytes": 1 << 20}
    r, w = os.pipe()
    return Worker(config, r, w)


def test_a_compiler_worker_never_loads_and_a_loaded_worker_never_compiles():
    compiler = _worker()
    code = compiler.op_compile({"source": COUNTER_ENV, "label": "Counter"})
    assert isinstance(code, str) and code.isascii()
    with pytest.raises(_Remote, match="compiles env sources and runs none"):
        compiler.op_load({"hash": "h", "source": COUNTER_ENV, "class_name": "CounterEnv", "label": "Counter"})
    assert compiler.host._classes == {}  # nothing was run

    worker = _worker()
    worker.op_load({"hash": "h", "source": COUNTER_ENV, "code": code, "class_name": "CounterEnv", "label": "Counter"})
    with pytest.raises(_Remote, match="compiles none"):
        worker.op_compile({"source": COUNTER_ENV, "label": "Counter"})
    opened = worker.op_open({"hash": "h", "sid": 1, "options": {}, "label": "Counter"})
    assert [a["name"] for a in opened["actions"]] == ["Add", "Done"]
    # the code runs under the same file name as a source compiled in the worker
    assert worker.op_step({"sid": 1, "name": "Add", "args": {"x": 2}})["observation"] == "2 <codegym env Counter>"


def test_code_that_does_not_unmarshal_falls_back_to_the_source():
    worker = _worker()
    worker.op_load({"hash": "h", "source": COUNTER_ENV, "code": "bm90IGNvZGU=", "class_name": "CounterEnv",
                    "label": "Counter"})  # base64 of b"not code"
    worker.op_open({"hash": "h", "sid": 1, "options": {}, "label": "Counter"})
    assert worker.op_step({"sid": 1, "name": "Add", "args": {"x": 3}})["observation"].startswith("3 ")


def _catalog_with(tmp_path: Path, files: dict[str, str]) -> Catalog:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return Catalog.from_paths([tmp_path])


def test_sources_are_compiled_once_by_the_compiler_and_their_sessions_give_clean_results():
    episodes = clean_episodes(6)

    async def main():
        async with SandboxRuntime(catalog()) as runtime:
            results = []
            for e in episodes:
                session = await runtime.open((e.spec, e.options))
                results.append(await drive(session, e.calls))
                await session.close()
            pool = runtime._pool
            compiler = pool.compiler_pid()
            return (results, {e.spec.source_hash: pool._code.get(e.spec.source_hash) for e in episodes},
                    compiler, set(runtime.worker_pids()))

    results, codes, compiler, workers = asyncio.run(main())
    assert results == [e.expected for e in episodes]
    assert all(isinstance(code, str) and code for code in codes.values())  # each made by the compiler
    assert compiler is not None and compiler not in workers


def test_a_syntax_error_is_still_the_envs_own_load_error(tmp_path: Path):
    cat = _catalog_with(tmp_path, {"Bad_01__BrokenEnv.py": "class BrokenEnv:\n    def step(self:\n",
                                   "Good_01__CounterEnv.py": COUNTER_ENV})

    async def main():
        async with SandboxRuntime(cat) as runtime:
            with pytest.raises(EnvLoadError, match=r"BrokenEnv.*syntax error at line 2"):
                await runtime.open("BrokenEnv@{}")
            session = await runtime.open("CounterEnv@{}")
            text = (await session.step(_call("Add", x=5))).observation
            return text, runtime.counters(), runtime._pool._code

    text, counters, codes = asyncio.run(main())
    assert text.startswith("5 ")
    assert None in codes.values() and len(codes) == 2  # the compiler failed on one source only


def _call(name: str, **args):
    from codegym_adapters.calls import ToolCall

    return ToolCall(name, args)


def test_a_killed_compiler_is_replaced_and_blames_nobody(tmp_path: Path):
    files = {f"Good_{i:02d}__Counter{i}Env.py": COUNTER_ENV.replace("CounterEnv", f"Counter{i}Env") for i in range(3)}
    cat = _catalog_with(tmp_path, files)

    async def main():
        async with SandboxRuntime(cat, step_timeout=1.0) as runtime:
            first = await runtime.open("Counter0Env@{}")
            pool = runtime._pool
            killed = pool.compiler_pid()
            os.kill(killed, signal.SIGSTOP)  # hangs mid-compile, as far as the runtime can tell
            second = await runtime.open("Counter1Env@{}")  # its compile breaks the deadline: its worker compiles
            with contextlib.suppress(ProcessLookupError):  # (killed already, for its deadline)
                os.kill(killed, signal.SIGKILL)
            third = await runtime.open("Counter2Env@{}")  # a fresh compiler
            texts = [(await s.step(_call("Add", x=i + 1))).observation for i, s in enumerate((first, second, third))]
            return texts, killed, pool.compiler_pid(), runtime.counters(), runtime.quarantined(), dict(pool._code)

    texts, killed, now, counters, quarantined, codes = asyncio.run(main())
    assert [t.split()[0] for t in texts] == ["1", "2", "3"]
    assert now is not None and now != killed
    assert counters.get("env_failures", 0) == 0 and quarantined == {}
    assert [code is not None for code in codes.values()] == [True, False, True]
    json.dumps(counters)
