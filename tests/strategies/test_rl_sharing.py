"""``rl`` with weight sharing (NIS): the supernet's masks and the one-shot search."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from searchengine import parse_spec, run
from searchengine.data.schema import DataSchema
from searchengine.models import build_model
from searchengine.searchspace import SearchSpace
from searchengine.spec.format import ModelSpec
from searchengine.strategies._rl.supernet import SharedSupernet, is_shareable, largest
from searchengine.testing import random_batch, tiny_schema

TINY = """\
name: nis-tiny
data: {dataset: synthetic, rows: 2500, options: {categorical: 3, numerical: 1, seed: 3}}
model:
  backbone: %(backbone)s
  embedding: {dim: {choice: [2, 4], per: field}, multisize: {buckets: 2, chunk: 2, chunks: 3}}
  mlp: {layers: [8]}
  interactions: {gate: %(gate)s}
train: {batch_size: 128, epochs: 2, patience: 1, lr: 5.0e-3}
search:
  strategy: rl
  trials: 4
  seed: 0
  options:
    {weight_sharing: true, cost_weight: 2.0, cost_scale: absolute, lr: 0.05, warmup_epochs: 0.5}
"""


def tiny_spec(backbone: str = "deepfm", gate: str = "search"):
    return parse_spec(TINY % {"backbone": backbone, "gate": gate})


def test_the_search_records_one_derived_architecture(tmp_path: Path) -> None:
    spec = tiny_spec()
    result = run(spec, out=tmp_path, progress=False)
    (trial,) = result.study.trials
    space = result.space
    assert all(is_shareable(d) for d in space) and set(trial.params) == set(space.names)
    cost = trial.user_attrs["search_cost"]
    assert cost["weight_sharing"] and cost["epochs"] == 2 and cost["steps"] == 2 * 16
    assert cost["seconds"] > 0
    probabilities = trial.user_attrs["controller"]
    assert set(probabilities) == set(trial.params)
    for name, value in trial.params.items():  # it records the most probable one
        best = max(probabilities[name].items(), key=lambda kv: kv[1])[0]
        assert best == str(value), name
    # lambda = 2: memory outweighs the small AUC differences, the result is small
    full = space.fixed({d.name: largest(d) for d in space if is_shareable(d)})
    from searchengine.evaluation import Evaluator

    reference = Evaluator(spec).static_metrics(full)["embedding_params"]
    assert trial.user_attrs["metrics"]["embedding_params"] < 0.5 * reference
    again = run(spec, out=tmp_path, progress=False)  # done: a rerun does not search again
    assert len(again.study.trials) == 1


@pytest.fixture
def schema() -> DataSchema:
    return tiny_schema(3, 2)


def _supernet(backbone: str, schema: DataSchema):
    """The full-size model of the tiny spec's space, on the tiny schema, and its masks."""
    space = _renamed(SearchSpace.from_spec(tiny_spec(backbone)))
    sizes = {f.name: [3, 3] for f in schema.categorical}
    multisize = {"buckets": 2, "chunk": 2, "chunks": 3, "sizes": sizes}
    model = ModelSpec.model_validate(
        {
            "backbone": backbone,
            "embedding": {"dim": 4, "multisize": multisize},
            "mlp": {"layers": [8]},
        }
    )
    torch.manual_seed(0)
    net = build_model(model, schema).eval()
    return net, SharedSupernet(net, space, [d for d in space if is_shareable(d)])


def _renamed(space: SearchSpace) -> SearchSpace:
    """The synthetic space's decisions, named for the tiny schema's fields."""
    names = {"C1": "c0", "C2": "c1", "C3": "c2", "I1": "n0"}

    def rename(text: str) -> str:
        for old, new in names.items():
            text = text.replace(old, new)
        return text

    from dataclasses import replace

    decisions = [replace(d, name=rename(d.name), key=d.key and rename(d.key)) for d in space]
    slots = [replace(s, decisions=tuple(rename(n) for n in s.decisions)) for s in space.slots]
    return SearchSpace(space.spec, decisions, slots, space.fields)


@pytest.mark.parametrize("backbone", ["fm", "fwfm", "deepfm"])
def test_a_dropped_gate_removes_exactly_its_product(backbone: str, schema: DataSchema) -> None:
    model, supernet = _supernet(backbone, schema)
    batch = random_batch(schema)
    with torch.no_grad():
        supernet.apply({})
        full = model(*batch)
        supernet.apply({"model.interactions.gate[c0,c1]": False})
        masked = model(*batch)
        supernet.remove()
        emb = model.backbone.embedding
        e = emb.equalize(emb(*batch))  # (B, F, D*)
        product = (e[:, emb.position("c0")] * e[:, emb.position("c1")]).sum(-1)
    torch.testing.assert_close(full - masked, product, atol=1e-6, rtol=1e-4)


def test_blocks_and_widths_are_masked(schema: DataSchema) -> None:
    model, supernet = _supernet("deepfm", schema)
    emb = model.backbone.embedding
    cat, num, missing = random_batch(schema)
    values = {f"model.embedding.multisize[c0,{b}]": s for b, s in enumerate((1, 0))}
    supernet.apply(values | {"model.embedding.dim[n0]": 2})
    with torch.no_grad():
        groups = emb(cat, num, missing)  # [(B, 3, 6), (B, 2, 4)]
    vectors = dict(zip(emb.field_names, [v for g in groups for v in g.unbind(1)], strict=True))
    module = next(m for m in emb.categorical.values())
    buckets = module.cell[module.global_ids(cat)][:, 0]  # (B,): c0's buckets (0 or 1)
    c0 = vectors["c0"]  # (B, 6): bucket 0 keeps 1 block of 2, bucket 1 none
    assert (c0[buckets == 0, 2:] == 0).all() and (c0[buckets == 0, :2] != 0).all()
    assert (c0[buckets == 1] == 0).all()
    assert (vectors["c1"] != 0).all()  # not decided: full size
    assert (vectors["n0"][:, 2:] == 0).all() and (vectors["n1"][:, 2:] != 0).any()


def test_weight_sharing_names_the_one_shot_nis_strategy() -> None:
    """The options pick the class: an rl strategy never turns one-shot at run time."""
    from searchengine.strategies import NISStrategy, RLStrategy, create_strategy

    shared = create_strategy("rl", {"weight_sharing": True}, seed=0)
    plain = create_strategy("rl", {}, seed=0)
    assert type(shared) is NISStrategy and shared.one_shot
    assert type(plain) is RLStrategy and not plain.one_shot
    assert type(create_strategy("nis", {}, seed=0)) is NISStrategy
    assert type(create_strategy("nis", {"weight_sharing": False}, seed=0)) is RLStrategy
