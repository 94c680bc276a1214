"""The :class:`Dataset` plug-in point and the registry of datasets."""

from __future__ import annotations

import abc
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Union

import pandas as pd

from searchengine.errors import DataError, did_you_mean
from searchengine.registry import Registry
from searchengine.spec.format import CategoricalField, DataSpec, NumericalField

if TYPE_CHECKING:
    from searchengine.data._stream import Batch

__all__ = [
    "DATASETS",
    "BuiltinDataset",
    "Dataset",
    "FieldSpec",
    "hash_buckets_option",
    "with_hash_buckets",
]

FieldSpec = Union[CategoricalField, NumericalField]


class Dataset(abc.ABC):
    """A source of raw rows: a file format, a public dataset, or a generator.

    Life cycle:

    1. The dataset is constructed with the spec's ``data:`` section
       (:class:`~searchengine.spec.format.DataSpec`), once per use; it must not read
       data rows here, and should check ``spec.options``.
    2. :meth:`declared_fields` is called when the spec is compiled, to know the fields the
       search space is built on. It must be cheap: it may read a file header, never rows.
    3. :meth:`files` is called by :func:`~searchengine.data.load_data` to key its cache
       on the files' paths, sizes and modification times.
    4. :meth:`read` is called at most once per process, by
       :func:`~searchengine.data.load_data`, when the encoded data is neither in memory
       nor in the on-disk cache; the rows are then split and encoded by ``load_data``.
       A dataset that sets :attr:`streams` is read through :meth:`batches` instead: its
       rows are never held whole, so it scales to files larger than memory.
    5. :meth:`metadata` is called after :meth:`read`; what it returns is merged into
       :attr:`EncodedData.metadata <searchengine.data.EncodedData>`.

    Register a dataset with ``@DATASETS.register("name")`` or, from another package,
    with an entry point in the group ``searchengine.datasets``.

    Args:
        spec: the spec's ``data:`` section.

    Raises:
        DataError: for an option the dataset does not know, or of the wrong type.
    """

    #: One line shown in listings.
    description: ClassVar[str] = ""
    #: The options the dataset understands (``data.options``), with their defaults;
    #: None accepts any option unchecked.
    option_defaults: ClassVar[dict[str, Any] | None] = None
    #: Whether :func:`~searchengine.data.load_data` reads :meth:`batches` (streamed,
    #: any size) rather than :meth:`read` (a whole frame).
    streams: ClassVar[bool] = False

    def __init__(self, spec: DataSpec) -> None:
        self.spec = spec
        self.options: dict[str, Any] = _checked_options(
            spec.dataset, spec.options, self.option_defaults
        )

    @abc.abstractmethod
    def declared_fields(self) -> list[FieldSpec]:
        """The fields, in order, without reading data rows (a header at most)."""

    @abc.abstractmethod
    def read(self) -> pd.DataFrame:
        """The raw rows (at most ``spec.rows``).

        Returns:
            A frame with a column for each declared field (raw values; missing as NaN or
            None), a ``"label"`` column of 0/1 ints and, if ``spec.split.by`` is set, that
            column. Other columns are ignored.

        Raises:
            DataError: for a missing file or column, or unparsable values.
        """

    def batches(self) -> Iterator[Batch]:
        """The raw rows in batches, in file order (datasets that set :attr:`streams`).

        Each batch has a column per declared field (raw values, missing as null), a
        ``"label"`` column (0/1, true/false or yes/no; checked by the encoder) and, if
        ``spec.split.by`` is set, that column.

        Raises:
            DataError: for a missing file or column, or rows that cannot be parsed,
                naming the file and the line.
        """
        raise NotImplementedError(f"dataset {self.spec.dataset!r} does not stream")

    def check(self) -> None:
        """Check the data's files and columns, reading a header at most (``validate``).

        Raises:
            DataError: a missing file or column, naming the path.
        """
        self.files()

    @property
    def label_column(self) -> str:
        """The label's column in the file, for error messages."""
        return "label"

    def files(self) -> list[Path]:
        """The files :meth:`read` reads; default: ``spec.path``, or every file of that folder.

        Raises:
            DataError: when ``spec.path`` is set and does not exist.
        """
        if self.spec.path is None:
            return []
        path = Path(self.spec.path).expanduser()
        if not path.exists():
            raise DataError(f"data file not found: {path} (check `data.path`)")
        if path.is_dir():
            return sorted(p for p in path.iterdir() if p.is_file())
        return [path]

    def metadata(self) -> dict[str, Any]:
        """Extra facts, merged into ``EncodedData.metadata`` (must be JSON-serializable)."""
        return {}


class BuiltinDataset(Dataset):
    """A dataset with fixed fields; ``spec.fields`` may pick and re-configure some of them.

    A field listed in ``spec.fields`` must be one of :meth:`default_fields` (matched by
    name); it replaces the default, and only the listed fields are used, in the spec's
    order.
    """

    @abc.abstractmethod
    def default_fields(self) -> list[FieldSpec]:
        """All the dataset's fields, with their default encodings."""

    def declared_fields(self) -> list[FieldSpec]:
        defaults = self.default_fields()
        if self.spec.fields is None:
            return defaults
        names = [f.name for f in defaults]
        for field in self.spec.fields:
            if field.name not in names:
                raise DataError(
                    f"dataset {self.spec.dataset!r} has no field {field.name!r}"
                    f"{did_you_mean(field.name, names)} (fields: {', '.join(names)})"
                )
        return list(self.spec.fields)


def hash_buckets_option(dataset: str, options: dict[str, Any]) -> int | None:
    """The dataset-wide ``hash_buckets`` option, checked.

    Raises:
        DataError: a value that is not a positive integer.
    """
    buckets = options.get("hash_buckets")
    if buckets is not None and (
        not isinstance(buckets, int) or isinstance(buckets, bool) or buckets < 1
    ):
        raise DataError(
            f"dataset {dataset!r}: option 'hash_buckets' must be a positive integer, "
            f"got {buckets!r}"
        )
    return buckets


def with_hash_buckets(field: FieldSpec, hash_buckets: int | None) -> FieldSpec:
    """``field`` with a dataset-wide ``hash_buckets`` where it is categorical and sets none."""
    if hash_buckets is None or not isinstance(field, CategoricalField):
        return field
    if field.hash_buckets is not None:
        return field
    return field.model_copy(update={"hash_buckets": hash_buckets})


DATASETS: Registry[type[Dataset]] = Registry("dataset", group="searchengine.datasets")


def _checked_options(
    dataset: str, given: dict[str, Any], defaults: dict[str, Any] | None
) -> dict[str, Any]:
    if defaults is None:
        return dict(given)
    for name, value in given.items():
        if name not in defaults:
            known = ", ".join(sorted(defaults)) or "none"
            raise DataError(
                f"dataset {dataset!r} has no option {name!r}"
                f"{did_you_mean(name, defaults)} (options: {known})"
            )
        _check_option_type(dataset, name, value, defaults[name])
    return {**defaults, **given}


def _check_option_type(dataset: str, name: str, value: Any, default: Any) -> None:
    if default is None:
        return
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise DataError(
            f"dataset {dataset!r}: option {name!r} must be {type(default).__name__}, got {value!r}"
        )
