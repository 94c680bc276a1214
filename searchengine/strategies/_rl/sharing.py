"""The weight-sharing search of ``rl`` (NIS, ENAS): a controller over one shared supernet.

Each step the controller samples the shareable decisions of an architecture (embedding
widths, multi-size blocks, pair gates; every other decision at its default), the
supernet masked into it trains on one training batch, and the controller is rewarded on
one validation batch: the primary objective's metric of that batch (AUC, logloss...)
minus ``lambda`` times its relative embedding parameters (see ``reward``). After the
first ``warmup_epochs`` the controller learns by REINFORCE every ``batch`` steps. At the
end its most probable architecture (greedy) is retrained by the Evaluator and recorded
as one trial, with ``search_cost`` (seconds, steps, epochs), the ``controller``'s
probabilities along that architecture and ``embedding_params_full`` (the full-size
architecture's) in its user attributes. The study is then marked done
(``searchengine:oneshot_done``), so a rerun on the same storage does not search again;
an interrupted search starts over.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
import torch
from torch import nn

from searchengine._optuna import ONESHOT_DONE_ATTR, SEARCH_COST_ATTR
from searchengine.errors import SpecError
from searchengine.evaluation import METRICS
from searchengine.evaluation.trainer import autocast, make_optimizers
from searchengine.searchspace import Decision, SearchSpace
from searchengine.spec import Architecture
from searchengine.strategies._rl.actions import Actions, actions_of
from searchengine.strategies._rl.policy import Learner, Policy, single_threaded
from searchengine.strategies._rl.reward import Outcome, Rewarder, RewardSettings
from searchengine.strategies._rl.sampler import ControllerSettings
from searchengine.strategies._rl.supernet import SharedSupernet, is_shareable, largest
from searchengine.strategies._seeding import mix_seed
from searchengine.strategies.base import Session, training_evaluator

__all__ = ["SharingSettings", "weight_sharing_search"]

_log = logging.getLogger(__name__)
COST = "embedding_params"


@dataclass(frozen=True)
class SharingSettings:
    """The weight-sharing part of ``search.options``.

    Attributes:
        epochs: passes over the training split (default: the spec's ``train.epochs``).
        warmup_epochs: epochs the supernet trains before the controller learns (default:
            half of ``epochs``).
        reward_batch: validation rows per reward.
        cost_reference: ``C_M``'s denominator (default: the full-size architecture's).
    """

    epochs: int | None = None
    warmup_epochs: float | None = None
    reward_batch: int = 2048
    cost_reference: float | None = None


@dataclass
class _Controller:
    """The controller of the shareable decisions, sampled in the space's order."""

    decisions: list[Decision]
    actions: dict[str, Actions]
    learner: Learner
    base: dict[str, Any]
    space: SearchSpace

    def walk(self, choose: Callable[[str, torch.Tensor], int]) -> tuple[dict[str, Any], list]:
        """Values and trajectory of one architecture, ``choose(name, logits) -> action``."""
        policy = self.learner.policy
        values: dict[str, Any] = {}
        trajectory = []
        with torch.no_grad(), single_threaded():
            state = policy.initial()
            for d in self.decisions:
                if not self.space.is_active(d, self.base | values):
                    continue
                action = choose(d.name, policy.logits(state, d.name))
                values[d.name] = d.decode(self.actions[d.name].value(action))
                trajectory.append((d.name, action))
                state = policy.advance(state, d.name, action)
        return values, trajectory

    def probabilities(self, values: dict[str, Any]) -> dict[str, dict[str, float]]:
        """The policy's probabilities of each decision along the path of ``values``."""
        out: dict[str, dict[str, float]] = {}
        policy = self.learner.policy
        with torch.no_grad(), single_threaded():
            state = policy.initial()
            for d in self.decisions:
                if d.name not in values:
                    continue
                probs = torch.softmax(policy.logits(state, d.name), dim=0).tolist()
                acts = self.actions[d.name]
                out[d.name] = {str(acts.value(a)): round(p, 4) for a, p in enumerate(probs)}
                state = policy.advance(state, d.name, acts.action(d.encode(values[d.name])))
        return out


def _controller(space: SearchSpace, settings: ControllerSettings, seed: int) -> _Controller:
    decisions = [d for d in space if is_shareable(d)]
    if not decisions:
        raise SpecError(
            "search.options.weight_sharing: the space has no embedding width, multisize or "
            "interactions.gate decision to share weights over"
        )
    policy = Policy(settings.kind, settings.hidden, settings.logit_clip, seed)
    actions = {}
    for d in decisions:
        acts = actions_of(d.distribution, settings.bins)
        assert acts is not None  # single-valued decisions are not compiled
        actions[d.name] = acts
        policy.ensure(d.name, len(acts))
    base = space.defaults()
    return _Controller(decisions, actions, Learner(policy, settings.learner), base, space)


def weight_sharing_search(
    session: Session, settings: ControllerSettings, sharing: SharingSettings, seed: int
) -> None:
    """Run the weight-sharing search of a session and record its architecture."""
    study = session.study
    if study.user_attrs.get(ONESHOT_DONE_ATTR):  # the engine's claim holds the budget
        return
    training_evaluator(session, "weight sharing")  # a generic spec cannot share weights
    started = time.monotonic()
    controller = _controller(session.space, settings, seed)
    full = session.space.fixed(
        controller.base | {d.name: largest(d) for d in controller.decisions}
    )
    run = _SupernetRun(session, controller, full, settings, sharing, seed)
    steps = run.search()
    best, _ = controller.walk(lambda name, logits: int(torch.argmax(logits)))
    arch = session.space.fixed(controller.base | best)
    seconds = time.monotonic() - started
    _log.info("rl weight sharing: %d steps in %.1fs; derived %s", steps, seconds, best)
    cost = {
        "seconds": seconds,
        "steps": steps,
        "epochs": run.epochs,
        "strategy": "rl",
        "weight_sharing": True,
    }
    attrs = {
        SEARCH_COST_ATTR: cost,
        "controller": controller.probabilities(best),
        "embedding_params_full": run.reference,
    }
    session.record(arch, user_attrs=attrs)
    study.set_user_attr(ONESHOT_DONE_ATTR, True)


class _SupernetRun:
    """One weight-sharing search: the supernet's training steps and the rewards."""

    def __init__(
        self,
        session: Session,
        controller: _Controller,
        full: Architecture,
        settings: ControllerSettings,
        sharing: SharingSettings,
        seed: int,
    ) -> None:
        self.session, self.controller, self.settings = session, controller, settings
        evaluator = training_evaluator(session, "weight sharing")
        if full.train.threads:
            torch.set_num_threads(full.train.threads)
        self.schema = evaluator.data.schema
        self.metric, self.with_cost, maximize = _reward_objectives(session)
        self.model = evaluator.build(full)
        device = next(self.model.parameters()).device
        self.tensors = evaluator.tensors(device)
        self.supernet = SharedSupernet(self.model, session.space, controller.decisions)
        self.optimizers = make_optimizers(self.model, full.train)
        self.precision = full.train.precision
        self.batch_size = int(full.train.batch_size)
        self.epochs = int(sharing.epochs or full.train.epochs)
        self.warmup = (
            sharing.warmup_epochs if sharing.warmup_epochs is not None else self.epochs / 2
        )
        self.reward_batch = sharing.reward_batch
        self.rng = np.random.default_rng(mix_seed(seed, 3))
        self.generator = torch.Generator().manual_seed(mix_seed(seed, 4))
        self._costs: dict[tuple, float] = {}
        self.reference = sharing.cost_reference or self._cost(controller.base | dict(full.values))
        self.rewarder = Rewarder(
            RewardSettings(
                maximize,
                settings.cost_weight,
                self.reference,
                settings.objective_weights,
                settings.cost_scale,
            )  # fmt: skip
        )

    def search(self) -> int:
        """Train the supernet and the controller; return the number of steps."""
        train_idx = self.tensors.splits["train"]
        per_epoch = max(1, math.ceil(train_idx.numel() / self.batch_size))
        warmup_steps = int(self.warmup * per_epoch)
        pending: list[tuple[list, Outcome]] = []
        step = 0
        loss_fn = nn.BCEWithLogitsLoss()
        try:
            for epoch in range(self.epochs):
                perm = torch.randperm(train_idx.numel(), generator=self.generator)
                order = train_idx[perm.to(train_idx.device)]
                rewarded: list[float] = []
                for start in range(0, order.numel(), self.batch_size):
                    if self.session.time_left() <= 0:
                        return step
                    values, trajectory = self.controller.walk(self._sample)
                    self.supernet.apply(values)
                    self._train_step(order[start : start + self.batch_size], loss_fn)
                    step += 1
                    if step > warmup_steps:
                        outcome = self._outcome(values)
                        pending.append((trajectory, outcome))
                        if outcome.values is not None:
                            rewarded.append(outcome.values[0])
                    if len(pending) >= self.settings.batch:
                        self._learn(pending)
                        pending = []
                batch_metric = float(np.mean(rewarded)) if rewarded else math.nan
                self.session.report_epoch(
                    "supernet", epoch, self.epochs, {f"batch_{self.metric}": batch_metric}
                )
        finally:
            self.supernet.remove()
        return step

    def _sample(self, name: str, logits: torch.Tensor) -> int:
        probs = torch.softmax(logits.double(), dim=0).numpy()
        return int(self.rng.choice(probs.size, p=probs / probs.sum()))

    def _train_step(self, idx: torch.Tensor, loss_fn: nn.Module) -> None:
        self.model.train()
        with autocast(self.precision, idx.device):
            logits = self.model(*self.tensors.batch(idx))
        loss = loss_fn(logits.float(), self.tensors.label.index_select(0, idx))
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in self.optimizers:
            opt.step()

    def _outcome(self, values: dict[str, Any]) -> Outcome:
        """The supernet's metric on one validation batch, and the architecture's cost."""
        valid = self.tensors.splits["valid"]
        rows = min(self.reward_batch, valid.numel())
        pick = torch.from_numpy(self.rng.choice(valid.numel(), rows, replace=False))
        idx = valid[pick.to(valid.device)]
        self.model.eval()
        with torch.no_grad(), autocast(self.precision, idx.device):
            logits = self.model(*self.tensors.batch(idx))
        probs = torch.sigmoid(logits.double()).cpu().numpy()
        labels = self.tensors.label.index_select(0, idx).double().cpu().numpy()
        value = float(METRICS.get(self.metric).fn(labels, probs))
        cost = self._cost(self.controller.base | values)
        feasible = all(
            (c.max is None or cost <= c.max) and (c.min is None or cost >= c.min)
            for c in self.session.spec.constraints
            if c.metric == COST
        )
        if not math.isfinite(value):
            return Outcome(None, cost, feasible)
        return Outcome((value, cost) if self.with_cost else (value,), cost, feasible)

    def _cost(self, values: dict[str, Any]) -> float:
        """The embedding parameters of the architecture of ``values`` (cached)."""
        from searchengine.models import count_embedding_params

        key = tuple(sorted((k, repr(v)) for k, v in values.items()))
        if key not in self._costs:
            arch = self.session.space.fixed(values)
            self._costs[key] = float(count_embedding_params(arch.model, self.schema))
        return self._costs[key]

    def _learn(self, pending: Sequence[tuple[list, Outcome]]) -> None:
        rewards = self.rewarder.rewards([o for _, o in pending])
        kept = [(t, r) for (t, _), r in zip(pending, rewards, strict=True) if r is not None]
        with single_threaded():
            self.controller.learner.update([t for t, _ in kept], [r for _, r in kept])


def _reward_objectives(session: Session) -> tuple[str, bool, tuple[bool, ...]]:
    """The primary objective's metric (measured on a batch), whether ``embedding_params``
    is an objective too, and whether each of the two is maximized."""
    first = session.objectives[0]
    if first not in METRICS.names():
        raise SpecError(
            f"search.options.weight_sharing: the first objective must be a prediction "
            f"metric measured on a batch ({', '.join(METRICS.names())}), got {first!r}"
        )
    maximize = optuna.study.StudyDirection.MAXIMIZE
    senses = {
        o: "maximize" if d == maximize else "minimize"
        for o, d in zip(session.objectives, session.study.directions, strict=True)
    }
    others = [o for o in session.objectives[1:] if o != COST]
    if others:
        _log.warning("weight sharing rewards %s and %s only, not %s", first, COST, others)
    with_cost = COST in session.objectives[1:]
    used = [first, COST] if with_cost else [first]
    return first, with_cost, tuple(senses[o] == "maximize" for o in used)
