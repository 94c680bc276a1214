"""Adam for embedding tables with sparse gradients, updating only the rows a batch touched.

The arithmetic is that of ``torch.optim.SparseAdam`` ("lazy" Adam: the moments of rows
absent from a batch are left as they are; bias correction uses the optimizer's step
count). What differs is the bookkeeping: ``SparseAdam`` coalesces the gradient and then
does several sparse-masked adds over the whole table, which on CPU costs more than the
forward and backward passes of a Criteo-sized model. Here the batch's rows are found
with one ``unique``, and the update is a gather, a few small dense ops on ``(U, D)``
(``U`` touched rows) and scatters back. For a batch of 2,048 Criteo-shaped rows
(26 fields, 380k ids) on two CPU cores the update of the tables takes about 6 ms
instead of about 23 ms.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable

import torch
from torch import Tensor

__all__ = ["RowSparseAdam"]


class _RowSums:
    """Sums the rows of uncoalesced sparse gradients ``(V, D)`` per distinct row.

    The sum is one sparse CSR matrix product: the ``(U, n)`` matrix that maps each of the
    ``n`` looked-up rows to its distinct row, times the ``(n, D)`` values. On CPU it is
    several times faster than ``index_add_`` (a serial scatter). Tables looked up with
    the same ids in one step (a model's first-order weights and its field vectors) get
    gradients with equal indices; their matrix is built once.
    """

    def __init__(self) -> None:
        self._last: tuple[Tensor, Tensor, Tensor] | None = None

    def __call__(self, grad: Tensor) -> tuple[Tensor, Tensor]:
        """The distinct rows ``(U,)`` and their summed values ``(U, D)``."""
        if grad.is_coalesced():
            return grad._indices()[0], grad._values()
        indices, values = grad._indices()[0], grad._values()  # (n,), (n, D)
        last = self._last
        if last is not None and last[0].shape == indices.shape and torch.equal(last[0], indices):
            rows, summing = last[1], last[2]
        else:
            # Row ids fit in 32 bits (a table of 2**31 rows would not fit in memory),
            # and a CPU sort of int32 keys takes half the time of int64 ones.
            keys = indices.int() if grad.shape[0] < 2**31 else indices
            ordered, perm = torch.sort(keys)  # (n,), (n,)
            rows, counts = torch.unique_consecutive(ordered, return_counts=True)  # (U,)
            rows = rows.long()
            crow = counts.new_zeros(rows.numel() + 1)
            torch.cumsum(counts, 0, out=crow[1:])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "CSR support is in beta"
                summing = torch.sparse_csr_tensor(
                    crow, perm, torch.ones_like(perm, dtype=values.dtype),
                    (rows.numel(), indices.numel()), check_invariants=False,
                )  # fmt: skip
            self._last = (indices, rows, summing)
        if summing.dtype != values.dtype:
            summing = summing.to(values.dtype)
        flat = values.reshape(values.shape[0], -1)  # (n, D)
        return rows, (summing @ flat).reshape(rows.numel(), *values.shape[1:])  # (U, D)


class RowSparseAdam(torch.optim.Optimizer):
    """``torch.optim.SparseAdam``'s update, computed on the touched rows only.

    Args:
        params: parameters whose gradients are sparse COO tensors (``nn.Embedding`` built
            with ``sparse=True``).
        lr: learning rate.
        betas: decay rates of the first and second moments.
        eps: added to the denominator.

    Raises:
        ValueError: for an lr, eps or beta out of range.
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        if not lr > 0.0 or not eps > 0.0:
            raise ValueError(f"lr and eps must be > 0, got lr={lr}, eps={eps}")
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[no-untyped-def, override]
        """One update of every parameter that has a gradient.

        Raises:
            RuntimeError: if a gradient is dense.
        """
        loss = None if closure is None else closure()
        row_sums = _RowSums()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                if not param.grad.is_sparse:
                    raise RuntimeError("RowSparseAdam needs sparse gradients (sparse=True)")
                state = self.state[param]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(param)
                    state["exp_avg_sq"] = torch.zeros_like(param)
                state["step"] += 1
                rows, grad = row_sums(param.grad)  # (U,), (U, D)
                exp_avg = state["exp_avg"].index_select(0, rows).lerp_(grad, 1.0 - beta1)
                exp_avg_sq = state["exp_avg_sq"].index_select(0, rows)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
                state["exp_avg"].index_copy_(0, rows, exp_avg)
                state["exp_avg_sq"].index_copy_(0, rows, exp_avg_sq)
                step_size = (
                    group["lr"]
                    * math.sqrt(1.0 - beta2 ** state["step"])
                    / (1.0 - beta1 ** state["step"])
                )
                update = exp_avg.div_(exp_avg_sq.sqrt_().add_(group["eps"]))  # (U, D)
                # Rows are distinct, so gather-add-scatter equals index_add_, which is
                # several times slower on a large CPU table.
                weights = param.index_select(0, rows).add_(update, alpha=-step_size)
                param.index_copy_(0, rows, weights)
        return loss
