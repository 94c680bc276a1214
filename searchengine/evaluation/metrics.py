"""Metrics: global AUC and logloss over a split, and the registry of metrics.

AUC is computed over the whole split (never averaged over batches), with ties given half
credit, in O(n log n).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from searchengine.registry import Registry

__all__ = [
    "COST_METRICS",
    "METRICS",
    "Metric",
    "auc",
    "logloss",
    "metric_direction",
    "metric_names",
]


@dataclass(frozen=True)
class Metric:
    """A metric of predictions: ``fn(labels, probabilities) -> float``."""

    fn: Callable[[np.ndarray, np.ndarray], float]
    direction: str  # "maximize" | "minimize"
    description: str = ""


METRICS: Registry[Metric] = Registry("metric", group="searchengine.metrics")

#: Metrics of the trained candidate itself, measured by the evaluator.
COST_METRICS: dict[str, tuple[str, str]] = {
    "embedding_params": ("minimize", "weights of the embedding tables (and projections)"),
    "params": ("minimize", "all trainable weights"),
    "latency_ms": ("minimize", "inference time per 1,000 rows, in milliseconds"),
    "flops": ("minimize", "FLOPs per example after the embedding lookup (backbone blocks)"),
    "train_seconds": ("minimize", "training time"),
    "epochs": ("minimize", "epochs trained (early stopping included)"),
}


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve over all rows; NaN if only one class is present."""
    labels = np.asarray(labels, dtype=np.float64).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    n_pos = float(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    # Average ranks (1-based) over runs of tied scores.
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], sorted_scores.size]
    run_rank = (starts + ends + 1) / 2.0
    ranks = np.empty_like(scores)
    ranks[order] = np.repeat(run_rank, ends - starts)
    return float((ranks[labels == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def logloss(labels: np.ndarray, probs: np.ndarray, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy of probabilities."""
    labels = np.asarray(labels, dtype=np.float64).ravel()
    p = np.clip(np.asarray(probs, dtype=np.float64).ravel(), eps, 1 - eps)
    return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log1p(-p)))


METRICS.register("auc", Metric(auc, "maximize", "area under the ROC curve"))
METRICS.register("logloss", Metric(logloss, "minimize", "binary cross-entropy"))


def metric_names() -> list[str]:
    """Every metric an objective or constraint may name."""
    return sorted(set(METRICS.names()) | set(COST_METRICS))


def metric_direction(name: str) -> str | None:
    """The natural direction of a metric, or None for an unknown one."""
    if name in COST_METRICS:
        return COST_METRICS[name][0]
    if name in METRICS:
        return METRICS.get(name).direction
    return None
