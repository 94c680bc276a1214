"""Reproduce the seed papers' comparisons: one ``searchengine compare`` per table row.

A *family* is one paper's table (``--list`` names them). Each of its rows is an entry
(a label, the model it trains, the strategy that decides it, a trial budget), and each
row on each dataset is one call of :func:`searchengine.compare.compare` over
``--seeds`` seeds: every run is a study in one storage (``runs/reproduce/reproduce.db``),
so an interrupted reproduction resumes where it stopped, and every run can be reported
on (``searchengine report --storage sqlite:///runs/reproduce/reproduce.db --study NAME``).
The tables print mean ± std over the seeds (run ``k`` uses seed ``k``: initialization,
batch order and the search; data and split fixed), a two-sided Welch t-test of each row
against the family's reference row, and a line per paper claim with what was measured.
Run from the repository root::

    python benchmarks/reproduce.py --list
    python benchmarks/reproduce.py --families embedding,interaction     # 3 seeds
    python benchmarks/reproduce.py --families numerical --quick         # a smoke run

``search s`` is the wall time of the whole run as the study recorded it: for ``fde``,
``mde`` and fixed models one training, for black-box strategies all their trials, for
one-shot strategies the search and the retraining of the derived model.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

from benchmarks._families import FAMILIES, Family, Row  # noqa: E402
from searchengine.compare import Comparison, compare, mean_std, welch_t_test  # noqa: E402
from searchengine.compare._compare import RunRecord  # noqa: E402
from searchengine.searchspace import parse_spec  # noqa: E402

OUT = ROOT / "runs" / "reproduce"


@dataclass
class Measured:
    """One row on one dataset: its runs over the seeds."""

    row: Row
    records: list[RunRecord] = field(default_factory=list)

    def column(self, get: Callable[[RunRecord], float | None]) -> list[float]:
        return [float(v) if (v := get(r)) is not None else math.nan for r in self.records]


def _spec(family: Family, dataset: str, row: Row, args: argparse.Namespace) -> Any:
    data = family.data(dataset, args.quick)
    schema_names = _fields(data)
    train = dict(family.train) | family.dataset_train.get(dataset, {}) | row.train
    if args.quick:
        train["epochs"] = min(int(train.get("epochs", 10)), 2)
    if args.threads:
        train["threads"] = args.threads
    search: dict[str, Any] = {"strategy": row.strategy, "seed": 0, **row.search}
    if row.options:
        search["options"] = dict(row.options)
    return parse_spec(
        {
            # a --quick run is its own study: never resumed as (or from) the full one
            "name": f"{family.name}-{dataset}-{row.key}" + ("-quick" if args.quick else ""),
            "data": data,
            "model": row.model(schema_names) if callable(row.model) else row.model,
            "train": train,
            "objectives": row.objectives or [{"metric": "auc", "direction": "maximize"}],
            "search": search,
        }
    )


_FIELDS: dict[str, dict[str, list[str]]] = {}


def _fields(data: dict[str, Any]) -> dict[str, list[str]]:
    """The data's categorical and numerical field names (the encoded data is cached)."""
    key = repr(sorted(data.items()))
    if key not in _FIELDS:
        from searchengine.data import load_data
        from searchengine.spec.format import DataSpec

        schema = load_data(DataSpec.model_validate(data)).schema
        _FIELDS[key] = {
            "categorical": [f.name for f in schema.categorical],
            "numerical": [f.name for f in schema.numerical],
            "all": schema.names,
        }
    return _FIELDS[key]


def measure(family: Family, dataset: str, args: argparse.Namespace) -> list[Measured]:
    out = []
    wanted = None if args.rows == "all" else set(args.rows.split(","))
    for row in family.rows:
        if wanted is not None and row.key not in wanted and row.key != _reference(family, row):
            continue
        spec = _spec(family, dataset, row, args)
        trials = 2 if args.quick and row.trials else row.trials
        seconds = row.seconds and (args.seconds or row.seconds)
        seconds = min(seconds, 20.0) if args.quick and seconds else seconds
        comparison: Comparison = compare(
            spec,
            [row.strategy],
            seeds=args.seeds,
            trials=None if seconds else (trials or 1),
            seconds=seconds,
            storage=args.storage,
            out=Path(args.out)
            / family.name
            / dataset
            / (row.key + ("-quick" if args.quick else "")),
        )
        out.append(Measured(row, comparison.records))
    return out


def _reference(family: Family, row: Row) -> str | None:
    """The key of the row ``row`` is compared with (always run with ``--rows``)."""
    if family.reference is None:
        return None
    try:
        return family.reference(row, {})
    except (KeyError, TypeError):
        return None


def _pm(values: list[float], digits: int) -> str:
    mean, std = mean_std(values)
    if not math.isfinite(mean):
        return "-"
    if digits == 0:
        return f"{mean:,.0f} ± {std:,.0f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def table(family: Family, dataset: str, rows: list[Measured]) -> list[str]:
    extra = list(family.extra)
    lines = [
        f"**{dataset}**",
        "",
        "| " + " | ".join(["model", "test AUC", "test logloss", "embedding params", *extra,
                          "search s", "p (AUC) vs ref"]) + " |",
        "|---|" + "---:|" * (5 + len(extra)),
    ]  # fmt: skip
    by_key = {m.row.key: m for m in rows}
    for m in rows:
        auc = m.column(lambda r: r.test.get("auc"))
        ref = by_key[family.reference(m.row, by_key)] if family.reference else None
        if ref is None or ref is m:
            p_cell = "ref" if ref is m else "-"
        else:
            _, p = welch_t_test(auc, ref.column(lambda r: r.test.get("auc")))
            p_cell = "-" if math.isnan(p) else f"{p:.2g}"
        cells = [
            m.row.label,
            _pm(auc, 4),
            _pm(m.column(lambda r: r.test.get("logloss")), 4),
            _pm(m.column(lambda r: r.embedding_params), 0),
            *[fn(m.records) for fn in family.extra.values()],
            _pm(m.column(lambda r: r.search_seconds), 1),
            p_cell,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    try:
        lines += ["", *family.claims(by_key)]
    except KeyError:  # a claim's row was left out with --rows
        pass
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--families", "--family", default="all", help="comma-separated (default: all)"
    )
    parser.add_argument("--datasets", default="all", help="comma-separated (default: all)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per row (3)")
    parser.add_argument("--quick", action="store_true", help="small data, short training")
    parser.add_argument(
        "--rows", default="all", help="comma-separated row keys to run (default: all)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="the wall-clock budget of the rows that have one (AutoCTR's searches), "
        "instead of the family's; use a new --out folder",
    )
    parser.add_argument(
        "--out",
        default=str(OUT),
        help="folder of the runs and their study (default: runs/reproduce); a finished "
        "row is read back from it, not rerun: use a new folder after changing the code",
    )
    parser.add_argument("--list", action="store_true", help="list the families and exit")
    args = parser.parse_args(argv)
    args.storage = f"sqlite:///{Path(args.out).resolve() / 'reproduce.db'}"
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if args.list:
        for family in FAMILIES.values():
            print(f"{family.name}: {family.description} ({', '.join(family.datasets)})")
        return 0
    wanted = list(FAMILIES) if args.families == "all" else args.families.split(",")
    unknown = [name for name in wanted if name not in FAMILIES]
    if unknown:
        parser.error(f"unknown famil(ies) {', '.join(unknown)}; known: {', '.join(FAMILIES)}")
    logging.basicConfig(level=logging.WARNING)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    OUT.mkdir(parents=True, exist_ok=True)
    from benchmarks._measure import machine

    command = " ".join(["python", "benchmarks/reproduce.py", *(argv or sys.argv[1:])])
    print(f"Command: `{command}`  \nMachine: {machine()}")
    for name in wanted:
        family = FAMILIES[name]
        datasets = family.datasets if args.datasets == "all" else [
            d for d in args.datasets.split(",")
            if d in family.datasets or d.startswith("criteo-")  # opt-in: criteo-1m, criteo-10m
        ]  # fmt: skip
        print(f"\n## {family.name}: {family.description}\n\n{family.setup}\n")
        for dataset in datasets:
            print("\n".join(table(family, dataset, measure(family, dataset, args))) + "\n")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
