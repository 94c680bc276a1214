"""Training and measuring candidates: the Evaluator, the trainer, metrics."""

from searchengine.evaluation.evaluator import (
    BaseEvaluator,
    Evaluator,
    FunctionEvaluator,
    Result,
    make_evaluator,
)
from searchengine.evaluation.metrics import (
    COST_METRICS,
    METRICS,
    Metric,
    auc,
    logloss,
    metric_direction,
    metric_names,
)
from searchengine.evaluation.trainer import OPTIMIZERS, CandidateError

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
