"""The backbone plug-in point, its registry, and the model the evaluator trains.

Life cycle of a model:

1. :func:`~searchengine.models.build.build_model` resolves a concrete ``ModelSpec`` into
   a :class:`~searchengine.models.config.ModelConfig`, looks the backbone class up in
   :data:`BACKBONES` and calls ``cls(schema, config, sparse=...)``.
2. The backbone builds its parts: usually a
   :class:`~searchengine.models.embedding.FieldEmbedding` as ``self.embedding`` (via
   :meth:`Backbone.field_embedding`), first-order terms, interactions, an MLP.
3. The result is wrapped in :class:`CTRModel`, which the evaluator trains: it calls
   ``model(cat, num, num_missing)`` on batches, puts
   :meth:`CTRModel.sparse_parameters` under SparseAdam and the rest under the main
   optimizer, and reports :meth:`CTRModel.embedding_params`.

Before anything is built, constraint checks call the backbone's
:meth:`Backbone.count_embedding_params`, which must agree with the built module.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

from torch import Tensor, nn

from searchengine.data.schema import DataSchema
from searchengine.models.config import ModelConfig
from searchengine.models.embedding import FieldEmbedding
from searchengine.registry import Registry
from searchengine.spec.format import CrossSpec, EmbeddingSpec, MLPSpec, ModelSpec

__all__ = ["BACKBONES", "Backbone", "CTRModel", "vector_fields"]


def vector_fields(schema: DataSchema, config: ModelConfig) -> list[str]:
    """The fields that have a vector: all but the ``raw`` numerical fields, in schema
    order."""
    return [name for name in schema.names if not config.numerical.is_raw(name)]


class Backbone(nn.Module, abc.ABC):
    """A CTR architecture: from a batch of encoded fields to logits.

    Subclasses set the class attributes, build their parts in ``__init__`` and implement
    :meth:`forward`. They hold architecture only: no optimizer, device or training logic.

    Attributes:
        description: one line for listings.
        uses_pairs: whether the backbone has pairwise field interactions that a gate
            (``model.interactions.gate``) can mask.
        uses_mlp: whether it reads ``model.mlp`` (otherwise MLP decisions are not searched).
        uses_cross: whether it reads ``model.cross``.
        uses_groups: whether it adds the grouped interactions of
            ``model.interactions.groups`` (AutoGroup) to its logit.
        uses_blocks: whether it reads ``model.blocks`` (a DAG of virtual blocks).
        reports_flops: whether :meth:`flops` counts its FLOPs (the ``flops`` metric).
        needs_equal_dims: whether its interactions need every field at one width (mixed
            widths are then projected to the widest, see ``FieldEmbedding.equalize``).
        settings: the section of ``model`` that only this backbone reads (``dcnv2`` reads
            ``model.dcnv2``), or None; its decisions are searched only for this backbone.
        mlp_switch: a bool setting of that section without which it does not read
            ``model.mlp`` (autoint's ``deep``), or None.
        embedding: the field embeddings, or None when the backbone embeds no field.

    Args:
        schema: the fields of the data.
        config: the resolved model configuration.
        sparse: sparse gradients for the embedding tables.
    """

    description: ClassVar[str] = ""
    uses_pairs: ClassVar[bool] = False
    uses_mlp: ClassVar[bool] = False
    uses_cross: ClassVar[bool] = False
    uses_groups: ClassVar[bool] = False
    uses_blocks: ClassVar[bool] = False
    reports_flops: ClassVar[bool] = False
    needs_equal_dims: ClassVar[bool] = False
    settings: ClassVar[str | None] = None
    mlp_switch: ClassVar[str | None] = None

    embedding: FieldEmbedding | None

    def __init__(self, schema: DataSchema, config: ModelConfig, *, sparse: bool = False) -> None:
        super().__init__()
        self.embedding = None

    @abc.abstractmethod
    def forward(self, cat: Tensor, num: Tensor, num_missing: Tensor) -> Tensor:
        """Map ``cat`` ``(B, C)`` int64, ``num`` ``(B, N)`` float and ``num_missing``
        ``(B, N)`` bool to logits ``(B,)``."""

    def flops(self) -> int | None:
        """Floating-point operations per example after the embedding lookup, or None
        where the backbone does not count them (see :attr:`reports_flops`)."""
        return None

    def describe(self) -> dict[str, Any]:
        """Trial user attributes that describe the built architecture to reports (e.g.
        ``dag``); set by the evaluator on the candidate's trial."""
        return {}

    # ----------------------------------------------------------- embedding helpers

    @classmethod
    def embedded_fields(cls, schema: DataSchema, config: ModelConfig) -> list[str]:
        """The fields that get an embedding (default: all but the ``raw`` numerical
        fields, which have no vector); override to leave out fields the architecture
        would never read, so they cost no parameters. Never name a raw field."""
        return vector_fields(schema, config)

    @classmethod
    def field_embedding(
        cls, schema: DataSchema, config: ModelConfig, *, sparse: bool = False
    ) -> FieldEmbedding | None:
        """The :class:`FieldEmbedding` of :meth:`embedded_fields`, or None if none."""
        names = cls.embedded_fields(schema, config)
        if not names:
            return None
        dims = {name: config.dims[name] for name in names}
        return FieldEmbedding(
            schema,
            dims,
            equalize=cls.needs_equal_dims,
            sparse=sparse,
            dynamic=config.dynamic,
            numerical=config.numerical,
            multisize=config.multisize,
            prune=config.prune,
        )

    @classmethod
    def count_embedding_params(cls, schema: DataSchema, config: ModelConfig) -> int:
        """What :meth:`embedding_params` of the built backbone returns, without building
        it. Override together with :meth:`embedding_params`."""
        names = cls.embedded_fields(schema, config)
        if not names:
            return 0
        dims = {name: config.dims[name] for name in names}
        return FieldEmbedding.count_params(
            schema,
            dims,
            equalize=cls.needs_equal_dims,
            dynamic=config.dynamic,
            numerical=config.numerical,
            multisize=config.multisize,
            prune=config.prune,
        )

    def embedding_params(self) -> int:
        """The number of embedding parameters (see :meth:`CTRModel.embedding_params`)."""
        return 0 if self.embedding is None else self.embedding.num_params()

    @classmethod
    def tiny(cls, schema: DataSchema) -> ModelSpec:
        """A tiny variant of this backbone for tests: width 4, one hidden layer of 8."""
        return ModelSpec(
            backbone=_registered_name(cls),
            embedding=EmbeddingSpec(dim=4),
            mlp=MLPSpec(layers=[8]),
            cross=CrossSpec(layers=2),
        )


#: The backbones by name; plug-ins register under the entry point group
#: ``searchengine.backbones``.
BACKBONES: Registry[type[Backbone]] = Registry("backbone", group="searchengine.backbones")


def _registered_name(cls: type[Backbone]) -> str:
    for name, item in BACKBONES.items():
        if item is cls:
            return name
    raise LookupError(f"{cls.__name__} is not registered in BACKBONES")


class CTRModel(nn.Module):
    """A built model: a backbone under the name it was built as.

    Args:
        backbone: the architecture.
        backbone_name: the registered name it was built from.
        columns: picks the columns of the kept fields out of a batch
            (:class:`~searchengine.models.selection.KeptColumns`), None where every
            field is read.

    Shapes:
        ``cat`` ``(B, C)`` int64 ids, ``num`` ``(B, N)`` float, ``num_missing`` ``(B, N)``
        bool -> logits ``(B,)`` (apply a sigmoid for click probabilities).
    """

    def __init__(
        self, backbone: Backbone, backbone_name: str, columns: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.backbone_name = backbone_name
        self.columns = columns

    def forward(self, cat: Tensor, num: Tensor, num_missing: Tensor) -> Tensor:
        """Return logits ``(B,)``."""
        if self.columns is not None:  # field selection: the backbone reads the kept ones
            cat, num, num_missing = self.columns(cat, num, num_missing)
        return self.backbone(cat, num, num_missing)

    def embedding_params(self) -> int:
        """The number of embedding parameters.

        For the built-in backbones: the weights of the field embeddings, i.e.
        ``sum(vocab_size * dim)`` over embedded categorical fields, plus for each
        embedded numerical field, by its method (``model.embedding.numerical``):
        ``scalar`` ``2 * dim`` (a value vector and a missing vector), ``bucket``
        ``(count + 1) * dim`` (a vector per bucket and a missing vector), ``autodis``
        ``H * dim + H * H + 3 * H + dim`` (H meta-embeddings, the discretization network's
        weights and biases, a missing vector), ``raw`` 0 (no vector); plus ``dim * D*``
        for every field narrower than the widest width ``D*`` when the backbone needs
        equal widths (fm, fwfm, deepfm project such fields to ``D*``). First-order
        (linear) weights, MLP, cross and FwFM weights are not counted. fm and fwfm embed
        only the fields that take part in a kept pair. Equals
        :func:`~searchengine.models.build.count_embedding_params` for the same spec.
        """
        return self.backbone.embedding_params()

    def sparse_parameters(self) -> list[nn.Parameter]:
        """The weights of embedding tables built with sparse gradients (for SparseAdam);
        empty unless the model was built with ``sparse=True``."""
        return [m.weight for m in self.modules() if isinstance(m, nn.Embedding) and m.sparse]

    def dense_parameters(self) -> list[nn.Parameter]:
        """Every parameter not in :meth:`sparse_parameters`."""
        sparse = {id(p) for p in self.sparse_parameters()}
        return [p for p in self.parameters() if id(p) not in sparse]
