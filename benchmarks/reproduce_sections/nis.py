"""NIS (KDD'20) against the full-size model: multi-size embeddings searched by ``rl``.

Per dataset and seed, three DeepFMs that differ only in their categorical embeddings
(multi-size: 4 frequency buckets per field, vectors of 4 blocks of width 4; numerical
fields at width 16; everything else identical), each trained by the common
:class:`~searchengine.evaluation.Evaluator` (early stopping on validation AUC, the best
epoch restored) and measured on the test split:

* ``full``: every bucket at 4 blocks, i.e. a plain 16-wide table;
* ``nis``: the ``rl`` strategy with weight sharing (NIS itself): a REINFORCE controller
  samples the blocks of every (field, bucket) -- head buckets never smaller than tail
  ones -- while one shared supernet trains, rewarded by a validation batch's AUC minus
  ``lambda`` x the embedding parameters relative to ``full``; its most probable
  architecture is retrained from scratch;
* ``half``: every bucket at 2 blocks (8 wide), a uniform shrink for scale.

The seed sets the model's initialization, the batch order and (nis) the controller; the
data and its split are fixed. The paper's claim: the same or better quality at a fraction
of the memory. Each dataset's table ends with nis minus full (test AUC, two-sided Welch
t-test over the seeds) and nis's parameters as a share of full's.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from typing import Any

import numpy as np
import optuna

from searchengine import run as run_search
from searchengine.compare._stats import mean_std, welch_t_test
from searchengine.evaluation import Evaluator
from searchengine.searchspace import Architecture, SearchSpace, parse_spec

NAME = "nis"
DESCRIPTION = (
    "NIS multi-size embeddings searched by rl with weight sharing vs the full-size model "
    "(every bucket at 4 blocks of 4) and every bucket at 2 blocks, DeepFM, on "
    "MovieLens-100K and synthetic data."
)
COST_WEIGHT = 0.005
DATA = {
    "movielens-100k": "{dataset: movielens-100k, path: ../shared/datasets/movielens-100k%s}",
    "synthetic": (
        "{dataset: synthetic, rows: %d, options: {categorical: 8, numerical: 2, "
        "max_vocab: 20000, seed: 0}}"
    ),
}
SPEC = """\
name: reproduce-nis
data: %(data)s
model:
  backbone: deepfm
  embedding:
    dim: 16
    multisize: {buckets: 4, chunk: 4, chunks: 4, monotone: true}
  mlp: {layers: [64, 32]}
train: {lr: 2.0e-3, batch_size: 1024, epochs: %(epochs)d, patience: 1%(threads)s}
search:
  strategy: rl
  seed: %(seed)d
  trials: 1
  options: {weight_sharing: true, cost_weight: %(cost)s, supernet_epochs: %(epochs)d,
            warmup_epochs: 1}
"""


def _spec_text(dataset: str, seed: int, args: argparse.Namespace) -> str:
    data = DATA[dataset]
    if dataset == "synthetic":
        data = data % (20_000 if args.quick else 100_000)
    else:
        data = data % (", rows: 20000" if args.quick else "")
    return SPEC % {
        "data": data,
        "seed": seed,
        "epochs": 2 if args.quick else 4,
        "cost": COST_WEIGHT,
        "threads": f", threads: {args.threads}" if args.threads else "",
    }


def _evaluate(evaluator: Evaluator, arch: Architecture) -> dict[str, Any]:
    start = time.perf_counter()
    result = evaluator.evaluate(arch)
    return {
        "auc": result.test_metrics["auc"],
        "logloss": result.test_metrics["logloss"],
        "valid_auc": result.metrics["auc"],
        "embedding_params": result.metrics["embedding_params"],
        "search_seconds": 0.0,
        "train_seconds": time.perf_counter() - start,
    }


def _measure(dataset: str, seed: int, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The three models of one seed."""
    spec = parse_spec(_spec_text(dataset, seed, args))
    space = SearchSpace.from_spec(spec)
    evaluator = Evaluator(spec)
    heads = {n: 2 for n in space.names if n.startswith("model.embedding.multisize[")}
    out = {
        "full": _evaluate(evaluator, space.fixed({})),  # defaults: every bucket at K
        "half": _evaluate(evaluator, space.fixed(heads)),  # head at 2, no shrink
    }
    with tempfile.TemporaryDirectory() as folder:
        result = run_search(spec, out=folder, progress=False, evaluator=evaluator)
    trial = result.study.trials[0]
    attrs, metrics = trial.user_attrs, trial.user_attrs["metrics"]
    sizes = result.space.fixed(trial.params, encoded=True).model.embedding.multisize.sizes
    out["nis"] = {
        "auc": attrs["test_metrics"]["auc"],
        "logloss": attrs["test_metrics"]["logloss"],
        "valid_auc": metrics["auc"],
        "embedding_params": metrics["embedding_params"],
        "search_seconds": attrs["search_cost"]["seconds"],
        "train_seconds": metrics["train_seconds"],
        "sizes": sizes,
    }
    return out


def _pm(values: list[float], digits: int = 4) -> str:
    mean, std = mean_std(values)
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _table(dataset: str, runs: list[dict[str, dict[str, Any]]]) -> list[str]:
    rows = [
        f"**{dataset}**",
        "",
        "| model | test AUC | test logloss | valid AUC | embedding params | search s | train s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for model in ("full", "nis", "half"):
        col = {k: [r[model][k] for r in runs] for k in runs[0][model] if k != "sizes"}
        rows.append(
            f"| {model} | {_pm(col['auc'])} | {_pm(col['logloss'])} | {_pm(col['valid_auc'])} "
            f"| {_pm(col['embedding_params'], 0)} | {mean_std(col['search_seconds'])[0]:.0f} "
            f"| {mean_std(col['train_seconds'])[0]:.0f} |"
        )
    nis = [r["nis"]["auc"] for r in runs]
    full = [r["full"]["auc"] for r in runs]
    delta = mean_std(nis)[0] - mean_std(full)[0]
    _, p = welch_t_test(nis, full)
    share = np.mean([r["nis"]["embedding_params"] / r["full"]["embedding_params"] for r in runs])
    rows += [
        "",
        f"nis - full: test AUC {delta:+.4f} (Welch p = {p:.2f}); nis holds "
        f"{100 * share:.0f}% of full's embedding parameters ({100 * (1 - share):.0f}% less). "
        "Blocks per bucket (head first), seed 0: "
        + "; ".join(f"{n} {s}" for n, s in runs[0]["nis"]["sizes"].items())
        + ".",
    ]
    return rows


def run(args: argparse.Namespace) -> str:
    """Every dataset x seed; the markdown tables."""
    logging.getLogger("searchengine").setLevel(logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seeds = range(args.seeds)
    epochs = 2 if args.quick else 4
    lines = [
        f"mean ± std over {len(seeds)} seeds; DeepFM, numerical fields at width 16, MLP "
        f"64-32, Adam 2e-3, batch 1024, up to {epochs} epochs (patience 1). nis: rl with "
        f"weight_sharing, cost_weight {COST_WEIGHT}, the supernet trained {epochs} epochs, "
        "the controller learning after the first (policy lr 0.005, one update per step, "
        "reward on 2048 validation rows). search s: the supernet search; train s: the "
        "Evaluator's training of the final model.",
        "",
    ]
    for dataset in DATA:
        runs = [_measure(dataset, seed, args) for seed in seeds]
        lines += _table(dataset, runs) + [""]
    return "\n".join(lines).rstrip()
