"""Regenerate the README's bundled-env table from ``codegym verify`` (``codegym_adapters/envtable.py``).

    .venv/bin/python scripts/bundled_table.py          # rewrite the table in README.md
    .venv/bin/python scripts/bundled_table.py --check  # exit 1 if README.md holds another table
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from codegym_adapters import envtable


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    path = envtable.readme_path()
    readme = path.read_text(encoding="utf-8")
    table = envtable.render(asyncio.run(envtable.bundled_reports()))
    if args.check:
        if envtable.section_of(readme) != table:
            print("README.md's bundled-env table is stale: run scripts/bundled_table.py", file=sys.stderr)
            return 1
        return 0
    path.write_text(envtable.replace_section(readme, table), encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
