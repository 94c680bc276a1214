"""Compiling specs into decisions: names, conditions, per-field slots, gates, round trips."""

from __future__ import annotations

import optuna
import pytest

from searchengine.errors import SpecError
from searchengine.searchspace import SearchSpace, parse_spec

DATA = "data: {dataset: synthetic, rows: 500, options: {categorical: 3, numerical: 2}}\n"
FIELDS = ["I1", "I2", "C1", "C2", "C3"]


def space_of(body: str, overrides: tuple[str, ...] = ()) -> SearchSpace:
    return SearchSpace.from_spec(
        parse_spec("name: t\n" + DATA + body, file="s.yaml", overrides=overrides)
    )


def spec_errors(body: str) -> str:
    with pytest.raises(SpecError) as info:
        space_of(body)
    return str(info.value)


def sample(space: SearchSpace, seed: int = 0):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    trial = study.ask()
    return space.sample(trial), trial


def test_decision_names_follow_the_spec_paths() -> None:
    space = space_of(
        "model:\n"
        "  backbone: deepfm\n"
        "  embedding: {dim: {choice: [2, 4, 8], per: field}}\n"
        "  mlp: {layers: [{choice: [64, 128]}, 32], dropout: {float: [0.0, 0.5]}}\n"
        "  interactions: {gate: search}\n"
        "train: {lr: {float: [1.0e-4, 1.0e-2], log: true}}\n"
    )
    names = space.names
    assert names[:5] == [f"model.embedding.dim[{f}]" for f in FIELDS]
    assert "model.mlp.layers[0]" in names and "model.mlp.dropout" in names
    assert "model.interactions.gate[I1,I2]" in names
    assert "model.interactions.gate[C2,C3]" in names
    assert sum(n.startswith("model.interactions.gate[") for n in names) == 10
    assert names[-1] == "train.lr"
    assert space["train.lr"].distribution == optuna.distributions.FloatDistribution(
        1e-4, 1e-2, log=True
    )
    assert space["model.embedding.dim[C1]"].kind == "categorical"


def test_decisions_say_what_they_decide() -> None:
    """Strategies read roles, fields and pairs from the decision, never from its name."""
    space = space_of(
        "model:\n"
        "  backbone: fm\n"
        "  embedding: {dim: {choice: [2, 4], per: field}, numerical: {choice: [raw, autodis]}}\n"
        "  interactions: {gate: search}\n"
        "train: {lr: {float: [1.0e-4, 1.0e-2], log: true}}\n"
    )
    roles: dict[str, list[str]] = {}
    for d in space:
        roles.setdefault(d.role, []).append(d.name)
    assert set(roles) == {"dim", "numerical", "gate", "setting"}
    assert sorted(space[n].key for n in roles["dim"]) == sorted(FIELDS)
    assert space["model.interactions.gate[I2,C1]"].pair == ("I2", "C1")
    assert roles["setting"] == ["train.lr"]
    blocks = space_of(
        "model:\n  backbone: blocks\n"
        "  blocks: {count: {choice: [1, 2]}, types: [mlp, fm], width: {choice: [8, 16]}}\n"
    )
    parts = {d.block for d in blocks if d.role == "block"}
    assert ("count", -1) in parts and ("type", 1) in parts and ("inputs", 0) in parts
    groups = space_of("model:\n  backbone: fm\n  interactions: {groups: {orders: [2], sets: 2}}\n")
    assert {d.membership for d in groups if d.role == "membership"} >= {(2, 1, "C3")}


def test_sampled_architecture_is_concrete_and_round_trips() -> None:
    space = space_of(
        "model:\n"
        "  embedding: {dim: {choice: [2, 4, 8], per: field}}\n"
        "  mlp: {layers: {choice: [[64, 32], [16]]}}\n"
        "  interactions: {gate: search}\n"
        "train: {batch_size: {int: [256, 1024], step: 256}}\n"
    )
    arch, trial = sample(space, seed=3)
    model = arch.spec.model
    assert isinstance(model.embedding.dim, dict) and set(model.embedding.dim) == set(FIELDS)
    assert model.mlp.layers in ([64, 32], [16])
    assert trial.params["model.mlp.layers"] in ("[64,32]", "[16]")
    kept = arch.kept_pairs([(a, b) for i, a in enumerate(FIELDS) for b in FIELDS[i + 1 :]])
    assert len(kept) == sum(v for k, v in arch.values.items() if "gate" in k)
    again = parse_spec(arch.to_yaml())
    concrete = SearchSpace.from_spec(again)
    assert len(concrete) == 0
    assert concrete.fixed({}).to_dict() == arch.to_dict()
    assert space.fixed(trial.params, encoded=True).to_dict() == arch.to_dict()


def test_conditions_follow_other_decisions() -> None:
    space = space_of(
        "model:\n"
        "  backbone: {choice: [deepfm, dcn]}\n"
        "  cross: {layers: {int: [1, 4], when: {model.backbone: dcn}}}\n"
        "train:\n"
        "  optimizer: {choice: [adam, sgd]}\n"
        "  lr: {float: [0.01, 0.1], when: {train.optimizer: [sgd]}}\n"
    )
    cross = space["model.cross.layers"]
    assert [(c.parent, c.values) for c in cross.conditions] == [("model.backbone", ("dcn",))]
    names = space.names
    assert names.index("model.backbone") < names.index("model.cross.layers")
    arch = space.fixed({"model.backbone": "deepfm", "train.optimizer": "adam"})
    assert "model.cross.layers" not in arch.values and "train.lr" not in arch.values
    assert arch.spec.model.cross.layers == 1  # the expression's default where inactive
    arch = space.fixed(
        {
            "model.backbone": "dcn",
            "model.cross.layers": 3,
            "train.optimizer": "sgd",
            "train.lr": 0.05,
        }
    )
    assert arch.spec.model.cross.layers == 3 and arch.spec.train.lr == 0.05


def test_backbone_specific_slots_get_implicit_conditions() -> None:
    space = space_of(
        "model:\n"
        "  backbone: {choice: [fm, deepfm]}\n"
        "  mlp: {dropout: {float: [0.0, 0.5]}}\n"
        "  interactions: {gate: search}\n"
    )
    dropout = space["model.mlp.dropout"]
    assert [(c.parent, c.values) for c in dropout.conditions] == [("model.backbone", ("deepfm",))]
    assert space["model.interactions.gate[I1,I2]"].conditions == ()


def test_conditions_on_fixed_values_fold_away() -> None:
    space = space_of(
        "train:\n  optimizer: adam\n"
        "  lr: {float: [0.01, 0.1], when: {train.optimizer: sgd}}\n"
        "  epochs: {int: [1, 3], when: {train.optimizer: adam}}\n"
    )
    assert space.names == ["train.epochs"] and space["train.epochs"].conditions == ()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "train:\n  lr: {float: [0.01, 0.1], when: {model.backbon: dcn}}\n",
            "s.yaml:4: train.lr.when: unknown decision 'model.backbon'; did you mean 'model.backbone'?",
        ),
        (
            "model: {backbone: {choice: [fm, dcn]}}\n"
            "train: {lr: {float: [0.01, 0.1], when: {model.backbone: xdeepfm}}}\n",
            "train.lr.when.model.backbone: 'xdeepfm' is not a value of 'model.backbone'",
        ),
        (
            "train:\n  lr: {float: [0.01, 0.1], when: {train.epochs: 2}}\n"
            "  epochs: {int: [1, 3], when: {train.lr: 0.05}}\n",
            "conditions form a cycle: train.lr -> train.epochs -> train.lr",
        ),
        (
            "train: {lr: {float: [0.01, 0.1], per: field}}\n",
            "train.lr.per: `per: field` is only valid on per-field slots "
            "(model.embedding.dim, model.embedding.numerical)",
        ),
        (
            "model: {backbone: deepfn}\n",
            "model.backbone: unknown backbone 'deepfn'; did you mean 'deepfm'?",
        ),
        (
            "model: {backbone: {choice: [fm, dcnn]}}\n",
            "model.backbone.choice[1]: unknown backbone 'dcnn'; did you mean 'dcn'?",
        ),
        (
            "train: {optimizer: adamm}\n",
            "train.optimizer: unknown optimizer 'adamm'; did you mean 'adam'?",
        ),
        (
            "model: {backbone: dcn, interactions: {gate: search}}\n",
            "model.interactions.gate: `search` needs a backbone with pairwise interactions; dcn has none",
        ),
        (
            "model: {embedding: {dim: {C1: 4, C2: 4, C3: 4, I1: 4, C11: 4}}}\n",
            "model.embedding.dim.C11: unknown field 'C11'; did you mean 'C1'?",
        ),
        (
            "model: {embedding: {dim: {C1: 4, C2: 4, C3: 4, I1: 4}}}\n",
            "model.embedding.dim: no width for field(s) I2",
        ),
        (
            "objectives: [{metric: aucc}]\n",
            "objectives[0].metric: unknown metric 'aucc'; did you mean 'auc'?",
        ),
        (
            "search: {pruner: median}\nobjectives: [{metric: auc}, {metric: embedding_params}]\n",
            "search.pruner: pruners work with a single objective only",
        ),
    ],
)
def test_semantic_errors(body: str, message: str) -> None:
    assert message in spec_errors(body)


def test_strategy_names_are_checked_by_the_strategies_layer() -> None:
    """The space compiles without knowing strategies; the strategies' own check of the
    raw spec joins the loader's report."""
    from searchengine.strategies import create_strategy, strategy_name_issues

    body = "name: t\n" + DATA + "search: {strategy: tpee}\n"
    space_of("search: {strategy: tpee}\n")  # no strategy check below the strategies
    with pytest.raises(SpecError, match=r"search\.strategy: unknown strategy 'tpee'; did you"):
        parse_spec(body, file="s.yaml", checks=[strategy_name_issues])
    with pytest.raises(SpecError, match=r"s\.yaml.*search\.strategy: unknown strategy 'tpee'"):
        spec = parse_spec(body, file="s.yaml")
        from searchengine.searchspace.loader import spec_source

        create_strategy("tpee", {}, seed=0, source=spec_source(spec))


def test_unknown_dataset_suggests() -> None:
    with pytest.raises(SpecError, match="unknown dataset 'adul'; did you mean 'adult'"):
        SearchSpace.from_spec(parse_spec("name: t\ndata: {dataset: adul}\n"))


def test_fixed_rejects_unknown_names_and_bad_values() -> None:
    space = space_of("train: {epochs: {int: [1, 3]}}\n")
    with pytest.raises(SpecError, match="unknown decision 'train.epoch'"):
        space.fixed({"train.epoch": 2})
    with pytest.raises(SpecError, match="train.epochs: 7 is outside"):
        space.fixed({"train.epochs": 7})


def test_generic_params_become_decisions() -> None:
    spec = parse_spec(
        "name: g\nevaluator: examples.functions:branin\n"
        "params: {x: {float: [-5, 10]}, n: {int: [1, 4]}, c: {choice: [a, b]}, k: 3}\n"
        "objectives: [{metric: branin, direction: minimize}]\n"
    )
    space = SearchSpace.from_spec(spec)
    assert space.names == ["params.x", "params.n", "params.c"]
    arch = space.fixed({"params.x": 1.0, "params.n": 2, "params.c": "b"})
    assert arch.function_params() == {
        "params.x": 1.0,
        "params.n": 2,
        "params.c": "b",
        "params.k": 3,
    }


def test_generic_objective_needs_a_direction() -> None:
    with pytest.raises(SpecError, match=r"objectives\[0\].direction: required"):
        SearchSpace.from_spec(
            parse_spec(
                "name: g\nevaluator: a.b:f\nparams: {x: 1}\nobjectives: [{metric: value}]\n"
            )
        )
