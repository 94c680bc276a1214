"""The same Criteo-format file ingested by the whole-frame path and by the streamed one.

The whole-frame path (``Dataset.read`` into pandas, then the encoders) is what ``criteo``,
``avazu`` and ``table`` used before they streamed; the small built-in datasets still use
it. Both write the same cache entry (the same ids, checked here); the table gives each
one's seconds and peak anonymous memory (RssAnon, every 20 ms, the whole process), one
after the other in this process.

Run from the repository root::

    python benchmarks/ingest_paths.py --rows 1000000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _criteo_file import write_criteo
from _measure import anon_peak, machine, others_cpu, release_memory

from searchengine.data import DATASETS, load_data
from searchengine.data import _load as load_module
from searchengine.spec.format import DataSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--file", type=Path, help="an existing Criteo-format file")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ingest-paths-"))
    try:
        path = args.file or work / "day_0"
        if args.file is None:
            write_criteo(path, args.rows)
        print(f"Command: `python benchmarks/ingest_paths.py {' '.join(sys.argv[1:])}`  ")
        print(f"Machine: {machine()}\n")
        print(
            "| path | rows | seconds | rows/s | peak anon GiB | over baseline GiB | others' CPU |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        spec = DataSpec(dataset="criteo", path=str(path))
        criteo = DATASETS.get("criteo")
        results = {}
        for name, streams in (("whole frame (pandas)", False), ("streamed", True)):
            load_module._memo.clear()
            release_memory()
            criteo.streams = streams
            cache = work / f"cache-{streams}"
            with anon_peak() as memory, others_cpu() as others:
                start = time.perf_counter()
                data = load_data(spec, cache_dir=cache)
                seconds = time.perf_counter() - start
            results[name] = np.array(data.cat)
            peak, over = memory["peak"] / 2**30, (memory["peak"] - memory["baseline"]) / 2**30
            print(
                f"| {name} | {len(data):,} | {seconds:.1f} | {len(data) / seconds:,.0f} "
                f"| {peak:.2f} | {over:.2f} | {others['share']:.0%} |",
                flush=True,
            )
            del data
        criteo.streams = True
        same = np.array_equal(*results.values())
        print(f"\nThe same ids from both paths: {same}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
