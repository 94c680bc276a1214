"""Building a model from a concrete spec, and counting its embedding parameters."""

from __future__ import annotations

from searchengine.data.schema import DataSchema
from searchengine.errors import SpecError, SpecIssue
from searchengine.models.base import BACKBONES, Backbone, CTRModel
from searchengine.models.config import ModelConfig
from searchengine.searchspace.spec import ModelSpec

__all__ = ["build_model", "count_embedding_params", "resolve"]


def resolve(model: ModelSpec, schema: DataSchema) -> tuple[type[Backbone], ModelConfig]:
    """The backbone class and the resolved config of a concrete model spec.

    Raises:
        ValueError: if a search expression is left in ``model``.
        UnknownNameError: if the backbone is not registered.
        SpecError: if the spec does not fit the schema or the backbone (a pair gate on a
            backbone without pairwise interactions).
    """
    config = ModelConfig.from_spec(model, schema)
    cls = BACKBONES.get(config.backbone)
    if config.pairs is not None and not cls.uses_pairs:
        with_pairs = [name for name, c in BACKBONES.items() if c.uses_pairs]
        raise SpecError(
            [
                SpecIssue(
                    "model.interactions.gate",
                    f"backbone {config.backbone!r} has no pairwise interactions to gate; "
                    f"keep all pairs (`all`) or use one of: {', '.join(with_pairs)}",
                )
            ]
        )
    if config.groups is not None and not cls.uses_groups:
        with_groups = [name for name, c in BACKBONES.items() if c.uses_groups]
        raise SpecError(
            [
                SpecIssue(
                    "model.interactions.groups",
                    f"backbone {config.backbone!r} has no grouped interactions; "
                    f"use one of: {', '.join(with_groups)}",
                )
            ]
        )
    return cls, config


def build_model(model: ModelSpec, schema: DataSchema, *, sparse: bool = False) -> CTRModel:
    """Build the module of a concrete model spec.

    The parameters are initialized from torch's global random state: seed it
    (``torch.manual_seed``) for a reproducible model.

    Args:
        model: a concrete spec (every search expression sampled).
        schema: the fields of the encoded data.
        sparse: give the embedding tables sparse gradients; train
            ``CTRModel.sparse_parameters()`` with ``torch.optim.SparseAdam`` and
            ``CTRModel.dense_parameters()`` with a dense optimizer.

    Returns:
        The model, on the CPU, in training mode.

    Raises:
        ValueError: if a search expression is left in ``model``.
        UnknownNameError: if the backbone is not registered.
        SpecError: if the spec does not fit the schema or the backbone.
    """
    cls, config = resolve(model, schema)
    return CTRModel(cls(schema, config, sparse=sparse), config.backbone)


def count_embedding_params(model: ModelSpec, schema: DataSchema) -> int:
    """``build_model(model, schema).embedding_params()``, computed without building.

    See :meth:`CTRModel.embedding_params` for what is counted.

    Raises:
        ValueError, UnknownNameError, SpecError: as :func:`build_model`.
    """
    cls, config = resolve(model, schema)
    return cls.count_embedding_params(schema, config)
