"""The ``pep`` strategy: PEP (Liu et al., ICLR'21), learnable embedding pruning.

The spec's model (at its defaults: the FDE model, every field at ``embedding.dim``) is
built with the Evaluator's seed, and each categorical table is seen through PEP's soft
threshold ``sign(v) * relu(|v| - sigmoid(s))`` with learnable ``s`` (see
:mod:`searchengine.strategies._pep`). While it trains, the fraction of embedding values
kept (over FDE's embedding parameters) falls; when it first reaches each of
``targets`` the masks are kept. Then, for each target, one trial: the spec's model with
``model.embedding.prune.masks``, retrained by the common Evaluator. The Evaluator builds
it with the same seed, so its kept values start from the search's initial values: the
lottery-ticket retraining of PEP (``retrain: initial``). The study holds a Pareto front of
AUC against embedding parameters from one search.

Each trial's user attributes: ``pep`` (its target, whether it was reached, the kept
fraction, the epoch and step, the granularity, the validation metrics of the searched
model just after the masks were taken, without retraining), ``embedding_params_full``
(FDE's) and ``embedding_params_ratio``, ``search_cost`` (the search's seconds, epochs
and steps, shared by the trials) with the search's history per epoch, and
``searchengine:model``, the concrete model section (no decision holds the masks).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from searchengine._optuna import ONESHOT_DONE_ATTR, SEARCH_COST_ATTR
from searchengine.errors import SpecError
from searchengine.spec.architecture import MODEL_ATTR, Architecture
from searchengine.spec.format import Spec
from searchengine.strategies.base import (
    STRATEGIES,
    OneShotStrategy,
    Session,
    training_evaluator,
)

# torch and the search are imported where used: listing strategies must not load them
if TYPE_CHECKING:
    import numpy as np

    from searchengine.searchspace import SearchSpace
    from searchengine.strategies._pep import PEPOutcome, PEPSettings, Snapshot

__all__ = ["PEPOptions", "PEPStrategy", "with_masks"]

_log = logging.getLogger(__name__)


class PEPOptions(BaseModel):
    """``search.options`` of ``pep``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    targets: list[float] = Field(
        [0.5, 0.2, 0.1], min_length=1, description="Embedding parameters to keep, as "
        "fractions of the unpruned (FDE) model's: one trial each.",
    )  # fmt: skip
    granularity: Literal["field_dim", "field"] = Field(
        "field_dim", description="One threshold per field and dimension (PEP's "
        "dimension-aware setting; its per-id variant would add a parameter per value) or "
        "one per field.",
    )  # fmt: skip
    init: float = Field(-15.0, description="Initial threshold s (g(s) = sigmoid(s) ~ 0).")
    threshold_lr: float = Field(1e-2, gt=0, description="Adam learning rate of the thresholds.")
    threshold_decay: float = Field(
        1e-3, ge=0, description="L2 penalty on the thresholds (Adam's weight decay), which "
        "pulls s up from its very negative start, as in PEP's code.",
    )  # fmt: skip
    epochs: int | None = Field(
        None, ge=1, description="Search epochs (default train.epochs); the search stops "
        "early once every target is reached.",
    )  # fmt: skip
    extra_epochs: int = Field(
        10, ge=0, description="Epochs the search may add while a target is not reached; "
        "a target still not reached is recorded with the sparsest masks, said in its "
        "trial's `pep.reached`.",
    )  # fmt: skip
    retrain: Literal["initial", "none"] = Field(
        "initial", description="initial: each pruned model is retrained from the search's "
        "initial values (lottery ticket) and its trial holds the retrained metrics; none: "
        "the trials hold the searched model's own metrics at the moment its masks were "
        "taken, without retraining.",
    )  # fmt: skip
    check_every: int = Field(1, ge=1, description="Training steps between sparsity checks.")

    @field_validator("targets")
    @classmethod
    def _fractions(cls, targets: list[float]) -> list[float]:
        bad = [t for t in targets if not 0 < t < 1]
        if bad:
            raise ValueError(f"targets are fractions in (0, 1), got {bad}")
        if len(set(targets)) != len(targets):
            raise ValueError(f"targets must differ, got {targets}")
        return targets


@STRATEGIES.register("pep")
class PEPStrategy(OneShotStrategy[PEPOptions]):
    """Learn soft thresholds on the embedding values; record one pruned model per target.

    Life cycle: :meth:`check` requires a CTR spec whose model has plain categorical
    tables; :meth:`search` runs once per study (a rerun finds the study marked done and
    returns): it trains the thresholded model, keeps the masks at each target and
    records one trial per target through ``session.record``.
    """

    name = "pep"
    description = "PEP: learnable thresholds prune embedding values; a trial per target size"
    decides = "model.embedding.prune.masks; the rest at defaults"
    Options = PEPOptions

    def searches(self, space: SearchSpace) -> bool:
        """PEP decides the masks of a model that has none yet."""
        spec = space.spec
        return spec.is_generic or spec.model_or_default().embedding.prune is None

    def check(self, space: SearchSpace) -> None:
        super().check(space)
        spec = space.spec
        if spec.is_generic:
            raise SpecError("strategy 'pep' needs a CTR spec (data and model)")
        embedding = spec.model_or_default().embedding
        if embedding.multisize is not None:
            raise SpecError("strategy 'pep' prunes plain tables, not model.embedding.multisize")

    def settings(self, epochs: int) -> PEPSettings:
        """The search's knobs, ``epochs`` the default of ``epochs``."""
        from searchengine.strategies._pep import PEPSettings

        o = self.options
        return PEPSettings(
            targets=tuple(o.targets), granularity=o.granularity, init=o.init,
            threshold_lr=o.threshold_lr, threshold_decay=o.threshold_decay,
            epochs=o.epochs or epochs, extra_epochs=o.extra_epochs, check_every=o.check_every,
        )  # fmt: skip

    def search(self, session: Session) -> None:
        import torch

        from searchengine.evaluation.trainer import make_optimizers
        from searchengine.strategies._pep import attach_thresholds, search_masks

        if session.study.user_attrs.get(ONESHOT_DONE_ATTR):  # the engine's claim holds the budget
            return
        evaluator = training_evaluator(session, self.name)
        started = time.monotonic()
        base = session.space.fixed(session.space.defaults())
        if base.train.threads:
            torch.set_num_threads(base.train.threads)
        model = evaluator.build(base)  # seeded as the Evaluator builds every candidate
        full = model.embedding_params()
        optimizers = make_optimizers(model, base.train)
        embedding = model.backbone.embedding
        o = self.options
        views = [] if embedding is None else attach_thresholds(embedding, o.granularity, o.init)
        if not views:
            raise SpecError(f"strategy 'pep': backbone {base.model.backbone!r} has no "
                            "categorical embedding table to prune")  # fmt: skip
        floor = 1 - sum(v.table.table.weight.numel() for v in views) / max(full, 1)
        below = [t for t in o.targets if t < floor]
        if below:
            _log.warning(
                "pep: targets %s cannot be reached: %.3f of the embedding parameters are "
                "not in categorical tables (numerical fields, projections) and are not pruned",
                below, floor,
            )  # fmt: skip
        device = next(model.parameters()).device
        for view in views:
            view.to(device)
        outcome = search_masks(
            model, views, evaluator.tensors(device), base.train, evaluator.data.schema,
            self.settings(int(base.train.epochs)), full_params=full, optimizers=optimizers,
            seed=self.seed or 0, should_stop=lambda: session.time_left() <= 0,
            on_epoch=lambda e, n, m: session.report_epoch("pep", e, n, m),
        )  # fmt: skip
        cost = {
            "seconds": time.monotonic() - started,
            "train_seconds": outcome.seconds,
            "epochs": outcome.epochs,
            "steps": outcome.steps,
            "strategy": self.name,
        }
        for snap in outcome.snapshots:
            arch = with_masks(base, snap.masks)
            attrs = self._attrs(arch, snap, outcome, cost)
            if o.retrain == "none":
                session.record_measured(
                    arch, {**snap.metrics, "embedding_params": float(snap.kept)},
                    test_metrics=snap.test_metrics, user_attrs=attrs,
                )  # fmt: skip
            else:
                session.record(arch, user_attrs=attrs)
        session.study.set_user_attr(ONESHOT_DONE_ATTR, True)

    def _attrs(
        self, arch: Architecture, snap: Snapshot, outcome: PEPOutcome, cost: dict[str, Any]
    ) -> dict[str, Any]:
        o = self.options
        if not snap.reached:
            _log.warning(
                "pep: target %g not reached in %d epochs (the sparsest masks keep %.3f of "
                "the embedding parameters); recorded with those masks",
                snap.target, outcome.epochs, snap.ratio,
            )  # fmt: skip
        return {
            MODEL_ATTR: arch.model.model_dump(mode="json", by_alias=True, exclude_defaults=True),
            "pep": {
                "target": snap.target,
                "reached": snap.reached,
                "ratio": snap.ratio,
                "kept": snap.kept,
                "epoch": snap.epoch,
                "step": snap.step,
                "granularity": o.granularity,
                "retrain": o.retrain,
                "searched_metrics": snap.metrics,
                "searched_test_metrics": snap.test_metrics,
                "history": outcome.history,
            },
            "embedding_params_full": float(outcome.full_params),
            "embedding_params_ratio": snap.kept / max(outcome.full_params, 1),
            SEARCH_COST_ATTR: cost,
        }


def with_masks(arch: Architecture, masks: dict[str, np.ndarray]) -> Architecture:
    """``arch`` with ``model.embedding.prune.masks`` set (fields that keep every value
    are left out)."""
    from searchengine.models.embedding import encode_mask

    data = arch.spec.model_dump(mode="python", by_alias=True)
    encoded = {name: encode_mask(m) for name, m in masks.items() if not m.all()}
    data["model"]["embedding"]["prune"] = {"masks": encoded}
    return Architecture(Spec.model_validate(data), arch.values, arch.params)
