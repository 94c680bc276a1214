"""AutoCTR's DAG space: every sampled and every mutated DAG is valid, builds and trains;
a mutation changes exactly one decision; evolution on the space records parents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import optuna
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from searchengine import parse_spec, run
from searchengine.models import build_model
from searchengine.models.blocks.config import LOGIT, BlocksConfig
from searchengine.searchspace import SearchSpace
from searchengine.searchspace._blocks import role
from searchengine.strategies._evolution._dag import mutate
from searchengine.strategies._evolution._genes import make_genes
from searchengine.testing import random_batch, tiny_schema

SCHEMA = tiny_schema(4, 2)
BLOCKS = {
    "count": {"int": [1, 5]},
    "types": ["mlp", "dot", "fm", "cross", "efc"],
    "max_inputs": 3,
    "width": {"choice": [4, 8]},
    "layers": {"int": [1, 2]},
    "fields": {"int": [1, 3]},
}


def _space() -> SearchSpace:
    fields = [
        *({"name": f.name, "type": "categorical"} for f in SCHEMA.categorical),
        *({"name": f.name, "type": "numerical"} for f in SCHEMA.numerical),
    ]
    spec = parse_spec(
        {
            "name": "dag",
            "data": {"dataset": "table", "path": "x.csv", "label": "y", "fields": fields},
            "model": {"backbone": "blocks", "embedding": {"dim": 4}, "blocks": BLOCKS},
        }
    )
    return SearchSpace.from_spec(spec)


SPACE = _space()
GENES = make_genes({d.name: d.distribution for d in SPACE})
ROLES = {d.name: r[0] for d in SPACE if (r := role(d.name)) is not None}


def _values(draw: Any) -> dict[str, Any]:
    """Every active decision drawn from its choices, in the space's order."""
    values: dict[str, Any] = {}
    for d in SPACE:
        if SPACE.is_active(d, values):
            dist = d.distribution
            if d.kind == "categorical":
                values[d.name] = d.decode(draw(st.sampled_from(dist.choices)))
            else:
                values[d.name] = draw(st.integers(dist.low, dist.high))
    return values


def _check_valid(values: dict[str, Any]) -> None:
    arch = SPACE.fixed(values)
    dag = BlocksConfig.unchecked(arch.model.blocks)
    graph = dag.graph()
    assert nx.is_directed_acyclic_graph(graph)
    for node, data in graph.nodes(data=True):
        if data["kind"] == "block":
            assert nx.has_path(graph, node, LOGIT), f"{node} does not reach the logit"
    torch.manual_seed(0)
    model = build_model(arch.model, SCHEMA)
    cat, num, missing = random_batch(SCHEMA, 16)
    label = (torch.arange(16) % 2).float()
    logits = model(cat, num, missing)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, label)
    loss.backward()
    assert logits.shape == (16,) and torch.isfinite(logits).all() and torch.isfinite(loss)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_every_sampled_dag_is_valid_and_trains(data: st.DataObject) -> None:
    _check_valid(_values(data.draw))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(0, 2**31 - 1))
def test_a_mutation_changes_exactly_one_decision_and_stays_valid(
    data: st.DataObject, seed: int
) -> None:
    parent_values = _values(data.draw)
    rng = np.random.default_rng(seed)
    vector = {n: g.sample(rng) for n, g in GENES.items()}  # inactive genes: anything
    vector.update({n: GENES[n].encode(SPACE[n].encode(v)) for n, v in parent_values.items()})
    active = [n for n in parent_values if n in GENES]
    child, changed = mutate(GENES, vector, active, ROLES, rng)
    differing = [n for n in GENES if child[n] != vector[n]]
    assert differing == [changed] and changed in active
    decoded = {n: SPACE[n].decode(GENES[n].decode(child[n])) for n in GENES}
    values: dict[str, Any] = {}
    for d in SPACE:
        if SPACE.is_active(d, values):
            values[d.name] = decoded[d.name]
    if ROLES.get(changed) == "inputs":  # one edge: the input sets differ by at most two names
        before = set(str(parent_values[changed]).split("+"))
        assert len(before ^ set(str(values[changed]).split("+"))) <= 2
    _check_valid(values)


def test_evolution_on_the_dag_space_mutates_from_recorded_parents(tmp_path: Path) -> None:
    spec = parse_spec(
        {
            "name": "dag-evo",
            "data": {
                "dataset": "synthetic",
                "rows": 1500,
                "options": {"categorical": 4, "numerical": 2, "max_vocab": 50},
            },
            "model": {"backbone": "blocks", "embedding": {"dim": 4}, "blocks": BLOCKS},
            "train": {"batch_size": 256, "epochs": 1, "threads": 1},
            "objectives": [{"metric": "auc"}, {"metric": "params", "direction": "minimize"}],
            "search": {
                "strategy": "evolution",
                "trials": 9,
                "seed": 3,
                "options": {"population_size": 3},
                "fidelity": {"warm_start": True, "subsample": 0.5},
            },
        }  # fmt: skip
    )
    result = run(spec, out=tmp_path, progress=False)
    trials = {t.number: t for t in result.study.trials}
    children = [t for t in trials.values() if t.system_attrs.get("evolution:generation", 0) > 0]
    assert len(children) == 6 and all(t.state.name == "COMPLETE" for t in trials.values())
    for child in children:
        parent = trials[child.system_attrs["searchengine:parent"]]
        assert (
            parent.system_attrs["evolution:generation"]
            < child.system_attrs["evolution:generation"]
        )
        assert child.params != parent.params
        assert child.user_attrs["warm_start"]["parent"] == parent.number
        assert child.user_attrs["warm_start"]["copied"] > 0
        assert child.user_attrs["dag"]["edges"]  # the report's DAG attribute
    assert (tmp_path / "weights").is_dir()


def test_mutation_none_of_a_space_without_blocks_is_nsga2() -> None:
    from searchengine.strategies import STRATEGIES

    spec = parse_spec(
        {
            "name": "x",
            "data": {"dataset": "synthetic", "rows": 500},
            "model": {"embedding": {"dim": {"choice": [2, 4], "per": "field"}}},
        }  # fmt: skip
    )
    sampler = STRATEGIES.get("evolution")(seed=0).sampler(
        SearchSpace.from_spec(spec), [optuna.study.StudyDirection.MAXIMIZE]
    )
    assert sampler._roles is None
    forced = STRATEGIES.get("evolution")(seed=0, mutation="dag").sampler(
        SearchSpace.from_spec(spec), [optuna.study.StudyDirection.MAXIMIZE]
    )
    assert forced._roles == {}
    with pytest.raises(Exception, match="mutation"):
        STRATEGIES.get("evolution")(seed=0, mutation="bogus")
