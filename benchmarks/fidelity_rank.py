"""Do cheap candidates rank architectures as full training does? AutoCTR's DAG space.

Samples ``--candidates`` random DAGs of ``reproduce.py``'s AutoCTR space, trains each the
cheap way its table uses (``--subsample`` of the train rows for ``--epochs``; default the
table's) and then again
as ``train`` says (all of them retrained: ``search.fidelity.retrain`` = the candidate
count), and prints Spearman's rho between the two validation AUCs, and how many of the
cheap top 3 are in the full top 3. A rho near 0 means a search that climbs the cheap
ranking cannot be expected to find better architectures than random sampling does.

    python benchmarks/fidelity_rank.py --dataset movielens-100k --candidates 16
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

from benchmarks._families import _CHEAP, _DAG, AUTOCTR  # noqa: E402
from searchengine import parse_spec, run  # noqa: E402
from searchengine._optuna import retrain_of  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="movielens-100k", choices=AUTOCTR.datasets)
    parser.add_argument("--candidates", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--subsample", type=float, default=_CHEAP["subsample"])
    parser.add_argument("--epochs", type=int, default=_CHEAP["epochs"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from scipy.stats import spearmanr

    train = dict(AUTOCTR.train) | ({"threads": args.threads} if args.threads else {})
    fidelity = {"subsample": args.subsample, "epochs": args.epochs, "retrain": args.candidates}
    spec = parse_spec({
        "name": f"fidelity-rank-{args.dataset}",
        "data": AUTOCTR.data(args.dataset, quick=False),
        "model": _DAG,
        "train": train,
        "search": {"strategy": "random", "trials": args.candidates, "seed": args.seed,
                   "fidelity": fidelity},
    })  # fmt: skip
    with tempfile.TemporaryDirectory() as out:
        study = run(spec, out=out, progress=False).study
    pairs = []
    for full in study.trials:
        if (number := retrain_of(full)) is not None and full.value is not None:
            cheap = study.trials[number]
            pairs.append((cheap.value, full.value, number))
    rho = spearmanr([p[0] for p in pairs], [p[1] for p in pairs]).statistic
    top_cheap = {p[2] for p in sorted(pairs, key=lambda p: -p[0])[:3]}
    top_full = {p[2] for p in sorted(pairs, key=lambda p: -p[1])[:3]}
    share, epochs = args.subsample, args.epochs
    print(f"{args.dataset}: {len(pairs)} random DAGs (seed {args.seed}), cheap = "
          f"{share:.0%} of the train rows for {epochs} epochs")  # fmt: skip
    print("| trial | cheap valid AUC | full valid AUC |\n|---:|---:|---:|")
    for cheap, full, number in sorted(pairs, key=lambda p: -p[0]):
        print(f"| {number} | {cheap:.4f} | {full:.4f} |")
    print(f"\nSpearman rho (cheap vs full): {rho:+.2f}; cheap top 3 in the full top 3: "
          f"{len(top_cheap & top_full)} of 3")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
