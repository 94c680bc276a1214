"""Field selection (``model.fields.keep``): the spec, models without some fields, and the
strategies that choose them (differentiable as AutoField, fieldperm, tpe) on a table
whose label depends on three of its six fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
import yaml

from searchengine import parse_spec, run
from searchengine.cli import main
from searchengine.engine import RunResult
from searchengine.errors import SpecError
from searchengine.evaluation import Evaluator
from searchengine.exporting import load_exported
from searchengine.models import build_model, count_embedding_params
from searchengine.searchspace import SearchSpace
from searchengine.spec.format import ModelSpec

INFORMATIVE, NOISE = ["a1", "a2", "a3"], ["n1", "n2", "n3"]
ROWS = 16000
TRAIN = {"batch_size": 256, "lr": 3.0e-3, "epochs": 3, "patience": 1, "threads": 1}


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six categorical fields of 8 ids; the label's logit is a weight per id of a1..a3."""
    rng = np.random.default_rng(7)
    ids = {name: rng.integers(0, 8, ROWS) for name in INFORMATIVE + NOISE}
    logit = sum(2.0 * rng.normal(size=8)[ids[name]] for name in INFORMATIVE)
    label = rng.random(ROWS) < 1.0 / (1.0 + np.exp(-(logit - np.mean(logit))))
    frame = pd.DataFrame({name: [f"{name}_{i}" for i in v] for name, v in ids.items()})
    frame["y"] = label.astype(int)
    path = tmp_path_factory.mktemp("fields") / "table.csv"
    frame.to_csv(path, index=False)
    return path


def _spec(table: Path, keep: Any = "search", name: str = "fields", **search: Any) -> Any:
    fields = [{"name": n} for n in INFORMATIVE + NOISE]
    return parse_spec(
        {
            "name": name,
            "data": {"dataset": "table", "path": str(table), "label": "y", "fields": fields},
            "model": {"backbone": "deepfm", "embedding": {"dim": 4}, "mlp": {"layers": [8]},
                      "fields": {"keep": keep}},
            "train": TRAIN,
            "search": {"seed": 0, **search},
        }
    )  # fmt: skip


def _kept(trial: Any) -> set[str]:
    return {k[len("model.fields.keep[") : -1] for k, v in trial.params.items() if v}


# --------------------------------------------------------------------------- spec


def test_search_is_one_keep_decision_per_field(table: Path) -> None:
    space = SearchSpace.from_spec(_spec(table))
    assert space.names == [f"model.fields.keep[{n}]" for n in INFORMATIVE + NOISE]
    assert {d.role for d in space} == {"keep"}
    arch = space.fixed({"model.fields.keep[n1]": False, "model.fields.keep[n3]": False})
    assert arch.model.fields.keep == ["a1", "a2", "a3", "n2"]
    assert space.fixed({}).model.fields.keep == "all"


def test_a_list_is_checked_against_the_data(table: Path) -> None:
    with pytest.raises(SpecError) as err:
        SearchSpace.from_spec(_spec(table, keep=["a1", "a3x", "a1"]))
    text = str(err.value)
    assert "model.fields.keep[1]: no field 'a3x' in the data; did you mean 'a3'?" in text
    assert "model.fields.keep[2]: field 'a1' is listed twice" in text
    with pytest.raises(SpecError, match=r"model.fields.keep: keep at least one field"):
        SearchSpace.from_spec(_spec(table, keep=[]))


# --------------------------------------------------------------------------- models

SYNTHETIC = {
    "dataset": "synthetic",
    "rows": 300,
    "options": {"categorical": 4, "numerical": 2, "max_vocab": 20, "seed": 0},
}


@pytest.mark.parametrize("backbone", ["fm", "wide_deep", "deepfm", "dcn"])
def test_a_dropped_field_is_gone_from_every_part(backbone: str) -> None:
    spec = parse_spec({"name": "m", "data": SYNTHETIC, "model": {"backbone": backbone}})
    data = Evaluator(spec).data
    full = spec.model_or_default()
    kept = ["I1", "C1", "C3"]  # I2 (numerical), C2 and C4 dropped
    model_spec = ModelSpec.model_validate(full.model_dump() | {"fields": {"keep": kept}})
    torch.manual_seed(0)
    model, whole = build_model(model_spec, data.schema), build_model(full, data.schema)
    assert model.embedding_params() == count_embedding_params(model_spec, data.schema)
    assert model.embedding_params() < whole.embedding_params()
    assert sum(p.numel() for p in model.parameters()) < sum(p.numel() for p in whole.parameters())
    cat, num = torch.tensor(data.cat[:64]).long(), torch.tensor(data.num[:64])
    missing = torch.tensor(data.num_missing[:64])
    model.eval()
    before = model(cat, num, missing)
    other = cat.clone()
    other[:, [1, 3]] = torch.randint(0, 3, (64, 2))  # C2, C4: dropped
    num2 = num.clone()
    num2[:, 1] = torch.randn(64) * 5  # I2: dropped
    torch.testing.assert_close(model(other, num2, missing), before)
    other[:, 0] = (other[:, 0] + 1) % 3  # C1 is kept: the scores move
    assert not torch.allclose(model(other, num2, missing), before)


# --------------------------------------------------------------------------- strategies


@pytest.fixture(scope="module")
def autofield(table: Path, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    spec = _spec(table, strategy="differentiable", options={"cost_weight": 0.02})
    return run(spec, out=tmp_path_factory.mktemp("autofield"), progress=False)


def test_differentiable_keeps_the_informative_fields(autofield: RunResult) -> None:
    (trial,) = autofield.study.trials
    probs = trial.user_attrs["field_keep"]
    assert min(probs[n] for n in INFORMATIVE) > 0.5 > max(probs[n] for n in NOISE), probs
    assert _kept(trial) == set(INFORMATIVE)
    assert trial.user_attrs["architecture_weights"]["fields"] == probs
    assert trial.values[0] > 0.75


def test_fieldperm_keeps_the_informative_fields(table: Path, tmp_path: Path) -> None:
    spec = _spec(table, strategy="fieldperm", options={"tolerance": 0.005, "repeats": 2})
    (trial,) = run(spec, out=tmp_path, progress=False).study.trials
    importance = trial.user_attrs["field_importance"]
    assert min(importance[n] for n in INFORMATIVE) > 0.02 > max(importance[n] for n in NOISE)
    assert _kept(trial) == set(INFORMATIVE)


def test_tpe_searches_the_keep_decisions(table: Path, tmp_path: Path) -> None:
    spec = _spec(table, strategy="tpe", trials=3, options={"n_startup_trials": 1})
    trials = run(spec, out=tmp_path, progress=False).study.trials
    assert all(len(t.params) == 6 for t in trials)
    size = {len(_kept(t)): t.user_attrs["metrics"]["embedding_params"] for t in trials}
    assert min(size) < 6  # a trial dropped a field, and pays 9 ids (OOV too) x 4 per kept field
    assert all(params == 36 * kept for kept, params in size.items()), size


# --------------------------------------------------------------------------- CLI


def test_run_report_export_predict(
    autofield: RunResult, table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_file = tmp_path / "fields.yaml"
    data = _spec(table, strategy="fieldperm", options={"tolerance": 0.005, "repeats": 1})
    spec_file.write_text(yaml.safe_dump(data.model_dump(mode="json", exclude_defaults=True)))
    out = tmp_path / "run"
    assert main(["run", str(spec_file), "--out", str(out), "-q"]) == 0
    assert main(["report", str(out), "--no-png"]) == 0
    assert "figure-fields" in (out / "report.html").read_text()
    assert main(["report", str(out)]) == 0  # with the PNGs
    assert (out / "report_figures" / "fields.png").stat().st_size > 1000
    assert main(["export", str(out), "-o", str(tmp_path / "model")]) == 0
    exported = load_exported(tmp_path / "model")
    assert exported.fields == INFORMATIVE
    rows = pd.read_csv(table).head(200)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    rows[INFORMATIVE].to_csv(tmp_path / "kept.csv", index=False)
    for name in ("rows", "kept"):
        assert main(["predict", str(tmp_path / "model"), str(tmp_path / f"{name}.csv"),
                     "-o", str(tmp_path / f"{name}_scores.csv")]) == 0  # fmt: skip
    scores = pd.read_csv(tmp_path / "rows_scores.csv")["score"]
    np.testing.assert_allclose(scores, pd.read_csv(tmp_path / "kept_scores.csv")["score"])
    assert scores.std() > 0.05


def test_derive_by_threshold_or_top_k_and_never_none() -> None:
    from searchengine.strategies._differentiable.fields import derive_kept

    probs = {"a": 0.9, "b": 0.55, "c": 0.2}
    assert derive_kept(probs, 0.5, None) == {"a": True, "b": True, "c": False}
    assert derive_kept(probs, 0.6, None) == {"a": True, "b": False, "c": False}
    assert derive_kept(probs, 0.5, 1) == {"a": True, "b": False, "c": False}
    assert derive_kept(probs, 0.95, None) == {"a": True, "b": False, "c": False}


@pytest.mark.parametrize("backbone", ["fm", "wide_deep", "deepfm", "dcn", "blocks"])
def test_a_closed_gate_cuts_every_part_of_its_field(backbone: str) -> None:
    from searchengine.strategies._differentiable.relaxed import Relaxation
    from searchengine.strategies._differentiable.supernet import Supernet, classify

    model = {"backbone": backbone, "embedding": {"dim": 4, "numerical": {"I2": "raw"}},
             "mlp": {"layers": [8]}, "fields": {"keep": "search"}}  # fmt: skip
    if backbone == "blocks":
        nodes = [{"type": "mlp", "inputs": ["dense", "sparse"], "width": 8, "layers": 1}]
        model["blocks"] = {"nodes": nodes}
    spec = parse_spec({"name": "g", "data": SYNTHETIC, "model": model})
    space = SearchSpace.from_spec(spec)
    data = Evaluator(spec).data
    net = Supernet(space, classify(space), data.schema, Relaxation(seed=0))
    assert net.fields is not None and net.fields.field_names == data.schema.names
    model_ = net.model.eval()
    with torch.no_grad():  # C2 (categorical) and I2 (raw numerical) closed
        for name in ("C2", "I2"):
            net.fields.logits[net.fields.field_names.index(name)] = torch.tensor([20.0, -20.0])
    cat, num = torch.tensor(data.cat[:64]).long(), torch.tensor(data.num[:64])
    missing = torch.tensor(data.num_missing[:64])
    before = model_(cat, num, missing)
    other, num2 = cat.clone(), num.clone()
    other[:, 1] = (other[:, 1] + 1) % 3
    num2[:, 1] = torch.randn(64) * 5
    torch.testing.assert_close(model_(other, num2, missing), before)
    other[:, 0] = (other[:, 0] + 1) % 3  # C1 is open
    assert not torch.allclose(model_(other, num2, missing), before)


def test_decisions_about_a_field_exist_only_while_it_is_kept() -> None:
    embedding = {"dim": {"choice": [2, 4], "per": "field"},
                 "numerical": {"choice": ["scalar", "bucket"], "per": "field"}}  # fmt: skip
    model = {"embedding": embedding, "interactions": {"gate": "search"},
             "fields": {"keep": "search"}}  # fmt: skip
    space = SearchSpace.from_spec(parse_spec({"name": "c", "data": SYNTHETIC, "model": model}))
    parents = {d.name: {c.parent for c in d.conditions} for d in space}
    assert parents["model.embedding.dim[C1]"] == {"model.fields.keep[C1]"}
    assert parents["model.embedding.numerical[I2]"] == {"model.fields.keep[I2]"}
    assert parents["model.interactions.gate[I1,C2]"] == {
        "model.fields.keep[I1]", "model.fields.keep[C2]"
    }  # fmt: skip
    arch = space.fixed({"model.fields.keep[C1]": False, "model.embedding.dim[C2]": 4})
    assert "model.embedding.dim[C1]" not in arch.values
    assert arch.values["model.embedding.dim[C2]"] == 4


def test_a_candidate_that_drops_every_field_fails_as_a_trial(table: Path, tmp_path: Path) -> None:
    spec = _spec(table, strategy="random", trials=1)
    space = SearchSpace.from_spec(spec)
    none = space.fixed(dict.fromkeys(space.names, False))
    assert none.model.fields.keep == []
    with pytest.raises(ValueError, match="model.fields.keep keeps no field"):
        count_embedding_params(none.model, Evaluator(spec).data.schema)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=url, study_name="fields", direction="maximize")
    study.enqueue_trial(dict(none.params))
    (trial,) = run(spec, out=tmp_path, progress=False).study.trials
    assert trial.state.name == "FAIL" and "keeps no field" in trial.user_attrs["fail_reason"]
