"""``movielens-100k``: MovieLens 100K ratings, from RecBole atomic files or GroupLens files.

MovieLens may not be redistributed: it is always read from ``data.path``, never bundled.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from searchengine.data._dataset import DATASETS, BuiltinDataset, FieldSpec
from searchengine.data._readers import check_columns, read_delimited
from searchengine.errors import DataError
from searchengine.spec.format import CategoricalField

DEFAULT_PATH = Path("..") / "shared" / "datasets" / "movielens-100k"
FIELDS = (
    "user_id",
    "item_id",
    "age",
    "gender",
    "occupation",
    "zip_code",
    "release_year",
    "genre",
)
RECBOLE = ("ml-100k.inter", "ml-100k.user", "ml-100k.item")
GROUPLENS = ("u.data", "u.user", "u.item")
GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
_RAW = {"sep": "\t", "dtype": str, "quoting": csv.QUOTE_NONE, "keep_default_na": False}


@DATASETS.register("movielens-100k")
class MovieLens100K(BuiltinDataset):
    """MovieLens 100K: 100,000 ratings of 1,682 movies by 943 users, label ``rating >= 4``.

    ``data.path`` is a folder with RecBole's atomic files (``ml-100k.inter``,
    ``ml-100k.user``, ``ml-100k.item``) or GroupLens' original ones (``u.data``,
    ``u.user``, ``u.item``); without it, ``../shared/datasets/movielens-100k`` (from the
    working directory) is used if it exists. All fields are categorical; the first genre
    of a movie is its ``genre``. The rows also carry ``timestamp`` for
    ``split: {by: timestamp}``.
    """

    description = "MovieLens 100K ratings (RecBole or GroupLens files at data.path)."
    option_defaults = {}

    def default_fields(self) -> list[FieldSpec]:
        return [CategoricalField(name=name) for name in FIELDS]

    def folder(self) -> Path:
        """The folder the files are read from.

        Raises:
            DataError: when it does not exist.
        """
        if self.spec.path is None:
            if DEFAULT_PATH.is_dir():
                return DEFAULT_PATH.resolve()
            raise DataError(
                "dataset 'movielens-100k' is not bundled (its license forbids it): set "
                "`data.path` to a folder with ml-100k.inter/.user/.item (RecBole) or "
                f"u.data/u.user/u.item (GroupLens); {DEFAULT_PATH.resolve()} does not exist"
            )
        folder = Path(self.spec.path).expanduser()
        if not folder.is_dir():
            raise DataError(f"movielens-100k folder not found: {folder} (check `data.path`)")
        return folder

    def files(self) -> list[Path]:
        folder = self.folder()
        for names in (RECBOLE, GROUPLENS):
            if (folder / names[0]).exists():
                missing = [n for n in names if not (folder / n).exists()]
                if missing:
                    raise DataError(f"{folder}: missing {', '.join(missing)}")
                return [folder / n for n in names]
        raise DataError(
            f"{folder}: found neither RecBole files ({', '.join(RECBOLE)}) nor GroupLens "
            f"files ({', '.join(GROUPLENS)})"
        )

    def read(self) -> pd.DataFrame:
        inter_path, user_path, item_path = self.files()
        if inter_path.name == RECBOLE[0]:
            inter, users, items = _read_recbole(inter_path, user_path, item_path, self.spec.rows)
        else:
            inter, users, items = _read_grouplens(inter_path, user_path, item_path, self.spec.rows)
        frame = inter.merge(users, on="user_id", how="left").merge(items, on="item_id", how="left")
        rating = pd.to_numeric(frame["rating"], errors="coerce")
        if rating.isna().any():
            raise DataError(f"{inter_path}: column 'rating' has values that are not numbers")
        frame["label"] = (rating >= 4).astype("int8")
        frame["timestamp"] = pd.to_numeric(frame["timestamp"], errors="coerce")
        return frame


def _read_atomic(path: Path, rows: int | None = None) -> pd.DataFrame:
    """A RecBole atomic file, with the ``:token`` / ``:float`` type suffixes stripped."""
    frame = read_delimited(path, rows=rows, **_RAW)
    frame.columns = [str(c).split(":", 1)[0] for c in frame.columns]
    return frame.replace("", None)


def _read_recbole(
    inter_path: Path, user_path: Path, item_path: Path, rows: int | None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    inter = _read_atomic(inter_path, rows)
    users = _read_atomic(user_path)
    items = _read_atomic(item_path)
    for frame, columns, path in (
        (inter, ["user_id", "item_id", "rating", "timestamp"], inter_path),
        (users, ["user_id", "age", "gender", "occupation", "zip_code"], user_path),
        (items, ["item_id", "release_year", "class"], item_path),
    ):
        check_columns(list(frame.columns), columns, str(path))
    items["genre"] = items["class"].str.split(" ", n=1).str[0]
    return inter, users, items[["item_id", "release_year", "genre"]]


def _read_grouplens(
    inter_path: Path, user_path: Path, item_path: Path, rows: int | None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    inter_names = ["user_id", "item_id", "rating", "timestamp"]
    inter = read_delimited(inter_path, rows=rows, header=None, names=inter_names, **_RAW)
    user_names = ["user_id", "age", "gender", "occupation", "zip_code"]
    users = read_delimited(user_path, header=None, names=user_names, **{**_RAW, "sep": "|"})
    names = ["item_id", "title", "release_date", "video_date", "url", *GENRES]
    items = read_delimited(
        item_path, header=None, names=names, encoding="latin-1", **{**_RAW, "sep": "|"}
    )
    items["release_year"] = items["release_date"].str.extract(r"(\d{4})\s*$", expand=False)
    flags = items[list(GENRES)].eq("1").to_numpy()
    genre = np.asarray(GENRES, dtype=object)[flags.argmax(axis=1)]
    items["genre"] = pd.Series(genre, index=items.index, dtype="str").where(flags.any(axis=1))
    return inter, users, items[["item_id", "release_year", "genre"]]
