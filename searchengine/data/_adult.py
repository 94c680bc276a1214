"""``adult``: UCI Adult (census income), bundled with the package (CC BY 4.0)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from searchengine.data._dataset import DATASETS, BuiltinDataset, FieldSpec
from searchengine.data._readers import check_columns, read_delimited, require_path, show_values
from searchengine.errors import DataError
from searchengine.spec.format import CategoricalField, NumericalField

BUNDLED = Path(__file__).with_name("builtin") / "adult.csv.gz"
_NUMERICAL = {
    "age": "standardize",
    "fnlwgt": ["log1p", "standardize"],
    "educational-num": "standardize",
    "capital-gain": ["log1p", "standardize"],
    "capital-loss": ["log1p", "standardize"],
    "hours-per-week": "standardize",
}
# The csv's column order.
_COLUMNS = (
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "educational-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "gender",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
)
_LABEL = "income"


@DATASETS.register("adult")
class Adult(BuiltinDataset):
    """UCI Adult: 48,842 people, label ``income == '>50K'`` (23.9% positive).

    8 categorical and 6 numerical fields, in the csv's column order; ``?`` is missing.
    The copy bundled with the package is read unless ``data.path`` names another
    ``adult.csv`` with the same header. Becker & Kohavi (1996), UCI Machine Learning
    Repository, CC BY 4.0 (see ``builtin/ADULT_LICENSE.txt``).
    """

    description = "UCI Adult census income, 48,842 rows, 8 categorical + 6 numerical (bundled)."
    option_defaults = {}

    def default_fields(self) -> list[FieldSpec]:
        return [
            NumericalField(name=name, type="numerical", transform=_NUMERICAL[name])
            if name in _NUMERICAL
            else CategoricalField(name=name)
            for name in _COLUMNS
        ]

    def files(self) -> list[Path]:
        return [require_path(self.spec.path) if self.spec.path else BUNDLED]

    def read(self) -> pd.DataFrame:
        path = self.files()[0]
        frame = read_delimited(
            path,
            sep=",",
            rows=self.spec.rows,
            skipinitialspace=True,
            dtype={c: str for c in _COLUMNS if c not in _NUMERICAL} | {_LABEL: str},
        )
        check_columns(list(frame.columns), [*_COLUMNS, _LABEL], str(path))
        income = frame[_LABEL].str.strip().str.rstrip(".")
        bad = ~income.isin([">50K", "<=50K"])
        if bad.any():
            raise DataError(
                f"{path}: column {_LABEL!r} must be '>50K' or '<=50K'; "
                f"{int(bad.sum())} row(s) are not, e.g. {show_values(frame[_LABEL][bad])}"
            )
        frame["label"] = (income == ">50K").astype("int8")
        return frame
