"""Reproduce the claims of the methods searchengine implements: one section per method.

Each module of ``benchmarks/reproduce_sections/`` is a section: it exposes ``NAME``,
``DESCRIPTION`` and ``run(args) -> str``, which returns a markdown table (with a line on
what is compared). This runner discovers them, runs the ones asked for and prints their
tables. Run from the repository root::

    python benchmarks/reproduce.py --list
    python benchmarks/reproduce.py --sections numerical           # 3 seeds
    python benchmarks/reproduce.py --sections numerical --quick   # a smoke run

``args`` carries ``seeds`` (a count, default 3), ``quick`` and ``threads``; a section reads
what it needs and ignores the rest.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

SECTIONS = "benchmarks.reproduce_sections"


def discover() -> dict[str, ModuleType]:
    """Section name -> module, for every module of ``reproduce_sections`` that has the
    three names a section needs."""
    package = importlib.import_module(SECTIONS)
    found: dict[str, ModuleType] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{SECTIONS}.{info.name}")
        if all(hasattr(module, name) for name in ("NAME", "DESCRIPTION", "run")):
            found[module.NAME] = module
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sections", default="all", help="comma-separated section names (default: all)"
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds per measurement (3)")
    parser.add_argument("--quick", action="store_true", help="small data, short training")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--list", action="store_true", help="list the sections and exit")
    args = parser.parse_args(argv)
    sections = discover()
    if args.list:
        for name, module in sections.items():
            print(f"{name}: {module.DESCRIPTION}")
        return 0
    wanted = list(sections) if args.sections == "all" else args.sections.split(",")
    unknown = [name for name in wanted if name not in sections]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(sections)}")
    logging.basicConfig(level=logging.WARNING)
    for name in wanted:
        start = time.perf_counter()
        table = sections[name].run(args)
        print(f"\n## {name}\n\n{sections[name].DESCRIPTION}\n\n{table}")
        print(f"\n({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
