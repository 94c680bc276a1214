"""ESAPN (SIGIR'20) against the full-size model: an embedding size per user and item.

Per dataset and seed, three DeepFMs that differ only in the sizes of the dynamic fields'
ids (other fields at width 16, everything else identical), each trained by the common
:class:`~searchengine.evaluation.Evaluator` (early stopping on validation AUC, the best
epoch restored) and measured on the test split:

* ``full``: every id at the largest candidate (128), a plain embedding table;
* ``esapn``: the sizes the ``esapn`` strategy searched (one pass with its policies),
  retrained from scratch; its embedding parameters count the growth maps ``W, b``;
* ``smallest``: every id at the smallest candidate (2), to show how much size matters.

The seed sets the model's initialization, the batch order and (esapn) the policies; the
data and its split are fixed. The paper's claim: the same or better quality at a fraction
of the memory (40-90% less). Each dataset's table ends with esapn minus full (test AUC,
two-sided Welch t-test over the seeds) and esapn's parameters as a share of full's.
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
from searchengine.searchspace import Architecture, parse_spec
from searchengine.strategies.esapn import full_size_model

NAME = "esapn"
DESCRIPTION = (
    "ESAPN dynamic per-id embedding sizes vs the full-size model (every id at 128) and "
    "every id at 2, DeepFM, on MovieLens-100K (user_id, item_id) and synthetic data "
    "(the two largest fields, which share a planted interaction)."
)
CANDIDATES = [2, 4, 8, 16, 64, 128]
DATA = {
    "movielens-100k": (
        "{dataset: movielens-100k, path: ../shared/datasets/movielens-100k%s}",
        ["user_id", "item_id"],
    ),
    "synthetic": (
        "{dataset: synthetic, rows: %d, options: {categorical: 6, numerical: 2, "
        "max_vocab: 5000, seed: 0}}",
        ["C5", "C6"],
    ),
}
SPEC = """\
name: reproduce-esapn
data: %(data)s
model:
  backbone: deepfm
  embedding:
    dim: 16
    dynamic: {candidates: %(candidates)s, fields: %(fields)s}
  mlp: {layers: [64, 32]}
train: {lr: 2.0e-3, batch_size: 1024, epochs: %(epochs)d, patience: 2%(threads)s}
search: {strategy: esapn, seed: %(seed)d}
"""


def _spec_text(dataset: str, seed: int, args: argparse.Namespace) -> str:
    data, fields = DATA[dataset]
    if dataset == "synthetic":
        data = data % (20_000 if args.quick else 100_000)
    else:
        data = data % (", rows: 20000" if args.quick else "")
    return SPEC % {
        "data": data,
        "candidates": CANDIDATES,
        "fields": f"[{', '.join(fields)}]",
        "seed": seed,
        "epochs": 2 if args.quick else 10,
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
    evaluator = Evaluator(spec)
    schema = evaluator.data.schema
    plain = full_size_model(spec.model_or_default(), schema.names)
    smallest = plain.model_copy(
        update={"embedding": plain.embedding.model_copy(update={"dim": {
            n: 2 if n in DATA[dataset][1] else d for n, d in dict(plain.embedding.dim).items()
        }})}
    )  # fmt: skip
    out = {
        "full": _evaluate(evaluator, Architecture(spec.model_copy(update={"model": plain}))),
        "smallest": _evaluate(
            evaluator, Architecture(spec.model_copy(update={"model": smallest}))
        ),
    }
    with tempfile.TemporaryDirectory() as folder:
        result = run_search(spec, out=folder, progress=False, evaluator=evaluator)
    trial = result.study.trials[0]
    attrs, metrics = trial.user_attrs, trial.user_attrs["metrics"]
    out["esapn"] = {
        "auc": attrs["test_metrics"]["auc"],
        "logloss": attrs["test_metrics"]["logloss"],
        "valid_auc": metrics["auc"],
        "embedding_params": metrics["embedding_params"],
        "search_seconds": attrs["search_cost"]["seconds"],
        "train_seconds": metrics["train_seconds"],
        "mean_sizes": {
            name: float(np.mean(v["sizes"])) for name, v in attrs["entity_sizes"].items()
        },
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
    for model in ("full", "esapn", "smallest"):
        col = {k: [r[model][k] for r in runs] for k in runs[0][model] if k != "mean_sizes"}
        rows.append(
            f"| {model} | {_pm(col['auc'])} | {_pm(col['logloss'])} | {_pm(col['valid_auc'])} "
            f"| {_pm(col['embedding_params'], 0)} | {mean_std(col['search_seconds'])[0]:.0f} "
            f"| {mean_std(col['train_seconds'])[0]:.0f} |"
        )
    esapn = [r["esapn"]["auc"] for r in runs]
    full = [r["full"]["auc"] for r in runs]
    delta = mean_std(esapn)[0] - mean_std(full)[0]
    _, p = welch_t_test(esapn, full)
    share = np.mean([r["esapn"]["embedding_params"] / r["full"]["embedding_params"] for r in runs])
    sizes = {
        name: np.mean([r["esapn"]["mean_sizes"][name] for r in runs])
        for name in runs[0]["esapn"]["mean_sizes"]
    }
    rows += [
        "",
        f"esapn - full: test AUC {delta:+.4f} (Welch p = {p:.2f}); esapn holds "
        f"{100 * share:.0f}% of full's embedding parameters ({100 * (1 - share):.0f}% less). "
        "Mean size per id: " + ", ".join(f"{n} {s:.1f}" for n, s in sizes.items()) + ".",
    ]
    return rows


def run(args: argparse.Namespace) -> str:
    """Every dataset x seed; the markdown tables."""
    logging.getLogger("searchengine").setLevel(logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seeds = range(args.seeds)
    lines = [
        f"mean ± std over {len(seeds)} seeds; DeepFM, other fields at width 16, MLP 64-32, "
        f"Adam 2e-3, batch 1024, up to {2 if args.quick else 10} epochs (patience 2); "
        f"candidates {CANDIDATES}; esapn with its default options (one search pass, T = 5, "
        "policy lr 1e-2, P(enlarge) starting at 0.5). search s: the ESAPN pass; train s: "
        "the Evaluator's training of the final model.",
        "",
    ]
    for dataset in DATA:
        runs = [_measure(dataset, seed, args) for seed in seeds]
        lines += _table(dataset, runs) + [""]
    return "\n".join(lines).rstrip()
