"""The streamed ingest: the same encoding as the whole-frame path, a cache built once and
atomically, hashing, memory-mapped training data, and bad click-log input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from searchengine.cli import main
from searchengine.data import DATASETS, FittedEncoders, load_data, schema_of
from searchengine.data import _load as load_module
from searchengine.data._split import split_rows
from searchengine.errors import DataError
from searchengine.spec.format import DataSpec

from ._shared import ADULT_CSV

REPO = Path(__file__).resolve().parents[2]
NUMERICAL = [f"I{i}" for i in range(1, 14)]


def write_click_log(path: Path, rows: int, seed: int = 0, *, vocab: int = 300) -> Path:
    """A Criteo-format file: label, I1..I13, C1..C26, hex ids with Zipf-like frequencies,
    20% missing numericals, 5% missing ids, and a label that depends on C1 and I1."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"{x:08x}" for x in rng.integers(0, 2**32, vocab)], dtype=object)
    rank = np.minimum(rng.zipf(1.3, (rows, 26)) - 1, vocab - 1)
    cats = ids[rank]
    cats[rng.random((rows, 26)) < 0.05] = ""
    ints = rng.poisson(4, (rows, 13)).astype(object)
    ints[rng.random((rows, 13)) < 0.2] = ""
    logit = np.where(rank[:, 0] % 2 == 0, 1.0, -1.0) + 0.2 * rng.normal(size=rows)
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    lines = ["\t".join([str(label[i]), *map(str, ints[i]), *cats[i]]) for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _frame_path(spec: DataSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict, list]:
    """What the whole-frame path (``Dataset.read`` + ``FittedEncoders``) makes of ``spec``."""
    dataset = DATASETS.get(spec.dataset)(spec)
    fields = dataset.declared_fields()
    frame = dataset.read()
    splits = split_rows(len(frame), spec.split, frame[spec.split.by] if spec.split.by else None)
    encoders = FittedEncoders.fit(frame, fields, splits["train"], "x")
    cat, num, missing = encoders.encode(frame, "x")
    train = splits["train"]
    schema = schema_of(encoders, cat[train], num[train], missing[train])
    return cat, num, missing, splits, list(schema.fields)


def _differences_from_frame_path(spec: DataSpec) -> list[str]:
    """What the streamed ``load_data`` of ``spec`` encodes otherwise than the frame path."""
    data = load_data(spec)
    cat, num, missing, splits, fields = _frame_path(spec)
    close = {"rtol": 1e-6, "atol": 1e-6}
    wrong = [
        name
        for name, same in (
            ("cat", np.array_equal(data.cat, cat)),
            ("num", np.allclose(data.num, num, **close)),
            ("num_missing", np.array_equal(data.num_missing, missing)),
            *((f"split {k}", np.array_equal(data.splits[k], v)) for k, v in splits.items()),
        )
        if not same
    ]
    for got, want in zip(data.schema.fields, fields, strict=True):
        if (got.name, got.vocab_size) != (want.name, want.vocab_size):
            wrong.append(f"{want.name}: vocabulary size {got.vocab_size} != {want.vocab_size}")
        if want.counts is not None and not np.array_equal(got.counts, want.counts):
            wrong.append(f"{want.name}: counts")
        if want.quantiles is not None and not np.allclose(got.quantiles, want.quantiles, **close):
            wrong.append(f"{want.name}: quantiles")
    return wrong


def test_criteo_streamed_in_small_batches_encodes_as_the_frame_path(tmp_path: Path) -> None:
    path = write_click_log(tmp_path / "day_0", 3000)
    small = DataSpec(dataset="criteo", path=str(path), options={"chunksize": 257})
    assert _differences_from_frame_path(small) == []
    rare = DataSpec(dataset="criteo", path=str(path), options={"min_count": 3, "chunksize": 1000})
    assert _differences_from_frame_path(rare) == []


@pytest.mark.skipif(not ADULT_CSV.exists(), reason="needs ../shared/datasets/adult")
@pytest.mark.parametrize("by", [None, "age"])
def test_adult_as_a_table_encodes_as_the_frame_path(by: str | None, tmp_path: Path) -> None:
    adult = pd.read_csv(ADULT_CSV)
    adult["y"] = adult["income"].str.contains(">").astype(int)
    adult.to_csv(tmp_path / "adult.csv", index=False)
    fields = [
        {"name": "workclass"}, {"name": "education"}, {"name": "occupation", "min_count": 20},
        {"name": "native-country", "hash_buckets": 7},
        {"name": "age", "type": "numerical", "transform": ["log1p", "standardize"]},
        {"name": "hours-per-week", "type": "numerical", "transform": "minmax"},
    ]  # fmt: skip
    spec = DataSpec.model_validate(
        {
            "dataset": "table",
            "path": str(tmp_path / "adult.csv"),
            "label": "y",
            "fields": fields,
            "split": {"valid": 0.1, "test": 0.1, "by": by},
            "options": {"chunksize": 5000},
        }
    )
    assert _differences_from_frame_path(spec) == []


def test_same_auc_as_the_frame_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from searchengine.evaluation import Evaluator
    from searchengine.searchspace import SearchSpace, parse_spec

    path = write_click_log(tmp_path / "day_0", 2000)
    text = f"""
name: parity
data: {{dataset: criteo, path: {path}}}
model: {{backbone: deepfm, embedding: {{dim: 4}}, mlp: {{layers: [16]}}}}
train: {{epochs: 1, batch_size: 256}}
"""
    spec = parse_spec(text)
    arch = SearchSpace.from_spec(spec).fixed({})
    streamed = Evaluator(spec, cache_dir=tmp_path / "a").evaluate(arch)
    load_module._memo.clear()
    monkeypatch.setattr(DATASETS.get("criteo"), "streams", False)
    whole = Evaluator(spec, cache_dir=tmp_path / "b").evaluate(arch)
    assert streamed.metrics["auc"] == whole.metrics["auc"]
    assert streamed.test_metrics["auc"] == whole.test_metrics["auc"]


def test_training_reads_the_memory_mapped_cache(tmp_path: Path) -> None:
    from searchengine.evaluation import Evaluator
    from searchengine.searchspace import parse_spec

    path = write_click_log(tmp_path / "day_0", 500)
    spec = parse_spec(f"name: m\ndata: {{dataset: criteo, path: {path}}}\n")
    evaluator = Evaluator(spec, cache_dir=tmp_path / "cache")
    data = evaluator.data
    assert isinstance(data.cat, np.memmap) and data.cat.dtype == np.int32
    tensors = evaluator.tensors(torch.device("cpu"))
    assert tensors.cat.data_ptr() == data.cat.ctypes.data  # no copy of the rows
    assert tensors.batch(torch.arange(3))[0].dtype == torch.int64


def test_hash_buckets_cap_every_field_and_the_model_sees_them(tmp_path: Path) -> None:
    from searchengine.models import count_embedding_params
    from searchengine.searchspace import SearchSpace, parse_spec

    path = write_click_log(tmp_path / "day_0", 1000, vocab=500)
    spec = DataSpec(dataset="criteo", path=str(path), options={"hash_buckets": 16})
    data = load_data(spec)
    sizes = {f.name: f.vocab_size for f in data.schema.categorical}
    assert set(sizes.values()) == {17}
    assert data.cat.max() <= 16 and data.cat.min() >= 0
    plain = load_data(DataSpec(dataset="criteo", path=str(path)))
    assert plain.schema.field("C1").vocab_size > 100
    own = DataSpec.model_validate(
        {
            "dataset": "criteo",
            "path": str(path),
            "options": {"hash_buckets": 16},
            "fields": [{"name": "C1", "hash_buckets": 4}, {"name": "C2"}],
        }
    )
    capped = load_data(own).schema
    assert (capped.field("C1").vocab_size, capped.field("C2").vocab_size) == (5, 17)
    text = f"name: h\ndata: {{dataset: criteo, path: {path}, options: {{hash_buckets: 16}}}}\n"
    text += "model: {embedding: {dim: 4}}\n"
    arch = SearchSpace.from_spec(parse_spec(text)).fixed({})
    assert count_embedding_params(arch.model, data.schema) == 26 * 17 * 4 + 13 * 4 * 2
    with pytest.raises(DataError, match="option 'hash_buckets' must be a positive integer"):
        load_data(DataSpec(dataset="criteo", path=str(path), options={"hash_buckets": 0}))


_KILL = """
import os, signal, sys
from searchengine.data import _ingest, load_data
from searchengine.spec.format import DataSpec
seen = []
original = _ingest._labels
def labels(batch, column):
    seen.append(1)
    if len(seen) == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(batch, column)
_ingest._labels = labels
load_data(DataSpec(dataset="criteo", path=sys.argv[1], options={"chunksize": 100}),
          cache_dir=sys.argv[2])
"""


def test_an_ingest_killed_midway_leaves_nothing_trusted(tmp_path: Path) -> None:
    path = write_click_log(tmp_path / "day_0", 1000)
    cache = tmp_path / "cache"
    done = subprocess.run(
        [sys.executable, "-c", _KILL, str(path), str(cache)], env=_env(), timeout=120
    )
    assert done.returncode == -9
    left = sorted(p.name for p in cache.iterdir())
    assert any(".scratch-" in name for name in left)  # what the dead ingest was writing
    assert not [p for p in cache.iterdir() if p.is_dir() and ".scratch-" not in p.name]
    spec = DataSpec(dataset="criteo", path=str(path), options={"chunksize": 100})
    data = load_data(spec, cache_dir=cache)
    assert len(data) == 1000
    assert not [p for p in cache.iterdir() if ".scratch-" in p.name]  # removed


_RACE = """
import sys, time
from searchengine.data import _load, load_data
from searchengine.spec.format import DataSpec
original = _load._build
def build(*args, **kwargs):
    with open(sys.argv[3], "a") as log:
        log.write("built\\n")
    time.sleep(1.0)
    return original(*args, **kwargs)
_load._build = build
data = load_data(DataSpec(dataset="criteo", path=sys.argv[1]), cache_dir=sys.argv[2])
print(len(data), int(data.cat.sum()))
"""


def test_concurrent_workers_encode_once(tmp_path: Path) -> None:
    path = write_click_log(tmp_path / "day_0", 800)
    cache, log = tmp_path / "cache", tmp_path / "builds.log"
    command = [sys.executable, "-c", _RACE, str(path), str(cache), str(log)]
    workers = [
        subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE, text=True) for _ in range(3)
    ]
    outputs = [w.communicate(timeout=120)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0, 0]
    assert len(set(outputs)) == 1 and outputs[0].startswith("800 ")
    assert log.read_text() == "built\n"  # one encoded, the others waited and mapped it


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _criteo_lines(tmp_path: Path) -> list[str]:
    return write_click_log(tmp_path / "good", 6).read_text().splitlines()


def _cli_error(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> str:
    path = tmp_path / "day_0"
    path.write_text(text)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"name: bad\ndata: {{dataset: criteo, path: {path}, split: {{valid: 0, test: 0}}}}\n"
        "search: {trials: 1}\n"
    )
    cache = tmp_path / "cache"
    os.environ["SEARCHENGINE_CACHE"] = str(cache)
    code = main(["run", str(spec), "--out", str(tmp_path / "runs")])
    assert code == 2
    assert not cache.exists() or not [p for p in cache.iterdir() if p.is_dir()]  # nothing cached
    return capsys.readouterr().err


def test_bad_click_log_lines_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEARCHENGINE_CACHE", str(tmp_path / "cache"))
    lines = _criteo_lines(tmp_path)
    path = tmp_path / "day_0"

    short = lines[:2] + ["\t".join(lines[2].split("\t")[:38])] + lines[3:]
    err = _cli_error(tmp_path, "\n".join(short) + "\n", capsys)
    assert f"{path}, line 3: expected 40 tab-separated columns" in err and "found 38" in err

    cells = lines[1].split("\t")
    cells[5] = "five"
    text = "\n".join([lines[0], "\t".join(cells), *lines[2:]]) + "\n"
    err = _cli_error(tmp_path, text, capsys)
    assert f"{path}, line 2, column 'I5': " in err and "'five' is not a number" in err

    cells = lines[3].split("\t")
    cells[0] = "2"
    text = "\n".join([*lines[:3], "\t".join(cells), *lines[4:]]) + "\n"
    err = _cli_error(tmp_path, text, capsys)
    assert f"{path}, line 4, column 'label': the label must be binary" in err
    assert "got '2'" in err

    truncated = "\n".join(lines) + "\n" + lines[0][: len(lines[0]) // 2]
    err = _cli_error(tmp_path, truncated, capsys)
    assert f"{path}, line 7: expected 40 tab-separated columns" in err

    assert f"{path}: the file is empty; expected rows of label" in _cli_error(tmp_path, "", capsys)
    with pytest.raises(DataError, match="day_0: the file has no data rows"):
        load_data(DataSpec(dataset="criteo", path=str(path)))  # what the ingest itself says


def test_a_truncated_last_line_from_the_api(tmp_path: Path) -> None:
    lines = _criteo_lines(tmp_path)
    path = tmp_path / "day_0"
    path.write_text("\n".join(lines) + "\n" + "1\t2\t3")
    with pytest.raises(DataError, match=r"day_0, line 7: expected 40 .* found 3"):
        load_data(DataSpec(dataset="criteo", path=str(path)))


def test_export_stores_a_large_vocabulary_compactly(tmp_path: Path) -> None:
    from searchengine.data import read_encoders, write_encoders

    values = pd.DataFrame({"u": [f"{i:08x}" for i in range(50_000)] * 2, "y": [0, 1] * 50_000})
    path = tmp_path / "t.parquet"
    values.to_parquet(path)
    spec = DataSpec.model_validate(
        {
            "dataset": "table",
            "path": str(path),
            "label": "y",
            "fields": [{"name": "u"}],
            "split": {"valid": 0, "test": 0},
        }
    )
    data = load_data(spec)
    out = tmp_path / "bundle"
    out.mkdir()
    write_encoders(out, data.encoders, data.schema)
    assert (out / "encoders.json").stat().st_size < 2000
    encoders, counts = read_encoders(out)
    assert len(encoders.encoders[0].vocabulary) == 50_000
    np.testing.assert_array_equal(counts["u"], data.schema.field("u").counts)
    cat, _, _ = encoders.encode(values.head(10), "new rows", align=True)
    np.testing.assert_array_equal(cat[:, 0], data.cat[:10, 0])


def test_validate_checks_columns_without_reading_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    table = tmp_path / "t.csv"
    table.write_text("user,price,clicked\na,1.0,0\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"name: v\ndata: {{dataset: table, path: {table}, label: clicked, fields: "
        "[{name: user}, {name: cost, type: numerical}]}\n"
    )

    def fail(self: object) -> None:
        raise AssertionError("validate read the rows")

    monkeypatch.setattr(DATASETS.get("table"), "batches", fail)
    assert main(["validate", str(spec)]) == 2
    err = capsys.readouterr().err
    assert f"{table}: no column 'cost'" in err
    criteo = write_click_log(tmp_path / "day_0", 5)
    criteo.write_text("\n".join(line[:40] for line in criteo.read_text().splitlines()))
    spec.write_text(f"name: v\ndata: {{dataset: criteo, path: {criteo}}}\n")
    assert main(["validate", str(spec)]) == 2
    assert "line 1: expected 40 tab-separated columns" in capsys.readouterr().err
