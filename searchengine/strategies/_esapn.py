"""ESAPN's search loop: train a model with dynamic embeddings while policies grow its ids.

Life cycle of :func:`search_sizes`: the model (every dynamic id at the smallest size) is
trained on the train split with the spec's optimizer; every ``interval`` batches each
dynamic field's :class:`FieldPolicy` observes the per-id loss of the batch's ids. Per id
it keeps the last ``T`` losses; after ``T`` new observations an id is *due*:

1. if it acted before, that action gets the reward ``R = D - beta * S * M / u`` with
   ``D = mean(T losses before it) - mean(T losses since)`` the drop of its loss (the
   seed's ``(1/T) sum_t L_t - L`` compares one loss now, as noisy as a row's), ``M`` the
   memory the action took (an enlargement's added width over the width it had; 0 to
   keep), ``u`` the id's usage (its train count over the mean count of the ids that
   decide), so ``M / u`` is memory per row served, ``S`` the spread (std) of ``D`` over
   the buffered rewards and ``beta`` the ``memory_weight`` (0: the seed's reward);
2. if it is below the largest size, the policy reads its state ``(frequency quantile,
   log frequency / log max frequency, size index / (K - 1))`` and samples *enlarge* or
   *unchange*; enlarging applies ``e_{k+1} = W_{k->k+1} e_k + b`` to its row (see
   ``DynamicEmbedding.enlarge``).

So an enlargement pays where the id is used often enough for its loss drop to outweigh
the memory it takes per row, and the policy learns P(enlarge) rising with frequency where
the loss drops say so. The policy's REINFORCE loss weighs each frequency-quantile decile
alike (frequent ids decide far more often), each decision's advantage is its reward over
the mean reward of its decile (a baseline per state: a decile's actions are judged
against each other, not against other deciles' loss drops), and it reads centred
features, so that a push on every state moves its bias rather than its slope over
frequency. What the loss drops said is reported per decile (``drop_by_frequency``: the
enlargements' mean drop over the kept ids', with its standard error).

Rewarded actions are buffered and the policy takes a REINFORCE step (advantages scaled
by the buffer's spread, an entropy bonus) once enough are gathered. The growth maps ``W, b`` are
trained at each policy step on the loss the batch would have with every id enlarged (the
model's ``lookahead`` pass). After each epoch the validation AUC is measured; the sizes
of the best epoch are the result, and training stops after ``patience`` epochs without
improvement, as the Evaluator does.

By default the search is one pass over the train split, as ESAPN's streaming setting:
every loss an id observes is then taken on rows the model has not trained on, so the
reward is a held-out loss drop. In later passes the rows are known, and the reward pays
growth for fitting them (on MovieLens-100K, a search of several passes kept sizes at 83%
of the full-size parameters where one pass ended at 43%, at about the same retrained AUC).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from searchengine.evaluation.trainer import (
    CandidateError,
    Tensors,
    autocast,
    make_optimizers,
    split_metrics,
)
from searchengine.models.embedding.dynamic import DynamicEmbedding
from searchengine.spec.format import TrainSpec

__all__ = ["FieldPolicy", "SizePolicy", "ESAPNOutcome", "ESAPNSettings", "search_sizes"]

_MIN_SAMPLES = 32  # rewarded actions gathered before a policy step
ENLARGE = 1
STATE = 3  # frequency quantile, normalized log frequency, size index
_BINS = 10  # frequency-quantile bins the policy's REINFORCE loss is balanced over


@dataclass(frozen=True)
class ESAPNSettings:
    """The knobs of one ESAPN search (from the strategy's options)."""

    history: int = 5
    interval: int = 1
    epochs: int = 1
    patience: int = 2
    policy_lr: float = 2e-2
    entropy: float = 0.01
    hidden: int = 16
    init_enlarge: float = 0.5
    transform_lr: float = 1e-3
    memory_weight: float = 0.05


@dataclass
class ESAPNOutcome:
    """What the search produced: the size index of every id of each dynamic field at the
    best epoch, the cost, and one row per epoch."""

    levels: dict[str, np.ndarray]
    best_epoch: int
    seconds: float
    epochs: int
    history: list[dict[str, float]] = field(default_factory=list)
    enlarge_probability: dict[str, list[float]] = field(default_factory=dict)
    drop_by_frequency: dict[str, list[dict[str, float]]] = field(default_factory=dict)


class SizePolicy(nn.Module):
    """State ``(n, STATE)`` -> logits ``(n, 2)`` of (unchange, enlarge).

    Args:
        hidden: the width of its one hidden layer.
        init_enlarge: the probability of *enlarge* it starts with, whatever the state.
    """

    def __init__(self, hidden: int, init_enlarge: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(STATE, hidden), nn.Tanh(), nn.Linear(hidden, 2))
        last = self.net[-1]
        assert isinstance(last, nn.Linear)
        with torch.no_grad():
            last.weight.mul_(0.1)
            last.bias.copy_(torch.tensor([0.0, math.log(init_enlarge / (1 - init_enlarge))]))

    def forward(self, state: Tensor) -> Tensor:
        # centred features: a push on every state moves the bias, not the slopes
        return self.net(state - 0.5)  # (n, 2)


class FieldPolicy:
    """One dynamic field: its policy, and per id the loss history and pending action.

    Args:
        module: the DynamicEmbedding holding the field.
        index: the field's position in ``module``.
        counts: train rows of each id, ``(vocab_size,)``.
        settings: T, learning rate, entropy bonus, policy size.
        generator: samples the actions.
    """

    def __init__(
        self,
        module: DynamicEmbedding,
        index: int,
        counts: np.ndarray,
        settings: ESAPNSettings,
        generator: torch.Generator,
    ) -> None:
        device = module.level.device
        self.module, self.index, self.settings, self.generator = module, index, settings, generator
        raw = torch.as_tensor(counts, dtype=torch.float32, device=device)
        log_counts = torch.log1p(raw)
        self.frequency = log_counts / log_counts.max().clamp_min(1.0)  # (V,) in [0, 1]
        # the share of ids at most as frequent: spreads Zipf's crowd of rare ids over [0, 1]
        ranks = torch.searchsorted(torch.sort(raw).values, raw, right=True).float()
        self.quantile = ranks / max(raw.numel(), 1)  # (V,) in (0, 1]
        deciding = raw[raw >= settings.history]
        self.usage = raw / (deciding.mean() if deciding.numel() else raw.mean()).clamp_min(1.0)
        self.smooth = settings.memory_weight > 0
        if settings.memory_weight <= 0:  # the seed's reward: the loss drop alone
            self.usage = torch.ones_like(raw)
        widths = torch.as_tensor(module.candidates, dtype=torch.float32, device=device)
        # the memory an enlargement from each level takes: added width over width
        self.growth = torch.cat([widths[1:] / widths[:-1] - 1.0, widths.new_zeros(1)])
        v, t = log_counts.numel(), settings.history
        self.losses = torch.zeros(v, t, device=device)  # (V, T) circular
        self.seen = torch.zeros(v, dtype=torch.long, device=device)
        self.since = torch.zeros(v, dtype=torch.long, device=device)  # since the last decision
        self.reference = torch.zeros(v, device=device)  # mean loss when it last acted
        self.pending = torch.full((v,), -1, dtype=torch.long, device=device)  # action or -1
        self.pending_level = torch.zeros(v, dtype=torch.long, device=device)
        self.policy = SizePolicy(settings.hidden, settings.init_enlarge).to(device)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=settings.policy_lr)
        self.buffer: list[tuple[Tensor, Tensor, Tensor, Tensor]] = []
        self.top = len(module.candidates) - 1
        #: per frequency-quantile bin and action: rewarded decisions, sum and sum of
        #: squares of their loss drops (what :meth:`drop_by_frequency` reports)
        self.tally = torch.zeros(_BINS, 2, 3, dtype=torch.float64)

    def state(self, ids: Tensor, level: Tensor) -> Tensor:
        """``(n, 3)``: frequency quantile, normalized log frequency and size index."""
        return torch.stack(
            [self.quantile[ids], self.frequency[ids], level.float() / max(self.top, 1)], dim=1
        )

    def observe(self, ids: Tensor, row_loss: Tensor) -> None:
        """Record the batch's per-id loss; reward and take the due ids' actions."""
        unique, inverse = torch.unique(ids, return_inverse=True)
        total = torch.zeros(unique.numel(), device=row_loss.device).index_add_(
            0, inverse, row_loss
        )
        loss = total / torch.bincount(inverse, minlength=unique.numel())  # (n,)
        self.losses[unique, self.seen[unique] % self.settings.history] = loss
        self.seen[unique] += 1
        self.since[unique] += 1
        level = self.module.levels(self.index)[unique]
        due = (self.since[unique] >= self.settings.history) & (
            (level < self.top) | (self.pending[unique] >= 0)
        )
        ids, loss, level = unique[due], loss[due], level[due]
        acted = self.pending[ids] >= 0
        if acted.any():
            done = ids[acted]
            # the T losses since the action, against the T before it (the seed's single
            # loss now is as noisy as one row's loss; the mean of T is sqrt(T) calmer)
            after = self.losses[done].mean(dim=1) if self.smooth else loss[acted]
            drop = self.reference[done] - after
            memory = self.growth[self.pending_level[done]] * (self.pending[done] == ENLARGE)
            memory = memory / self.usage[done]  # per row the id appears in
            state = self.state(done, self.pending_level[done])
            self.buffer.append((state, self.pending[done], drop, memory))
            self._count(state[:, 0], self.pending[done], drop)
            self.pending[done] = -1
        self.reference[ids] = self.losses[ids].mean(dim=1)
        self.since[ids] = 0
        self._act(ids[level < self.top], level[level < self.top])
        if sum(b[2].numel() for b in self.buffer) >= _MIN_SAMPLES:
            self._reinforce()

    @torch.no_grad()
    def _act(self, ids: Tensor, level: Tensor) -> None:
        if ids.numel() == 0:
            return
        probs = torch.softmax(self.policy(self.state(ids, level)), dim=1)[:, ENLARGE]  # (n,)
        draw = torch.rand(ids.numel(), generator=self.generator).to(probs.device)
        action = (draw < probs).long()
        self.pending[ids] = action
        self.pending_level[ids] = level
        self.module.enlarge(self.index, ids[action == ENLARGE])

    def _reinforce(self) -> None:
        state = torch.cat([b[0] for b in self.buffer])
        action = torch.cat([b[1] for b in self.buffer])
        drop = torch.cat([b[2] for b in self.buffer])
        memory = torch.cat([b[3] for b in self.buffer])
        self.buffer.clear()
        reward = drop - self.settings.memory_weight * drop.std().nan_to_num(0.0) * memory
        # a baseline per frequency bin: each bin's actions are judged against each other,
        # not against other bins' loss drops (rare ids' losses move differently)
        advantage = (reward - _bin_mean(reward, state[:, 0])) / (reward.std() + 1e-8)  # (n,)
        logp = torch.log_softmax(self.policy(state), dim=1)  # (n, 2)
        chosen = logp.gather(1, action.unsqueeze(1)).squeeze(1)  # (n,)
        entropy = -(logp.exp() * logp).sum(dim=1)  # (n,)
        weight = _balanced(state[:, 0])
        loss = -(weight * advantage * chosen).sum() - self.settings.entropy * entropy.mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    @torch.no_grad()
    def _count(self, quantile: Tensor, action: Tensor, drop: Tensor) -> None:
        b = _decile(quantile).cpu()
        cell = (b * 2 + action.cpu()).long()  # (n,) index into the (bins, 2) cells
        d = drop.detach().double().cpu()
        for k, values in enumerate((torch.ones_like(d), d, d * d)):
            self.tally[..., k].view(-1).index_add_(0, cell, values)

    def drop_by_frequency(self) -> list[dict[str, float]]:
        """Per frequency-quantile decile (rarest first): the rewarded decisions to keep
        and to enlarge, their loss drops' means and standard deviations, and ``gain``,
        the enlargements' mean drop over the kept ones', with its standard error: whether
        enlarging an id lowered its loss, and where (``se`` is NaN where an action has
        fewer than 2 decisions)."""
        out = []
        for k in range(_BINS):
            n, total, squares = self.tally[k].unbind(dim=1)  # (2,) each: keep, enlarge
            mean = total / n.clamp_min(1)
            var = (squares - n * mean**2) / (n - 1).clamp_min(1)
            se = float((var / n.clamp_min(1)).sum().sqrt()) if bool((n >= 2).all()) else math.nan
            sd = var.clamp_min(0).sqrt()
            out.append({
                "decile": k, "keep": float(n[0]), "enlarge": float(n[1]),
                "drop_keep": float(mean[0]), "drop_enlarge": float(mean[1]),
                "sd_keep": float(sd[0]), "sd_enlarge": float(sd[1]),
                "gain": float(mean[1] - mean[0]), "se": se,
            })  # fmt: skip
        return out

    @torch.no_grad()
    def enlarge_probability(self, quantiles: int = 5) -> list[float]:
        """P(enlarge) at the smallest size for ids at evenly spaced log frequencies, from
        the rarest id that reached a decision (``T`` observations) to the most frequent (the
        quantile feature read off the field's ids at that frequency)."""
        deciding = self.frequency[self.seen >= self.settings.history]
        low = float(deciding.min()) if deciding.numel() else 0.0
        freq = torch.linspace(low, 1.0, quantiles, device=self.frequency.device)
        order = torch.argsort(self.frequency)
        at = torch.searchsorted(self.frequency[order].contiguous(), freq).clamp(
            max=self.frequency.numel() - 1
        )
        quantile = self.quantile[order][at]
        state = torch.stack([quantile, freq, torch.zeros_like(freq)], dim=1)
        return torch.softmax(self.policy(state), dim=1)[:, ENLARGE].tolist()


def _decile(quantile: Tensor, bins: int = _BINS) -> Tensor:
    """``(n,)`` the frequency-quantile bin of each entry, ``0..bins - 1``."""
    return (quantile * bins).long().clamp_(0, bins - 1)


def _bin_mean(values: Tensor, quantile: Tensor, bins: int = _BINS) -> Tensor:
    """``(n,)``: the mean of ``values`` over each entry's frequency-quantile bin."""
    b = _decile(quantile, bins)  # (n,)
    total = torch.zeros(bins, device=values.device).index_add_(0, b, values)
    count = torch.bincount(b, minlength=bins).clamp_min(1)
    return (total / count)[b]


def _balanced(quantile: Tensor, bins: int = _BINS) -> Tensor:
    """``(n,)`` weights summing to 1 that give every frequency-quantile bin present the
    same total: frequent ids decide far more often, and would otherwise teach the policy
    alone."""
    b = _decile(quantile, bins)  # (n,)
    per_bin = torch.bincount(b, minlength=bins).float()  # (bins,)
    present = int((per_bin > 0).sum())
    return 1.0 / (per_bin[b] * present)


def _lookahead_step(
    model: nn.Module,
    modules: list[DynamicEmbedding],
    batch: tuple[Tensor, Tensor, Tensor],
    label: Tensor,
    optimizer: torch.optim.Optimizer,
    precision: str,
) -> None:
    """One step of the growth maps on the batch's loss with every id enlarged."""
    params = [t for m in modules for t in m.growth_tensors()]
    for m in modules:
        m.lookahead = True
    try:
        with autocast(precision, label.device):
            logits = model(*batch)
        loss = F.binary_cross_entropy_with_logits(logits.float(), label)
    finally:
        for m in modules:
            m.lookahead = False
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    for p, g in zip(params, grads, strict=True):
        p.grad = g
    optimizer.step()
    for p in params:
        p.grad = None


def _epoch(
    model: nn.Module,
    tensors: Tensors,
    train: TrainSpec,
    optimizers: list[torch.optim.Optimizer],
    policies: dict[str, tuple[FieldPolicy, int]],
    settings: ESAPNSettings,
    transform_opt: torch.optim.Optimizer | None,
    generator: torch.Generator,
) -> float:
    """One pass over the train split; returns the mean training loss."""
    model.train()
    modules = list({id(p.module): p.module for p, _ in policies.values()}.values())
    train_idx = tensors.splits["train"]
    perm = train_idx[torch.randperm(train_idx.numel(), generator=generator).to(train_idx.device)]
    total, steps, size = 0.0, 0, int(train.batch_size)
    for start in range(0, perm.numel(), size):
        idx = perm[start : start + size]
        batch, label = tensors.batch(idx), tensors.label.index_select(0, idx)
        with autocast(train.precision, idx.device):
            logits = model(*batch)
        row_loss = F.binary_cross_entropy_with_logits(logits.float(), label, reduction="none")
        loss = row_loss.mean()  # (B,) -> ()
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in optimizers:
            opt.step()
        value = float(loss.detach())
        if not math.isfinite(value):
            raise CandidateError(f"NaN loss after {steps} steps of the ESAPN search")
        total, steps = total + value, steps + 1
        if steps % settings.interval == 0:
            for policy, column in policies.values():
                policy.observe(batch[0][:, column], row_loss.detach())
            if transform_opt is not None:
                _lookahead_step(model, modules, batch, label, transform_opt, train.precision)
    return total / max(steps, 1)


def search_sizes(
    model: nn.Module,
    tensors: Tensors,
    train: TrainSpec,
    fields: dict[str, tuple[DynamicEmbedding, int, int, np.ndarray]],
    settings: ESAPNSettings,
    *,
    seed: int,
    should_stop: Callable[[], bool] = lambda: False,
) -> ESAPNOutcome:
    """Train ``model`` while the policies grow its dynamic ids; return the sizes.

    Args:
        model: a CTR model whose dynamic ids start at the smallest size, on the device.
        tensors: the data.
        train: optimizer, learning rate, batch size (epochs and patience come from
            ``settings``).
        fields: dynamic field -> (its module, its index there, its column in ``cat``,
            train counts per id).
        settings: the search's knobs.
        seed: seeds the policies, the actions and the batch order.
        should_stop: checked after each epoch (the session's timeout).

    Raises:
        CandidateError: NaN loss.
    """
    start = time.perf_counter()
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    policies = {
        name: (FieldPolicy(module, index, counts, settings, generator), column)
        for name, (module, index, column, counts) in fields.items()
    }
    optimizers = make_optimizers(model, train)
    modules = {id(m): m for m, *_ in fields.values()}.values()
    maps = [t.requires_grad_(True) for m in modules for t in m.growth_tensors()]
    transform_opt = (
        torch.optim.Adam(maps, lr=settings.transform_lr)
        if settings.transform_lr > 0 and maps
        else None
    )
    best: tuple[float, int, dict[str, np.ndarray]] | None = None
    history: list[dict[str, float]] = []
    for epoch in range(settings.epochs):
        loss = _epoch(
            model, tensors, train, optimizers, policies, settings, transform_opt, generator
        )
        valid = split_metrics(model, tensors, "valid", {}, precision=train.precision)
        levels = {n: m.levels(i).cpu().numpy().copy() for n, (m, i, _, _) in fields.items()}
        sizes = {
            n: float(np.asarray(fields[n][0].candidates)[lv].mean()) for n, lv in levels.items()
        }
        history.append({"epoch": epoch, "train_loss": loss, **valid,
                        **{f"mean_size[{n}]": s for n, s in sizes.items()}})  # fmt: skip
        score = valid["auc"] if math.isfinite(valid["auc"]) else -valid["logloss"]
        if best is None or score > best[0]:
            best = (score, epoch, levels)
        if epoch - best[1] > settings.patience or should_stop():
            break
    assert best is not None
    return ESAPNOutcome(
        levels=best[2],
        best_epoch=best[1],
        seconds=time.perf_counter() - start,
        epochs=len(history),
        history=history,
        enlarge_probability={n: p.enlarge_probability() for n, (p, _) in policies.items()},
        drop_by_frequency={n: p.drop_by_frequency() for n, (p, _) in policies.items()},
    )
