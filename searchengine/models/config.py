"""A concrete :class:`~searchengine.spec.format.ModelSpec`, resolved against a schema.

The spec speaks the user's words (a width for all fields or a map, kept pairs by name);
:class:`ModelConfig` is what backbones are built from: a width for every field, the kept
pairs in :meth:`DataSchema.pairs` order (or None for all), and the MLP settings. Resolving
checks what only the schema can tell (field names) and refuses search expressions, which
must have been sampled away before a model is built.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel

from searchengine.data.schema import DataSchema
from searchengine.errors import SpecError, SpecIssue, did_you_mean
from searchengine.models.backbone_settings import (
    AutoIntConfig,
    DCNv2Config,
    FinalMLPConfig,
    resolve_settings,
)
from searchengine.models.blocks.config import BlocksConfig
from searchengine.models.embedding.dynamic import DynamicConfig
from searchengine.models.embedding.multisize import MultiSizeConfig
from searchengine.models.embedding.numerical import NumericalConfig
from searchengine.models.embedding.pruned import PruneConfig
from searchengine.models.layers import ACTIVATIONS
from searchengine.spec.expressions import is_expr
from searchengine.spec.format import GateKeep, GroupsSpec, ModelSpec

__all__ = ["MLPConfig", "ModelConfig"]

Pair = tuple[str, str]


@dataclass(frozen=True)
class MLPConfig:
    """The deep part: hidden widths, dropout, batch norm, activation."""

    layers: tuple[int, ...] = (256, 128)
    dropout: float = 0.0
    batch_norm: bool = False
    activation: str = "relu"


@dataclass(frozen=True)
class ModelConfig:
    """Everything a backbone is built from.

    Attributes:
        backbone: the registered backbone name.
        dims: field name -> embedding width, for every field, in schema order (read-only).
        mlp: the deep part.
        pairs: the kept field pairs in ``schema.pairs()`` order, or None for all pairs
            (pairs with a ``raw`` numerical field are left out: it has no vector).
        cross_layers: the number of DCN cross layers.
        dynamic: the fields whose ids have their own sizes (ESAPN), or None; their width
            in ``dims`` is the largest candidate.
        numerical: how each numerical field is embedded (scalar, bucket, autodis).
        multisize: NIS multi-size embeddings of the categorical fields, or None; their
            width in ``dims`` is ``multisize.width``.
        blocks: the concrete block DAG (``model.blocks.nodes``), or None.
        groups: AutoGroup's feature sets, order -> its sets (field names, never a ``raw``
            numerical field), or None.
        prune: PEP's fixed masks over some categorical tables, or None.
        dcnv2, autoint, finalmlp: the settings of those backbones.
    """

    backbone: str
    dims: MappingProxyType[str, int]
    mlp: MLPConfig
    pairs: tuple[Pair, ...] | None
    cross_layers: int
    dynamic: DynamicConfig | None = None
    numerical: NumericalConfig = NumericalConfig()
    multisize: MultiSizeConfig | None = None
    blocks: BlocksConfig | None = None
    groups: MappingProxyType[int, tuple[tuple[str, ...], ...]] | None = None
    prune: PruneConfig | None = None
    dcnv2: DCNv2Config = DCNv2Config()
    autoint: AutoIntConfig = AutoIntConfig()
    finalmlp: FinalMLPConfig = FinalMLPConfig()

    @classmethod
    def from_spec(cls, spec: ModelSpec, schema: DataSchema) -> ModelConfig:
        """Resolve a concrete model spec against a schema.

        Raises:
            ValueError: if a search expression (or ``gate: search``) is left in ``spec``:
                the caller must sample it first.
            SpecError: with every problem the schema reveals (unknown or missing fields,
                unknown activation or numerical method), each under its YAML path.
        """
        _reject_expressions(spec, "model")
        if spec.interactions.gate == "search":
            raise ValueError("model.interactions.gate is `search`: sample it before building")
        issues: list[SpecIssue] = []
        multisize = MultiSizeConfig.from_spec(spec.embedding.multisize, schema, issues)
        dim = spec.embedding.dim
        if multisize is not None and isinstance(dim, dict):  # categorical widths: K * chunk
            dim = {f.name: multisize.width for f in schema.categorical} | dim
        numerical = NumericalConfig.resolve(spec.embedding, schema, issues)
        raw = {f.name for f in numerical.raw_fields(schema)}
        dims = _resolve_dims(dim, schema, issues, raw)
        if multisize is not None:
            dims.update({f.name: multisize.width for f in schema.categorical})
        pairs = _resolve_pairs(spec.interactions.gate, schema, issues, raw)
        dynamic = DynamicConfig.resolve(spec.embedding.dynamic, schema, issues)
        if dynamic is not None:
            dims.update({name: dynamic.width for name in dynamic.fields if name in dims})
        prune = _resolve_prune(spec, schema, dims, issues)
        blocks = BlocksConfig.resolve(spec.blocks, schema, issues)
        if blocks is not None:
            _check_block_groups(blocks, raw, issues)
        groups = _resolve_groups(spec.interactions.groups, schema, issues, raw)
        dcnv2, autoint, finalmlp = resolve_settings(spec, issues)
        if spec.mlp.activation not in ACTIVATIONS:
            issues.append(
                SpecIssue(
                    "model.mlp.activation",
                    f"unknown activation {spec.mlp.activation!r}"
                    f"{did_you_mean(spec.mlp.activation, ACTIVATIONS)}"
                    f" (choices: {', '.join(ACTIVATIONS)})",
                )
            )
        if issues:
            raise SpecError(issues)
        mlp = MLPConfig(
            layers=tuple(int(w) for w in spec.mlp.layers),
            dropout=float(spec.mlp.dropout),
            batch_norm=bool(spec.mlp.batch_norm),
            activation=spec.mlp.activation,
        )
        return cls(
            backbone=spec.backbone,
            dims=MappingProxyType(dims),
            mlp=mlp,
            pairs=pairs,
            cross_layers=int(spec.cross.layers),
            dynamic=dynamic,
            numerical=numerical,
            multisize=multisize,
            blocks=blocks,
            groups=groups,
            prune=prune,
            dcnv2=dcnv2,
            autoint=autoint,
            finalmlp=finalmlp,
        )


def _resolve_prune(
    spec: ModelSpec, schema: DataSchema, dims: dict[str, int], issues: list[SpecIssue]
) -> PruneConfig | None:
    """PEP's masks; not on tables that multisize or dynamic embeddings hold."""
    prune = spec.embedding.prune
    if prune is not None and prune.masks:
        other = "multisize" if spec.embedding.multisize is not None else None
        dynamic = spec.embedding.dynamic
        clash = set(prune.masks) & set(dynamic.fields) if dynamic is not None else set()
        if other or clash:
            issues.append(
                SpecIssue(
                    "model.embedding.prune",
                    "pruned masks apply to plain tables, not to "
                    + ("multisize embeddings" if other else f"dynamic fields {sorted(clash)}"),
                )
            )
            return None
    return PruneConfig.resolve(prune, schema, dims, issues)


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    yield path, value
    if isinstance(value, BaseModel) and not is_expr(value):
        for name in type(value).model_fields:
            yield from _walk(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}[{key}]")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]")


def _reject_expressions(spec: ModelSpec, root: str) -> None:
    for path, value in _walk(spec, root):
        if is_expr(value):
            raise ValueError(f"{path} is a search expression ({value!r}): sample it first")


def _resolve_dims(
    dim: Any, schema: DataSchema, issues: list[SpecIssue], raw: set[str]
) -> dict[str, int]:
    """A width for every field; a ``raw`` field a map leaves out gets 1 (it is unused)."""
    names = schema.names
    if not isinstance(dim, dict):
        return {name: int(dim) for name in names}
    dim = {name: 1 for name in raw} | dim
    for key in dim:
        if key not in names:
            issues.append(
                SpecIssue(
                    f"model.embedding.dim[{key}]",
                    f"no field {key!r} in the data{did_you_mean(key, names)}",
                )
            )
    missing = [name for name in names if name not in dim]
    if missing:
        issues.append(
            SpecIssue("model.embedding.dim", f"no width for the field(s) {', '.join(missing)}")
        )
    return {name: int(dim[name]) for name in names if name in dim}


def _check_block_groups(blocks: BlocksConfig, raw: set[str], issues: list[SpecIssue]) -> None:
    for group, fields in blocks.groups.items():
        for name in sorted(raw.intersection(fields)):
            issues.append(
                SpecIssue(
                    f"model.blocks.groups.{group}",
                    f"{name!r} is a raw numerical field (model.embedding.numerical): it has "
                    "no vector to group; blocks read raw values through the `dense` input",
                )
            )


def _resolve_groups(
    groups: GroupsSpec | None, schema: DataSchema, issues: list[SpecIssue], raw: set[str]
) -> MappingProxyType[int, tuple[tuple[str, ...], ...]] | None:
    if groups is None:
        return None
    if groups.members is None:
        raise ValueError("model.interactions.groups has no members: sample it before building")
    names = schema.names
    for order, sets in groups.members.items():
        for k, fields in enumerate(sets):
            for i, name in enumerate(fields):
                if name not in names:
                    issues.append(
                        SpecIssue(
                            f"model.interactions.groups.members[{order}][{k}][{i}]",
                            f"no field {name!r} in the data{did_you_mean(name, names)}",
                        )
                    )
    position = {name: i for i, name in enumerate(names) if name not in raw}
    return MappingProxyType(
        {
            int(order): tuple(
                tuple(sorted(set(fields) & set(position), key=position.__getitem__))
                for fields in sets
            )
            for order, sets in sorted(groups.members.items())
        }
    )


def _resolve_pairs(
    gate: str | GateKeep, schema: DataSchema, issues: list[SpecIssue], raw: set[str]
) -> tuple[Pair, ...] | None:
    """The kept pairs of the fields with a vector (a ``raw`` field has none to pair), or
    None when every such pair is kept."""
    if not isinstance(gate, GateKeep):
        return None
    position = {name: i for i, name in enumerate(schema.names)}
    kept: set[Pair] = set()
    for i, (a, b) in enumerate(gate.keep):
        path = f"model.interactions.gate.keep[{i}]"
        bad = [name for name in (a, b) if name not in position]
        for name in bad:
            issues.append(
                SpecIssue(path, f"no field {name!r} in the data{did_you_mean(name, position)}")
            )
        if a == b:
            issues.append(SpecIssue(path, f"a pair needs two different fields, got {a!r} twice"))
        if not bad and a != b:
            kept.add((a, b) if position[a] < position[b] else (b, a))
    candidates = [p for p in schema.pairs() if not raw.intersection(p)]
    chosen = tuple(p for p in candidates if p in kept)
    if len(chosen) == len(candidates):
        return None  # every pair kept: the same model as `all`, on the fast path
    return chosen
