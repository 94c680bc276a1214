"""The differentiable strategy: AutoFIS, AutoDim and AutoGroup find the planted truth of
synthetic data; the derived architecture is recorded, retrained and round-trips."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch
import yaml

from searchengine import parse_spec, run
from searchengine.cli import main
from searchengine.engine import RunResult
from searchengine.errors import SpecError
from searchengine.evaluation import Evaluator
from searchengine.searchspace import SearchSpace
from searchengine.strategies import STRATEGIES
from searchengine.strategies._differentiable.relaxed import Relaxation
from searchengine.strategies._differentiable.search import _second_order_grads
from searchengine.strategies._differentiable.supernet import Supernet, classify

# 40,000 rows of 10 categorical fields: 2 with first-order effects, 2 planted pairs, 4 noise.
DATA = {
    "dataset": "synthetic",
    "rows": 40000,
    "options": {
        "categorical": 10, "numerical": 0, "seed": 1, "max_vocab": 500,
        "informative": 2, "interactions": 2, "signal": 2.0,
    },
}  # fmt: skip
TRAIN = {"batch_size": 512, "lr": 3.0e-3, "epochs": 3, "patience": 1, "threads": 2}


def _spec(model: dict[str, Any], name: str = "diff", **search: Any) -> Any:
    return parse_spec(
        {
            "name": name,
            "data": DATA,
            "model": {"mlp": {"layers": [32]}, **model},
            "train": TRAIN,
            "search": {"strategy": "differentiable", "seed": 0, **search},
        }
    )


def _autofis_spec() -> Any:
    model = {"backbone": "fm", "embedding": {"dim": 8}, "interactions": {"gate": "search"}}
    return _spec(model, "autofis", options={"epochs": 3})


@pytest.fixture(scope="module")
def autofis(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    return run(_autofis_spec(), out=tmp_path_factory.mktemp("autofis"), progress=False)


@pytest.fixture(scope="module")
def truth() -> dict[str, Any]:
    return Evaluator(parse_spec({"name": "t", "data": DATA})).data.metadata["truth"]


def test_autofis_keeps_the_planted_pairs_and_drops_most(
    autofis: RunResult, truth: dict[str, Any]
) -> None:
    (trial,) = autofis.study.trials
    gates = trial.user_attrs["gate_weights"]
    params = {k[len("model.interactions.gate[") : -1]: v for k, v in trial.params.items()}
    kept = {key for key, v in params.items() if v}
    assert {",".join(pair) for pair in truth["interactions"]} <= kept
    assert len(kept) <= len(gates) / 2, f"kept {len(kept)} of {len(gates)} pairs"
    # the kept pairs are the largest gates, at the retrained cut point of (nearly) the
    # lowest validation loss
    cuts = {int(k): v for k, v in trial.user_attrs["gate_cuts"].items()}
    assert len(kept) in cuts and cuts[len(kept)] <= min(cuts.values()) + 0.005, cuts
    smallest_kept = min(abs(gates[k]) for k in kept)
    assert all(abs(a) <= smallest_kept for k, a in gates.items() if k not in kept)


# 12 categorical fields (66 pairs), three planted pair interactions, nothing else: GRDA's
# threshold schedule at its old default zeroes planted pairs here.
PAIRS_DATA = {
    "dataset": "synthetic",
    "rows": 30000,
    "options": {
        "categorical": 12, "numerical": 0, "seed": 2, "max_vocab": 300,
        "informative": 0, "interactions": 3, "signal": 1.0,
    },
}  # fmt: skip


def _pairs_kept(tmp_path: Path, **options: Any) -> tuple[set[str], set[str], dict[str, float]]:
    spec = parse_spec(
        {
            "name": "pairs",
            "data": PAIRS_DATA,
            "model": {
                "backbone": "fm",
                "embedding": {"dim": 8},
                "interactions": {"gate": "search"},
            },
            "train": {"batch_size": 512, "lr": 3.0e-3, "epochs": 4, "threads": 1},
            "search": {"strategy": "differentiable", "seed": 0, "options": options},
        }
    )
    (trial,) = run(spec, out=tmp_path, progress=False).study.trials
    truth = Evaluator(spec).data.metadata["truth"]
    kept = {k[len("model.interactions.gate[") : -1] for k, v in trial.params.items() if v}
    planted = {",".join(pair) for pair in truth["interactions"]}
    return kept, planted, trial.user_attrs["gate_weights"]


def test_the_default_derive_keeps_every_planted_pair_and_few_others(tmp_path: Path) -> None:
    kept, planted, gates = _pairs_kept(tmp_path)
    assert planted <= kept, (planted, kept)
    assert len(kept) <= 0.4 * len(gates), f"kept {len(kept)} of {len(gates)} pairs"


def test_the_old_threshold_rule_stays_reachable(tmp_path: Path) -> None:
    kept, planted, gates = _pairs_kept(tmp_path, gate_derive="nonzero", grda_threshold=2.0)
    assert kept == {k for k, a in gates.items() if a != 0.0}
    assert not planted <= kept  # the schedule zeroes a planted pair on this table


def test_the_trial_records_the_search_and_round_trips(autofis: RunResult, tmp_path: Path) -> None:
    (trial,) = autofis.study.trials
    assert trial.state == optuna.trial.TrialState.COMPLETE
    cost = trial.user_attrs["search_cost"]
    assert cost["strategy"] == "differentiable" and cost["epochs"] == 3 and cost["seconds"] > 0
    assert len(trial.user_attrs["supernet"]) == 3
    assert trial.user_attrs["test_metrics"]["auc"] > 0.6  # retrained by the evaluator
    best = yaml.safe_load((autofis.out_dir / "best.yaml").read_text())
    assert best["model"]["interactions"]["gate"]["keep"]
    again = run(parse_spec(best), out=tmp_path, progress=False)
    (retrained,) = again.study.trials
    assert retrained.params == {}  # nothing left to search
    assert retrained.user_attrs["metrics"]["auc"] == pytest.approx(
        trial.user_attrs["metrics"]["auc"], abs=1e-9
    )
    # a rerun on the same storage does not search again
    rerun = run(_autofis_spec(), out=autofis.out_dir, progress=False)
    assert len(rerun.study.trials) == 1


def _derive(model: dict[str, Any], seed: int = 0, **options: Any) -> tuple[dict, Supernet]:
    """Train the supernet of ``model`` on the planted data; the derived values."""
    from searchengine.strategies._differentiable.search import SupernetSettings, train_supernet

    spec = _spec(model)
    evaluator = Evaluator(spec)
    space = SearchSpace.from_spec(spec)
    torch.manual_seed(seed)
    net = Supernet(space, classify(space), evaluator.data.schema, Relaxation(seed=seed))
    train_supernet(
        net, evaluator.tensors(torch.device("cpu")), lr=3e-3, optimizer="adam",
        batch_size=512, settings=SupernetSettings(**options), seed=seed,
    )  # fmt: skip
    return net.derive(), net


def test_autodim_gives_informative_fields_larger_widths(truth: dict[str, Any]) -> None:
    model = {"backbone": "fm", "embedding": {"dim": {"choice": [2, 4, 8, 16], "per": "field"}}}
    values, _ = _derive(model, epochs=4)
    widths = {k[len("model.embedding.dim[") : -1]: v for k, v in values.items()}
    useful = truth["informative"] + [f for pair in truth["interactions"] for f in pair]
    assert statistics.mean(widths[f] for f in useful) > statistics.mean(
        widths[f] for f in truth["noise"]
    ), widths


def test_an_embedding_params_budget_holds_and_goes_to_the_fields_with_signal(
    tmp_path: Path, truth: dict[str, Any]
) -> None:
    fde = 32 * sum(truth["vocab"].values())  # every field at 32, no projection
    budget = 0.1 * fde
    spec = parse_spec(
        {
            "name": "budget",
            "data": DATA,
            "model": {
                "backbone": "deepfm",
                "mlp": {"layers": [32]},
                "embedding": {"dim": {"choice": [2, 4, 8, 16, 32], "per": "field"}},
            },
            "train": TRAIN | {"threads": 1},
            "constraints": [{"metric": "embedding_params", "max": budget}],
            "search": {"strategy": "differentiable", "seed": 0, "options": {"epochs": 4}},
        }
    )
    (trial,) = run(spec, out=tmp_path, progress=False).study.trials
    memory = trial.user_attrs["memory_budget"]
    assert memory["params"] == budget and abs(memory["fde_params"] - fde) < 0.05 * fde
    assert trial.user_attrs["metrics"]["embedding_params"] <= budget
    assert memory["derived_params"] == trial.user_attrs["metrics"]["embedding_params"]
    widths = {k[len("model.embedding.dim[") : -1]: v for k, v in trial.params.items()}
    useful = truth["informative"] + [f for pair in truth["interactions"] for f in pair]
    assert statistics.mean(widths[f] for f in useful) > statistics.mean(
        widths[f] for f in truth["noise"]
    ), widths
    # the multiplier pushed: without the budget the widths take more parameters
    ratios = [row["params_ratio"] for row in trial.user_attrs["supernet"]]
    assert ratios[-1] < 0.15, ratios


def test_autogroup_puts_planted_pairs_in_a_shared_set(truth: dict[str, Any]) -> None:
    model = {
        "backbone": "fm",
        "embedding": {"dim": 8},
        "interactions": {"groups": {"orders": [2], "sets": 2}},
    }
    values, net = _derive(model, epochs=4)
    sets = net.architecture(values).model.interactions.groups.members[2]
    for a, b in truth["interactions"]:
        assert any(a in s and b in s for s in sets), (a, b, sets)
    for noise in truth["noise"]:
        assert not any(noise in s for s in sets), (noise, sets)


def test_second_order_gradient_is_first_order_at_zero_step() -> None:
    model = {"backbone": "deepfm", "embedding": {"dim": {"choice": [2, 4], "per": "field"}}}
    spec = _spec(model)
    evaluator = Evaluator(spec)
    space = SearchSpace.from_spec(spec)
    net = Supernet(space, classify(space), evaluator.data.schema, Relaxation(gumbel=False))
    tensors = evaluator.tensors(torch.device("cpu"))
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def loss_of(idx: torch.Tensor) -> torch.Tensor:
        return loss_fn(net.model(*tensors.batch(idx)), tensors.label.index_select(0, idx))

    net.model.eval()  # batch norms fixed: both passes see the same function
    train, valid = tensors.splits["train"][:256], tensors.splits["valid"][:256]
    weights = net.weight_parameters()
    (arch,) = net.architecture_parameters()
    _second_order_grads(net, loss_of, train, valid, 0.0, weights)
    second = arch.grad.clone()
    (first,) = torch.autograd.grad(loss_of(valid), [arch])
    finite = torch.isfinite(first)
    assert torch.allclose(second[finite], first[finite], atol=1e-6)
    _second_order_grads(net, loss_of, train, valid, 1e-2, weights)
    assert not torch.allclose(arch.grad[finite], first[finite])  # the Hessian term


def test_mixed_numerical_methods_and_the_cli(tmp_path: Path, capsys) -> None:
    data = {"dataset": "synthetic", "rows": 3000,
            "options": {"categorical": 3, "numerical": 2, "seed": 3, "max_vocab": 100}}  # fmt: skip
    spec = {
        "name": "mixed",
        "data": data,
        "model": {
            "backbone": "deepfm",
            "embedding": {
                "dim": {"choice": [2, 4], "per": "field"},
                "numerical": {"choice": ["scalar", "autodis"], "per": "field"},
            },
            "mlp": {"layers": [8]},
        },  # fmt: skip
        "train": {"batch_size": 256, "epochs": 1, "lr": 3.0e-3, "threads": 1},
        "search": {"strategy": "differentiable", "options": {"epochs": 1}},
    }
    path = tmp_path / "mixed.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["run", str(path), "--out", str(tmp_path / "run"), "-q"]) == 0
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    params = result["best"][0]["params"]
    methods = {k: v for k, v in params.items() if k.startswith("model.embedding.numerical[")}
    assert len(methods) == 2 and set(methods.values()) <= {"scalar", "autodis"}
    storage = f"sqlite:///{tmp_path / 'run' / 'study.db'}"
    (trial,) = optuna.load_study(study_name="mixed", storage=storage).trials
    weights = trial.user_attrs["architecture_weights"]
    assert set(weights["numerical"]) == {"I1", "I2"}
    assert set(weights["dims"]) == {k for k in params if k.startswith("model.embedding.dim[")}


def test_needs_a_relaxable_decision() -> None:
    spec = parse_spec(
        {
            "name": "x",
            "data": DATA,
            "model": {"embedding": {"dim": 8}},
            "train": {"lr": {"float": [1e-4, 1e-2], "log": True}},
        }  # fmt: skip
    )
    strategy = STRATEGIES.get("differentiable")(seed=0)
    with pytest.raises(SpecError, match="needs a CTR space with a relaxable decision"):
        strategy.check(SearchSpace.from_spec(spec))


def test_block_types_relax_as_mixed_operations(tmp_path: Path) -> None:
    data = {"dataset": "synthetic", "rows": 2000,
            "options": {"categorical": 4, "numerical": 2, "seed": 2, "max_vocab": 60}}  # fmt: skip
    blocks = {"count": 3, "types": ["mlp", "dot", "fm", "cross", "efc"], "width": 8}
    spec = parse_spec(
        {
            "name": "mixed-blocks",
            "data": data,
            "model": {"backbone": "blocks", "embedding": {"dim": 4}, "blocks": blocks},
            "train": {"batch_size": 256, "epochs": 1, "threads": 1},
            "search": {"strategy": "differentiable"},
        }
    )
    (trial,) = run(spec, out=tmp_path, progress=False).study.trials
    weights = trial.user_attrs["architecture_weights"]["block_types"]
    assert set(weights) == {f"model.blocks.type[{i}]" for i in range(3)}
    for name, probs in weights.items():
        assert trial.params[name] == max(probs, key=probs.__getitem__)
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-3)
    assert [n["id"] for n in trial.user_attrs["dag"]["nodes"]][-1] == "logit"
