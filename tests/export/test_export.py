"""Export -> predict: the evaluator's test scores again, from raw rows; clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
from optuna.trial import TrialState

import searchengine
from searchengine import parse_spec
from searchengine.cli import main
from searchengine.data import DATASETS, load_data
from searchengine.engine.runs import open_run
from searchengine.evaluation import Evaluator
from searchengine.evaluation.metrics import auc
from searchengine.evaluation.trainer import predict
from searchengine.exporting import CorruptExportError, export_trial, load_exported
from searchengine.searchspace import SearchSpace
from tests.export.conftest import ADULT, Exported


def raw_test_rows(spec) -> tuple[pd.DataFrame, np.ndarray]:
    """The raw rows of the test split, as the dataset reads them, and their labels."""
    data = load_data(spec.data)
    frame = DATASETS.get(spec.data.dataset)(spec.data).read().iloc[: spec.data.rows]
    test = data.splits["test"]
    return frame.iloc[test].reset_index(drop=True), data.label[test]


def evaluator_test_scores(run_dir: Path, number: int) -> np.ndarray:
    """What the common evaluator predicts on the test split for a trial's architecture."""
    opened = open_run(run_dir)
    trial = opened.study.trials[number]
    arch = SearchSpace.from_spec(opened.spec).fixed(trial.params, encoded=True)
    evaluator = Evaluator(opened.spec)
    evaluator.evaluate(arch)
    tensors = evaluator.tensors(torch.device("cpu"))
    return predict(evaluator.last_model, tensors, tensors.splits["test"])


def test_export_predict_round_trip(exported: Exported, tmp_path: Path, capsys) -> None:
    manifest = json.loads((exported.folder / "manifest.json").read_text())
    spec = open_run(exported.run_dir).spec
    rows, labels = raw_test_rows(spec)
    expected = evaluator_test_scores(exported.run_dir, manifest["trial"])
    # the CLI on a CSV file of raw rows
    rows.to_csv(tmp_path / "test.csv", index=False)
    out = tmp_path / "scores.csv"
    assert main(["predict", str(exported.folder), str(tmp_path / "test.csv"), "-o", str(out),
                 "--id-column", "age"]) == 0  # fmt: skip
    assert f"scored {len(rows)} row(s)" in capsys.readouterr().out
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["age", "score"]
    assert scores["age"].tolist() == rows["age"].tolist()
    np.testing.assert_allclose(scores["score"], expected, rtol=0, atol=1e-6)
    # the Python API on the frame itself, and a Parquet file
    model = searchengine.load_exported(exported.folder)
    np.testing.assert_allclose(model.predict(rows), expected, rtol=0, atol=1e-6)
    rows.to_parquet(tmp_path / "test.parquet", index=False)
    assert main(["predict", str(exported.folder), str(tmp_path / "test.parquet"),
                 "-o", str(tmp_path / "p.csv")]) == 0  # fmt: skip
    np.testing.assert_allclose(pd.read_csv(tmp_path / "p.csv")["score"], expected, atol=1e-6)
    # the same model the search measured: its test AUC, from the exported scores
    search_test_auc = manifest["search_test_metrics"]["auc"]
    assert auc(labels, scores["score"].to_numpy()) == pytest.approx(search_test_auc, abs=1e-5)


def test_manifest_records_metrics_versions_and_checksums(exported: Exported) -> None:
    manifest = json.loads((exported.folder / "manifest.json").read_text())
    study = open_run(exported.run_dir).study
    best = study.best_trial
    assert manifest["trial"] == best.number and manifest["study"] == "adult-tiny"
    assert manifest["metrics"]["auc"] == pytest.approx(best.value, abs=1e-9)
    assert manifest["search_metrics"]["auc"] == best.user_attrs["metrics"]["auc"]
    assert set(manifest["test_metrics"]) >= {"auc", "logloss"}
    assert set(manifest["versions"]) >= {"searchengine", "torch", "optuna", "python"}
    assert set(manifest["files"]) == {
        "spec.yaml", "weights.pt", "encoders.json", "vocabularies.arrow"
    }  # fmt: skip
    assert manifest["fields"][:2] == ["age", "workclass"]
    spec_text = (exported.folder / "spec.yaml").read_text()
    assert "choice" not in spec_text  # concrete: no search expression left
    encoders = json.loads((exported.folder / "encoders.json").read_text())
    kinds = {e["field"]["name"]: e for e in encoders["encoders"]}
    assert "vocabulary" not in kinds["workclass"]  # vocabularies are in the Arrow file
    workclass = load_exported(exported.folder).encoders.encoders[1]
    assert workclass.vocabulary[0] == "Private"  # most frequent first
    assert len(kinds["fnlwgt"]["params"]) == 2  # log1p, then standardize


def test_predict_counts_the_rows_with_unseen_ids(
    exported: Exported, tmp_path: Path, capsys
) -> None:
    model = load_exported(exported.folder)
    rows, _ = raw_test_rows(open_run(exported.run_dir).spec)
    rows = rows.head(20).assign(workclass="never-seen-before")
    rows.loc[rows.index[:3], "education"] = "???"
    rows.loc[rows.index[3], "education"] = None  # missing: not an unseen id
    unseen = model.unseen_ids(rows)
    assert (unseen["workclass"], unseen["education"]) == (20, 3)
    rows.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "s.csv"
    assert main(["predict", str(exported.folder), str(tmp_path / "new.csv"), "-o", str(out)]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert (
        "ids unseen in training (scored with the out-of-vocabulary id), rows per field: "
        "workclass 20, education 3" in printed
    )


def test_unseen_ids_take_the_out_of_vocabulary_path(exported: Exported) -> None:
    model = load_exported(exported.folder)
    rows, _ = raw_test_rows(open_run(exported.run_dir).spec)
    unseen = rows.assign(workclass="never-seen-before", education="???")
    missing = rows.assign(workclass=None, education=None)
    scores = model.predict(unseen)
    assert np.all(np.isfinite(scores)) and scores.shape == (len(rows),)
    np.testing.assert_array_equal(scores, model.predict(missing))  # both are OOV id 0
    assert not np.allclose(scores, model.predict(rows))


def test_data_missing_a_field(exported: Exported, tmp_path: Path, capsys) -> None:
    rows, _ = raw_test_rows(open_run(exported.run_dir).spec)
    rows.drop(columns=["occupation"]).to_csv(tmp_path / "short.csv", index=False)
    code = main(["predict", str(exported.folder), str(tmp_path / "short.csv"), "-o",
                 str(tmp_path / "s.csv")])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "short.csv: no column 'occupation'" in err and "the model needs the fields" in err
    assert not (tmp_path / "s.csv").exists()
    with pytest.raises(searchengine.DataError, match="no column 'occupation'"):
        load_exported(exported.folder).predict(rows.drop(columns=["occupation"]))


def _corrupt(folder: Path, how: str) -> None:
    if how == "missing weights":
        (folder / "weights.pt").unlink()
    elif how == "bad manifest":
        (folder / "manifest.json").write_text("{not json")
    elif how == "edited encoders":
        (folder / "encoders.json").write_text((folder / "encoders.json").read_text() + " ")
    elif how == "weights of another spec":
        weights = folder / "weights.pt"
        state = torch.load(weights, weights_only=True)
        state[next(iter(state))] = torch.zeros(3, 3)  # another shape than the spec builds
        torch.save(state, weights)
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["files"]["weights.pt"] = searchengine.exporting._bundle.sha256(weights)
        (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("missing weights", "weights.pt is missing"),
        ("bad manifest", "manifest.json: not readable JSON"),
        ("edited encoders", "encoders.json: checksum mismatch"),
        ("weights of another spec", "the weights do not fit the spec"),
    ],
)
def test_a_corrupt_export_is_a_clear_error(
    exported: Exported, tmp_path: Path, capsys, how: str, message: str
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(exported.folder, folder)
    _corrupt(folder, how)
    with pytest.raises(CorruptExportError, match=message):
        load_exported(folder)
    (tmp_path / "x.csv").write_text("age\n1\n")
    assert (
        main(["predict", str(folder), str(tmp_path / "x.csv"), "-o", str(tmp_path / "o.csv")]) == 2
    )
    assert message in capsys.readouterr().err


def test_export_errors(exported: Exported, tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "m")
    assert main(["export", str(tmp_path / "nothing"), "-o", out]) == 2
    assert "run folder not found" in capsys.readouterr().err
    study = open_run(exported.run_dir).study
    pruned = [t.number for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned, "the constraint should have pruned a trial"
    assert main(["export", str(exported.run_dir), "--trial", str(pruned[0]), "-o", out]) == 2
    assert f"trial {pruned[0]} is PRUNED (over constraint" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    assert main(["export", str(exported.run_dir), "-o", str(tmp_path / "full")]) == 2
    assert "not empty and holds no export" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "nowhere"), "x.csv", "-o", "s.csv"]) == 2
    assert "export folder not found" in capsys.readouterr().err


def test_a_generic_search_has_no_model_to_export(tmp_path: Path) -> None:
    spec = parse_spec(
        {"name": "g", "evaluator": "tests.engine.functions:quadratic",
         "params": {"x": {"float": [-1, 1]}},
         "objectives": [{"metric": "value", "direction": "minimize"}]}
    )  # fmt: skip
    searchengine.run(spec, trials=2, out=tmp_path / "g", progress=False)
    with pytest.raises(searchengine.SearchEngineError, match="generic search"):
        export_trial(tmp_path / "g", tmp_path / "out")
    other = f"sqlite:///{tmp_path / 'other.db'}"
    optuna.create_study(storage=other, study_name="plain").optimize(
        lambda t: t.suggest_float("x", 0, 1), n_trials=1
    )
    with pytest.raises(searchengine.SearchEngineError, match="has no searchengine spec"):
        export_trial(None, tmp_path / "out", storage=other)


@pytest.mark.parametrize(
    "model",
    [
        {"backbone": "blocks", "embedding": {"dim": 4},
         "blocks": {"count": 3, "types": ["mlp", "dot", "fm", "cross", "efc"], "width": 8}},
        {"backbone": "deepfm", "embedding": {"dim": 4}, "mlp": {"layers": [8]},
         "interactions": {"groups": {"orders": [2, 3], "sets": 2}}},
        {"backbone": "deepfm", "embedding": {"dim": 4, "numerical": {
            "choice": ["scalar", "bucket", "autodis"], "per": "field"}}, "mlp": {"layers": [8]}},
        {"backbone": "dcn", "embedding": {"dim": 4, "numerical": {
            "choice": ["raw", "scalar"], "per": "field"}}, "mlp": {"layers": [8]}},
    ],
    ids=["blocks", "groups", "numerical", "raw"],
)  # fmt: skip
def test_searched_architectures_export_and_predict_alike(model: dict, tmp_path: Path) -> None:
    spec = dict(ADULT, name="adult-arch", model=model, constraints=[])
    spec["search"] = {"strategy": "random", "trials": 2, "seed": 1}
    searchengine.run(parse_spec(spec), out=tmp_path / "run", progress=False)
    assert main(["export", str(tmp_path / "run"), "-o", str(tmp_path / "model")]) == 0
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    rows, labels = raw_test_rows(parse_spec(spec))
    scores = load_exported(tmp_path / "model").predict(rows)
    assert auc(labels, scores) == pytest.approx(manifest["search_test_metrics"]["auc"], abs=1e-5)


def test_a_missing_file_to_score_is_named_without_data_path(tmp_path: Path) -> None:
    from searchengine.exporting import read_rows

    with pytest.raises(searchengine.DataError) as info:
        read_rows(tmp_path / "none.csv", ["a"], [])
    assert str(info.value) == f"file to score not found: {tmp_path / 'none.csv'}"
