"""AutoDis (KDD'21) against its baselines: how numerical fields are embedded.

One DeepFM per numerical method (every numerical field ``scalar``, ``bucket`` or
``autodis``; categorical fields and everything else identical), each trained once per
seed by the common :class:`~searchengine.evaluation.Evaluator` (early stopping on
validation AUC, the best epoch restored) and measured on the test split. The seed sets
the model's initialization and the batch order; the data, its split and (synthetic) its
generation are fixed. The paper's claim: AutoDis is at least as good as the best
baseline. Each dataset's table ends with AutoDis minus the best baseline (by mean test
AUC) and a two-sided Welch t-test over the seeds.
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

from searchengine.compare._stats import mean_std, welch_t_test
from searchengine.evaluation import Evaluator
from searchengine.searchspace import SearchSpace, parse_spec

NAME = "numerical"
DESCRIPTION = (
    "AutoDis vs scalar vs bucket embeddings of numerical fields, DeepFM, on Adult "
    "(6 numerical fields) and synthetic data with a planted non-linear numerical effect."
)
METHODS = ("scalar", "bucket", "autodis")
DATA = {
    "adult": "{dataset: adult, split: {valid: 0.1, test: 0.1, seed: 2024}%s}",
    "synthetic": (
        "{dataset: synthetic, rows: %d, split: {valid: 0.1, test: 0.1, seed: 2024}, "
        "options: {categorical: 8, numerical: 6, max_vocab: 2000, seed: 0}}"
    ),
}
SPEC = """\
name: reproduce-numerical-%(method)s
data: %(data)s
model:
  backbone: deepfm
  embedding:
    dim: 16
    numerical: %(method)s
    bucket: {count: 10, method: frequency}
    autodis: {meta: 16, temperature: 1.0, aggregation: weighted}
  mlp: {layers: [128, 64]}
train: {lr: 1.0e-3, batch_size: 1024, epochs: %(epochs)d, patience: 2%(threads)s}
search: {seed: %(seed)d}
"""


def _measure(dataset: str, method: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Train one model; its test metrics, size and cost."""
    if dataset == "adult":
        data = DATA["adult"] % (", rows: 12000" if args.quick else "")
    else:
        data = DATA["synthetic"] % (15_000 if args.quick else 60_000)
    threads = f", threads: {args.threads}" if args.threads else ""
    text = SPEC % {
        "data": data,
        "method": method,
        "seed": seed,
        "epochs": 2 if args.quick else 15,
        "threads": threads,
    }
    spec = parse_spec(text)
    arch = SearchSpace.from_spec(spec).fixed({})
    evaluator = Evaluator(spec)
    start = time.perf_counter()
    result = evaluator.evaluate(arch)
    return {
        "auc": result.test_metrics["auc"],
        "logloss": result.test_metrics["logloss"],
        "valid_auc": result.metrics["auc"],
        "embedding_params": result.metrics["embedding_params"],
        "epochs": result.metrics["epochs"],
        "seconds": time.perf_counter() - start,
        "nonlinear": evaluator.data.metadata.get("truth", {}).get("nonlinear"),
    }


def _pm(values: list[float], digits: int = 4) -> str:
    mean, std = mean_std(values)
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _table(dataset: str, runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    rows = [
        f"**{dataset}**",
        "",
        "| method | test AUC | test logloss | valid AUC | embedding params | epochs | s/run |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for method, records in runs.items():
        col = {key: [r[key] for r in records] for key in records[0] if key != "nonlinear"}
        rows.append(
            f"| {method} | {_pm(col['auc'])} | {_pm(col['logloss'])} | {_pm(col['valid_auc'])} "
            f"| {col['embedding_params'][0]:,.0f} | {_pm(col['epochs'], 1)} "
            f"| {mean_std(col['seconds'])[0]:.0f} |"
        )
    auc = {m: [r["auc"] for r in records] for m, records in runs.items()}
    best = max((m for m in auc if m != "autodis"), key=lambda m: mean_std(auc[m])[0])
    delta = mean_std(auc["autodis"])[0] - mean_std(auc[best])[0]
    _, p = welch_t_test(auc["autodis"], auc[best])
    verdict = "at least as good" if delta >= 0 else "worse"
    rows += [
        "",
        f"AutoDis - best baseline ({best}): test AUC {delta:+.4f} (Welch p = {p:.2f}): "
        f"AutoDis is {verdict} on the mean"
        + (", within the seed-to-seed spread" if p > 0.05 else "")
        + ".",
    ]
    nonlinear = runs["autodis"][0]["nonlinear"]
    if nonlinear:
        rows.append(f"Planted non-linear numerical field: `{nonlinear}`.")
    return rows


def run(args: argparse.Namespace) -> str:
    """Every dataset x method x seed; the markdown tables."""
    logging.getLogger("searchengine").setLevel(logging.WARNING)
    seeds = range(args.seeds)
    lines = [
        f"mean ± std over {len(seeds)} seeds; DeepFM, width 16, MLP 128-64, Adam 1e-3, "
        f"batch 1024, up to {2 if args.quick else 15} epochs (patience 2); bucket: 10 "
        "equal-frequency buckets; autodis: H = 16, temperature 1, weighted aggregation.",
        "",
    ]
    for dataset in ("adult", "synthetic"):
        runs = {m: [_measure(dataset, m, seed, args) for seed in seeds] for m in METHODS}
        lines += _table(dataset, runs) + [""]
    return "\n".join(lines).rstrip()
