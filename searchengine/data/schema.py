"""What the rest of the package knows about encoded data.

:class:`EncodedData` is the one in-memory form every dataset is turned into: integer ids
for categorical fields, transformed floats (plus a missing mask) for numerical fields, a
0/1 label, and row indices of the train / valid / test splits. Models are built from the
:class:`DataSchema` alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = ["OOV_ID", "QUANTILES", "DataSchema", "EncodedData", "FieldInfo", "train_quantiles"]

#: Id 0 of every categorical field: out of vocabulary (unseen, rare, or missing).
OOV_ID = 0
#: How many quantiles of a numerical field's train values the schema keeps (0%..100%).
QUANTILES = 101


@dataclass(frozen=True, eq=False)
class FieldInfo:
    """One field after encoding.

    Attributes:
        name: the field's name (column name).
        kind: ``"categorical"`` or ``"numerical"``.
        column: index of the field's column in ``EncodedData.cat`` or ``EncodedData.num``.
        vocab_size: categorical: number of ids, OOV id 0 included; numerical: 0.
        counts: categorical: frequency of each id in the train split, shape
            ``(vocab_size,)``; numerical: None.
        quantiles: numerical: the 0%, 1%, ..., 100% quantiles of the field's transformed,
            non-missing values in the train split, shape ``(QUANTILES,)`` (so the first
            is the minimum and the last the maximum), from which bucket boundaries are
            derived; None for categorical fields and when no train value is present.
    """

    name: str
    kind: Literal["categorical", "numerical"]
    column: int
    vocab_size: int = 0
    counts: np.ndarray | None = None
    quantiles: np.ndarray | None = None

    @property
    def is_categorical(self) -> bool:
        return self.kind == "categorical"


def train_quantiles(values: np.ndarray, missing: np.ndarray) -> np.ndarray | None:
    """The :data:`QUANTILES` quantiles (0%..100%) of the non-missing ``values``, as
    ``float64``, or None when every value is missing."""
    present = np.asarray(values, dtype=np.float64)[~np.asarray(missing, dtype=bool)]
    if present.size == 0:
        return None
    return np.quantile(present, np.linspace(0.0, 1.0, QUANTILES))


@dataclass(frozen=True, eq=False)
class DataSchema:
    """The encoded fields, in the declared order (which is the order models use)."""

    fields: tuple[FieldInfo, ...]

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def categorical(self) -> list[FieldInfo]:
        return [f for f in self.fields if f.kind == "categorical"]

    @property
    def numerical(self) -> list[FieldInfo]:
        return [f for f in self.fields if f.kind == "numerical"]

    def field(self, name: str) -> FieldInfo:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def pairs(self) -> list[tuple[str, str]]:
        """All field pairs ``(a, b)`` with ``a`` before ``b`` in field order."""
        names = self.names
        return [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]


@dataclass(eq=False)
class EncodedData:
    """A dataset encoded for training.

    Attributes:
        schema: the fields.
        cat: ``(N, n_categorical)`` int32 ids, OOV = 0.
        num: ``(N, n_numerical)`` float32 transformed values, 0 where missing.
        num_missing: ``(N, n_numerical)`` bool, True where the raw value was missing.
        label: ``(N,)`` float32 in {0, 1}.
        splits: ``"train"``, ``"valid"``, ``"test"`` -> sorted int64 row indices.
        metadata: facts about the dataset (source, sizes; synthetic: the planted truth).
        encoders: the fitted encoders (:class:`~searchengine.data.FittedEncoders`) that
            produced the arrays, for exporting a model; None where unknown.

    The arrays of data read from the cache are copy-on-write memory maps of its files.
    """

    schema: DataSchema
    cat: np.ndarray
    num: np.ndarray
    num_missing: np.ndarray
    label: np.ndarray
    splits: dict[str, np.ndarray]
    metadata: dict[str, Any] = field(default_factory=dict)
    encoders: Any = None

    def __len__(self) -> int:
        return int(self.label.shape[0])
