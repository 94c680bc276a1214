"""dcnv2, autoint and finalmlp through the command line: searched by tpe with their
settings conditioned on the backbone, reported, exported and scored from raw rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from searchengine import parse_spec, run
from searchengine.cli import main
from searchengine.data import DATASETS, load_data
from searchengine.engine.runs import open_run
from searchengine.evaluation.metrics import auc
from searchengine.searchspace import SearchSpace

NEW = ("dcnv2", "autoint", "finalmlp")
SPEC = """\
name: new-backbones
data: {dataset: synthetic, rows: 1500, options: {categorical: 3, numerical: 2, seed: 1}}
model:
  backbone: {choice: [dcnv2, autoint, finalmlp]}
  embedding: {dim: 4}
  mlp: {layers: [8]}
  dcnv2: {layers: {int: [1, 2]}, experts: {choice: [1, 2]}, rank: {choice: [0, 2]}}
  autoint: {layers: 1, heads: {choice: [1, 2]}, dim: 4, deep: {choice: [false, true]}}
  finalmlp: {layers: {choice: [[8], [16]]}, heads: {choice: [1, 2]}, gate_width: 8}
train: {batch_size: 256, epochs: 1, lr: 5.0e-3, threads: 1}
objectives: [{metric: auc}]
search: {strategy: tpe, trials: 3, seed: 0}
"""


def _run(tmp_path: Path, *args: str) -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "run"
    assert main(["run", str(spec), "--out", str(out), "-q", *args]) == 0
    return out


def test_tpe_searches_each_backbone_with_only_its_own_settings(tmp_path: Path) -> None:
    out = _run(tmp_path)
    study = optuna.load_study(study_name="new-backbones", storage=f"sqlite:///{out / 'study.db'}")
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 3
    for trial in trials:
        backbone = trial.params["model.backbone"]
        sections = {k.split(".")[1] for k in trial.params if k.split(".")[1] in NEW}
        assert sections == {backbone}, trial.params
        assert 0.0 < trial.value <= 1.0
    assert main(["report", str(out), "-o", str(tmp_path / "report.html"), "--no-png"]) == 0
    assert "model.backbone" in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize("backbone", NEW)
def test_export_and_predict_round_trip(backbone: str, tmp_path: Path, capsys) -> None:
    out = _run(tmp_path, "--set", f"model.backbone={backbone}", "--trials", "1")
    folder = tmp_path / "model"
    assert main(["export", str(out), "-o", str(folder)]) == 0
    assert f"backbone: {backbone}" in (folder / "spec.yaml").read_text()
    spec = open_run(out).spec
    test = load_data(spec.data).splits["test"]
    frame = DATASETS.get(spec.data.dataset)(spec.data).read().iloc[: spec.data.rows]
    rows, labels = frame.iloc[test].reset_index(drop=True), load_data(spec.data).label[test]
    rows.to_csv(tmp_path / "rows.csv", index=False)
    scores_csv = tmp_path / "scores.csv"
    capsys.readouterr()
    assert main(["predict", str(folder), str(tmp_path / "rows.csv"), "-o", str(scores_csv)]) == 0
    assert f"scored {len(rows)} row(s)" in capsys.readouterr().out
    scores = pd.read_csv(scores_csv)["score"].to_numpy()
    assert np.isfinite(scores).all() and ((scores > 0) & (scores < 1)).all()
    # the exported model scores the raw rows as it scored its test split when exported
    manifest = json.loads((folder / "manifest.json").read_text())
    assert auc(labels, scores) == pytest.approx(manifest["test_metrics"]["auc"], abs=1e-5)


def test_evolution_mutates_dags_of_the_new_block_types(tmp_path: Path) -> None:
    spec = parse_spec(
        {
            "name": "new-blocks",
            "data": {"dataset": "synthetic", "rows": 1500, "options": {"categorical": 3}},
            "model": {
                "backbone": "blocks",
                "embedding": {"dim": 4},
                "blocks": {
                    "count": {"int": [1, 3]},
                    "types": ["attention", "cross_v2"],
                    "layers": {"int": [1, 2]},
                },
            },
            "train": {"batch_size": 256, "epochs": 1, "threads": 1},
            "objectives": [{"metric": "auc"}, {"metric": "flops", "direction": "minimize"}],
            "search": {
                "strategy": "evolution",
                "trials": 6,
                "seed": 0,
                "options": {"population_size": 3, "mutation": "dag"},
                "fidelity": {"warm_start": True},
            },
        }
    )
    result = run(spec, out=tmp_path, progress=False)
    trials = result.study.trials  # 6 candidates, then the 3 best retrained from scratch
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert sum("retrain_of" not in t.user_attrs for t in trials) == 6
    assert sum("retrain_of" in t.user_attrs for t in trials) == 3
    for trial in trials:
        labels = [n["label"] for n in trial.user_attrs["dag"]["nodes"] if n["id"][0] == "b"]
        types = {label.split()[1] for label in labels}  # "b0: attention layers=2"
        assert types and types <= {"attention", "cross_v2"}, trial.user_attrs["dag"]
        assert trial.values[1] > 0  # flops counted
    children = [t for t in trials if t.system_attrs.get("evolution:generation", 0) > 0]
    assert children and all(t.user_attrs["warm_start"]["copied"] > 0 for t in children)


def _decisions(model: dict) -> dict[str, tuple]:
    spec = parse_spec({"name": "x", "data": {"dataset": "synthetic", "rows": 500},
                       "model": {"mlp": {"layers": {"choice": [[8], [16]]}}} | model})  # fmt: skip
    return {
        d.name: next((c.values for c in d.conditions if c.parent == "model.backbone"), ())
        for d in SearchSpace.from_spec(spec)
    }


def test_autoint_reads_the_mlp_only_with_deep() -> None:
    both = {"backbone": {"choice": ["dcnv2", "autoint"]}}
    assert _decisions(both)["model.mlp.layers"] == ("dcnv2",)
    deep = _decisions(both | {"autoint": {"deep": True}})
    assert deep["model.mlp.layers"] == ()  # both backbones read it: no condition
    searched = _decisions(both | {"autoint": {"deep": {"choice": [False, True]}}})
    assert searched["model.autoint.deep"] == ("autoint",)
    assert searched["model.mlp.layers"] == ()
    assert "model.mlp.layers" not in _decisions({"backbone": "autoint"})
    assert "model.mlp.layers" in _decisions({"backbone": "autoint", "autoint": {"deep": True}})
