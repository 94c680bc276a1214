"""Data: datasets, encoding and caching.

A spec's ``data:`` section names a registered :class:`Dataset`; :func:`load_data` reads
it, splits the rows, fits the encoders on the train split and returns
:class:`EncodedData` (cached in memory and on disk). :func:`declared_fields` tells the
fields without reading any rows, for compiling a search space.

Built-in datasets: ``synthetic``, ``adult``, ``movielens-100k``, ``criteo``, ``avazu``
and ``table``; others plug in through the ``searchengine.datasets`` entry point group.
"""

from __future__ import annotations

from searchengine.data import _adult, _clicklogs, _movielens, _synthetic, _table  # noqa: F401
from searchengine.data._cache import read_encoders, write_encoders
from searchengine.data._dataset import DATASETS, Dataset
from searchengine.data._encoders import FittedEncoders
from searchengine.data._load import (
    check_data,
    declared_fields,
    fit_encoders,
    load_data,
    schema_of,
)
from searchengine.data.schema import OOV_ID, DataSchema, EncodedData, FieldInfo

__all__ = [
    "DATASETS",
    "OOV_ID",
    "DataSchema",
    "Dataset",
    "check_data",
    "EncodedData",
    "FieldInfo",
    "FittedEncoders",
    "declared_fields",
    "fit_encoders",
    "load_data",
    "read_encoders",
    "schema_of",
    "write_encoders",
]
