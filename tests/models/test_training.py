"""A quick sanity check that a model learns: deepfm on a planted pairwise interaction."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from searchengine.data.schema import DataSchema, FieldInfo
from searchengine.models import build_model
from searchengine.spec.format import ModelSpec


def fit_and_score(
    model: torch.nn.Module,
    tensors: tuple[torch.Tensor, ...],
    n_train: int,
    *,
    steps: int,
    batch: int,
    lr: float,
) -> float:
    """Train ``model`` with Adam on seeded batches of the first ``n_train`` rows of
    ``(cat, num, missing, y)``; its test AUC on the rest."""
    cat, num, missing, y = tensors
    train, test = slice(0, n_train), slice(n_train, None)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.randint(0, n_train, (batch,), generator=g)
        optimizer.zero_grad()
        loss = loss_fn(model(cat[train][idx], num[train][idx], missing[train][idx]), y[idx])
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        scores = model(cat[test], num[test], missing[test])
    return float(roc_auc_score(y[test].numpy(), scores.numpy()))


def _planted_problem(n: int, seed: int = 0) -> tuple[DataSchema, tuple[torch.Tensor, ...]]:
    """Clicks driven only by the interaction of fields a and b: ``sign(a) * sign(b)``,
    so neither field alone carries any signal. Field c and x are noise; x is missing
    for 20% of the rows."""
    rng = np.random.default_rng(seed)
    schema = DataSchema(
        (
            FieldInfo("a", "categorical", 0, 20),
            FieldInfo("x", "numerical", 0),
            FieldInfo("b", "categorical", 1, 20),
            FieldInfo("c", "categorical", 2, 50),
        )
    )
    sign = rng.choice([-1.0, 1.0], size=20)
    a, b, c = rng.integers(0, 20, n), rng.integers(0, 20, n), rng.integers(0, 50, n)
    p = 1.0 / (1.0 + np.exp(-3.0 * sign[a] * sign[b]))
    y = (rng.random(n) < p).astype(np.float32)
    missing = rng.random((n, 1)) < 0.2
    x = np.where(missing, 0.0, rng.normal(size=(n, 1))).astype(np.float32)
    cat = torch.from_numpy(np.stack([a, b, c], axis=1))
    return schema, (cat, torch.from_numpy(x), torch.from_numpy(missing), torch.from_numpy(y))


def test_deepfm_learns_a_planted_pairwise_interaction() -> None:
    torch.manual_seed(0)
    schema, tensors = _planted_problem(6_000)
    spec = ModelSpec(backbone="deepfm", embedding={"dim": 8}, mlp={"layers": [32, 16]})
    model = build_model(spec, schema)
    auc = fit_and_score(model, tensors, 5_000, steps=200, batch=256, lr=3e-3)
    assert auc > 0.7, f"AUC {auc:.3f}"
