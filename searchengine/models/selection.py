"""Field selection: a model that reads only some fields (``model.fields.keep``).

A dropped field is gone from every part of the model because the backbone never sees
it: :class:`FieldSelection` gives the schema of the kept fields (their columns
renumbered), and the model spec with the dropped fields taken out of its per-field
settings (widths, numerical methods, kept pairs, feature sets, dynamic and multi-size
fields, block groups). The backbone is built from those, and :class:`KeptColumns`
picks the kept columns out of every batch in front of it, so the model still takes the
data's full ``cat``/``num``/``num_missing`` (and a predict input may still hold the
dropped columns).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from searchengine.data.schema import DataSchema, FieldInfo
from searchengine.errors import SpecError, SpecIssue, did_you_mean
from searchengine.spec.format import ModelSpec

__all__ = ["FieldSelection", "KeptColumns"]

_PATH = "model.fields.keep"


@dataclass(frozen=True)
class FieldSelection:
    """The fields a concrete model spec keeps, and what the backbone is built from.

    Attributes:
        kept: the kept field names, in schema order.
        dropped: the dropped field names, in schema order.
        schema: the schema of the kept fields (columns renumbered).
        model: the model spec without the dropped fields (``fields.keep: all``).
        cat_columns: the data's categorical columns of the kept categorical fields.
        num_columns: the data's numerical columns of the kept numerical fields.
    """

    kept: tuple[str, ...]
    dropped: tuple[str, ...]
    schema: DataSchema
    model: ModelSpec
    cat_columns: tuple[int, ...]
    num_columns: tuple[int, ...]

    @classmethod
    def of(cls, model: ModelSpec, schema: DataSchema) -> FieldSelection:
        """Resolve ``model.fields.keep`` against ``schema``.

        Raises:
            ValueError: if ``keep`` is still ``search`` (sample it first) or keeps no
                field (a candidate that drops every field fails as a trial).
            SpecError: an unknown field in the list.
        """
        keep = model.fields.keep
        if keep == "search":
            raise ValueError(f"{_PATH} is `search`: sample it before building")
        names = schema.names
        if keep == "all":
            return cls(tuple(names), (), schema, model, _columns(schema.categorical),
                       _columns(schema.numerical))  # fmt: skip
        issues = [
            SpecIssue(f"{_PATH}[{i}]", f"no field {n!r} in the data{did_you_mean(n, names)}")
            for i, n in enumerate(keep)
            if n not in names
        ]
        if issues:
            raise SpecError(issues)
        if not keep:  # a sampled candidate (a spec's list is checked when compiled)
            raise ValueError(f"{_PATH} keeps no field: a model reads at least one")
        wanted = set(keep)
        kept = [f for f in schema.fields if f.name in wanted]
        dropped = tuple(n for n in names if n not in wanted)
        return cls(
            kept=tuple(f.name for f in kept),
            dropped=dropped,
            schema=_sub_schema(kept),
            model=_without(model, set(dropped)),
            cat_columns=_columns([f for f in kept if f.is_categorical]),
            num_columns=_columns([f for f in kept if not f.is_categorical]),
        )

    @property
    def drops(self) -> bool:
        """Whether any field is dropped."""
        return bool(self.dropped)

    def columns(self) -> KeptColumns | None:
        """The module that picks the kept columns, or None when every field is kept."""
        return KeptColumns(self.cat_columns, self.num_columns) if self.drops else None


class KeptColumns(nn.Module):
    """Picks the kept fields' columns out of a batch of the data's full columns.

    Shapes:
        ``cat`` ``(B, C)``, ``num`` ``(B, N)``, ``num_missing`` ``(B, N)`` ->
        ``(B, C')``, ``(B, N')``, ``(B, N')``.
    """

    def __init__(self, cat_columns: tuple[int, ...], num_columns: tuple[int, ...]) -> None:
        super().__init__()
        # not persistent: a state dict is the same with or without a selection
        self.register_buffer("cat_index", torch.tensor(cat_columns, dtype=torch.long),
                             persistent=False)  # fmt: skip
        self.register_buffer("num_index", torch.tensor(num_columns, dtype=torch.long),
                             persistent=False)  # fmt: skip

    def forward(self, cat: Tensor, num: Tensor, num_missing: Tensor) -> tuple[Tensor, ...]:
        return (
            cat.index_select(1, self.cat_index),  # (B, C')
            num.index_select(1, self.num_index),  # (B, N')
            num_missing.index_select(1, self.num_index),  # (B, N')
        )


def _columns(fields: list[FieldInfo]) -> tuple[int, ...]:
    return tuple(f.column for f in fields)


def _sub_schema(kept: list[FieldInfo]) -> DataSchema:
    cat = [f for f in kept if f.is_categorical]
    num = [f for f in kept if not f.is_categorical]
    column = {f.name: i for i, f in enumerate(cat)} | {f.name: i for i, f in enumerate(num)}
    return DataSchema(tuple(dataclasses.replace(f, column=column[f.name]) for f in kept))


def _without(model: ModelSpec, dropped: set[str]) -> ModelSpec:
    """``model`` with the dropped fields taken out of every per-field setting."""
    data = model.model_dump(mode="python", by_alias=True)
    data["fields"] = {"keep": "all"}
    embedding = data["embedding"]
    for key in ("dim", "numerical"):
        if isinstance(embedding[key], dict):
            embedding[key] = _drop_keys(embedding[key], dropped)
    dynamic = embedding.get("dynamic")
    if dynamic is not None:
        dynamic["fields"] = [f for f in dynamic["fields"] if f not in dropped]
        if dynamic.get("sizes"):
            dynamic["sizes"] = _drop_keys(dynamic["sizes"], dropped)
        if not dynamic["fields"]:
            embedding["dynamic"] = None
    multisize = embedding.get("multisize")
    if multisize is not None and multisize.get("sizes"):
        multisize["sizes"] = _drop_keys(multisize["sizes"], dropped)
    interactions = data["interactions"]
    if isinstance(interactions["gate"], dict):
        keep = interactions["gate"]["keep"]
        interactions["gate"]["keep"] = [p for p in keep if not dropped.intersection(p)]
    groups = interactions.get("groups")
    if groups is not None and groups.get("members"):
        groups["members"] = {
            order: [[f for f in s if f not in dropped] for s in sets]
            for order, sets in groups["members"].items()
        }
    blocks = data.get("blocks")
    if blocks is not None and blocks.get("groups"):
        blocks["groups"] = {
            name: [f for f in fields if f not in dropped]
            for name, fields in blocks["groups"].items()
        }
    return ModelSpec.model_validate(data)


def _drop_keys(mapping: dict[str, Any], dropped: set[str]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k not in dropped}
