"""The esapn strategy: end to end on synthetic data, its policy's learning rule, resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from optuna.trial import TrialState

from searchengine import run
from searchengine.engine import RunResult
from searchengine.errors import SpecError
from searchengine.models import count_embedding_params
from searchengine.models.embedding.dynamic import DynamicEmbedding
from searchengine.searchspace import parse_spec
from searchengine.strategies import STRATEGIES, ESAPNStrategy
from searchengine.strategies._esapn import ESAPNSettings, FieldPolicy

SPEC = """
name: esapn-test
data:
  dataset: synthetic
  rows: 20000
  cache: false
  options: {categorical: 3, numerical: 1, max_vocab: 2000, informative: 2, interactions: 1}
model:
  backbone: deepfm
  embedding:
    dim: 4
    dynamic: {candidates: [2, 4, 8, 16], fields: [C2, C3]}
  mlp: {layers: [8]}
train: {lr: 3.0e-3, batch_size: 256, epochs: 2, patience: 1, threads: 1}
search: {strategy: esapn, seed: 0}
"""


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    out = tmp_path_factory.mktemp("esapn")
    return run(parse_spec(SPEC), out=out, progress=False)


def test_records_one_trial_with_the_sizes_and_their_costs(searched: RunResult) -> None:
    (trial,) = searched.study.trials
    assert trial.state == TrialState.COMPLETE and trial.params == {}
    attrs = trial.user_attrs
    assert searched.study.user_attrs["searchengine:oneshot_done"] is True
    entity = attrs["entity_sizes"]
    assert set(entity) == {"C2", "C3"}
    for sizes in entity.values():
        assert len(sizes["sizes"]) == len(sizes["counts"])
        assert set(sizes["sizes"]) <= {2, 4, 8, 16}
    assert attrs["search_cost"]["epochs"] == 1 and attrs["search_cost"]["seconds"] > 0
    params = trial.user_attrs["metrics"]["embedding_params"]
    assert params < attrs["embedding_params_full"]
    assert attrs["embedding_params_ratio"] == pytest.approx(
        params / attrs["embedding_params_full"]
    )
    assert 0.5 < trial.values[0] <= 1.0  # validation AUC of the retrained model


def test_the_recorded_architecture_holds_the_sizes(searched: RunResult) -> None:
    (trial,) = searched.study.trials
    arch = searched.space.of_trial(trial)
    dynamic = arch.model.embedding.dynamic
    assert dynamic is not None and dynamic.sizes is not None
    assert dynamic.sizes["C3"] == trial.user_attrs["entity_sizes"]["C3"]["sizes"]
    from searchengine.evaluation import Evaluator

    schema = Evaluator(arch.spec).data.schema
    assert (
        count_embedding_params(arch.model, schema)
        == trial.user_attrs["metrics"]["embedding_params"]
    )
    best = yaml.safe_load((searched.out_dir / "best.yaml").read_text())
    assert best["model"]["embedding"]["dynamic"]["sizes"]["C3"] == dynamic.sizes["C3"]


def test_frequent_ids_end_larger_than_rare_ids(searched: RunResult) -> None:
    (trial,) = searched.study.trials
    c3 = trial.user_attrs["entity_sizes"]["C3"]
    sizes, counts = np.array(c3["sizes"]), np.array(c3["counts"])
    order = np.argsort(-counts, kind="stable")
    top, bottom = order[: len(order) // 10], order[len(order) // 2 :]
    assert counts[bottom].max() < counts[top].min()
    assert sizes[top].mean() >= 2 * sizes[bottom].mean()
    assert sizes[bottom].mean() < 4 and sizes[top].mean() > 6


def test_the_learned_p_enlarge_rises_with_frequency(searched: RunResult) -> None:
    """The planted data's ids follow a Zipf law: the policies, rewarded with the loss
    drop against the memory per row an enlargement takes, learn to enlarge frequent ids
    more (the rule before this reward learned slopes of either sign)."""
    from scipy.stats import spearmanr

    (trial,) = searched.study.trials
    probabilities = trial.user_attrs["esapn"]["enlarge_probability"]
    assert set(probabilities) == {"C2", "C3"}
    for name, p in probabilities.items():  # at evenly spaced frequencies, rarest first
        rho = spearmanr(range(len(p)), p).statistic
        assert rho > 0, (name, p)
        assert p[-1] > p[0], (name, p)


def test_a_rerun_does_not_search_again(
    searched: RunResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("searched again")

    monkeypatch.setattr("searchengine.strategies._esapn.search_sizes", fail)  # imported on use
    again = run(parse_spec(SPEC), out=searched.out_dir, progress=False)
    assert len(again.study.trials) == 1


def test_needs_a_dynamic_slot(tmp_path: Path) -> None:
    spec = parse_spec(
        SPEC.replace("    dynamic: {candidates: [2, 4, 8, 16], fields: [C2, C3]}\n", "")
    )
    with pytest.raises(SpecError, match="strategy 'esapn' needs model.embedding.dynamic"):
        run(spec, out=tmp_path, progress=False)
    assert STRATEGIES.get("esapn") is ESAPNStrategy
    with pytest.raises(SpecError, match="search.options.histroy"):
        ESAPNStrategy(seed=0, histroy=3)


def test_the_policy_learns_to_enlarge_where_enlarging_lowers_the_loss() -> None:
    """A controlled reward: enlarging lowers the loss of frequent ids and raises it for rare
    ones. The policy must come to enlarge frequent ids and keep rare ones."""
    torch.manual_seed(0)
    n = 200
    module = DynamicEmbedding([0], [n], [2, 4], [np.zeros(n, dtype=np.int64)])
    counts = np.where(np.arange(n) < n // 2, 1000, 1)  # ids 0..99 frequent
    settings = ESAPNSettings(history=2, policy_lr=0.05, entropy=0.0)
    policy = FieldPolicy(module, 0, counts, settings, torch.Generator().manual_seed(0))
    ids = torch.arange(n)
    frequent = ids < n // 2
    noise = torch.Generator().manual_seed(1)
    for _ in range(300):
        enlarged = policy.pending == 1
        effect = torch.where(frequent, -0.3, 0.3) * enlarged
        loss = 1.0 + effect + 0.05 * torch.randn(n, generator=noise)
        policy.observe(ids, loss)
        module.level.zero_()  # every id can decide again
    high, *_, low = policy.enlarge_probability()[::-1]
    assert high > 0.8 and low < 0.2
    # what the loss drops said, per frequency decile: enlarging helped the frequent ids
    # and hurt the rare ones, each clearly beyond its standard error
    # (the rare ids, tied at the lowest count, share the quantile 0.5: decile 5)
    by_decile = {row["decile"]: row for row in policy.drop_by_frequency()}
    rare, common = by_decile[5], by_decile[9]
    assert common["gain"] > 3 * common["se"] > 0
    assert rare["gain"] < -3 * rare["se"] < 0
    assert min(rare["keep"], rare["enlarge"], common["keep"], common["enlarge"]) > 100
    assert all(r["keep"] == r["enlarge"] == 0 for k, r in by_decile.items() if k not in (5, 9))


def test_the_search_reports_the_loss_drop_of_enlarging_by_frequency(searched: RunResult) -> None:
    (trial,) = searched.study.trials
    report = trial.user_attrs["esapn"]["drop_by_frequency"]
    assert set(report) == {"C2", "C3"}
    for rows in report.values():
        assert [r["decile"] for r in rows] == list(range(10))
        decided = sum(r["keep"] + r["enlarge"] for r in rows)
        assert decided > 100
        for r in rows:
            if r["keep"] >= 2 and r["enlarge"] >= 2:
                assert r["gain"] == pytest.approx(r["drop_enlarge"] - r["drop_keep"])
                assert r["se"] > 0
