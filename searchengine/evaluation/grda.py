"""GRDA: generalized regularized dual averaging (Chao & Cheng, 2019), as used by AutoFIS.

Dual averaging keeps an accumulator of the gradients instead of moving the weights
directly, and the weights are a soft-threshold of it whose threshold grows with the step
count ``n``::

    a_0 = w_0
    a_n = a_{n-1} - lr * g_n
    w_n = sign(a_n) * max(|a_n| - c * lr^(1/2 + mu) * n^mu, 0)

A weight whose gradients do not keep pushing it one way (a gate of a useless interaction)
falls under the growing threshold and becomes exactly zero, then stays there until the
accumulated gradient clears the threshold again; a useful weight's accumulator drifts
faster than ``n^mu`` (for ``mu < 1``) and survives. ``c`` sets the strength of the
sparsification, ``mu`` how fast it grows. AutoFIS (KDD'20) trains its interaction gates
with it: ``c = 5e-3, mu = 0.6`` for FM, ``c = 5e-4, mu = 0.8`` for DeepFM, on Criteo-sized
step counts; far fewer steps need a larger ``c`` (the threshold at step ``n`` is what
matters; see :meth:`GRDA.threshold`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

__all__ = ["GRDA"]


class GRDA(torch.optim.Optimizer):
    """The GRDA optimizer (dense gradients).

    Args:
        params: the parameters to sparsify (AutoFIS: the gates ``alpha``).
        lr: the learning rate of the accumulator.
        c: the strength of the l1 threshold (``>= 0``; 0 is plain dual averaging, SGD).
        mu: the growth exponent of the threshold, in ``(0, 1]``; above 0.5 the threshold
            outgrows the random walk (``~ sqrt(n)``) of a weight whose gradient is noise.

    Raises:
        ValueError: a negative ``lr`` or ``c``, or ``mu`` outside ``(0, 1]``.
    """

    def __init__(
        self, params: Iterable[Any], lr: float = 0.01, c: float = 5e-3, mu: float = 0.6
    ) -> None:
        if lr <= 0.0:
            raise ValueError(f"`lr > 0` must hold, got lr={lr}")
        if c < 0.0:
            raise ValueError(f"`c >= 0` must hold, got c={c}")
        if not 0.0 < mu <= 1.0:
            raise ValueError(f"`0 < mu <= 1` must hold, got mu={mu}")
        super().__init__(params, {"lr": lr, "c": c, "mu": mu})

    @staticmethod
    def threshold(step: int, lr: float, c: float, mu: float) -> float:
        """The l1 threshold after ``step`` updates: ``c * lr^(1/2 + mu) * step^mu``."""
        return c * lr ** (0.5 + mu) * step**mu

    @torch.no_grad()
    def step(self, closure: Any = None) -> Tensor | None:  # type: ignore[override]
        """One dual-averaging update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, c, mu = group["lr"], group["c"], group["mu"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("GRDA does not take sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["accumulator"] = p.detach().clone()
                state["step"] += 1
                acc: Tensor = state["accumulator"]
                acc.add_(p.grad, alpha=-lr)
                limit = self.threshold(state["step"], lr, c, mu)
                p.copy_(acc.sign() * (acc.abs() - limit).clamp_(min=0.0))
        return loss
