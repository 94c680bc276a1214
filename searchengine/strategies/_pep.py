"""PEP's search loop: train a model whose embeddings pass a learnable soft threshold.

Every categorical table of the model's field embedding is wrapped in a
:class:`Thresholded` view: the looked-up values ``v`` become
``sign(v) * relu(|v| - g(s))`` with ``g`` the sigmoid and ``s`` a learned threshold, one
per field and dimension (``field_dim``) or per field (``field``). ``s`` starts very
negative (``g(s) ~ 0``: nothing pruned) and trains jointly with the model under its own
Adam. A value is pruned while ``|v| <= g(s)``.

What raises ``s`` is, as in PEP's code, the L2 penalty on ``s`` (Adam's weight decay,
``threshold_decay``): at ``s = -15`` the loss's gradient on ``s`` is scaled by
``g'(s) ~ 3e-7`` and the penalty ``decay * s`` dominates, so Adam moves ``s`` up at about
its learning rate per step; as ``g(s)`` grows, the loss pushes back on the thresholds of
the values it needs, and the sparsity settles where the two balance.

Every ``check_every`` steps the loop counts the values kept over all tables, adds the
embedding parameters it does not prune (numerical fields, projections) and divides by the
unpruned model's (FDE's) embedding parameters. Each time that fraction first falls to a
target, the masks of that moment are kept. Training runs the planned epochs, then up to
``extra_epochs`` more while a target is not reached, and stops as soon as all are.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from searchengine.data.schema import DataSchema
from searchengine.evaluation.trainer import (
    CandidateError,
    Tensors,
    autocast,
    split_metrics,
)
from searchengine.models.embedding import FieldEmbedding, FusedEmbedding
from searchengine.spec.format import TrainSpec

__all__ = [
    "PEPSettings",
    "Snapshot",
    "PEPOutcome",
    "Thresholded",
    "attach_thresholds",
    "search_masks",
    "soft_threshold",
]


def soft_threshold(v: Tensor, s: Tensor) -> Tensor:
    """PEP's pruning function: ``sign(v) * relu(|v| - sigmoid(s))``, ``s`` broadcast."""
    return torch.sign(v) * F.relu(v.abs() - torch.sigmoid(s))


@dataclass(frozen=True)
class PEPSettings:
    """The knobs of one PEP search (from the strategy's options)."""

    targets: tuple[float, ...] = (0.5, 0.2, 0.1)
    granularity: str = "field_dim"
    init: float = -15.0
    threshold_lr: float = 1e-2
    threshold_decay: float = 1e-3
    epochs: int = 10
    extra_epochs: int = 10
    check_every: int = 1


@dataclass
class Snapshot:
    """The masks when a target was reached (or the last ones, when it never was)."""

    target: float
    reached: bool
    ratio: float
    kept: int
    epoch: int
    step: int
    masks: dict[str, np.ndarray]
    #: validation and test metrics of the searched (thresholded) model at that moment
    metrics: dict[str, float] = field(default_factory=dict)
    test_metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class PEPOutcome:
    """One snapshot per target (in the order given), the cost, one row per epoch."""

    snapshots: list[Snapshot]
    full_params: int
    seconds: float
    epochs: int
    steps: int
    history: list[dict[str, float]] = field(default_factory=list)


class Thresholded(nn.Module):
    """A fused table seen through the soft threshold, with its thresholds ``s``.

    Args:
        table: the categorical table (its weights keep training as they are).
        granularity: ``field_dim`` (``s`` of shape ``(F, dim)``) or ``field`` (``(F, 1)``).
        init: the initial ``s``.

    Shapes:
        ``cat`` ``(B, C)`` -> ``(B, F, dim)``.
    """

    def __init__(self, table: FusedEmbedding, granularity: str, init: float) -> None:
        super().__init__()
        fields, dim = len(table.vocab_sizes), table.dim
        self.table = table
        self.s = nn.Parameter(torch.full((fields, dim if granularity == "field_dim" else 1), init))
        sizes = torch.tensor(table.vocab_sizes)
        row_field = torch.repeat_interleave(torch.arange(fields), sizes)
        self.register_buffer("row_field", row_field.to(table.table.weight.device))

    def forward(self, cat: Tensor) -> Tensor:
        return soft_threshold(self.table(cat), self.s)  # (B, F, dim)

    @torch.no_grad()
    def mask(self) -> Tensor:
        """The values kept now: ``(rows, dim)`` bool."""
        threshold = torch.sigmoid(self.s)[self.row_field]  # (rows, dim or 1)
        return self.table.table.weight.abs() > threshold


def attach_thresholds(
    embedding: FieldEmbedding, granularity: str, init: float
) -> list[Thresholded]:
    """Wrap every plain categorical table of ``embedding`` in a :class:`Thresholded`."""
    wrapped = []
    for key, module in list(embedding.categorical.items()):
        if type(module) is FusedEmbedding:
            view = Thresholded(module, granularity, init)
            embedding.categorical[key] = view
            wrapped.append(view)
    return wrapped


def field_masks(views: Sequence[Thresholded], schema: DataSchema) -> dict[str, np.ndarray]:
    """Field name -> its mask now, ``(vocab_size, dim)`` bool."""
    names = {f.column: f.name for f in schema.categorical}
    out: dict[str, np.ndarray] = {}
    for view in views:
        mask = view.mask().cpu().numpy()
        start = 0
        for column, vocab in zip(view.table.columns.tolist(), view.table.vocab_sizes, strict=True):
            out[names[column]] = mask[start : start + vocab].copy()
            start += vocab
    return out


def _kept(views: Sequence[Thresholded]) -> int:
    return sum(int(v.mask().sum()) for v in views)


def _measure(model: nn.Module, tensors: Tensors, train: TrainSpec, snap: Snapshot) -> None:
    """The searched model's metrics as its masks are taken (PEP without retraining)."""
    snap.metrics = split_metrics(model, tensors, "valid", {}, precision=train.precision)
    snap.test_metrics = split_metrics(model, tensors, "test", {}, precision=train.precision)
    model.train()


def search_masks(
    model: nn.Module,
    views: list[Thresholded],
    tensors: Tensors,
    train: TrainSpec,
    schema: DataSchema,
    settings: PEPSettings,
    *,
    full_params: int,
    optimizers: list[torch.optim.Optimizer],
    seed: int,
    should_stop: Callable[[], bool] = lambda: False,
    on_epoch: Callable[[int, int, dict[str, float]], None] | None = None,
) -> PEPOutcome:
    """Train ``model`` with its thresholds; keep the masks at each target.

    Args:
        model: the CTR model with :func:`attach_thresholds` applied, on the device.
        views: the thresholded tables.
        tensors: the data.
        train: batch size and precision (the model's optimizers are ``optimizers``).
        schema: the fields (masks are returned per field).
        settings: targets, epochs, threshold learning rate.
        full_params: the unpruned model's embedding parameters (the ratio's denominator).
        optimizers: the model weights' optimizers (made before the thresholds existed).
        seed: the batch order.
        should_stop: checked after each epoch (the session's timeout).
        on_epoch: called with (epoch, planned epochs, metrics) after each epoch.

    Raises:
        CandidateError: NaN loss.
    """
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    thresholds = torch.optim.Adam(
        [v.s for v in views], lr=settings.threshold_lr, weight_decay=settings.threshold_decay
    )
    unpruned = full_params - sum(v.table.table.weight.numel() for v in views)
    pending = sorted(settings.targets, reverse=True)
    found: dict[float, Snapshot] = {}
    history: list[dict[str, float]] = []
    steps, epoch, last = 0, 0, None
    planned = settings.epochs + settings.extra_epochs
    while pending and epoch < planned:
        model.train()
        train_idx = tensors.splits["train"]
        order = torch.randperm(train_idx.numel(), generator=generator).to(train_idx.device)
        perm, total, n = train_idx[order], 0.0, 0
        for begin in range(0, perm.numel(), int(train.batch_size)):
            idx = perm[begin : begin + int(train.batch_size)]
            with autocast(train.precision, idx.device):
                logits = model(*tensors.batch(idx))
            loss = F.binary_cross_entropy_with_logits(
                logits.float(), tensors.label.index_select(0, idx)
            )
            for opt in (*optimizers, thresholds):
                opt.zero_grad(set_to_none=True)
            loss.backward()
            for opt in (*optimizers, thresholds):
                opt.step()
            value = float(loss.detach())
            if not math.isfinite(value):
                raise CandidateError(f"NaN loss after {steps} steps of the PEP search")
            total, n, steps = total + value, n + 1, steps + 1
            if pending and steps % settings.check_every == 0:
                kept = _kept(views)
                ratio = (kept + unpruned) / full_params
                while pending and ratio <= pending[0]:
                    target = pending.pop(0)
                    found[target] = Snapshot(target, True, ratio, kept + unpruned, epoch, steps,
                                             field_masks(views, schema))  # fmt: skip
                    _measure(model, tensors, train, found[target])
        kept = _kept(views)
        last = (kept + unpruned, epoch, steps)
        valid = split_metrics(model, tensors, "valid", {}, precision=train.precision)
        row = {"epoch": epoch, "train_loss": total / max(n, 1), "ratio": last[0] / full_params,
               "threshold_mean": float(torch.cat([torch.sigmoid(v.s.detach()).flatten()
                                                 for v in views]).mean()), **valid}  # fmt: skip
        history.append(row)
        if on_epoch is not None:
            on_epoch(epoch, planned if pending else epoch + 1, row)
        epoch += 1
        if should_stop():
            break
    if pending:  # never reached: the sparsest masks the search got to
        assert last is not None
        masks = field_masks(views, schema)
        for target in pending:
            found[target] = Snapshot(target, False, last[0] / full_params, last[0], last[1],
                                     last[2], masks)  # fmt: skip
            _measure(model, tensors, train, found[target])
    return PEPOutcome(
        snapshots=[found[t] for t in settings.targets],
        full_params=full_params,
        seconds=time.perf_counter() - start,
        epochs=epoch,
        steps=steps,
        history=history,
    )
