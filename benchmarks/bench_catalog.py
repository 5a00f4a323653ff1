"""How fast a folder of envs is indexed, against reading and compiling every file.

Writes ``--count`` copies (default 13,000, the size of the paper's training set) of one small env in the
upstream file format, each under its own ``<code_id>__<ClassName>.py`` name and class, into a temporary
folder, then times:

* index:    ``Catalog.from_paths([folder])`` (file names only; nothing is read or compiled);
* baseline: reading and compiling every file (what an eager loader would do at start-up);
* first use: resolving one env string and loading that env's module.

Run: ``python benchmarks/bench_catalog.py [--count N] [--repeat R]``. Times are the best of R runs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from codegym_adapters.catalog import Catalog, load_env_module  # noqa: E402

TEMPLATE = REPO / "tests" / "envs_upstream" / "Leetcode_90001_I__StairClimbEnv.py"
TEMPLATE_CLASS = "StairClimbEnv"


def write_folder(folder: Path, count: int) -> int:
    """``count`` env files named ``Bench_<i>_I__StairClimb<i>Env.py``; returns the total bytes written."""
    source = TEMPLATE.read_text(encoding="utf-8")
    total = 0
    for i in range(count):
        cls = f"StairClimb{i:05d}Env"
        text = source.replace(TEMPLATE_CLASS, cls)
        (folder / f"Bench_{i:05d}_I__{cls}.py").write_text(text, encoding="utf-8")
        total += len(text)
    return total


def best_of(repeat: int, fn: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def read_and_compile(folder: Path) -> int:
    n = 0
    for path in sorted(folder.glob("*.py")):
        compile(path.read_text(encoding="utf-8"), str(path), "exec")
        n += 1
    return n


def first_use(folder: Path, count: int) -> str:
    catalog = Catalog.from_paths([folder])
    i = count // 2
    spec, options = catalog.resolve(f'codegym_v1@Bench_{i:05d}_I__StairClimb{i:05d}Env@{{"n": 5, "moves": [1, 2]}}')
    module = load_env_module(spec.source, spec.class_name, spec.name)
    env = getattr(module, spec.class_name)()
    env.reset(options)
    return env.solve()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=13_000, help="env files to generate (default 13000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is kept")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="codegym-bench-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        size = write_folder(folder, args.count)
        print(f"wrote {args.count} env files ({size / 1e6:.1f} MB) in {time.perf_counter() - start:.1f} s")

        index_s, catalog = best_of(args.repeat, lambda: Catalog.from_paths([folder]))
        assert isinstance(catalog, Catalog) and len(catalog) == args.count, len(catalog)
        base_s, compiled = best_of(args.repeat, lambda: read_and_compile(folder))
        assert compiled == args.count
        use_s, message = best_of(args.repeat, lambda: first_use(folder, args.count))
        assert str(message).endswith("reward=1"), message

    print(f"index (Catalog.from_paths)     {index_s * 1e3:9.1f} ms  ({index_s / args.count * 1e6:.1f} us/env)")
    print(f"baseline (read + compile all)  {base_s * 1e3:9.1f} ms  ({base_s / args.count * 1e6:.1f} us/env)")
    print(f"ratio baseline / index         {base_s / index_s:9.1f} x")
    print(f"first use (index + resolve + load + solve one env)  {use_s * 1e3:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
