"""The synthetic dataset: shape, determinism by seed, and a planted truth that is learnable."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from searchengine.data import DATASETS, EncodedData, _load, load_data
from searchengine.data._synthetic import Synthetic
from searchengine.errors import DataError
from searchengine.spec.format import DataSpec


def _synthetic(rows: int = 2000, **options: object) -> EncodedData:
    return load_data(DataSpec(dataset="synthetic", rows=rows, options=options, cache=False))


def test_criteo_shape_by_default() -> None:
    data = _synthetic()
    names = data.schema.names
    assert names == [f"I{i}" for i in range(1, 14)] + [f"C{i}" for i in range(1, 27)]
    assert data.cat.shape == (2000, 26) and data.num.shape == (2000, 13)
    assert 0.2 <= data.metadata["positive_rate"] <= 0.3
    vocab = data.metadata["truth"]["vocab"]
    assert vocab["C1"] == 4 and vocab["C26"] == 300_000
    assert all(vocab[f"C{i}"] <= vocab[f"C{i + 1}"] for i in range(1, 26))
    assert data.num_missing.any() and not data.num_missing.all()
    assert data.metadata["source"] == "generated"


def test_raw_values_are_non_negative_heavy_tailed_and_zipf() -> None:
    raw = DATASETS.get("synthetic")(DataSpec(dataset="synthetic", rows=20_000)).read()
    numbers = raw[[f"I{i}" for i in range(1, 14)]].to_numpy(dtype=float)
    assert np.nanmin(numbers) >= 0
    assert np.nanmax(numbers) > 20 * np.nanmedian(numbers)
    counts = raw["C10"].value_counts().to_numpy()
    assert counts[0] > 5 * counts[10]  # a few ids dominate


def test_same_seed_same_data_other_seed_other_data() -> None:
    first = DATASETS.get("synthetic")(DataSpec(dataset="synthetic", rows=500)).read()
    again = DATASETS.get("synthetic")(DataSpec(dataset="synthetic", rows=500)).read()
    other = DATASETS.get("synthetic")(
        DataSpec(dataset="synthetic", rows=500, options={"seed": 1})
    ).read()
    assert first.equals(again)
    assert not first["label"].equals(other["label"])


def test_truth_is_reported_and_partitions_the_fields() -> None:
    data = _synthetic(categorical=10, numerical=4, informative=2, interactions=2)
    truth = data.metadata["truth"]
    assert len(truth["interactions"]) == 2 and all(len(p) == 2 for p in truth["interactions"])
    assert truth["nonlinear"] in {"I1", "I2", "I3", "I4"}
    planted = [*truth["informative"], *sum(truth["interactions"], []), truth["nonlinear"]]
    assert len(set(planted)) == len(planted) == 2 + 1 + 4 + 1
    assert sorted(planted + truth["noise"]) == sorted(data.schema.names)


def test_options_are_checked() -> None:
    with pytest.raises(DataError, match=r"has no option 'rowz'; did you mean 'zipf'\?|'rowz'"):
        _synthetic(rowz=3)
    with pytest.raises(DataError, match="option 'seed' must be int, got 'a'"):
        _synthetic(seed="a")
    with pytest.raises(DataError, match="1 <= min_vocab <= max_vocab"):
        _synthetic(min_vocab=10, max_vocab=5)


def _onehot(data: EncodedData, names: list[str], pairs: list[list[str]]) -> sp.csr_matrix:
    columns = [data.cat[:, data.schema.field(n).column] for n in names]
    for a, b in pairs:
        fa, fb = data.schema.field(a), data.schema.field(b)
        columns.append(data.cat[:, fa.column] * fb.vocab_size + data.cat[:, fb.column])
    rows = np.arange(len(data))
    blocks = [sp.csr_matrix((np.ones(len(data)), (rows, c))) for c in columns]
    return sp.hstack(blocks).tocsr()


def _auc(data: EncodedData, names: list[str], pairs: list[list[str]]) -> float:
    x = _onehot(data, names, pairs)
    train, test = data.splits["train"], data.splits["test"]
    model = LogisticRegression(max_iter=1000).fit(x[train], data.label[train])
    return float(roc_auc_score(data.label[test], model.predict_proba(x[test])[:, 1]))


def test_the_planted_truth_is_learnable() -> None:
    data = load_data(
        DataSpec(
            dataset="synthetic",
            rows=20_000,
            options={"categorical": 9, "numerical": 2, "max_vocab": 200},
            split={"valid": 0.1, "test": 0.3},
            cache=False,
        )
    )
    truth = data.metadata["truth"]
    categorical = [n for n in truth["informative"] if n.startswith("C")]
    pair_fields = sorted({f for pair in truth["interactions"] for f in pair})
    first_order = _auc(data, categorical + pair_fields, [])
    with_pairs = _auc(data, categorical + pair_fields, truth["interactions"])
    assert first_order > 0.6
    assert with_pairs > first_order + 0.03


def test_truth_survives_the_disk_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = DataSpec(dataset="synthetic", rows=300, options={"categorical": 6, "numerical": 2})
    first = load_data(spec)
    _load._memo.clear()
    monkeypatch.setattr(Synthetic, "read", lambda self: pytest.fail("read despite the cache"))
    second = load_data(spec)
    assert second is not first and second.metadata["truth"] == first.metadata["truth"]
    assert np.array_equal(second.cat, first.cat)
