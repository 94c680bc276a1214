"""Training one candidate: mini-batches over index tensors, early stopping, restore best.

Data is whole tensors (on the CPU, views of the memory-mapped cache); a batch is
``index_select`` of a permuted slice of the train indices, so no per-row Python runs in
the loop.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from searchengine.evaluation._allocator import keep_freed_memory
from searchengine.evaluation._sparse_adam import RowSparseAdam
from searchengine.evaluation.metrics import auc, logloss
from searchengine.spec.format import TrainSpec

__all__ = [
    "OPTIMIZERS",
    "CandidateError",
    "FitOutcome",
    "Tensors",
    "autocast",
    "dense_optimizer",
    "fit",
    "predict",
    "weight_optimizers",
]

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "adagrad": torch.optim.Adagrad,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}
#: Optimizers whose fused kernel (one op updates every tensor) runs on CPU and CUDA.
_FUSED = frozenset({"adam", "adamw"})
_EVAL_BATCH = 32768
_NAN_CHECK_EVERY = 50
_checked_precision: set[str] = set()  # device types whose bfloat16 support was checked


class CandidateError(RuntimeError):
    """The candidate cannot be trained (NaN loss, diverged); its trial fails with this reason."""


@dataclass(eq=False)
class Tensors:
    """The encoded data as tensors on the training device, loaded once per process.

    On the CPU they share memory with the (memory-mapped) encoded arrays: a batch is
    gathered from the mapped rows, which never need to be resident at once. ``cat`` may
    hold int32 ids; :meth:`batch` gives int64."""

    cat: Tensor
    num: Tensor
    num_missing: Tensor
    label: Tensor
    splits: dict[str, Tensor]

    def batch(self, idx: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return (
            self.cat.index_select(0, idx).long(),
            self.num.index_select(0, idx),
            self.num_missing.index_select(0, idx),
        )


@dataclass
class FitOutcome:
    """What training produced: the best epoch's validation metrics and the history."""

    best_epoch: int
    valid: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def make_optimizers(model: nn.Module, train: TrainSpec) -> list[torch.optim.Optimizer]:
    """Adam-family optimizer for dense weights; sparse Adam for sparse embedding tables.

    Sparse tables get :class:`RowSparseAdam`: ``torch.optim.SparseAdam``'s update at a
    fraction of its cost.

    ``weight_decay`` applies to the dense non-embedding weights only: decaying every row
    of a large table at each step would cost a dense update per step. Adam and AdamW
    use their fused kernel where it exists (CPU, CUDA): the same update, without a
    dozen small ops per tensor per step.
    """
    return weight_optimizers(
        [p for p in model.parameters() if p.requires_grad],
        model.sparse_parameters(),  # type: ignore[operator]
        str(train.optimizer),
        float(train.lr),
        weight_decay=float(train.weight_decay),
        undecayed=_embedding_parameters(model),
    )


def weight_optimizers(
    params: list[nn.Parameter],
    sparse: list[nn.Parameter],
    name: str,
    lr: float,
    *,
    weight_decay: float = 0.0,
    undecayed: list[nn.Parameter] | None = None,
) -> list[torch.optim.Optimizer]:
    """The optimizers of ``params``: those among ``sparse`` (tables with sparse
    gradients) under :class:`RowSparseAdam`, the others under :func:`dense_optimizer`
    ``name``, with ``weight_decay`` on all but ``undecayed``."""
    sparse_ids = {id(p) for p in sparse}
    plain_ids = {id(p) for p in undecayed or []}
    dense = [p for p in params if id(p) not in sparse_ids]
    groups = [
        g
        for g in (
            {"params": [p for p in dense if id(p) not in plain_ids], "weight_decay": weight_decay},
            {"params": [p for p in dense if id(p) in plain_ids], "weight_decay": 0.0},
        )
        if g["params"]
    ]
    optimizers: list[torch.optim.Optimizer] = []
    if groups:
        optimizers.append(dense_optimizer(name, groups, lr))
    tables = [p for p in params if id(p) in sparse_ids]
    if tables:
        optimizers.append(RowSparseAdam(tables, lr=lr))
    return optimizers


def dense_optimizer(name: str, groups: list[Any], lr: float) -> torch.optim.Optimizer:
    """The optimizer ``name`` over dense parameters (or parameter groups), with its fused
    kernel where it has one for their device."""
    params = [p for g in groups for p in (g["params"] if isinstance(g, dict) else [g])]
    fused = name in _FUSED and all(
        p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params
    )
    options = {"fused": True} if fused else {}
    return OPTIMIZERS[name](groups, lr=lr, **options)


def _embedding_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [m.weight for m in model.modules() if isinstance(m, nn.Embedding)]


def autocast(precision: str, device: torch.device | str) -> contextlib.AbstractContextManager[Any]:
    """The context of ``train.precision`` on ``device``: ``bf16`` runs the matrix
    products in bfloat16 (``torch.autocast``: weights stay float32, are cast per use,
    and their gradients come back float32); ``fp32`` changes nothing.

    Warns once per device type where bfloat16 has no native support (it runs, slower)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    kind = torch.device(device).type
    if kind not in _checked_precision:  # once: autocast is entered at every step
        _checked_precision.add(kind)
        if not _native_bf16(kind):
            warnings.warn(
                f"train.precision: bf16 on a {kind} without native bfloat16 is emulated "
                "and slower than fp32",
                RuntimeWarning,
                stacklevel=2,
            )
    return torch.autocast(kind, dtype=torch.bfloat16)


def _native_bf16(kind: str) -> bool:
    """Whether ``kind`` devices run bfloat16 natively (True where torch cannot tell)."""
    try:
        if kind == "cuda":
            return bool(torch.cuda.is_bf16_supported())
        if kind == "cpu":  # oneDNN's check: AVX512-BF16 or AMX
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        pass
    return True


@torch.inference_mode()
def predict(
    model: nn.Module, tensors: Tensors, idx: Tensor, *, precision: str = "fp32"
) -> np.ndarray:
    """Probabilities for the rows ``idx``, in large batches, at ``precision``."""
    model.eval()
    out = []
    with autocast(precision, idx.device):
        for start in range(0, idx.numel(), _EVAL_BATCH):
            logits = model(*tensors.batch(idx[start : start + _EVAL_BATCH]))
            out.append(torch.sigmoid(logits.float()))
    return torch.cat(out).cpu().numpy() if out else np.zeros(0, dtype=np.float32)


def split_metrics(
    model: nn.Module,
    tensors: Tensors,
    split: str,
    extra: dict[str, Callable[[np.ndarray, np.ndarray], float]],
    *,
    precision: str = "fp32",
) -> dict[str, float]:
    """AUC, logloss and the registered metrics of one split."""
    idx = tensors.splits[split]
    probs = predict(model, tensors, idx, precision=precision)
    labels = tensors.label.index_select(0, idx).cpu().numpy()
    if not np.all(np.isfinite(probs)):
        raise CandidateError(f"non-finite predictions on the {split} split")
    out = {"auc": auc(labels, probs), "logloss": logloss(labels, probs)}
    for name, fn in extra.items():
        out.setdefault(name, float(fn(labels, probs)))
    return out


def _train_epoch(
    model: nn.Module,
    tensors: Tensors,
    optimizers: list[torch.optim.Optimizer],
    batch_size: int,
    generator: torch.Generator,
    precision: str,
) -> float:
    model.train()
    train_idx = tensors.splits["train"]
    perm = train_idx[torch.randperm(train_idx.numel(), generator=generator).to(train_idx.device)]
    loss_fn = nn.BCEWithLogitsLoss()
    total = torch.zeros((), device=train_idx.device)
    steps = 0
    for start in range(0, perm.numel(), batch_size):
        idx = perm[start : start + batch_size]
        with autocast(precision, idx.device):
            logits = model(*tensors.batch(idx))
        loss = loss_fn(logits.float(), tensors.label.index_select(0, idx))
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in optimizers:
            opt.step()
        total += loss.detach()
        steps += 1
        if steps % _NAN_CHECK_EVERY == 0 and not math.isfinite(float(total)):
            raise CandidateError(f"NaN loss after {steps} steps")
    mean = float(total) / max(steps, 1)
    if not math.isfinite(mean):
        raise CandidateError("NaN loss")
    return mean


def fit(
    model: nn.Module,
    tensors: Tensors,
    train: TrainSpec,
    *,
    seed: int,
    metrics: dict[str, Callable[[np.ndarray, np.ndarray], float]],
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
) -> FitOutcome:
    """Train with early stopping on validation AUC and restore the best epoch's weights.

    Each history row holds the epoch's mean training loss, ``train_seconds`` (the
    training pass alone, without validation) and the validation metrics.

    Args:
        model: a freshly built CTR model on the tensors' device.
        tensors: the data.
        train: optimizer, lr, batch size, epochs, patience.
        seed: seeds the batch order (the caller seeds the initialization).
        metrics: extra registered metrics to compute on validation.
        on_epoch: called with (epoch, validation metrics); may raise to stop (pruning).

    Raises:
        CandidateError: NaN loss or non-finite predictions.
    """
    start = time.perf_counter()
    keep_freed_memory()
    generator = torch.Generator().manual_seed(seed)
    optimizers = make_optimizers(model, train)
    best: tuple[float, int, dict[str, float], dict] | None = None
    history: list[dict[str, float]] = []
    for epoch in range(int(train.epochs)):
        epoch_start = time.perf_counter()
        loss = _train_epoch(
            model, tensors, optimizers, int(train.batch_size), generator, train.precision
        )
        seconds = time.perf_counter() - epoch_start
        valid = split_metrics(model, tensors, "valid", metrics, precision=train.precision)
        history.append({"epoch": epoch, "train_loss": loss, "train_seconds": seconds, **valid})
        score = valid["auc"] if math.isfinite(valid["auc"]) else -valid["logloss"]
        if best is None or score > best[0]:
            best = (score, epoch, valid, copy.deepcopy(model.state_dict()))
        if on_epoch is not None:
            on_epoch(epoch, valid)
        if epoch - best[1] > int(train.patience):
            break
    assert best is not None
    model.load_state_dict(best[3])
    return FitOutcome(best[1], best[2], history, time.perf_counter() - start)


@torch.inference_mode()
def latency_ms(
    model: nn.Module,
    tensors: Tensors,
    rows: int = 1000,
    repeats: int = 7,
    *,
    precision: str = "fp32",
) -> float:
    """Median inference time of 1,000 rows (one batch) at ``precision``, in milliseconds."""
    model.eval()
    idx = tensors.splits["test"]
    if idx.numel() == 0:
        idx = tensors.splits["train"]
    idx = idx[torch.arange(rows, device=idx.device) % idx.numel()]
    batch = tensors.batch(idx)
    times = []
    with autocast(precision, idx.device):
        model(*batch)  # warm-up
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(*batch)
            times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000.0)
