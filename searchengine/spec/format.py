"""The spec file's pydantic models.

This module is the file format and nothing else: every model forbids unknown keys, and
every scalar slot of ``model:`` and ``train:`` accepts a literal or a search expression
(see :mod:`searchengine.spec.expressions`). Names that live in registries
(datasets, backbones, strategies, metrics) are plain strings here; they are checked, with
"did you mean", when the spec is compiled.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator
from pydantic_core import PydanticCustomError

from searchengine.spec.backbones import AutoIntSpec, DCNv2Spec, FinalMLPSpec
from searchengine.spec.expressions import (
    NonNegFloat,
    NonNegInt,
    PosFloat,
    PosInt,
    Probability,
    is_expr,
    slot,
)

__all__ = [
    "AutoDisSpec",
    "BlockNode",
    "BlocksSpec",
    "BucketSpec",
    "CategoricalField",
    "Constraint",
    "CrossSpec",
    "DataSpec",
    "DynamicSpec",
    "EmbeddingSpec",
    "Fidelity",
    "FieldsSpec",
    "GateKeep",
    "GroupsSpec",
    "InteractionSpec",
    "MLPSpec",
    "MultiSizeSpec",
    "PruneSpec",
    "ModelSpec",
    "NumericalField",
    "Objective",
    "SearchSettings",
    "Spec",
    "SplitSpec",
    "TrainSpec",
]

NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
IMPORT_RE = r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- data


class _FieldBase(_Model):
    name: str = Field(min_length=1, description="Column name in the data.")


class CategoricalField(_FieldBase):
    """A categorical (id) field: a vocabulary of ids seen in the train split."""

    type: Literal["categorical"] = "categorical"
    min_count: PosInt = Field(
        1, description="Ids seen fewer times in the train split map to the OOV id."
    )
    hash_buckets: PosInt | None = Field(
        None, description="Hash ids into this many buckets instead of a vocabulary."
    )


Transform = Literal["none", "log1p", "standardize", "minmax"]


class NumericalField(_FieldBase):
    """A numerical field; missing values (empty, NaN) get their own learned embedding."""

    type: Literal["numerical"]
    transform: Annotated[
        Union[Annotated[Transform, Tag("<one>")], Annotated[list[Transform], Tag("<list>")]],
        Discriminator(lambda v: "<list>" if isinstance(v, list | tuple) else "<one>"),
    ] = Field(
        "standardize",
        description="Applied in order, fitted on the train split: log1p (of max(x, 0)), "
        "standardize, minmax.",
    )


def _field_tag(value: Any) -> str | None:
    kind = (
        value.get("type", "categorical")
        if isinstance(value, dict)
        else getattr(value, "type", None)
    )
    return f"<{kind}>" if kind in ("categorical", "numerical") else None


FieldSpec = Annotated[
    Union[
        Annotated[CategoricalField, Tag("<categorical>")],
        Annotated[NumericalField, Tag("<numerical>")],
    ],
    Discriminator(
        _field_tag,
        custom_error_type="field_type",
        custom_error_message="expected categorical or numerical",
    ),
]


class SplitSpec(_Model):
    """How rows are split into train, validation and test."""

    valid: Probability = 0.1
    test: Probability = 0.1
    seed: int = 2024
    by: str | None = Field(
        None, description="Split in the order of this column (time): the last rows are test."
    )

    @model_validator(mode="after")
    def _check(self) -> SplitSpec:
        if self.valid + self.test >= 1.0:
            raise PydanticCustomError(
                "split_sum",
                "valid + test must be < 1, got {valid} + {test}",
                {"valid": self.valid, "test": self.test},
            )
        return self


class DataSpec(_Model):
    """Where the data comes from and how it is encoded."""

    dataset: str = Field("synthetic", description="A registered dataset name.")
    path: str | None = Field(None, description="File or folder, for datasets read from disk.")
    label: str | None = Field(None, description="Label column (dataset `table`).")
    fields: list[FieldSpec] | None = Field(
        None,
        description="The fields (dataset `table`), or a subset / re-configuration of a "
        "built-in dataset's fields.",
    )
    split: SplitSpec = SplitSpec()
    rows: PosInt | None = Field(
        None, description="Use at most this many rows (synthetic: how many to generate)."
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="Dataset-specific options (see the dataset's docs)."
    )
    cache: bool = Field(True, description="Cache the encoded data on disk.")


# --------------------------------------------------------------------------- model

IntSlot = slot(PosInt, ranges=("int",))
DimSlot = slot(PosInt, ranges=("int",), per_field=True)
ProbSlot = slot(Probability, ranges=("float",))
StrSlot = slot(str)
BoolSlot = slot(bool)
PosFloatSlot = slot(PosFloat, ranges=("float",))
NonNegFloatSlot = slot(NonNegFloat, ranges=("float",))
NonNegIntSlot = slot(NonNegInt, ranges=("int",))
LayersSlot = slot(list[IntSlot], choice_of=list[PosInt])  # type: ignore[valid-type]
MethodSlot = slot(str, per_field=True)
ParamSlot = slot(
    Union[bool, int, float, str], ranges=("int", "float"), int_bound=int, float_bound=float
)


class DynamicSpec(_Model):
    """Per-entity embedding sizes changed during training (ESAPN, SIGIR'20).

    The ids of ``fields`` each hold a vector of one of the ``candidates`` sizes; the
    ``esapn`` strategy grows them during training and records the final size of every id
    in ``sizes``. Models see these fields at the largest candidate width (zero-padded).
    """

    candidates: list[PosInt] = Field(
        min_length=1, description="Sizes an entity may take, strictly increasing."
    )
    fields: list[str] = Field(
        min_length=1, description="Categorical fields whose ids get their own size."
    )
    sizes: dict[str, list[PosInt]] | None = Field(
        None,
        description="Per field, the size of each id (a list indexed by id, OOV id 0 first), "
        "as the esapn strategy records it; absent: every id at the largest candidate.",
    )

    @model_validator(mode="after")
    def _check(self) -> DynamicSpec:
        c = self.candidates
        if any(a >= b for a, b in zip(c, c[1:], strict=False)):
            raise PydanticCustomError(
                "candidates_order",
                "candidates must be strictly increasing, got {candidates}",
                {"candidates": c},
            )
        return self


class BucketSpec(_Model):
    """Numerical fields embedded by `bucket`: one embedding per bucket of values."""

    count: IntSlot = Field(  # type: ignore[valid-type]
        10, description="Buckets per field (a missing value has its own embedding besides)."
    )
    method: StrSlot = Field(  # type: ignore[valid-type]
        "frequency",
        description="Bucket boundaries, from the train split: width (equal width), "
        "frequency (equal frequency) or log (widths growing geometrically from the minimum).",
    )


class AutoDisSpec(_Model):
    """Numerical fields embedded by `autodis` (AutoDis, KDD'21): a soft discretization
    over learned meta-embeddings."""

    meta: IntSlot = Field(16, description="H: meta-embeddings per field.")  # type: ignore[valid-type]
    temperature: PosFloatSlot = Field(  # type: ignore[valid-type]
        1.0, description="Temperature of the softmax over the H meta-embeddings."
    )
    aggregation: StrSlot = Field(  # type: ignore[valid-type]
        "weighted",
        description="max (the most likely meta-embedding), topk (the sum of the K most "
        "likely) or weighted (the probability-weighted average).",
    )
    topk: IntSlot = Field(  # type: ignore[valid-type]
        2, description="K of `topk` (capped at `meta`)."
    )


class MultiSizeSpec(_Model):
    """NIS multi-size embeddings (KDD'20): frequent ids get more blocks.

    Each categorical field's ids are sorted by train frequency and cut into ``buckets``
    buckets of equal id count; a vector is ``chunks`` blocks of width ``chunk``, and each
    (field, bucket) uses 0 to ``chunks`` blocks (0: its ids share one vector). Without
    ``sizes`` the blocks of every (field, bucket) are searched; ``sizes`` is the concrete
    result. Numerical fields keep ``embedding.dim``.
    """

    buckets: PosInt = Field(description="B: frequency buckets per categorical field.")
    chunk: PosInt = Field(description="c: the width of one block.")
    chunks: PosInt = Field(description="K: blocks of a full vector (width K * c).")
    monotone: bool = Field(
        False,
        description="Head buckets never get fewer blocks than tail buckets (searched as the "
        "head's blocks and a shrink per later bucket).",
    )
    sizes: dict[str, list[NonNegInt]] | None = Field(
        None,
        description="Concrete: per categorical field, the blocks of each bucket, most "
        "frequent first; absent: searched.",
    )

    @model_validator(mode="after")
    def _check(self) -> MultiSizeSpec:
        for name, sizes in (self.sizes or {}).items():
            if len(sizes) != self.buckets or max(sizes, default=0) > self.chunks:
                raise PydanticCustomError(
                    "multisize_sizes",
                    "sizes[{name}]: expected {buckets} values in [0, {chunks}], got {sizes}",
                    {"name": name, "buckets": self.buckets, "chunks": self.chunks, "sizes": sizes},
                )
            if self.monotone and any(a < b for a, b in zip(sizes, sizes[1:], strict=False)):
                raise PydanticCustomError(
                    "multisize_monotone",
                    "sizes[{name}]: monotone sizes never grow from head to tail, got {sizes}",
                    {"name": name, "sizes": sizes},
                )
        return self


class PruneSpec(_Model):
    """Embedding values pruned away (PEP, ICLR'21): a fixed 0/1 mask per categorical field.

    A masked value is zero from initialization on and never trained; ``embedding_params``
    counts the kept values. The ``pep`` strategy records the masks it learned.
    """

    masks: dict[str, str] = Field(
        description="Per categorical field, the kept values of its (vocab_size, dim) table: "
        "the row-major bits packed (numpy packbits), zlib-compressed and base64-encoded, "
        "as the pep strategy records them; a field not listed keeps every value.",
    )


class EmbeddingSpec(_Model):
    """Field embeddings."""

    dim: DimSlot = Field(  # type: ignore[valid-type]
        16,
        description="Embedding width; `per: field` searches one width per field (AutoDim).",
        json_schema_extra={"per_field": "all"},
    )
    numerical: MethodSlot = Field(  # type: ignore[valid-type]
        "scalar",
        description="How numerical fields are embedded: scalar, bucket or autodis, or raw "
        "(no vector: the value goes to the first-order term and the deep part's input); "
        "`per: field` searches one method per numerical field (AutoDis), a map names one "
        "per field (unlisted fields: scalar).",
        json_schema_extra={"per_field": "numerical"},
    )
    bucket: BucketSpec = BucketSpec()
    autodis: AutoDisSpec = AutoDisSpec()
    dynamic: DynamicSpec | None = Field(
        None, description="Per-entity sizes of some categorical fields (ESAPN)."
    )
    multisize: MultiSizeSpec | None = Field(
        None, description="NIS multi-size embeddings of the categorical fields."
    )
    prune: PruneSpec | None = Field(
        None, description="Pruned embedding values of some categorical fields (PEP)."
    )


class MLPSpec(_Model):
    """The deep part of wide_deep, deepfm, dcn, dcnv2, autoint (with ``deep``) and
    finalmlp (its first stream)."""

    layers: LayersSlot = Field(  # type: ignore[valid-type]
        [256, 128],
        description="Hidden widths: a list (each entry a slot), or {choice: [[...], ...]}.",
    )
    dropout: ProbSlot = 0.0  # type: ignore[valid-type]
    batch_norm: BoolSlot = False  # type: ignore[valid-type]
    activation: StrSlot = Field("relu", description="relu, gelu, silu, tanh or prelu.")  # type: ignore[valid-type]


class GateKeep(_Model):
    """The concrete result of a gate search: the field pairs that are kept."""

    keep: list[tuple[str, str]]


GateSlot = Annotated[
    Union[
        Annotated[Literal["all", "search"], Tag("<value>")],
        Annotated[GateKeep, Tag("<keep>")],
    ],
    Discriminator(lambda v: "<keep>" if isinstance(v, dict | GateKeep) else "<value>"),
]


#: The highest interaction order of feature groups.
MAX_ORDER = 4


class GroupsSpec(_Model):
    """Feature sets for high-order interactions (AutoGroup, SIGIR'20).

    For each order ``p`` in ``orders`` there are ``sets`` feature sets; each set's
    order-``p`` interaction ``sum_d[(sum_i w_i e_i)^p - sum_i (w_i e_i)^p]`` is added to
    the model. Without ``members`` which fields join each set is searched (one keep/drop
    decision per order, set and field); ``members`` is the concrete result.
    """

    orders: list[Annotated[int, Field(ge=2, le=MAX_ORDER)]] = Field(
        min_length=1, description=f"Interaction orders, each in [2, {MAX_ORDER}]."
    )
    sets: PosInt = Field(description="K: feature sets per order.")
    members: dict[int, list[list[str]]] | None = Field(
        None,
        description="Concrete: per order, its sets as lists of field names; absent: searched.",
    )

    @model_validator(mode="after")
    def _check(self) -> GroupsSpec:
        if len(set(self.orders)) != len(self.orders):
            raise PydanticCustomError(
                "groups_orders", "orders: {orders} lists an order twice", {"orders": self.orders}
            )
        if self.members is not None and set(self.members) != set(self.orders):
            raise PydanticCustomError(
                "groups_members",
                "members: expected the orders {orders}, got {found}",
                {"orders": sorted(self.orders), "found": sorted(self.members)},
            )
        return self


class InteractionSpec(_Model):
    """Interactions of fm, fwfm and deepfm: pair gates (AutoFIS), feature groups (AutoGroup)."""

    gate: GateSlot = Field(
        "all",
        description="`all` pairs, `search` one keep/drop decision per field pair (AutoFIS), "
        "or the kept pairs.",
    )
    groups: GroupsSpec | None = Field(
        None,
        description="Feature sets of high-order interactions (AutoGroup), added to the pairs.",
    )


class CrossSpec(_Model):
    """The cross network of dcn."""

    layers: IntSlot = 3  # type: ignore[valid-type]


#: The most blocks a searched DAG may have (it bounds the number of decisions).
MAX_BLOCKS = 7
BLOCK_TYPES = ("mlp", "dot", "fm", "cross", "efc", "cross_v2", "attention")
GROUP_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"


class BlockNode(_Model):
    """One block of a concrete DAG; the ``i``-th node is block ``b<i>``."""

    type: str = Field(
        description="A registered block type: mlp, dot, fm, cross, efc, cross_v2, attention."
    )
    inputs: list[str] = Field(
        min_length=1,
        description="What it reads: dense, sparse, a group, or an earlier block b<j> (j < i).",
    )
    width: PosInt | None = Field(None, description="mlp: the hidden width.")
    layers: PosInt | None = Field(
        None, description="mlp: hidden layers; cross, cross_v2: cross layers; attention: layers."
    )
    fields: PosInt | None = Field(None, description="efc: the output fields.")


class BlocksSpec(_Model):
    """A DAG of virtual blocks (AutoCTR, KDD'20): the architecture of backbone ``blocks``.

    Without ``nodes`` the DAG is searched: ``count`` blocks, each of one of ``types``,
    reading 1 to ``max_inputs`` of the raw inputs (``dense``: the numerical values,
    ``sparse``: every field's embedding, each of ``groups``: some fields' embeddings) and
    the earlier blocks; ``width``, ``layers`` and ``fields`` are searched per block where
    they are search expressions. ``nodes`` is the concrete result.
    """

    count: IntSlot = Field(  # type: ignore[valid-type]
        3, description=f"Blocks in the DAG (searched: at most {MAX_BLOCKS})."
    )
    types: list[str] = Field(
        default_factory=lambda: list(BLOCK_TYPES),
        min_length=1,
        description="The block types a block may take.",
    )
    max_inputs: int = Field(3, ge=1, le=4, description="The most inputs a block reads.")
    groups: dict[Annotated[str, Field(pattern=GROUP_RE)], list[str]] | None = Field(
        None, description="Named field groups, each an input of its fields' embeddings."
    )
    width: IntSlot = Field(64, description="mlp: the hidden width.")  # type: ignore[valid-type]
    layers: IntSlot = Field(  # type: ignore[valid-type]
        1, description="mlp: hidden layers; cross, cross_v2: cross layers; attention: layers."
    )
    fields: IntSlot = Field(4, description="efc: the output fields.")  # type: ignore[valid-type]
    projected_fields: PosInt = Field(
        4, description="A dense input read as fields is projected to this many fields."
    )
    nodes: list[BlockNode] | None = Field(
        None, description="Concrete: the blocks in order (b0, b1, ...); absent: searched."
    )

    @model_validator(mode="after")
    def _check(self) -> BlocksSpec:
        repeated = sorted({t for t in self.types if self.types.count(t) > 1})
        if repeated:
            raise PydanticCustomError(
                "blocks_types", "types: {repeated} listed twice", {"repeated": repeated}
            )
        searched = [n for n in ("count", "width", "layers", "fields") if is_expr(getattr(self, n))]
        if self.nodes is not None and searched:
            raise PydanticCustomError(
                "blocks_concrete",
                "`nodes` is a concrete DAG; {searched} cannot be searched with it",
                {"searched": ", ".join(searched)},
            )
        return self


class FieldsSpec(_Model):
    """Which fields the model reads: field selection (AutoField, WWW'22)."""

    keep: Literal["all", "search"] | list[str] = Field(
        "all",
        description="`all` fields, `search` one keep/drop decision per field "
        "(model.fields.keep[FIELD]), or the kept fields by name; a dropped field is gone "
        "from every part of the model.",
    )


class ModelSpec(_Model):
    """The CTR model: a backbone and its parts."""

    backbone: StrSlot = Field(  # type: ignore[valid-type]
        "deepfm",
        description="A registered backbone: fm, fwfm, wide_deep, deepfm, dcn, dcnv2, autoint, "
        "finalmlp, blocks.",
    )
    embedding: EmbeddingSpec = EmbeddingSpec()
    mlp: MLPSpec = MLPSpec()
    interactions: InteractionSpec = InteractionSpec()
    cross: CrossSpec = CrossSpec()
    dcnv2: DCNv2Spec = DCNv2Spec()
    autoint: AutoIntSpec = AutoIntSpec()
    finalmlp: FinalMLPSpec = FinalMLPSpec()
    blocks: BlocksSpec | None = Field(
        None, description="The DAG of backbone `blocks` (AutoCTR); default: 3 searched blocks."
    )
    fields: FieldsSpec = Field(
        FieldsSpec(), description="Field selection: all fields, searched, or a list."
    )


# --------------------------------------------------------------------------- train


class TrainSpec(_Model):
    """How every candidate is trained (by the evaluator, never by the model)."""

    optimizer: StrSlot = Field("adam", description="adam, adamw, adagrad, sgd or rmsprop.")  # type: ignore[valid-type]
    lr: PosFloatSlot = 1.0e-3  # type: ignore[valid-type]
    weight_decay: NonNegFloatSlot = 0.0  # type: ignore[valid-type]
    batch_size: IntSlot = 2048  # type: ignore[valid-type]
    epochs: IntSlot = 10  # type: ignore[valid-type]
    patience: NonNegIntSlot = Field(  # type: ignore[valid-type]
        2, description="Stop after this many epochs without a better validation AUC."
    )
    sparse: bool = Field(
        False, description="Sparse embedding gradients (SparseAdam) for large tables."
    )
    device: str = Field("cpu", description="cpu, cuda, cuda:N or auto.")
    precision: Literal["fp32", "bf16"] = Field(
        "fp32",
        description="bf16: mixed precision; the dense layers' matrix products run in "
        "bfloat16 (torch.autocast), while weights, embedding tables, optimizer states "
        "and the loss stay float32. Several times faster where the hardware has native "
        "bfloat16 (AVX512-BF16 or AMX CPUs, recent GPUs), slower elsewhere.",
    )
    threads: PosInt | None = Field(None, description="Torch CPU threads (default: all cores).")


# --------------------------------------------------------------------------- search


class Objective(_Model):
    """A metric to optimize."""

    metric: str
    direction: Literal["minimize", "maximize"] | None = Field(
        None, description="Default: the metric's natural direction."
    )


class Constraint(_Model):
    """A bound on a metric; violating candidates are recorded infeasible."""

    metric: str
    max: float | None = None
    min: float | None = None

    @model_validator(mode="after")
    def _check(self) -> Constraint:
        if self.max is None and self.min is None:
            raise PydanticCustomError("constraint_bound", "give max, min or both")
        return self


class Fidelity(_Model):
    """How candidates are trained during a search: AutoCTR's evaluation speed-ups.

    Only the search's own evaluations use these. After the search, the ``retrain`` best
    candidates are trained again as ``train`` says (see :mod:`searchengine.engine.final`),
    and ``searchengine export`` retrains a found architecture as ``train`` says.
    """

    subsample: float = Field(
        1.0,
        gt=0.0,
        le=1.0,
        description="Fraction of the train rows a candidate trains on "
        "(one seeded subset for every candidate).",
    )
    epochs: PosInt | None = Field(
        None, description="Epochs per candidate instead of train.epochs."
    )
    warm_start: bool = Field(
        False,
        description="Start a child from its parent's trained weights where parameter names "
        "and shapes match (children of evolution's dag mutation); the weights are kept in "
        "<run folder>/weights/<trial>.pt. A child's value then includes its ancestors' "
        "training, so later generations look better for it: the final retrains (retrain) "
        "measure the architectures themselves.",
    )
    retrain: NonNegInt | None = Field(
        None,
        description="After the search, retrain this many of its best candidates at full "
        "fidelity (all train rows, train.epochs, fresh weights), each as a trial of its own; "
        "the run's best is chosen among them, and search.timeout keeps time for them. "
        "Default: 3 when subsample, epochs or warm_start make candidates cheaper, else 0.",
    )

    @property
    def reduced(self) -> bool:
        """Whether candidates are trained otherwise than ``train`` says."""
        return self.subsample < 1.0 or self.epochs is not None or self.warm_start

    @property
    def retrains(self) -> int:
        """How many of the best candidates are retrained at full fidelity after a search."""
        if self.retrain is not None:
            return self.retrain
        return 3 if self.reduced else 0


class SearchSettings(_Model):
    """How the search runs: strategy, budget, reproducibility, storage."""

    strategy: str = Field("tpe", description="A registered strategy or package.module:Class.")
    trials: PosInt = Field(20, description="Budget: finished trials, resumed runs included.")
    timeout: PosFloat | None = Field(None, description="Budget in seconds for this run.")
    seed: int = 0
    storage: str | None = Field(
        None, description="Optuna storage URL or a journal file; default runs/<name>/study.db."
    )
    study: str | None = Field(None, description="Study name; default the spec's name.")
    pruner: Literal["none", "median", "hyperband"] = "none"
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Strategy options, flat or keyed by strategy ({tpe: {...}, evolution: "
        "{...}}); a strategy ignores the options of others.",
    )
    workers: PosInt = Field(
        1, description="Local worker processes; more than one share a journal file by default."
    )
    heartbeat: PosInt | None = Field(
        15, description="RDB storages: seconds between a running trial's heartbeats."
    )
    grace: PosInt | None = Field(
        None,
        description="Seconds without a heartbeat before a trial is failed and re-queued "
        "(default 4 x heartbeat).",
    )
    retry_seconds: PosFloat = Field(
        120.0, description="How long a lost database connection is retried before giving up."
    )
    fidelity: Fidelity = Field(
        Fidelity(), description="Cheaper candidate training: subsample, epochs, warm start."
    )


def _default_objectives() -> list[Objective]:
    return [Objective(metric="auc", direction="maximize")]


class Spec(_Model):
    """A whole search: data, model, training, objectives, constraints, search settings."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="searchengine spec")

    name: str = Field(pattern=NAME_RE, description="Names the run folder and the study.")
    description: str | None = None
    data: DataSpec | None = None
    model: ModelSpec | None = None
    evaluator: str | None = Field(
        None,
        pattern=IMPORT_RE,
        description="package.module:function for a generic search (instead of data/model).",
    )
    params: dict[str, ParamSlot] | None = Field(  # type: ignore[valid-type]
        None, description="The searched values of a generic search: name -> value or expression."
    )
    train: TrainSpec = TrainSpec()
    objectives: list[Objective] = Field(
        default_factory=_default_objectives, min_length=1, max_length=3
    )
    constraints: list[Constraint] = Field(default_factory=list)
    search: SearchSettings = SearchSettings()

    @model_validator(mode="after")
    def _check(self) -> Spec:
        if self.evaluator is not None:
            if self.data is not None or self.model is not None:
                raise PydanticCustomError(
                    "evaluator_exclusive", "`evaluator` replaces `data` and `model`; drop them"
                )
            if not self.params:
                raise PydanticCustomError(
                    "evaluator_params", "a generic search (`evaluator`) needs `params`"
                )
        elif self.params is not None:
            raise PydanticCustomError(
                "params_without_evaluator", "`params` is only used with `evaluator`"
            )
        return self

    @property
    def is_generic(self) -> bool:
        return self.evaluator is not None

    @property
    def study_name(self) -> str:
        return self.search.study or self.name

    def model_or_default(self) -> ModelSpec:
        return self.model or ModelSpec()

    def data_or_default(self) -> DataSpec:
        return self.data or DataSpec()


def safe_name(name: str) -> str:
    """A file-system-safe version of a name."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", name)
