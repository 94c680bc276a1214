"""Fixtures of the data tests: a private cache folder and an empty in-process memo."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from searchengine.data import _load


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The on-disk cache of this test (``$SEARCHENGINE_CACHE``); the memo starts empty."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SEARCHENGINE_CACHE", str(cache))
    _load._memo.clear()
    yield cache
    _load._memo.clear()


@pytest.fixture
def write_table(tmp_path: Path) -> Callable[..., Path]:
    """Write a frame to ``tmp_path / name`` as csv, tsv or parquet (by extension)."""

    def write(frame: pd.DataFrame, name: str = "table.csv") -> Path:
        path = tmp_path / name
        if name.endswith((".parquet", ".pq")):
            frame.to_parquet(path, index=False)
        else:
            sep = "\t" if name.endswith((".tsv", ".txt")) else ","
            frame.to_csv(path, index=False, sep=sep)
        return path

    return write
