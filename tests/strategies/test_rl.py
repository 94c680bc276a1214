"""The ``rl`` controller: it learns, its state is rebuilt from the storage, its reward.

(The conformance suite runs over ``rl`` in ``test_conformance.py``.)
"""

from __future__ import annotations

import warnings
from pathlib import Path

import optuna
import pytest
import torch
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from searchengine import parse_spec
from searchengine.errors import SpecError
from searchengine.searchspace import SearchSpace
from searchengine.strategies import NISStrategy, RLStrategy
from searchengine.strategies._rl import Outcome, Rewarder, RewardSettings, actions_of
from searchengine.strategies.rl import full_size_cost
from tests.strategies.functions import TOY_TARGET, toy_target

TOY = """\
name: toy
evaluator: tests.strategies.functions:toy_target
params:
  a: {choice: [1, 2, 3, 4]}
  b: {choice: [x, y, z]}
  c: {int: [0, 7]}
  d: {float: [0.0, 1.0]}
objectives: [{metric: r, direction: maximize}]
search: {strategy: rl, seed: %(seed)d, trials: %(trials)d, options: %(options)s}
"""


def toy_spec(seed: int = 1, trials: int = 60, options: str = "{}"):
    return parse_spec(TOY % {"seed": seed, "trials": trials, "options": options})


def toy_study(seed: int, trials: int, storage=None, study_name: str = "toy", **options):
    """Optimize the toy in an Optuna study (the user attribute ``metrics`` as the engine
    sets it, so that a cost can be read)."""
    space = SearchSpace.from_spec(toy_spec())
    sampler = RLStrategy(seed=seed, **options).sampler(space, [])
    study = optuna.create_study(
        storage=storage, study_name=study_name, direction="maximize", sampler=sampler,
        load_if_exists=True,
    )  # fmt: skip

    def objective(trial: optuna.Trial) -> float:
        metrics = toy_target(space.sample(trial).values, 0)
        trial.set_user_attr("metrics", metrics)
        return metrics["r"]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.optimize(objective, n_trials=trials)
    return study, sampler


@pytest.mark.parametrize("controller", ["lstm", "mlp"])
@pytest.mark.parametrize("seed", [1, 2])
def test_the_controller_learns_the_rewarded_architecture(seed: int, controller: str) -> None:
    study, sampler = toy_study(seed, 60, controller=controller)  # 60 trials: 60 updates
    best = sampler.most_probable(study)
    assert {k: best[k] for k in TOY_TARGET} == TOY_TARGET
    assert abs(best["params.d"] - 0.8) < 0.25
    assert sampler.learner_state(study)["version"] == 60
    first = [t.value for t in study.trials[:15]]
    last = [t.value for t in study.trials[-15:]]
    assert sum(last) > sum(first) + 10  # it samples better architectures as it learns


def test_a_new_sampler_on_the_same_storage_continues_the_same_policy(tmp_path: Path) -> None:
    def journal(name: str):
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / name)))

    storage = journal("resumed.log")
    toy_study(5, 7, storage, batch=2)
    resumed, fresh_sampler = toy_study(5, 7, storage, batch=2)  # a new sampler, same study
    straight, sampler = toy_study(5, 14, journal("straight.log"), batch=2)
    assert [t.params for t in resumed.trials] == [t.params for t in straight.trials]
    a, b = fresh_sampler.learner_state(resumed), sampler.learner_state(straight)
    assert a["version"] == b["version"] == 7
    assert a["baseline"] == b["baseline"] and a["weights"].keys() == b["weights"].keys()
    for key, weight in a["weights"].items():
        assert torch.equal(weight, b["weights"][key]), key
    stored = resumed._storage.get_study_system_attrs(resumed._study_id)
    assert stored["rl:seed"] == 5


def test_the_cost_term_trades_quality_for_memory() -> None:
    # R = r - 3 * cost / 70 with cost = 10 c: each step of c costs 0.43, more than the
    # target's c=5 is worth; without the cost the controller goes for c=5
    nis = {
        "cost_weight": 3.0, "cost_metric": "cost", "cost_reference": 70.0,
        "cost_scale": "absolute",
    }  # fmt: skip
    chosen = []
    for options in (nis, {}):
        study, sampler = toy_study(1, 60, **options)
        best = sampler.most_probable(study)
        last = [t.params["params.c"] for t in study.trials[-15:]]
        chosen.append((best["params.c"], sum(last) / len(last), best["params.a"]))
    (nis_c, nis_mean, nis_a), (plain_c, plain_mean, plain_a) = chosen
    assert (nis_c, plain_c) == (0, 5) and (nis_a, plain_a) == (3, 3)
    assert nis_mean < 2.0 < 4.0 < plain_mean


def test_the_default_reward_weighs_the_cost_in_units_of_the_auc_spread() -> None:
    # a controller's history of batch AUCs with a spread (std) of about 0.01
    history = [Outcome((0.78 + 0.01 * (-1) ** i,), cost=500.0) for i in range(40)]
    for scale in (1.0, 100.0):  # the metric's scale does not matter
        rewarder = Rewarder(RewardSettings((True,), cost_weight=0.5, reference=1000.0))
        rewarder.rewards([Outcome((v * scale,), o.cost) for o in history for v in o.values])
        spread = rewarder.spread()
        assert spread == pytest.approx(0.01 * scale)
        big, small, better = rewarder.rewards(
            [
                Outcome((0.78 * scale,), cost=1000.0),  # full size
                Outcome((0.78 * scale,), cost=250.0),  # the same AUC, a quarter of it
                Outcome(((0.78 + 0.012) * scale,), cost=1000.0),  # AUC up by > the spread
            ]
        )
        assert small > big  # a tie: the smaller model wins
        assert better > small  # a difference beyond the spread: the better model wins
    # the old absolute lambda stays reachable: 0.5 x the relative cost, whatever the spread
    absolute = Rewarder(RewardSettings((True,), 0.5, 1000.0, cost_scale="absolute"))
    (r,) = absolute.rewards([Outcome((0.78,), cost=1000.0)])
    assert r == pytest.approx(0.78 - 0.5)


REFERENCE = """\
name: ref
data: {dataset: synthetic, rows: 500, options: {categorical: 2, numerical: 1}}
model:
  backbone: deepfm
  embedding: {dim: {choice: [2, 8], per: field}, multisize: {buckets: 2, chunk: 4, chunks: 3}}
  interactions: {gate: search}
"""


def test_the_reference_is_the_full_size_architecture() -> None:
    spec = parse_spec(REFERENCE)
    space = SearchSpace.from_spec(spec)
    from searchengine.data import load_data
    from searchengine.models import count_embedding_params

    values = {"model.embedding.dim[I1]": 8}  # the other decisions' defaults are full-size
    schema = load_data(spec.data_or_default()).schema
    expected = count_embedding_params(space.fixed(values).model, schema)
    assert full_size_cost(space) == expected
    assert expected == sum(f.vocab_size * 12 for f in schema.categorical) + 2 * 8 + 8 * 12


def test_conditional_decisions_are_skipped_when_inactive() -> None:
    spec = parse_spec(
        "name: cond\nevaluator: tests.strategies.functions:toy_target\n"
        "params:\n  a: {choice: [1, 2, 3, 4]}\n  b: {choice: [x, y, z], when: {params.a: 3}}\n"
        "  c: {int: [0, 7]}\n  d: {float: [0.0, 1.0]}\n"
        "objectives: [{metric: r, direction: maximize}]\n"
    )
    space = SearchSpace.from_spec(spec)
    sampler = RLStrategy(seed=0).sampler(space, [])
    study = optuna.create_study(direction="maximize", sampler=sampler)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.optimize(lambda t: space.sample(t).values["params.a"], n_trials=40)
    assert all(("params.b" in t.params) == (t.params["params.a"] == 3) for t in study.trials)
    best = sampler.most_probable(study)
    assert best["params.a"] == 4 and "params.b" not in best


def test_floats_and_wide_ints_are_discretized() -> None:
    grid = actions_of(FloatDistribution(1e-4, 1e-1, log=True), bins=4)
    assert grid is not None
    assert grid.values == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1])
    assert grid.action(2e-3) == 1 and grid.action(0.09) == 3
    stepped = actions_of(IntDistribution(8, 512, step=8), bins=5)
    assert stepped is not None and stepped.values == (8, 136, 264, 384, 512)
    assert actions_of(IntDistribution(0, 3), bins=16).values == (0, 1, 2, 3)  # type: ignore[union-attr]
    assert actions_of(FloatDistribution(0.0, 1.0, step=0.25), bins=16).values == (  # type: ignore[union-attr]
        0.0, 0.25, 0.5, 0.75, 1.0,
    )  # fmt: skip
    assert actions_of(CategoricalDistribution([7]), bins=16) is None


def test_rewards_follow_the_documented_definition() -> None:
    nis = Rewarder(
        RewardSettings((True,), cost_weight=0.5, reference=1000.0, cost_scale="absolute")
    )
    assert nis.rewards([Outcome((0.8,), cost=200.0)]) == [pytest.approx(0.8 - 0.5 * 0.2)]
    assert nis.rewards([Outcome(None, 100.0), None, Outcome((0.9,), 900.0, feasible=False)]) == [
        pytest.approx(0.7), None, pytest.approx(0.7),  # failed, skipped, infeasible: worst
    ]  # fmt: skip
    # reference: the largest seen
    unknown = Rewarder(RewardSettings((True,), cost_weight=1.0, cost_scale="absolute"))
    assert unknown.rewards([Outcome((0.8,), 50.0), Outcome((0.7,), 100.0)]) == [
        pytest.approx(0.3), pytest.approx(-0.3),
    ]  # fmt: skip
    pareto = Rewarder(RewardSettings((True, False), weights=(1.0, 0.5)))
    rewards = pareto.rewards([Outcome((0.7, 10.0)), Outcome((0.8, 30.0)), Outcome((0.75, 20.0))])
    assert rewards == [pytest.approx(0.5), pytest.approx(1.0), pytest.approx(0.75)]
    assert Rewarder(RewardSettings((False,))).rewards([Outcome(None)]) == [None]


def test_options_are_checked() -> None:
    with pytest.raises(SpecError, match="objective_weights: expected 1 values"):
        RLStrategy(seed=0, objective_weights=[1.0, 2.0]).check(SearchSpace.from_spec(toy_spec()))
    with pytest.raises(SpecError, match="weight_sharing\\) needs a CTR spec"):
        NISStrategy(seed=0).check(SearchSpace.from_spec(toy_spec()))
    with pytest.raises(SpecError, match="search.options.controller"):
        RLStrategy(seed=0, controller="gru")
