"""Global AUC and logloss agree with scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from searchengine.evaluation import auc, logloss, metric_direction, metric_names


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_sklearn_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=5000)
    scores = rng.random(5000) + 0.3 * labels
    assert auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_auc_with_ties_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=3000)
    scores = rng.integers(0, 5, size=3000).astype(float)  # many ties
    assert auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_auc_is_global_not_a_mean_of_batches() -> None:
    labels = np.array([0, 1, 0, 1])
    scores = np.array([0.1, 0.2, 0.8, 0.9])
    # per batch of two, each batch is perfectly ranked; globally it is not
    assert auc(labels, scores) == pytest.approx(0.75)


def test_auc_of_one_class_is_nan() -> None:
    assert np.isnan(auc(np.ones(10), np.random.default_rng(0).random(10)))


def test_logloss_matches_sklearn() -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, size=1000)
    probs = rng.random(1000)
    assert logloss(labels, probs) == pytest.approx(log_loss(labels, probs), rel=1e-9)


def test_metric_directions() -> None:
    assert metric_direction("auc") == "maximize"
    assert metric_direction("logloss") == "minimize"
    assert metric_direction("embedding_params") == "minimize"
    assert metric_direction("nope") is None
    assert {"auc", "logloss", "latency_ms", "params"} <= set(metric_names())
