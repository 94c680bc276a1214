"""The alternating training of a relaxed supernet (DARTS, AutoDim, AutoFIS, AutoGroup).

Each training step, in this order:

1. *architecture step* (after ``warmup_epochs``, every ``arch_every`` steps): the
   architecture weights (widths, set memberships, numerical methods) take one Adam step
   on the loss of a validation batch, first-order (the gradient at the current model
   weights) or second-order (DARTS: at the weights after one virtual SGD step on a
   training batch, the Hessian term by finite differences);
2. *model step*: the model weights take one step of the spec's optimizer on a training
   batch, and the AutoFIS gates one GRDA step on the same batch.

The temperature of the Gumbel-softmax follows ``max(min, start - decay * step)`` (AutoDim:
``max(0.01, 1 - 5e-5 * step)``). After each epoch the supernet's validation AUC (noiseless
softmax) is logged, and with ``patience`` the search stops after that many epochs without
a better one; the architecture is derived from the weights at the end.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from searchengine.evaluation.grda import GRDA
from searchengine.evaluation.metrics import auc
from searchengine.evaluation.trainer import (
    CandidateError,
    Tensors,
    autocast,
    predict,
    weight_optimizers,
)
from searchengine.strategies._differentiable.supernet import Supernet

__all__ = ["SupernetOutcome", "SupernetSettings", "train_supernet"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SupernetSettings:
    """How the supernet is trained (the strategy's ``search.options``)."""

    epochs: int = 2
    patience: int | None = None
    warmup_epochs: float = 0.0
    arch_lr: float = 3e-2
    arch_every: int = 1
    order: int = 1
    temperature_start: float = 1.0
    temperature_decay: float = 5e-5
    temperature_min: float = 0.01
    grda_lr: float = 0.05
    grda_c: float | None = None
    grda_threshold: float = 2.0
    grda_mu: float = 0.8
    cost_weight: float = 0.0
    #: the embedding-parameter budget over FDE's (every field at its largest width), met
    #: by a Lagrangian on the expected parameters; None: no budget
    budget: float | None = None
    #: the step of the budget's multiplier (dual ascent on the relative violation)
    dual_lr: float = 0.02
    #: whether the derived backbone projects narrower widths to the widest (counted)
    project: bool = False
    #: end with the weights (and GRDA's accumulators) of the epoch of the best supernet
    #: validation AUC, so that a supernet that overfits is judged where it was best
    restore_best: bool = False

    def temperature(self, step: int) -> float:
        return max(self.temperature_min, self.temperature_start - self.temperature_decay * step)


@dataclass
class SupernetOutcome:
    """What the supernet's training measured."""

    seconds: float
    epochs: int
    steps: int
    history: list[dict[str, float]] = field(default_factory=list)
    #: the budget's Lagrange multiplier at the end (0 without a budget)
    multiplier: float = 0.0
    #: each gate tensor's GRDA accumulator ``a_n`` at the end (the gates' evidence)
    gate_evidence: list[Tensor] = field(default_factory=list)


def train_supernet(
    net: Supernet,
    tensors: Tensors,
    *,
    lr: float,
    optimizer: str,
    batch_size: int,
    settings: SupernetSettings,
    seed: int,
    precision: str = "fp32",
    should_stop: Callable[[], bool] = lambda: False,
    on_epoch: Callable[[int, int, dict[str, float]], None] | None = None,
) -> SupernetOutcome:
    """Train ``net`` by alternating architecture and model steps (module docstring), the
    forward passes at ``precision`` (``train.precision``).

    Raises:
        CandidateError: the supernet's loss became NaN.
    """
    start = time.perf_counter()
    model = net.model
    arch = net.architecture_parameters()
    gates = net.gate_parameters()
    weights = net.weight_parameters()
    optimizers = weight_optimizers(weights, model.sparse_parameters(), optimizer, lr)
    a_opt = torch.optim.Adam(arch, lr=settings.arch_lr, betas=(0.5, 0.999)) if arch else None
    loss_fn = nn.BCEWithLogitsLoss()
    generator = torch.Generator().manual_seed(seed)
    train_idx, valid_idx = tensors.splits["train"], tensors.splits["valid"]
    per_epoch = max(1, math.ceil(train_idx.numel() / batch_size))
    g_opt = None
    if gates:
        c = settings.grda_c
        if c is None:
            steps = settings.epochs * per_epoch
            c = settings.grda_threshold * auto_grda_c(
                gates, steps, settings.grda_lr, settings.grda_mu
            )
            _log.info(
                "GRDA c = %.4g: the threshold reaches %g x the initial gates after %d steps",
                c, settings.grda_threshold, steps,
            )  # fmt: skip
        g_opt = GRDA(gates, lr=settings.grda_lr, c=c, mu=settings.grda_mu)
    warmup = int(settings.warmup_epochs * per_epoch)
    valid_batches = _Cycle(valid_idx, batch_size, generator)
    budget = _Budget(net, settings)
    history: list[dict[str, float]] = []
    step = 0
    best = -math.inf, 0

    def loss_of(idx: Tensor) -> Tensor:
        with autocast(precision, idx.device):
            logits = model(*tensors.batch(idx))
        return loss_fn(logits.float(), tensors.label.index_select(0, idx))

    epoch = 0
    snapshot: tuple[dict[str, Tensor], list[Tensor]] | None = None
    for epoch in range(settings.epochs):
        model.train()
        order = train_idx[torch.randperm(train_idx.numel(), generator=generator)]
        total, count = 0.0, 0
        for s in range(0, order.numel(), batch_size):
            if should_stop():
                break
            batch = order[s : s + batch_size]
            net.relaxation.temperature = settings.temperature(step)
            if a_opt is not None and step >= warmup and step % settings.arch_every == 0:
                net.relaxation.resample()
                a_opt.zero_grad(set_to_none=True)
                if settings.order == 2:
                    _second_order_grads(net, loss_of, batch, valid_batches.next(), lr, weights)
                else:
                    val = (
                        loss_of(valid_batches.next())
                        + _cost(net, settings.cost_weight)
                        + budget.penalty()
                    )
                    grads = torch.autograd.grad(val, arch, allow_unused=True)
                    for p, g in zip(arch, grads, strict=True):
                        p.grad = g
                a_opt.step()
            net.relaxation.resample()
            loss = loss_of(batch)
            for opt in optimizers:
                opt.zero_grad(set_to_none=True)
            if g_opt is not None:
                g_opt.zero_grad(set_to_none=True)
            for p in arch:
                p.grad = None
            loss.backward()
            for opt in optimizers:
                opt.step()
            if g_opt is not None:
                g_opt.step()
            total += float(loss.detach())
            count += 1
            step += 1
            if not math.isfinite(total):
                raise CandidateError(f"NaN loss in the supernet after {step} steps")
        valid = _valid_auc(model, tensors, precision)
        history.append({"epoch": epoch, "train_loss": total / max(count, 1), "auc": valid})
        if budget.active:
            history[-1] |= {"params_ratio": budget.ratio(), "multiplier": budget.multiplier}
        _log.info("supernet epoch %d: train loss %.4f, valid auc %.4f",
                  epoch, history[-1]["train_loss"], valid)  # fmt: skip
        if on_epoch is not None:
            on_epoch(
                epoch, settings.epochs, {"auc": valid, "train_loss": history[-1]["train_loss"]}
            )
        if valid > best[0]:
            best = valid, epoch
            if settings.restore_best and epoch < settings.epochs - 1:
                snapshot = _snapshot(model, g_opt)
        if should_stop() or (
            settings.patience is not None and epoch - best[1] > settings.patience
        ):
            break
    if settings.restore_best and snapshot is not None and best[1] != epoch:
        _restore(model, g_opt, snapshot)
        _log.info("supernet: weights of epoch %d (best validation AUC %.4f) restored", *best[::-1])
    evidence = [
        g_opt.state[p]["accumulator"].detach().clone()
        if g_opt is not None and g_opt.state.get(p)
        else p.detach().clone()
        for p in gates
    ]
    return SupernetOutcome(
        time.perf_counter() - start, len(history), step, history, budget.multiplier, evidence
    )


def auto_grda_c(gates: Sequence[Tensor], steps: int, lr: float, mu: float) -> float:
    """The ``c`` whose GRDA threshold reaches the gates' mean initial size after ``steps``:
    a gate then survives the search only if its accumulated gradients pushed it up."""
    init = float(torch.cat([g.detach().abs().flatten() for g in gates]).mean())
    return init / GRDA.threshold(max(steps, 1), lr, 1.0, mu)


def _valid_auc(model: nn.Module, tensors: Tensors, precision: str) -> float:
    idx = tensors.splits["valid"]
    probs = predict(model, tensors, idx, precision=precision)
    return auc(tensors.label.index_select(0, idx).cpu().numpy(), probs)


def _cost(net: Supernet, weight: float) -> Tensor | float:
    """``weight`` times the expected embedding parameters of the widths over those of the
    largest widths: an optional memory penalty on the architecture loss (0 by default,
    as in AutoDim)."""
    if weight <= 0.0 or (net.dims is None and net.fields is None):
        return 0.0
    cost: Tensor | float = 0.0
    if net.dims is not None:
        cost = net.dims.expected_params_ratio()
    if net.fields is not None:  # AutoField with a cost: the expected share of fields kept
        cost = cost + net.fields.expected_kept_ratio()
    return weight * cost


def _snapshot(model: nn.Module, g_opt: GRDA | None) -> tuple[dict[str, Tensor], list[Tensor]]:
    """A copy of the model's state and of GRDA's accumulators."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    accumulators = []
    if g_opt is not None:
        for group in g_opt.param_groups:
            for p in group["params"]:
                acc = g_opt.state.get(p, {}).get("accumulator")
                accumulators.append(p.detach().clone() if acc is None else acc.clone())
    return state, accumulators


def _restore(
    model: nn.Module, g_opt: GRDA | None, snapshot: tuple[dict[str, Tensor], list[Tensor]]
) -> None:
    state, accumulators = snapshot
    model.load_state_dict(state)
    if g_opt is not None:
        params = [p for group in g_opt.param_groups for p in group["params"]]
        for p, acc in zip(params, accumulators, strict=True):
            if g_opt.state.get(p):
                g_opt.state[p]["accumulator"].copy_(acc)


class _Budget:
    """AutoDim's memory as a constraint: ``E[params] / FDE's <= budget``, met by the
    Lagrangian ``L_val + m * (E[params] / FDE's - budget)`` whose multiplier ``m >= 0``
    rises by dual ascent while the expected parameters exceed the budget and falls back
    to 0 once they stay under it."""

    def __init__(self, net: Supernet, settings: SupernetSettings) -> None:
        self.dims = net.dims
        self.active = settings.budget is not None and self.dims is not None
        self.budget = settings.budget or 0.0
        self.lr, self.project = settings.dual_lr, settings.project
        self.multiplier = 0.0
        self.full = self.dims.full_params() if self.dims is not None else 1.0

    def penalty(self) -> Tensor | float:
        if not self.active or self.dims is None:
            return 0.0
        violation = self.dims.expected_params(project=self.project) / self.full - self.budget
        self.multiplier = max(0.0, self.multiplier + self.lr * float(violation.detach()))
        return self.multiplier * violation

    def ratio(self) -> float:
        if self.dims is None:
            return 0.0
        with torch.no_grad():
            return float(self.dims.expected_params(project=self.project)) / self.full


def _second_order_grads(
    net: Supernet,
    loss_of: Callable[[Tensor], Tensor],
    train_batch: Tensor,
    valid_batch: Tensor,
    xi: float,
    weights: Sequence[nn.Parameter],
) -> None:
    """DARTS' second-order architecture gradient, set as ``.grad`` of the architecture
    weights: ``d/da L_val(w - xi dL_train/dw, a)``, the Hessian-vector product by central
    finite differences with ``eps = 0.01 / |dL_val/dw'|``."""
    arch = net.architecture_parameters()
    trainable = [p for p in weights if p.requires_grad]
    saved = [p.detach().clone() for p in trainable]
    grads = torch.autograd.grad(loss_of(train_batch), trainable, allow_unused=True)
    with torch.no_grad():
        for p, g in zip(trainable, grads, strict=True):
            if g is not None:
                p.sub_(g, alpha=xi)
    val = loss_of(valid_batch)
    found = torch.autograd.grad(val, [*arch, *trainable], allow_unused=True)
    d_arch, d_w = found[: len(arch)], found[len(arch) :]
    norm = torch.sqrt(sum((g.pow(2).sum() for g in d_w if g is not None), torch.zeros(())))
    eps = 0.01 / max(float(norm), 1e-12)

    def arch_grad_at(sign: float) -> Sequence[Tensor | None]:
        with torch.no_grad():
            for p, w0, g in zip(trainable, saved, d_w, strict=True):
                p.copy_(w0)
                if g is not None:
                    p.add_(g, alpha=sign * eps)
        return torch.autograd.grad(loss_of(train_batch), arch, allow_unused=True)

    plus, minus = arch_grad_at(1.0), arch_grad_at(-1.0)
    with torch.no_grad():
        for p, w0 in zip(trainable, saved, strict=True):
            p.copy_(w0)
    for p, g, gp, gm in zip(arch, d_arch, plus, minus, strict=True):
        grad = torch.zeros_like(p) if g is None else g.clone()
        if gp is not None and gm is not None:
            grad -= xi * (gp - gm) / (2.0 * eps)
        p.grad = grad


class _Cycle:
    """Endless random batches of the rows ``idx``."""

    def __init__(self, idx: Tensor, batch_size: int, generator: torch.Generator) -> None:
        self.idx, self.batch_size, self.generator = idx, batch_size, generator
        self._order = idx[:0]
        self._at = 0

    def next(self) -> Tensor:
        if self._at >= self._order.numel():
            self._order = self.idx[torch.randperm(self.idx.numel(), generator=self.generator)]
            self._at = 0
        batch = self._order[self._at : self._at + self.batch_size]
        self._at += self.batch_size
        return batch
