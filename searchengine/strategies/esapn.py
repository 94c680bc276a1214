"""The ``esapn`` strategy: ESAPN (Liu et al., SIGIR'20), an embedding size per entity.

The spec names the fields and the sizes (``model.embedding.dynamic: {candidates: [2, 4,
8, 16, 64, 128], fields: [user_id, item_id]}``). ESAPN trains the model itself with every
id of those fields at the smallest size while one policy network per field grows ids
(see :mod:`searchengine.strategies._esapn`), then records one trial: the spec's model with
the size of every id fixed in ``dynamic.sizes``, retrained from scratch by the common
Evaluator like any candidate (so its metrics compare fairly with other strategies'). Other
decisions of the space, if any, take their defaults.

The trial's user attributes: ``entity_sizes`` (per field, the size and train count of
every id: the report's size-against-frequency figure), ``embedding_params_full`` (every
dynamic id at the largest size, without the growth maps: the plain full-size model) and
``embedding_params_ratio``, ``search_cost`` (seconds and epochs of the search, the
retraining excluded), ``esapn`` (the search's history per epoch and each policy's final
P(enlarge) at five frequencies), and ``searchengine:model``, the concrete model section
(no decision holds the sizes; results and exports read it back).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from searchengine._optuna import ONESHOT_DONE_ATTR, SEARCH_COST_ATTR
from searchengine.errors import SpecError
from searchengine.spec.architecture import MODEL_ATTR, Architecture
from searchengine.spec.format import ModelSpec, Spec
from searchengine.strategies.base import (
    STRATEGIES,
    OneShotStrategy,
    Session,
    training_evaluator,
)

# torch and the search are imported where used: listing strategies must not load them
if TYPE_CHECKING:
    from torch import nn

    from searchengine.data.schema import DataSchema
    from searchengine.models.embedding.dynamic import DynamicEmbedding
    from searchengine.searchspace import SearchSpace
    from searchengine.strategies._esapn import ESAPNOutcome, ESAPNSettings

__all__ = ["ESAPNOptions", "ESAPNStrategy", "full_size_model", "with_sizes"]

_log = logging.getLogger(__name__)


class ESAPNOptions(BaseModel):
    """``search.options`` of ``esapn``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    history: int = Field(
        5, ge=1, description="T: an id's last T losses form its reward baseline; it decides "
        "again after T new observations.",
    )  # fmt: skip
    interval: int = Field(1, ge=1, description="Batches between policy steps.")
    epochs: int = Field(
        1, ge=1, description="Passes over the train split while the policies act. One pass "
        "rewards a held-out loss drop (each row's loss is taken before the model trains on "
        "it); later passes reward growth for fitting rows already seen.",
    )  # fmt: skip
    patience: int | None = Field(
        None, ge=0, description="Stop the search after this many epochs without a better "
        "validation AUC (default train.patience).",
    )  # fmt: skip
    policy_lr: float = Field(2e-2, gt=0, description="Adam learning rate of the policies.")
    entropy: float = Field(0.01, ge=0, description="Entropy bonus of the REINFORCE loss.")
    hidden: int = Field(16, ge=1, description="Hidden width of each policy network.")
    init_enlarge: float = Field(0.5, gt=0, lt=1, description="P(enlarge) the policies start with.")
    transform_lr: float = Field(
        1e-3, ge=0, description="Learning rate of the growth maps W, b (0: keep the identity)."
    )
    memory_weight: float = Field(
        0.05, ge=0, description="beta: an action's reward is the drop of the id's mean loss "
        "over T observations minus, for an enlargement, beta x the spread of those drops x "
        "the width it added over the width it had / the id's usage (its train count over "
        "the mean count of the ids that decide): memory per row it serves. 0: the seed's "
        "reward (the loss now against the mean of the T before).",
    )  # fmt: skip


@STRATEGIES.register("esapn")
class ESAPNStrategy(OneShotStrategy[ESAPNOptions]):
    """Grow each user's and item's embedding during training; record the final sizes.

    Life cycle: :meth:`check` requires a ``model.embedding.dynamic`` slot; :meth:`search`
    runs once per study (a rerun finds the study marked done and returns): it builds the
    model with every dynamic id at the smallest size, runs the size search, and records
    the result through ``session.record``, which retrains it with the Evaluator.
    """

    name = "esapn"
    description = "ESAPN: policy networks grow each entity's embedding size while training"
    decides = "the per-entity sizes of model.embedding.dynamic"
    Options = ESAPNOptions

    def searches(self, space: SearchSpace) -> bool:
        """ESAPN decides the sizes of a dynamic slot that has none yet."""
        spec = space.spec
        dynamic = None if spec.is_generic else spec.model_or_default().embedding.dynamic
        return dynamic is None or dynamic.sizes is None or len(space) > 0

    def check(self, space: SearchSpace) -> None:
        super().check(space)
        spec = space.spec
        if spec.is_generic or spec.model_or_default().embedding.dynamic is None:
            raise SpecError(
                "strategy 'esapn' needs model.embedding.dynamic: "
                "{candidates: [2, 4, 8, ...], fields: [user_id, item_id]}"
            )

    def search(self, session: Session) -> None:
        import torch

        from searchengine.strategies._esapn import search_sizes

        if session.study.user_attrs.get(ONESHOT_DONE_ATTR):  # the engine's claim holds the budget
            return
        evaluator = training_evaluator(session, self.name)
        schema = evaluator.data.schema
        base = session.space.fixed(session.space.defaults())
        dynamic = base.model.embedding.dynamic
        assert dynamic is not None  # checked by check()
        smallest = {
            name: [dynamic.candidates[0]] * schema.field(name).vocab_size
            for name in dynamic.fields
        }
        if base.train.threads:
            torch.set_num_threads(base.train.threads)
        model = evaluator.build(with_sizes(base, smallest))
        device = next(model.parameters()).device
        outcome = search_sizes(
            model,
            evaluator.tensors(device),
            base.train,
            _dynamic_fields(model, schema),
            self._settings(base),
            seed=self.seed or 0,
            should_stop=lambda: session.time_left() <= 0,
        )
        candidates = np.asarray(dynamic.candidates)
        sizes = {name: candidates[lv].tolist() for name, lv in outcome.levels.items()}
        final = with_sizes(base, sizes)
        session.record(final, user_attrs=self._attrs(final, outcome, sizes, schema))
        session.study.set_user_attr(ONESHOT_DONE_ATTR, True)

    def _settings(self, arch: Architecture) -> ESAPNSettings:
        from searchengine.strategies._esapn import ESAPNSettings

        o = self.options
        return ESAPNSettings(
            history=o.history,
            interval=o.interval,
            epochs=o.epochs,
            patience=int(arch.train.patience) if o.patience is None else o.patience,
            policy_lr=o.policy_lr,
            entropy=o.entropy,
            hidden=o.hidden,
            init_enlarge=o.init_enlarge,
            transform_lr=o.transform_lr,
            memory_weight=o.memory_weight,
        )

    def _attrs(
        self,
        final: Architecture,
        outcome: ESAPNOutcome,
        sizes: Mapping[str, list[int]],
        schema: DataSchema,
    ) -> dict[str, Any]:
        from searchengine.models import count_embedding_params

        params = count_embedding_params(final.model, schema)
        full = count_embedding_params(full_size_model(final.model, schema.names), schema)
        _log.info(
            "esapn: mean sizes %s; %d embedding params, %.1f%% of the full-size model",
            {n: round(float(np.mean(s)), 2) for n, s in sizes.items()},
            params,
            100.0 * params / max(full, 1),
        )
        entity = {
            name: {"sizes": s, "counts": _counts(schema, name, len(s))}
            for name, s in sizes.items()
        }
        return {
            MODEL_ATTR: final.model.model_dump(mode="json", by_alias=True, exclude_defaults=True),
            "entity_sizes": entity,
            "embedding_params_full": float(full),
            "embedding_params_ratio": params / max(full, 1),
            SEARCH_COST_ATTR: {
                "seconds": outcome.seconds,
                "epochs": outcome.epochs,
                "strategy": self.name,
            },
            "esapn": {
                "best_epoch": outcome.best_epoch,
                "history": outcome.history,
                "enlarge_probability": outcome.enlarge_probability,
                "drop_by_frequency": outcome.drop_by_frequency,
            },
        }


def _counts(schema: DataSchema, name: str, n: int) -> list[int]:
    counts = schema.field(name).counts
    return [0] * n if counts is None else np.asarray(counts, dtype=np.int64).tolist()


def _dynamic_fields(
    model: nn.Module, schema: DataSchema
) -> dict[str, tuple[DynamicEmbedding, int, int, np.ndarray]]:
    """Dynamic field -> (its module, its index there, its ``cat`` column, train counts)."""
    from searchengine.models.embedding.dynamic import DynamicEmbedding

    by_column = {f.column: f for f in schema.categorical}
    found = {}
    for module in model.modules():
        if isinstance(module, DynamicEmbedding):
            for index, column in enumerate(module.columns.tolist()):
                info = by_column[column]
                counts = info.counts if info.counts is not None else np.ones(info.vocab_size)
                found[info.name] = (module, index, column, np.asarray(counts))
    return found


def with_sizes(arch: Architecture, sizes: Mapping[str, list[int]]) -> Architecture:
    """``arch`` with ``model.embedding.dynamic.sizes`` set to ``sizes``."""
    data = arch.spec.model_dump(mode="python", by_alias=True)
    data["model"]["embedding"]["dynamic"]["sizes"] = {k: list(v) for k, v in sizes.items()}
    return Architecture(Spec.model_validate(data), arch.values, arch.params)


def full_size_model(model: ModelSpec, names: list[str]) -> ModelSpec:
    """The plain model with every dynamic field at the largest candidate width."""
    dynamic = model.embedding.dynamic
    if dynamic is None:
        return model
    dim = model.embedding.dim
    dims = (
        {n: int(dim[n]) for n in names} if isinstance(dim, Mapping) else dict.fromkeys(names, dim)
    )
    dims.update(dict.fromkeys(dynamic.fields, dynamic.candidates[-1]))
    data = model.model_dump(mode="python", by_alias=True)
    data["embedding"] = {"dim": dims}
    return ModelSpec.model_validate(data)
