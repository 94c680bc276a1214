"""Training and measuring candidates: the Evaluator, the trainer, metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from searchengine._lazy import lazy_attributes
from searchengine.evaluation.metrics import (
    COST_METRICS,
    METRICS,
    Metric,
    auc,
    logloss,
    metric_direction,
    metric_names,
)

if TYPE_CHECKING:
    from searchengine.evaluation.evaluator import (
        BaseEvaluator,
        Evaluator,
        FunctionEvaluator,
        Result,
        make_evaluator,
    )
    from searchengine.evaluation.trainer import OPTIMIZERS, CandidateError

# The evaluator and the trainer import torch: on first use only, so that checking a spec's
# metric names does not take seconds.
_LAZY = {
    "BaseEvaluator": "searchengine.evaluation.evaluator",
    "Evaluator": "searchengine.evaluation.evaluator",
    "FunctionEvaluator": "searchengine.evaluation.evaluator",
    "Result": "searchengine.evaluation.evaluator",
    "make_evaluator": "searchengine.evaluation.evaluator",
    "OPTIMIZERS": "searchengine.evaluation.trainer",
    "CandidateError": "searchengine.evaluation.trainer",
}


__getattr__ = lazy_attributes(__name__, _LAZY, globals())


__all__ = [
    "COST_METRICS",
    "METRICS",
    "OPTIMIZERS",
    "BaseEvaluator",
    "CandidateError",
    "Evaluator",
    "FunctionEvaluator",
    "Metric",
    "Result",
    "auc",
    "logloss",
    "make_evaluator",
    "metric_direction",
    "metric_names",
]
