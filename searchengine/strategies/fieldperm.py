"""``fieldperm``: field selection by permutation importance, a one-shot baseline.

It trains the model with every field kept once (the common Evaluator, so exactly as a
candidate is trained), then measures each searched field's importance: the drop of the
validation AUC when the field's column is shuffled among the validation rows (a
numerical field's missing mask moves with its values), averaged over ``repeats`` seeded
shuffles. A field whose shuffling does not hurt (importance ``<= tolerance``) is
dropped; the most important field is always kept. The derived architecture (every
other decision at its default) is recorded as one trial through ``session.record``,
which retrains it; the trial's user attributes hold ``field_importance`` (field ->
AUC drop), ``fieldperm`` (the full model's validation
AUC) and ``search_cost``.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from searchengine._optuna import ONESHOT_DONE_ATTR, SEARCH_COST_ATTR
from searchengine.errors import SpecError
from searchengine.strategies.base import (
    STRATEGIES,
    OneShotStrategy,
    Session,
    training_evaluator,
)

if TYPE_CHECKING:
    import torch

    from searchengine.data.schema import DataSchema
    from searchengine.evaluation.trainer import Tensors
    from searchengine.searchspace import SearchSpace

__all__ = ["FieldPermOptions", "FieldPermStrategy", "permutation_importance"]

_log = logging.getLogger(__name__)


class FieldPermOptions(BaseModel):
    """``search.options`` of ``fieldperm``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repeats: int = Field(3, ge=1, description="Seeded shuffles per field, averaged.")
    tolerance: float = Field(
        0.0, description="Drop the fields whose shuffling lowers validation AUC by at most this."
    )


@STRATEGIES.register("fieldperm")
class FieldPermStrategy(OneShotStrategy[FieldPermOptions]):
    """Train once with every field, shuffle each field's column, drop those that do not
    matter.

    Life cycle: :meth:`check` requires ``model.fields.keep: search``; :meth:`search`
    runs once per study (a rerun finds the study marked done and returns).
    """

    name = "fieldperm"
    description = "baseline: drop the fields whose shuffling does not lower validation AUC"
    decides = "model.fields.keep (by permutation importance); the rest at defaults"
    Options = FieldPermOptions

    def check(self, space: SearchSpace) -> None:
        super().check(space)
        if space.spec.is_generic or not any(d.role == "keep" for d in space):
            raise SpecError(
                "strategy 'fieldperm' needs keep/drop decisions: model.fields.keep: search"
            )

    def search(self, session: Session) -> None:
        import torch

        if session.study.user_attrs.get(ONESHOT_DONE_ATTR):  # the engine's claim holds the budget
            return
        o = self.options
        started = time.monotonic()
        evaluator = training_evaluator(session, self.name)
        space = session.space
        keeps = [d for d in space if d.role == "keep"]
        full = space.fixed(space.defaults() | {d.name: True for d in keeps})
        result = evaluator.evaluate(full, report=False)
        model = evaluator.last_model
        device = next(model.parameters()).device
        tensors = evaluator.tensors(device)
        base, importance = permutation_importance(
            model, tensors, evaluator.data.schema, [str(d.key) for d in keeps],
            repeats=o.repeats, seed=self.seed or 0, precision=full.train.precision,
        )  # fmt: skip
        kept = {f: imp > o.tolerance for f, imp in importance.items()}
        if not any(kept.values()):
            kept[max(importance, key=importance.__getitem__)] = True
        _log.info("fieldperm: importance %s", importance)
        values = space.defaults() | {d.name: kept[str(d.key)] for d in keeps}
        attrs: dict[str, Any] = {
            "field_importance": {f: round(v, 6) for f, v in importance.items()},
            "fieldperm": {"valid_auc": base, "full_auc": result.metrics.get("auc")},
            SEARCH_COST_ATTR: {
                "seconds": time.monotonic() - started,
                "train_seconds": result.metrics.get("train_seconds", 0.0),
                "epochs": result.metrics.get("epochs", 0.0),
                "strategy": self.name,
            },
        }
        del model, tensors
        torch.manual_seed(self.seed or 0)
        session.record(space.fixed(values), user_attrs=attrs)
        session.study.set_user_attr(ONESHOT_DONE_ATTR, True)


def permutation_importance(
    model: torch.nn.Module,
    tensors: Tensors,
    schema: DataSchema,
    fields: list[str],
    *,
    repeats: int = 3,
    seed: int = 0,
    precision: str = "fp32",
) -> tuple[float, dict[str, float]]:
    """The validation AUC of ``model`` and, per field, its mean drop when the field's
    column is shuffled among the validation rows.

    Returns:
        ``(auc, {field: auc - mean shuffled auc})``.
    """
    import torch

    from searchengine.evaluation.metrics import auc
    from searchengine.evaluation.trainer import Tensors, predict

    idx = tensors.splits["valid"]
    cat, num, missing = (t.index_select(0, idx) for t in (tensors.cat, tensors.num,
                                                          tensors.num_missing))  # fmt: skip
    labels = tensors.label.index_select(0, idx).cpu().numpy()
    rows = torch.arange(idx.numel(), device=idx.device)

    def score(c: torch.Tensor, n: torch.Tensor, m: torch.Tensor) -> float:
        view = Tensors(cat=c, num=n, num_missing=m, label=tensors.label, splits={})
        return auc(labels, predict(model, view, rows, precision=precision))

    base = score(cat, num, missing)
    generator = torch.Generator().manual_seed(seed)
    out: dict[str, float] = {}
    for name in fields:
        info = schema.field(name)
        drops = []
        for _ in range(repeats):
            perm = torch.randperm(idx.numel(), generator=generator).to(idx.device)
            c, n, m = cat, num, missing
            if info.is_categorical:
                c = cat.clone()
                c[:, info.column] = cat[perm, info.column]
            else:
                n, m = num.clone(), missing.clone()
                n[:, info.column] = num[perm, info.column]
                m[:, info.column] = missing[perm, info.column]
            drops.append(base - score(c, n, m))
        out[name] = float(sum(drops) / len(drops))
    return base, out
