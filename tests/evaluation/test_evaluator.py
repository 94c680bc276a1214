"""The common evaluator on tiny real and synthetic data."""

from __future__ import annotations

import math

import optuna
import pytest
import torch
from optuna.trial import TrialState

from searchengine import run
from searchengine.evaluation import CandidateError, Evaluator
from searchengine.models import BACKBONES
from searchengine.models.backbones import FM
from searchengine.searchspace import SearchSpace, parse_spec

TINY = """\
name: ev
data: {dataset: synthetic, rows: 4000, options: {categorical: 4, numerical: 2, seed: 3}}
model: {backbone: deepfm, embedding: {dim: 4}, mlp: {layers: [16]}}
train: {batch_size: 256, epochs: 3, patience: 1, lr: 5.0e-3}
"""


def arch_of(text: str, **values):
    spec = parse_spec(text)
    return spec, SearchSpace.from_spec(spec).fixed(values)


def test_metrics_are_complete_and_consistent(tmp_path) -> None:
    spec, arch = arch_of(TINY)
    evaluator = Evaluator(spec, cache_dir=tmp_path)
    result = evaluator.evaluate(arch)
    m = result.metrics
    assert set(m) >= {
        "auc",
        "logloss",
        "embedding_params",
        "params",
        "latency_ms",
        "train_seconds",
        "epochs",
    }
    assert 0.5 < m["auc"] <= 1 and m["logloss"] > 0 and m["latency_ms"] > 0
    assert set(result.test_metrics) >= {"auc", "logloss"}
    assert m["embedding_params"] == evaluator.static_metrics(arch)["embedding_params"]
    assert m["params"] > m["embedding_params"]
    assert len(result.history) == m["epochs"]
    best = max(result.history, key=lambda h: h["auc"])
    assert m["auc"] == pytest.approx(best["auc"])  # the best epoch is restored


def test_same_seed_same_result(tmp_path) -> None:
    spec, arch = arch_of(TINY)
    a = Evaluator(spec, cache_dir=tmp_path).evaluate(arch)
    b = Evaluator(spec, cache_dir=tmp_path).evaluate(arch)
    assert a.metrics["auc"] == b.metrics["auc"] and a.test_metrics == b.test_metrics


def test_sparse_training_runs(tmp_path) -> None:
    spec, arch = arch_of(
        TINY + "\n".join(["", "search: {seed: 1}"]).replace("train: {", "train: {sparse: true, ")
    )
    result = Evaluator(spec, cache_dir=tmp_path).evaluate(arch)
    assert result.metrics["auc"] > 0.5


class _NaNFM(FM):
    description = "test only: an FM whose logits are NaN"

    def forward(self, cat, num, num_missing):
        return super().forward(cat, num, num_missing) * torch.tensor(float("nan"))


@pytest.fixture
def nan_backbone():
    BACKBONES.register("nan_fm_for_tests", _NaNFM)
    yield "nan_fm_for_tests"
    BACKBONES.unregister("nan_fm_for_tests")


def test_nan_loss_is_a_candidate_error_and_a_fail_trial(tmp_path, nan_backbone) -> None:
    text = TINY.replace("backbone: deepfm", "backbone: nan_fm_for_tests")
    spec, arch = arch_of(text)
    with pytest.raises(CandidateError, match="NaN loss"):
        Evaluator(spec, cache_dir=tmp_path).evaluate(arch)
    result = run(spec, trials=1, out=tmp_path / "run", progress=False)
    trial = result.study.trials[0]
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["fail_reason"] == "CandidateError: NaN loss"


def test_pruner_prunes_weak_candidates(tmp_path) -> None:
    text = TINY.replace("lr: 5.0e-3", "lr: {float: [1.0e-6, 1.0e-1], log: true}") + (
        "search: {strategy: random, pruner: median, seed: 2}\n"
    )
    result = run(parse_spec(text), trials=10, out=tmp_path, progress=False)
    trials = result.study.trials
    assert all(t.intermediate_values for t in trials)
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned and all(
        t.user_attrs["prune_reason"].startswith("pruned at epoch") for t in pruned
    )


def test_hyperband_pruner_stops_candidates_at_its_rungs(tmp_path) -> None:
    text = (
        TINY.replace("lr: 5.0e-3", "lr: {float: [1.0e-6, 1.0e-1], log: true}").replace(
            "epochs: 3, patience: 1", "epochs: 4, patience: 4"
        )
        + "search: {strategy: random, pruner: hyperband, seed: 1}\n"
    )
    result = run(parse_spec(text), trials=8, out=tmp_path, progress=False)
    pruner = result.study.pruner
    assert isinstance(pruner, optuna.pruners.HyperbandPruner)
    trials = result.study.trials
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned and any(t.state == TrialState.COMPLETE for t in trials)
    for t in pruned:  # stopped at the epoch it last reported, a rung of its bracket
        last = max(t.intermediate_values)
        assert t.user_attrs["prune_reason"].startswith(f"pruned at epoch {last} ")


def test_static_constraint_prunes_without_training(tmp_path) -> None:
    text = TINY.replace("dim: 4", "dim: {choice: [2, 32]}") + (
        "constraints: [{metric: embedding_params, max: 20000}]\n"
        "search: {strategy: random, seed: 0}\n"
    )
    result = run(parse_spec(text), trials=6, out=tmp_path, progress=False)
    for t in result.study.trials:
        if t.params["model.embedding.dim"] == 32:
            assert t.state == TrialState.PRUNED and "history" not in t.user_attrs
            assert t.user_attrs["prune_reason"].startswith("over constraint, not trained")
            assert t.constraints["embedding_params<=20000"] > 0
        else:
            assert t.state == TrialState.COMPLETE and t.constraints["embedding_params<=20000"] <= 0


def test_real_adult_deepfm_learns(tmp_path) -> None:
    text = (
        "name: adult\ndata: {dataset: adult}\n"
        "model: {backbone: deepfm, embedding: {dim: 8}, mlp: {layers: [32]}}\n"
        "train: {batch_size: 1024, epochs: 2, lr: 3.0e-3}\n"
    )
    spec, arch = arch_of(text)
    result = Evaluator(spec, cache_dir=tmp_path).evaluate(arch)
    assert result.test_metrics["auc"] > 0.85  # a real signal, on real data
    assert math.isfinite(result.metrics["logloss"])


def test_multi_objective_study_has_no_reports(tmp_path) -> None:
    text = TINY.replace("dim: 4", "dim: {choice: [2, 4]}") + (
        "objectives: [{metric: auc}, {metric: embedding_params}]\nsearch: {trials: 2}\n"
    )
    result = run(parse_spec(text), out=tmp_path, progress=False)
    assert [t.state for t in result.study.trials] == [TrialState.COMPLETE] * 2
    assert result.study.directions[1] == optuna.study.StudyDirection.MINIMIZE
