"""Building a model from a concrete spec, and counting its embedding parameters."""

from __future__ import annotations

from searchengine.data.schema import DataSchema
from searchengine.errors import SpecError, SpecIssue
from searchengine.models.base import BACKBONES, Backbone, CTRModel
from searchengine.models.config import ModelConfig
from searchengine.models.selection import FieldSelection
from searchengine.spec.format import ModelSpec

__all__ = ["build_model", "count_embedding_params", "resolve"]


def resolve(model: ModelSpec, schema: DataSchema) -> tuple[type[Backbone], ModelConfig]:
    """The backbone class and the resolved config of a concrete model spec.

    Raises:
        ValueError: if a search expression is left in ``model``.
        UnknownNameError: if the backbone is not registered.
        SpecError: if the spec does not fit the schema or the backbone (a pair gate on a
            backbone without pairwise interactions).

    ``model.fields.keep`` is not applied here: :func:`build_model` resolves the
    :class:`FieldSelection`'s model against its schema.
    """
    config = ModelConfig.from_spec(model, schema)
    cls = BACKBONES.get(config.backbone)
    if config.pairs is not None and not cls.uses_pairs:
        _refuse(config.backbone, "uses_pairs", "model.interactions.gate",
                "has no pairwise interactions to gate; keep all pairs (`all`) or use")  # fmt: skip
    if config.groups is not None and not cls.uses_groups:
        _refuse(config.backbone, "uses_groups", "model.interactions.groups",
                "has no grouped interactions; use")  # fmt: skip
    return cls, config


def _refuse(backbone: str, attribute: str, path: str, what: str) -> None:
    able = [name for name, c in BACKBONES.items() if getattr(c, attribute)]
    raise SpecError([SpecIssue(path, f"backbone {backbone!r} {what} one of: {', '.join(able)}")])


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
        SpecError: if the spec does not fit the schema or the backbone, or keeps an
            unknown field (``model.fields.keep``; keeping none is a ValueError).
    """
    selection = FieldSelection.of(model, schema)
    cls, config = _resolve_kept(selection)
    backbone = cls(selection.schema, config, sparse=sparse)
    return CTRModel(backbone, config.backbone, selection.columns())


def count_embedding_params(model: ModelSpec, schema: DataSchema) -> int:
    """``build_model(model, schema).embedding_params()``, computed without building.

    See :meth:`CTRModel.embedding_params` for what is counted.

    Raises:
        ValueError, UnknownNameError, SpecError: as :func:`build_model`.
    """
    selection = FieldSelection.of(model, schema)
    cls, config = _resolve_kept(selection)
    return cls.count_embedding_params(selection.schema, config)


def _resolve_kept(selection: FieldSelection) -> tuple[type[Backbone], ModelConfig]:
    """:func:`resolve` on the kept fields. The whole spec was checked when compiled, so
    what only dropping fields breaks (a block reading ``dense`` without a numerical
    field kept) is a candidate that fails (ValueError), not a spec error."""
    try:
        return resolve(selection.model, selection.schema)
    except SpecError as exc:
        if not selection.drops:
            raise
        raise ValueError(f"with {', '.join(selection.dropped)} dropped: {exc}") from None
