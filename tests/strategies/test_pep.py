"""The pep strategy: its threshold, pruned tables, one trial per target, export, the CLI."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
import yaml
from optuna.trial import TrialState

from searchengine import parse_spec, run
from searchengine.cli import main
from searchengine.data import DATASETS, load_data
from searchengine.engine.runs import open_run
from searchengine.errors import SpecError
from searchengine.evaluation import Evaluator
from searchengine.models import build_model, count_embedding_params
from searchengine.models.embedding import (
    FusedEmbedding,
    PrunedEmbedding,
    decode_mask,
    encode_mask,
)
from searchengine.searchspace import SearchSpace
from searchengine.strategies import STRATEGIES, PEPStrategy
from searchengine.strategies._pep import Thresholded, soft_threshold
from searchengine.strategies.pep import with_masks

SPEC = {
    "name": "pep-test",
    "data": {"dataset": "adult", "rows": 2500},
    "model": {"backbone": "fm", "embedding": {"dim": 4}},
    "train": {"lr": 1.0e-2, "batch_size": 128, "epochs": 3, "patience": 1, "threads": 1},
    "objectives": [{"metric": "auc"}, {"metric": "embedding_params", "direction": "minimize"}],
    "search": {
        "strategy": "pep",
        "seed": 0,
        "options": {"targets": [0.6, 0.35], "init": -6.0, "threshold_lr": 0.1, "extra_epochs": 3},
    },
}


@dataclass
class Searched:
    run_dir: Path
    study: optuna.Study
    space: SearchSpace


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Searched:
    """The whole path through the CLI: a spec file, `searchengine run`."""
    root = tmp_path_factory.mktemp("pep")
    (root / "pep.yaml").write_text(yaml.safe_dump(SPEC))
    assert main(["run", str(root / "pep.yaml"), "--out", str(root / "run"), "-q"]) == 0
    opened = open_run(root / "run")
    assert opened.spec is not None
    return Searched(root / "run", opened.study, SearchSpace.from_spec(opened.spec))


def test_soft_threshold_shrinks_by_sigmoid_of_s_and_zeroes_below_it() -> None:
    v = torch.tensor([[-0.9, -0.2, 0.0, 0.1, 0.8]])
    s = torch.tensor([[0.0]], requires_grad=True)  # g(s) = 0.5
    out = soft_threshold(v, s)
    torch.testing.assert_close(out, torch.tensor([[-0.4, 0.0, 0.0, 0.0, 0.3]]))
    out.abs().sum().backward()
    # two values above the threshold, each shrinking by g'(0) = 0.25 per unit of s
    assert s.grad is not None and s.grad.item() == pytest.approx(-0.5)
    assert torch.equal(soft_threshold(v, torch.tensor([[-15.0]])).sign(), v.sign())


@pytest.mark.parametrize(("granularity", "shape"), [("field_dim", (2, 3)), ("field", (2, 1))])
def test_thresholds_per_field_or_per_field_and_dimension(granularity: str, shape: tuple) -> None:
    table = FusedEmbedding([0, 1], [4, 6], 3)
    view = Thresholded(table, granularity, init=-15.0)
    assert view.s.shape == shape
    assert view.mask().all()  # g(-15) ~ 3e-7: nothing pruned yet
    with torch.no_grad():
        view.s[1] = 10.0  # g ~ 1: the second field's values (|v| ~ 0.01) all pruned
    mask = view.mask()
    assert mask[:4].all() and not mask[4:].any()
    out = view(torch.tensor([[1, 2]]))  # (B, F, D)
    assert out.shape == (1, 2, 3) and torch.all(out[0, 1] == 0) and torch.all(out[0, 0] != 0)


def test_masks_travel_as_text_and_a_wrong_shape_is_refused() -> None:
    mask = np.random.default_rng(0).random((37, 5)) < 0.3
    assert np.array_equal(decode_mask(encode_mask(mask), (37, 5)), mask)
    with pytest.raises(ValueError, match="expected 180 for a table of 36 ids x 5 values"):
        decode_mask(encode_mask(mask), (36, 5))
    with pytest.raises(ValueError, match="not an encoded mask"):
        decode_mask("not base64!", (37, 5))


def _pruned_model(keep: float) -> tuple[object, object, dict[str, np.ndarray]]:
    spec = parse_spec(yaml.safe_dump({**SPEC, "search": {"strategy": "random"}}))
    evaluator = Evaluator(spec)
    schema = evaluator.data.schema
    rng = np.random.default_rng(1)
    masks = {
        f.name: rng.random((f.vocab_size, 4)) < keep for f in schema.categorical[:3]
    }  # fmt: skip
    base = SearchSpace.from_spec(spec).fixed({})
    return evaluator, base, masks


def test_a_pruned_table_counts_keeps_and_trains_only_its_kept_values() -> None:
    evaluator, base, masks = _pruned_model(0.3)
    schema = evaluator.data.schema
    arch = with_masks(base, masks)
    full = count_embedding_params(base.model, schema)
    kept = sum(int(m.sum()) for m in masks.values())
    pruned_away = sum(m.size for m in masks.values()) - kept
    assert count_embedding_params(arch.model, schema) == full - pruned_away
    model = build_model(arch.model, schema)
    assert model.embedding_params() == full - pruned_away
    (table,) = [m for m in model.modules() if isinstance(m, PrunedEmbedding)]
    mask = table.mask.bool()
    assert int((table.table.weight != 0).sum()) == int(mask.sum())
    # a training step leaves the pruned values at zero
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    tensors = evaluator.tensors(torch.device("cpu"))
    idx = tensors.splits["train"][:256]
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        model(*tensors.batch(idx)), tensors.label[idx]
    )
    loss.backward()
    optimizer.step()
    assert torch.all(table.table.weight[~mask] == 0)
    assert torch.any(table.table.weight[mask] != 0)


def test_pruned_state_is_sparse_and_loads_back() -> None:
    evaluator, base, masks = _pruned_model(0.25)
    schema = evaluator.data.schema
    model = build_model(with_masks(base, masks).model, schema)
    state = model.state_dict()
    key = next(k for k in state if k.endswith("kept_values"))
    prefix = key.removesuffix("kept_values")
    assert prefix + "table.weight" not in state
    assert (
        state[key].numel()
        == state[prefix + "kept_index"].numel()
        == int(
            sum(m.sum() for m in masks.values())
            + sum(f.vocab_size * 4 for f in schema.categorical[3:])
        )
    )
    torch.manual_seed(123)  # a different initialization, overwritten by the load
    again = build_model(with_masks(base, masks).model, schema)
    again.load_state_dict(state)
    for name, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[name]), name
    other = {**masks, schema.categorical[0].name: ~masks[schema.categorical[0].name]}
    with pytest.raises(RuntimeError, match="not those of the spec's mask"):
        build_model(with_masks(base, other).model, schema).load_state_dict(state)


def test_the_pruned_model_starts_from_the_searched_models_initial_values() -> None:
    """The lottery-ticket step: seeded alike, the pruned model's kept values are the
    unpruned (searched) model's initial ones, and the rest of the model is the same."""
    evaluator, base, masks = _pruned_model(0.4)
    full = evaluator.build(base)
    pruned = evaluator.build(with_masks(base, masks))
    dense, sparse = full.state_dict(), pruned.state_dict()
    (key,) = [k for k in sparse if k.endswith("kept_values")]
    prefix = key.removesuffix("kept_values")
    weight = dense[prefix + "table.weight"].reshape(-1)
    index = sparse[prefix + "kept_index"].long()
    torch.testing.assert_close(sparse[key], weight[index], rtol=0, atol=0)
    for name, value in dense.items():
        if not name.startswith(prefix + "table."):
            assert torch.equal(value, sparse[name]), name


def test_one_trial_per_target_with_masks_at_the_target(searched: Searched) -> None:
    trials = searched.study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    assert searched.study.user_attrs["searchengine:oneshot_done"] is True
    ratios = []
    for trial, target in zip(trials, SPEC["search"]["options"]["targets"], strict=True):
        pep = trial.user_attrs["pep"]
        assert pep["target"] == target and pep["reached"] is True
        assert pep["ratio"] <= target
        full = trial.user_attrs["embedding_params_full"]
        params = trial.user_attrs["metrics"]["embedding_params"]
        assert params == pep["kept"] == pytest.approx(pep["ratio"] * full)
        assert trial.values[1] == params  # the study's second objective
        assert 0.6 < trial.values[0] <= 1.0  # the retrained model's validation AUC
        arch = searched.space.of_trial(trial)
        assert arch.model.embedding.prune is not None
        schema = Evaluator(arch.spec).data.schema
        assert count_embedding_params(arch.model, schema) == params
        ratios.append(pep["ratio"])
    assert ratios == sorted(ratios, reverse=True)  # the search only prunes further
    history = trials[-1].user_attrs["pep"]["history"]
    assert history[0]["ratio"] > ratios[0]
    assert trials[0].user_attrs["search_cost"]["steps"] >= trials[-1].user_attrs["pep"]["step"]
    best = yaml.safe_load((searched.run_dir / "best.yaml").read_text())
    assert best["model"]["embedding"]["prune"]["masks"]


def test_export_stores_the_pruned_table_sparse_and_predicts(
    searched: Searched, tmp_path: Path
) -> None:
    trial = searched.study.trials[-1]
    out = tmp_path / "model"
    assert (
        main(["export", str(searched.run_dir), "--trial", str(trial.number), "-o", str(out)]) == 0
    )
    state = torch.load(out / "weights.pt", weights_only=True)
    assert not any(
        k.startswith("backbone.embedding.") and k.endswith("table.weight") for k in state
    )
    kept = sum(v.numel() for k, v in state.items() if k.endswith("kept_values"))
    spec = open_run(searched.run_dir).spec
    assert spec is not None
    numerical = trial.user_attrs["metrics"]["embedding_params"] - kept
    assert 0 <= numerical < kept  # the scalar numerical vectors are not pruned
    data = load_data(spec.data)
    frame = DATASETS.get(spec.data.dataset)(spec.data).read().iloc[: spec.data.rows]
    rows = frame.iloc[data.splits["test"]].reset_index(drop=True)
    rows.to_csv(tmp_path / "test.csv", index=False)
    scores = tmp_path / "scores.csv"
    assert main(["predict", str(out), str(tmp_path / "test.csv"), "-o", str(scores)]) == 0
    score = pd.read_csv(scores)["score"].to_numpy()
    manifest = json.loads((out / "manifest.json").read_text())
    from searchengine.evaluation.metrics import auc

    assert auc(data.label[data.splits["test"]], score) == pytest.approx(
        manifest["test_metrics"]["auc"], abs=1e-6
    )


def test_retrain_none_records_the_searched_model_and_says_when_a_target_is_missed(
    tmp_path: Path,
) -> None:
    options = {"targets": [0.6, 0.001], "init": -6.0, "threshold_lr": 0.1, "extra_epochs": 0,
               "retrain": "none"}  # fmt: skip
    spec = parse_spec(yaml.safe_dump({**SPEC, "search": {**SPEC["search"], "options": options}}))
    result = run(spec, out=tmp_path / "run", progress=False)
    reached, missed = result.study.trials
    assert reached.user_attrs["pep"]["reached"] is True
    assert missed.user_attrs["pep"]["reached"] is False
    assert missed.user_attrs["pep"]["ratio"] > 0.001
    assert missed.user_attrs["pep"]["epoch"] == 2  # the planned epochs, no extra
    for trial in (reached, missed):
        searched_auc = trial.user_attrs["pep"]["searched_metrics"]["auc"]
        assert trial.values == [searched_auc, trial.user_attrs["pep"]["kept"]]
        assert "train_seconds" not in trial.user_attrs["metrics"]  # not retrained


def test_registered_with_checked_options() -> None:
    assert STRATEGIES.get("pep") is PEPStrategy
    with pytest.raises(SpecError, match=r"targets are fractions in \(0, 1\), got \[1.5\]"):
        PEPStrategy(targets=[0.5, 1.5])
    with pytest.raises(SpecError, match="granularity"):
        PEPStrategy(granularity="feature")
