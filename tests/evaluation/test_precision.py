"""``train.precision: bf16``: mixed precision in the evaluator and in every strategy that
trains its own loop."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from searchengine import parse_spec, run
from searchengine.errors import SpecError
from searchengine.evaluation import Evaluator, trainer
from searchengine.evaluation.trainer import fit, predict
from searchengine.searchspace import SearchSpace

TINY = """\
name: precision
data: {dataset: synthetic, rows: 6000, options: {categorical: 5, numerical: 2, seed: 3}}
model: {backbone: %(backbone)s, embedding: {dim: 8}, mlp: {layers: [64, 32]}}
train: {batch_size: 256, epochs: 3, patience: 1, lr: 5.0e-3, sparse: %(sparse)s%(extra)s}
"""


def _arch(backbone: str = "deepfm", precision: str | None = None, sparse: bool = False):
    extra = f", precision: {precision}" if precision else ""
    text = TINY % {"backbone": backbone, "sparse": str(sparse).lower(), "extra": extra}
    spec = parse_spec(text)
    return spec, SearchSpace.from_spec(spec).fixed({})


def _linear_dtypes(model: nn.Module) -> set[torch.dtype]:
    """Records the output dtype of every Linear's forward from now on."""
    seen: set[torch.dtype] = set()
    for module in model.modules():
        if isinstance(module, nn.Linear):
            module.register_forward_hook(lambda m, i, out: seen.add(out.dtype))
    return seen


def test_the_default_is_fp32_and_other_values_are_refused() -> None:
    spec, _ = _arch()
    assert spec.train.precision == "fp32"
    with pytest.raises(SpecError, match="precision"):
        _arch(precision="fp16")


def test_bf16_runs_the_dense_layers_in_bfloat16_and_keeps_float32_weights(tmp_path) -> None:
    spec, arch = _arch(precision="bf16", sparse=True)
    evaluator = Evaluator(spec, cache_dir=tmp_path)
    tensors = evaluator.tensors(torch.device("cpu"))
    model = evaluator.build(arch)
    seen = _linear_dtypes(model)
    outcome = fit(model, tensors, arch.train, seed=0, metrics={})
    assert seen == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert outcome.valid["auc"] > 0.6
    seen.clear()
    probs = predict(model, tensors, tensors.splits["test"], precision="bf16")
    assert seen == {torch.bfloat16} and probs.dtype.name == "float32"
    seen.clear()
    predict(model, tensors, tensors.splits["test"])
    assert seen == {torch.float32}


@pytest.mark.parametrize("backbone", ["deepfm", "dcn", "wide_deep"])
def test_bf16_trains_as_well_as_fp32_and_is_deterministic(tmp_path, backbone: str) -> None:
    spec32, arch32 = _arch(backbone)
    spec16, arch16 = _arch(backbone, "bf16")
    full = Evaluator(spec32, cache_dir=tmp_path).evaluate(arch32)
    half = Evaluator(spec16, cache_dir=tmp_path).evaluate(arch16)
    again = Evaluator(spec16, cache_dir=tmp_path).evaluate(arch16)
    assert half.metrics["auc"] > 0.6
    assert half.metrics["auc"] == pytest.approx(full.metrics["auc"], abs=0.02)
    assert half.test_metrics["auc"] == pytest.approx(full.test_metrics["auc"], abs=0.02)
    assert half.metrics["latency_ms"] > 0
    assert again.metrics["auc"] == half.metrics["auc"]
    assert again.test_metrics == half.test_metrics


def test_bf16_without_native_support_warns_once(monkeypatch) -> None:
    monkeypatch.setattr(trainer, "_native_bf16", lambda kind: False)
    monkeypatch.setattr(trainer, "_checked_precision", set())
    with pytest.warns(RuntimeWarning, match="emulated"):
        with trainer.autocast("bf16", "cpu"):
            pass
    with trainer.autocast("bf16", "cpu"):  # once only
        assert torch.is_autocast_enabled("cpu")
    with trainer.autocast("fp32", "cpu"):
        assert not torch.is_autocast_enabled("cpu")


# ------------------------------------------------------------- strategies' own loops


@pytest.fixture
def recorded(monkeypatch) -> Iterator[list[tuple[str, str]]]:
    """Every (module, precision) for which a loop asks ``autocast``."""
    seen: list[tuple[str, str]] = []
    real = trainer.autocast
    from searchengine.strategies import _esapn
    from searchengine.strategies._differentiable import search
    from searchengine.strategies._rl import sharing

    for module in (trainer, _esapn, search, sharing):

        def spy(precision: str, device: Any, name: str = module.__name__) -> Any:
            seen.append((name, precision))
            return real(precision, device)

        monkeypatch.setattr(module, "autocast", spy)
    yield seen


def _search_spec(strategy: str, model: dict[str, Any], **options: Any) -> Any:
    return parse_spec(
        {
            "name": f"bf16-{strategy}",
            "data": {
                "dataset": "synthetic",
                "rows": 3000,
                "options": {"categorical": 3, "numerical": 1, "seed": 3, "max_vocab": 300},
            },
            "model": {"backbone": "deepfm", "mlp": {"layers": [8]}, **model},
            "train": {
                "batch_size": 256,
                "epochs": 1,
                "patience": 0,
                "lr": 5.0e-3,
                "precision": "bf16",
            },
            "search": {"strategy": strategy, "seed": 0, "trials": 2, "options": options},
        }
    )


@pytest.mark.parametrize(
    ("strategy", "loop", "model", "options"),
    [
        (
            "differentiable",
            "_differentiable.search",
            {"embedding": {"dim": 4}, "interactions": {"gate": "search"}},
            {"epochs": 1},
        ),
        (
            "rl",
            "_rl.sharing",
            {"embedding": {"dim": {"choice": [2, 4], "per": "field"}}},
            {"weight_sharing": True, "warmup_epochs": 0.5},
        ),
        (
            "esapn",
            "_esapn",
            {"embedding": {"dim": 4, "dynamic": {"candidates": [2, 4], "fields": ["C1"]}}},
            {},
        ),
    ],
)
def test_strategies_train_their_supernets_at_the_spec_precision(
    tmp_path: Path,
    recorded: list[tuple[str, str]],
    strategy: str,
    loop: str,
    model: dict,
    options: dict,
) -> None:
    result = run(_search_spec(strategy, model, **options), out=tmp_path, progress=False)
    (trial,) = result.study.trials
    assert trial.values is not None and 0.0 <= trial.values[0] <= 1.0
    modules = {name for name, _ in recorded}
    assert {f"searchengine.strategies.{loop}", "searchengine.evaluation.trainer"} <= modules
    assert {precision for _, precision in recorded} == {"bf16"}
