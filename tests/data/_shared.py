"""Paths and small fixture files shared by the data tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

#: Datasets shared beside the repository (`../shared/datasets`), as in the CI checkout.
SHARED = (Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets").resolve()
MOVIELENS = SHARED / "movielens-100k"
ADULT_CSV = SHARED / "adult" / "adult.csv"

GENRE_FLAGS = 19


def write_grouplens(folder: Path) -> Path:
    """A six-rating MovieLens folder in GroupLens' original layout (latin-1 u.item)."""
    folder.mkdir(parents=True, exist_ok=True)
    ratings = [(1, 10, 5, 100), (1, 20, 3, 200), (2, 10, 4, 300),
               (2, 30, 1, 400), (3, 20, 4, 500), (3, 30, 2, 600)]  # fmt: skip
    (folder / "u.data").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in ratings))
    (folder / "u.user").write_text(
        "1|24|M|technician|85711\n2|53|F|other|94043\n3|23|M|writer|32067\n"
    )

    def item(item_id: int, title: str, date: str, genres: list[int]) -> str:
        flags = ["1" if g in genres else "0" for g in range(GENRE_FLAGS)]
        return "|".join([str(item_id), title, date, "", "http://x", *flags]) + "\n"

    text = (
        item(10, "Toy Story (1995)", "01-Jan-1995", [3, 4, 5])
        + item(20, "Café Society (1995)", "01-Jan-1997", [8])
        + item(30, "Unknown (????)", "", [])
    )
    (folder / "u.item").write_bytes(text.encode("latin-1"))
    return folder


CRITEO_ROWS = [
    # label, I1..I13, C1..C26
    ["1", "1", "", "5", *["0"] * 10, "68fd1e64", "80e26c9b", *[""] * 24],
    ["0", "", "3", "", *["2"] * 10, "68fd1e64", "f0cf0024", *["a"] * 24],
    ["0", "4", "2", "1", *["7"] * 10, "05db9164", "80e26c9b", *["b"] * 24],
]


def write_criteo(path: Path) -> Path:
    path.write_text("".join("\t".join(row) + "\n" for row in CRITEO_ROWS))
    return path


AVAZU_CATEGORICAL = [
    "C1", "banner_pos", "site_id", "site_domain", "site_category", "app_id", "app_domain",
    "app_category", "device_id", "device_ip", "device_model", "device_type",
    "device_conn_type", "C14", "C15", "C16", "C17", "C18", "C19", "C20", "C21",
]  # fmt: skip


def write_avazu(path: Path) -> Path:
    rows = []
    for i, (click, hour) in enumerate([(0, "14102100"), (1, "14102213"), (0, "14102623")]):
        rows.append({"id": f"1000{i}", "click": click, "hour": hour}
                    | {c: f"{c}_{i % 2}" for c in AVAZU_CATEGORICAL})  # fmt: skip
    pd.DataFrame(rows).to_csv(path, index=False)
    return path
