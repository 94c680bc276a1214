"""``differentiable``: one-shot gradient-based search (DARTS; AutoDim, AutoFIS, AutoGroup,
AutoField).

It relaxes every relaxable decision of the space (see
:mod:`~searchengine.strategies._differentiable.supernet`): per-field embedding widths as
AutoDim's Gumbel-softmax mixture, interaction gates as AutoFIS's GRDA-trained ``alpha``,
feature-set memberships as AutoGroup's Gumbel-softmax, numerical methods as DARTS mixed
operations, field keep/drop decisions as AutoField's Gumbel-softmax gates. It trains
that supernet once (architecture weights on validation batches, alternating with the
model weights on training batches), derives the discrete
architecture, and records it through ``session.record``, which retrains it from scratch
with the common Evaluator. The trial's user attributes hold ``search_cost`` (seconds,
epochs, steps), ``architecture_weights`` (the learned weights), ``gate_weights`` and
``groups`` and ``field_keep`` (field -> P(keep), for the report) and ``supernet`` (its
epochs' validation AUC).

Decisions that do not relax (the learning rate, the backbone, ...) keep their defaults in
the supernet and the derived architecture; the log names them.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from searchengine._optuna import ONESHOT_DONE_ATTR, SEARCH_COST_ATTR
from searchengine.errors import SpecError
from searchengine.strategies.base import (
    STRATEGIES,
    OneShotStrategy,
    Session,
    training_evaluator,
)

# torch and the supernet are imported where used: listing strategies must not load them
if TYPE_CHECKING:
    from searchengine.searchspace import SearchSpace
    from searchengine.spec import Architecture, Spec
    from searchengine.spec.format import TrainSpec
    from searchengine.strategies._differentiable.search import SupernetOutcome, SupernetSettings
    from searchengine.strategies._differentiable.supernet import Relaxable, Supernet

__all__ = ["DifferentiableOptions", "DifferentiableStrategy"]

_log = logging.getLogger(__name__)
#: The default search epochs when only embedding widths and numerical methods relax.
AUTODIM_EPOCHS = 2
#: The metric a memory budget bounds.
COST = "embedding_params"
#: The default ``grda_threshold`` under each ``gate_derive`` rule.
GRDA_THRESHOLD = {"retrain": 0.5, "validation": 0.5, "nonzero": 2.0}


class DifferentiableOptions(BaseModel):
    """``search.options`` of ``differentiable``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int | None = Field(
        None,
        ge=1,
        description="Passes of the supernet over the training split; default: "
        f"{AUTODIM_EPOCHS} when only widths and numerical methods relax (AutoDim's cheap "
        "search), else train.epochs (AutoFIS and AutoGroup train the relaxed model fully: "
        "gates and memberships need trained embeddings to judge).",
    )
    patience: int | None = Field(
        None,
        ge=0,
        description="Stop after this many epochs without a better supernet validation AUC "
        "(default: never; an early stop also ends GRDA's threshold below grda_threshold).",
    )
    warmup_epochs: float = Field(
        0.0, ge=0.0, description="Epochs the model weights train before the architecture's."
    )
    arch_lr: float = Field(3e-2, gt=0.0, description="Adam learning rate of the architecture.")
    arch_every: int = Field(1, ge=1, description="Training steps per architecture step.")
    order: Literal["first", "second"] = Field(
        "first", description="DARTS first-order or second-order architecture gradient."
    )
    temperature: float = Field(1.0, gt=0.0, description="Gumbel-softmax temperature at start.")
    temperature_decay: float = Field(
        5e-5, ge=0.0, description="Temperature decrease per step (AutoDim: 5e-5)."
    )
    temperature_min: float = Field(0.01, gt=0.0, description="The lowest temperature.")
    gumbel: bool = Field(True, description="Gumbel noise (false: a plain softmax).")
    gate_init: float = Field(0.6, description="Initial AutoFIS gate alpha.")
    grda_lr: float = Field(0.05, gt=0.0, description="GRDA learning rate of the gates.")
    grda_c: float | None = Field(
        None,
        ge=0.0,
        description="GRDA c (AutoFIS: 5e-3 FM, 5e-4 DeepFM, at Criteo's step counts); "
        "default: set from grda_threshold and the planned steps.",
    )
    grda_threshold: float | None = Field(
        None,
        gt=0.0,
        description="Without grda_c: c is such that GRDA's threshold reaches this multiple "
        "of the initial gate at the last planned step, so a gate survives only if its "
        "gradients kept pushing it up, whatever the length of the search; default: "
        f"{GRDA_THRESHOLD['validation']} with gate_derive: validation (GRDA only ranks the "
        f"pairs), {GRDA_THRESHOLD['nonzero']} with gate_derive: nonzero.",
    )
    gate_derive: Literal["retrain", "validation", "nonzero"] = Field(
        "retrain",
        description="Which pairs the derived model keeps. validation: rank the pairs by "
        "their GRDA accumulator |a_n| and keep the fewest top pairs whose supernet "
        "validation logloss is within one standard error of the best cut point's; "
        "retrain: that count and 1/8 to 1/2 of the pairs retrained, the fewest whose "
        "validation logloss is within one standard error of the best's; "
        "nonzero: those whose gate alpha != 0 at the end (GRDA's own rule; with "
        "grda_threshold 2 the behaviour before calibration).",
    )
    grda_mu: float = Field(0.8, gt=0.0, le=1.0, description="GRDA mu (AutoFIS: 0.6 / 0.8).")
    field_threshold: float = Field(
        0.5, gt=0.0, lt=1.0, description="AutoField: keep the fields whose P(keep) exceeds it."
    )
    field_topk: int | None = Field(
        None, ge=1, description="AutoField: keep the k fields of highest P(keep) instead."
    )
    cost_weight: float = Field(
        0.0,
        ge=0.0,
        description="lambda of an optional memory penalty on the architecture loss: "
        "lambda * expected embedding parameters / those at the largest widths "
        "(with keep decisions, plus lambda * the expected share of fields kept).",
    )
    memory: Literal["auto", "off"] = Field(
        "auto",
        description="auto: where the spec has a constraint `embedding_params` max, or "
        "`embedding_params` among its objectives, searched widths are held to that budget "
        "(else memory_budget x FDE's parameters) by a Lagrangian on the expected "
        "embedding parameters and a derive that narrows widths until the budget holds; "
        "off: no budget (AutoDim's validation loss alone, plus cost_weight).",
    )
    memory_budget: float = Field(
        0.3,
        gt=0.0,
        description="The budget when `embedding_params` is an objective without a "
        "constraint: this fraction of the embedding parameters of every field at its "
        "largest width (FDE's).",
    )
    dual_lr: float = Field(
        0.02, gt=0.0, description="The dual-ascent step of the budget's Lagrange multiplier."
    )


@STRATEGIES.register("differentiable")
class DifferentiableStrategy(OneShotStrategy[DifferentiableOptions]):
    """Relax, train one supernet, derive, retrain: the DARTS family.

    Life cycle: :meth:`check` requires a CTR space with at least one relaxable decision;
    :meth:`search` runs once per study (a rerun finds the study marked done and
    returns): it builds the relaxed supernet, trains it, derives the architecture and
    records it with ``session.record``.
    """

    name = "differentiable"
    description = (
        "DARTS-style relaxation: AutoDim widths, AutoFIS gates (GRDA), AutoGroup sets, "
        "AutoField fields"
    )
    decides = (
        "widths, gates, groups, numerical methods, block types, kept fields; the rest at defaults"
    )
    Options = DifferentiableOptions

    def check(self, space: SearchSpace) -> None:
        from searchengine.strategies._differentiable.relaxable import classify

        super().check(space)
        if space.spec.is_generic or not classify(space).any:
            raise SpecError(
                "strategy 'differentiable' needs a CTR space with a relaxable decision: "
                "model.embedding.dim per field, model.interactions.gate: search, "
                "model.interactions.groups, model.embedding.numerical per field or "
                "model.fields.keep: search"
            )

    def budget(self, spec: Spec) -> tuple[float | None, float | None]:
        """The embedding-parameter budget of ``spec`` (``memory``): ``(absolute, None)``
        from a constraint, ``(None, fraction of FDE's)`` from an objective, else Nones."""
        o = self.options
        if o.memory == "off":
            return None, None
        bounds = [c.max for c in spec.constraints if c.metric == COST and c.max is not None]
        if bounds:
            return float(min(bounds)), None
        if any(obj.metric == COST for obj in spec.objectives):
            return None, o.memory_budget
        return None, None

    def settings(self, relaxable: Relaxable, train: TrainSpec) -> SupernetSettings:
        """The training settings of the search, defaults resolved for ``relaxable``."""
        from searchengine.strategies._differentiable.search import SupernetSettings

        o = self.options
        full = bool(relaxable.gates or relaxable.groups or relaxable.keeps)
        epochs = o.epochs or (int(train.epochs) if full else AUTODIM_EPOCHS)
        return SupernetSettings(
            epochs=epochs, patience=o.patience, warmup_epochs=o.warmup_epochs, arch_lr=o.arch_lr,
            arch_every=o.arch_every, order=2 if o.order == "second" else 1,
            temperature_start=o.temperature, temperature_decay=o.temperature_decay,
            temperature_min=o.temperature_min, grda_lr=o.grda_lr, grda_c=o.grda_c,
            grda_threshold=o.grda_threshold or GRDA_THRESHOLD[o.gate_derive],
            grda_mu=o.grda_mu, cost_weight=o.cost_weight, dual_lr=o.dual_lr,
            restore_best=bool(relaxable.gates) and o.gate_derive != "nonzero",
        )  # fmt: skip

    def search(self, session: Session) -> None:
        import torch

        from searchengine.strategies._differentiable.derive import (
            gate_scores,
            retrain_cut_points,
            select_by_retraining,
            select_gates,
        )
        from searchengine.strategies._differentiable.relaxed import Relaxation
        from searchengine.strategies._differentiable.search import train_supernet
        from searchengine.strategies._differentiable.supernet import Supernet, classify

        if session.study.user_attrs.get(ONESHOT_DONE_ATTR):  # the engine's claim holds the budget
            return
        evaluator = training_evaluator(session, self.name)
        started = time.monotonic()
        space = session.space
        relaxable = classify(space)
        if relaxable.fixed:
            _log.info(
                "differentiable: not relaxable, kept at their defaults: %s",
                ", ".join(f"{d.name}={d.default!r}" for d in relaxable.fixed),
            )
        o = self.options
        seed = self.seed or 0
        torch.manual_seed(seed)
        net = Supernet(
            space, relaxable, evaluator.data.schema,
            Relaxation(gumbel=o.gumbel, seed=seed), gate_init=o.gate_init,
            sparse=o.order == "first",  # the unrolled step of second order needs dense tables
        )  # fmt: skip
        train = net.full.train
        settings, budget = self._budgeted(net, self.settings(relaxable, train))
        if train.threads:
            torch.set_num_threads(train.threads)
        device = torch.device("cpu") if train.device == "auto" else torch.device(train.device)
        net.model.to(device)
        outcome = train_supernet(
            net, evaluator.tensors(device), lr=float(train.lr), optimizer=str(train.optimizer),
            batch_size=int(train.batch_size), settings=settings, seed=seed,
            precision=train.precision,
            should_stop=lambda: session.time_left() <= 0,
            on_epoch=lambda e, n, m: session.report_epoch("supernet", e, n, m),
        )  # fmt: skip
        kept, cuts = None, None
        if net.gates and o.gate_derive != "nonzero":
            scores = gate_scores(outcome.gate_evidence)
            kept, cuts = select_gates(
                net, evaluator.tensors(device), scores, precision=train.precision, seed=seed
            )
            if o.gate_derive == "retrain":
                ladder = retrain_cut_points(len(kept), int(sum(kept)))
                kept, cuts = select_by_retraining(
                    net, evaluator, scores, ladder, device=device, budget=budget
                )
        values = net.derive(kept, budget, o.field_threshold, o.field_topk)
        arch = net.architecture(values)
        _log.info("differentiable: derived %s", values)
        attrs = self._attrs(net, arch, values, outcome, started, cuts)
        session.record(arch, user_attrs=attrs | self._memory_attrs(net, values, budget, outcome))
        session.study.set_user_attr(ONESHOT_DONE_ATTR, True)

    def _budgeted(
        self, net: Supernet, settings: SupernetSettings
    ) -> tuple[SupernetSettings, float | None]:
        """``settings`` with the spec's budget as a fraction of FDE's embedding
        parameters, and the budget in parameters (None: no budget, or no widths relax)."""
        from searchengine.models.build import resolve

        absolute, fraction = self.budget(net.space.spec)
        if net.dims is None or (absolute is None and fraction is None):
            return settings, None
        fde = net.embedding_params(net.base)
        params = absolute if absolute is not None else (fraction or 0.0) * fde
        project = bool(resolve(net.full.model, net.schema)[0].needs_equal_dims)
        ratio = params / max(fde, 1)
        _log.info("differentiable: embedding parameters held to %d (%.0f%% of FDE's %d)",
                  params, 100 * ratio, fde)  # fmt: skip
        return dataclasses.replace(settings, budget=ratio, project=project), params

    def _memory_attrs(
        self, net: Supernet, values: dict[str, Any], budget: float | None, outcome: SupernetOutcome
    ) -> dict[str, Any]:
        if budget is None:
            return {}
        fde = net.embedding_params(net.base)
        return {
            "memory_budget": {
                "params": budget, "fde_params": fde,
                "derived_params": net.embedding_params(values),
                "multiplier": outcome.multiplier,
            }
        }  # fmt: skip

    def _attrs(
        self,
        net: Supernet,
        arch: Architecture,
        values: dict[str, Any],
        outcome: SupernetOutcome,
        started: float,
        cuts: dict[int, float] | None = None,
    ) -> dict[str, Any]:
        weights = net.weights_report(values)
        attrs: dict[str, Any] = {
            SEARCH_COST_ATTR: {
                "seconds": time.monotonic() - started,
                "train_seconds": outcome.seconds,
                "epochs": outcome.epochs,
                "steps": outcome.steps,
                "strategy": self.name,
            },
            "architecture_weights": weights,
            "supernet": outcome.history,
        }
        if "gates" in weights:
            attrs["gate_weights"] = weights["gates"]
        if "fields" in weights:
            attrs["field_keep"] = weights["fields"]
        if cuts is not None:  # pairs kept -> the supernet's validation logloss
            attrs["gate_cuts"] = {str(k): round(v, 6) for k, v in cuts.items()}
        groups = arch.model.interactions.groups
        if groups is not None and groups.members is not None:
            attrs["groups"] = {str(p): sets for p, sets in sorted(groups.members.items())}
        return attrs
