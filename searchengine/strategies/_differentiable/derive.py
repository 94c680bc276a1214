"""AutoFIS's derive step, chosen by the evidence: how many interaction gates to keep.

GRDA's own rule keeps the pairs whose gate is not exactly zero at the end of the search,
which depends on how far its threshold grew, a schedule, not on the data (on few steps it
zeroes nearly every gate). The ``validation`` rule instead:

1. ranks the pairs by the size of their GRDA accumulator ``|a_n|`` (the same order as
   ``|alpha|`` where the gate is non-zero, and it still orders the zeroed ones);
2. evaluates the trained supernet with only the top ``k`` gates open, for a ladder of
   cut points ``k`` (every ``k`` for up to 64 pairs), on validation rows;
3. keeps the fewest pairs whose validation logloss is within one standard error of the
   best cut point's (the paired per-row differences; the one-standard-error rule), so a
   pair is kept only where dropping it costs measurably.

A supernet trained with every pair leans on all of them, so its pruned loss favours
keeping nearly all (on MovieLens-100K and Adult it supports 90% of the pairs). The
``retrain`` rule (the default) therefore retrains the pruned model at a few cut points
(that count, and 1/8 to 1/2 of the pairs) and applies the same one-standard-error rule to
their validation loss: the evidence is the loss of the model that will be kept.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from searchengine.evaluation.trainer import Tensors, autocast, fit
from searchengine.strategies._differentiable.supernet import Supernet

__all__ = [
    "cut_points", "gate_scores", "retrain_cut_points", "select_by_retraining", "select_gates"
]  # fmt: skip

_log = logging.getLogger(__name__)

#: Every cut point up to this many pairs; beyond, a geometric ladder.
_ALL_CUTS = 64
#: The validation rows the cut points are compared on, at most.
_MAX_ROWS = 200_000
_EVAL_BATCH = 16_384


def cut_points(n_pairs: int) -> list[int]:
    """``0..n`` for up to 64 pairs, else ``0..16`` and a geometric ladder up to ``n``."""
    if n_pairs <= _ALL_CUTS:
        return list(range(n_pairs + 1))
    ladder = {
        int(round(x)) for x in torch.logspace(math.log10(16), math.log10(n_pairs), 24).tolist()
    }
    return sorted(set(range(17)) | ladder | {n_pairs})


def select_gates(
    net: Supernet, tensors: Tensors, scores: Tensor, *, precision: str = "fp32", seed: int = 0
) -> tuple[list[bool], dict[int, float]]:
    """Which gates to keep (in decision order) and the mean validation logloss of each
    cut point, by the rule of the module docstring.

    Args:
        net: the trained supernet with its gates.
        tensors: the data; the ``valid`` split is read.
        scores: ``(P,)`` the evidence of each pair (GRDA's ``|a_n|``).
        precision: the forward passes' precision.
        seed: picks the validation rows when there are more than 200,000.
    """
    idx = tensors.splits["valid"]
    if idx.numel() > _MAX_ROWS:
        g = torch.Generator().manual_seed(seed)
        idx = idx[torch.randperm(idx.numel(), generator=g)[:_MAX_ROWS]]
    order = torch.argsort(scores, descending=True, stable=True)
    saved = [gated.alpha.detach().clone() for gated, _ in net.gates]
    losses: dict[int, Tensor] = {}
    try:
        for k in cut_points(scores.numel()):
            mask = torch.zeros_like(scores)
            mask[order[:k]] = 1.0
            with torch.no_grad():
                for (gated, _), alpha in zip(net.gates, saved, strict=True):
                    gated.alpha.copy_(alpha * mask.to(alpha.device))
            losses[k] = _row_losses(net.model, tensors, idx, precision)
    finally:
        with torch.no_grad():
            for (gated, _), alpha in zip(net.gates, saved, strict=True):
                gated.alpha.copy_(alpha)
    k = _one_standard_error(losses)
    keep = torch.zeros(scores.numel(), dtype=torch.bool)
    keep[order[:k]] = True
    return keep.tolist(), {c: float(v.mean()) for c, v in losses.items()}


def retrain_cut_points(n_pairs: int, supported: int) -> list[int]:
    """The cut points whose pruned models are retrained: the supernet's supported count
    and 1/8, 1/4, 3/8 and 1/2 of the pairs (at least one pair each)."""
    fractions = {max(1, math.ceil(n_pairs * f / 8)) for f in (1, 2, 3, 4)}
    return sorted(fractions | {supported})


def select_by_retraining(
    net: Supernet,
    evaluator: Any,
    scores: Tensor,
    cuts: Sequence[int],
    *,
    device: torch.device,
    budget: float | None = None,
) -> tuple[list[bool], dict[int, float]]:
    """Retrain the derived model (its other decisions derived, under ``budget`` embedding
    parameters if given) with the top ``k`` pairs for each ``k`` in ``cuts`` (the
    spec's training, early stopping included) and keep the fewest whose validation
    logloss is within one standard error of the best's; the mean validation logloss of
    each cut point."""
    order = torch.argsort(scores, descending=True, stable=True)
    decisions = [d for _, ds in net.gates[:1] for d in ds]
    tensors = evaluator.tensors(device)
    base = net.derive(budget=budget)
    losses: dict[int, Tensor] = {}
    for k in sorted(set(cuts)):
        keep = set(order[:k].tolist())
        values = base | {d.name: i in keep for i, d in enumerate(decisions)}
        arch = net.architecture(values)
        model = evaluator.build(arch)
        fit(model, tensors, arch.train, seed=evaluator.seed, metrics={})
        losses[k] = _row_losses(model, tensors, tensors.splits["valid"], arch.train.precision)
        _log.info("AutoFIS derive: %d pairs retrained, validation logloss %.5f",
                  k, float(losses[k].mean()))  # fmt: skip
    k = _one_standard_error(losses)
    kept = torch.zeros(scores.numel(), dtype=torch.bool)
    kept[order[:k]] = True
    return kept.tolist(), {c: float(v.mean()) for c, v in losses.items()}


def _one_standard_error(losses: dict[int, Tensor]) -> int:
    """The smallest cut point whose mean loss exceeds the best's by at most one standard
    error of their paired per-row difference."""
    best = min(losses, key=lambda c: float(losses[c].mean()))
    n = losses[best].numel()
    for c in sorted(losses):
        diff = losses[c] - losses[best]
        se = float(diff.std()) / math.sqrt(max(n, 1)) if n > 1 else 0.0
        if float(diff.mean()) <= se:
            return c
    return best


def _row_losses(model: nn.Module, tensors: Tensors, idx: Tensor, precision: str) -> Tensor:
    """The logloss of every row of ``idx`` under ``model`` in evaluation mode."""
    model.eval()
    out: list[Tensor] = []
    with torch.no_grad(), autocast(precision, idx.device):
        for start in range(0, idx.numel(), _EVAL_BATCH):
            rows = idx[start : start + _EVAL_BATCH]
            logits = model(*tensors.batch(rows)).float()
            label = tensors.label.index_select(0, rows).float()
            out.append(nn.functional.binary_cross_entropy_with_logits(
                logits, label, reduction="none"
            ).cpu())  # fmt: skip
    return torch.cat(out) if out else torch.zeros(0)


def gate_scores(accumulators: Sequence[Tensor]) -> Tensor:
    """``(P,)`` the evidence of each pair: ``|a_n|`` summed over the gated modules."""
    return torch.stack([a.detach().abs().float().cpu() for a in accumulators]).sum(dim=0)
