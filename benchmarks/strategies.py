"""Evolution vs random vs TPE on one multi-objective space: hypervolume per trial budget.

The space is one embedding width per field (2 to 32) and a keep/drop gate per field pair
of a DeepFM (AutoDim's and AutoFIS's spaces at once); the objectives are validation AUC
(maximize) and embedding parameters (minimize). It is searched on MovieLens-100K and on
synthetic data by each strategy with the same trial budget, for several seeds.

The hypervolume of the feasible front of a run's first ``b`` trials is measured against
one reference point per dataset, common to all runs: the worst value of each objective
over every run, 10% of its range further out. It is printed normalized by the volume of
the box between that point and the best value of each objective over every run (1.0
would be one candidate best in both at once), as mean ± std over the seeds. Run from the
repository root::

    python benchmarks/strategies.py                  # 40 trials, 3 seeds, both datasets
    python benchmarks/strategies.py --quick          # 12 trials, 2 seeds, synthetic only
    python benchmarks/strategies.py --out DIR        # keep the studies; a rerun resumes them
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

import numpy as np  # noqa: E402
import optuna  # noqa: E402
from optuna.trial import FrozenTrial, TrialState  # noqa: E402

from searchengine import run  # noqa: E402
from searchengine.engine.results import hypervolume_of  # noqa: E402
from searchengine.searchspace import parse_spec  # noqa: E402

DATA = {
    "movielens-100k": "{dataset: movielens-100k, path: %s}",
    "synthetic": (
        "{dataset: synthetic, rows: 30000, options: {categorical: 8, numerical: 0, "
        "max_vocab: 2000, informative: 3, interactions: 3, signal: 2.0, seed: 0}}"
    ),
}
SPEC = """\
name: bench-%(strategy)s-%(seed)d
data: %(data)s
model:
  backbone: deepfm
  embedding: {dim: {choice: [2, 4, 8, 16, 32], per: field}}
  interactions: {gate: search}
  mlp: {layers: [32]}
train: {lr: 3.0e-3, batch_size: 2048, epochs: 1, patience: 1, threads: 2}
objectives:
  - {metric: auc, direction: maximize}
  - {metric: embedding_params, direction: minimize}
search: {strategy: %(strategy)s, trials: %(trials)d, seed: %(seed)d, options: %(options)s}
"""
STRATEGIES = {"evolution": "{population_size: 8}", "random": "{}", "tpe": "{}"}
DIRECTIONS = [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE]


def search(data: str, strategy: str, seed: int, trials: int, out: Path) -> list[FrozenTrial]:
    """One run; the trials of its study, in order."""
    text = SPEC % {
        "data": data,
        "strategy": strategy,
        "seed": seed,
        "trials": trials,
        "options": STRATEGIES[strategy],
    }
    result = run(parse_spec(text), out=out, progress=False, write_results=False)
    return sorted(result.study.get_trials(deepcopy=False), key=lambda t: t.number)


def _box(runs: list[list[FrozenTrial]]) -> tuple[np.ndarray, np.ndarray]:
    """The common reference point and the best point of every run's feasible trials."""
    points = np.array(
        [
            t.values
            for trials in runs
            for t in trials
            if t.state == TrialState.COMPLETE and all(v <= 0 for v in t.constraints.values())
        ]
    )
    signs = np.array([-1.0, 1.0])
    worst, best = (points * signs).max(axis=0), (points * signs).min(axis=0)
    return (worst + 0.1 * (worst - best)) * signs, best * signs


def _normalized(trials: list[FrozenTrial], reference: np.ndarray, volume: float) -> float:
    hv = hypervolume_of(trials, DIRECTIONS, list(reference))
    return hv["value"] / volume if hv else 0.0


def table(results: dict[str, list[list[FrozenTrial]]], budgets: list[int]) -> list[str]:
    """Markdown rows: strategy, then normalized hypervolume mean ± std per budget."""
    reference, best = _box([trials for runs in results.values() for trials in runs])
    volume = float(np.prod(np.abs(reference - best)))
    rows = [
        "| strategy | " + " | ".join(f"{b} trials" for b in budgets) + " |",
        "|---" * (len(budgets) + 1) + "|",
    ]
    for strategy, runs in results.items():
        cells = []
        for b in budgets:
            hv = [_normalized(trials[:b], reference, volume) for trials in runs]
            spread = statistics.stdev(hv) if len(hv) > 1 else 0.0
            cells.append(f"{statistics.mean(hv):.3f} ± {spread:.3f}")
        rows.append(f"| {strategy} | " + " | ".join(cells) + " |")
    rows.append(
        f"\nreference point: auc {reference[0]:.4f}, embedding_params {reference[1]:,.0f}; "
        f"best: auc {best[0]:.4f}, embedding_params {best[1]:,.0f}"
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="12 trials, 2 seeds, synthetic")
    parser.add_argument("--trials", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--movielens", default=str(ROOT.parent / "shared/datasets/movielens-100k"))
    parser.add_argument("--datasets", nargs="+", choices=sorted(DATA), help="default: both")
    parser.add_argument("--strategies", nargs="+", choices=sorted(STRATEGIES), help="default: all")
    parser.add_argument("--out", help="keep the studies here (default: a temporary folder)")
    args = parser.parse_args()
    trials = args.trials or (12 if args.quick else 40)
    seeds = range(args.seeds or (2 if args.quick else 3))
    budgets = sorted({max(trials // 4, 1) * k for k in (1, 2, 3)} | {trials})
    datasets = args.datasets or (["synthetic"] if args.quick else ["movielens-100k", "synthetic"])
    strategies = args.strategies or list(STRATEGIES)
    if "movielens-100k" in datasets and not Path(args.movielens).is_dir():
        print(f"MovieLens-100K skipped: {args.movielens} does not exist")
        datasets.remove("movielens-100k")
    logging.getLogger("searchengine").setLevel(logging.ERROR)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.out) if args.out else Path(tmp)
        for name in datasets:
            data = DATA[name] % args.movielens if "%s" in DATA[name] else DATA[name]
            results: dict[str, list[list[FrozenTrial]]] = {s: [] for s in strategies}
            for strategy in strategies:
                for seed in seeds:
                    out = base / name / f"{strategy}-{seed}"
                    results[strategy].append(search(data, strategy, seed, trials, out))
            print(
                f"\n{name}: normalized hypervolume after b trials, mean ± std over "
                f"{len(seeds)} seeds"
            )
            print("\n".join(table(results, budgets)))


if __name__ == "__main__":
    main()
