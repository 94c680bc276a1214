"""AutoGroup's grouped interactions: the formula, fixed groups from a spec, their errors."""

from __future__ import annotations

import itertools

import pytest
import torch

from searchengine.errors import SpecError
from searchengine.models import build_model
from searchengine.models.interaction.grouped import GroupedInteraction
from searchengine.searchspace import SearchSpace, parse_spec
from searchengine.spec.format import ModelSpec
from searchengine.testing import tiny_schema


def test_order_two_is_an_fm_over_the_set_and_order_three_the_triples() -> None:
    torch.manual_seed(0)
    layer = GroupedInteraction(["a", "b", "c", "d"], {2: [["a", "b", "d"]], 3: [["a", "b", "c"]]})
    with torch.no_grad():
        layer.weights.uniform_(0.5, 1.5)
    e = torch.randn(5, 4, 3)
    w = layer.weights.detach()
    layer.norm.eval()  # running mean 0, var 1: the raw interactions
    out = layer(e) * torch.sqrt(torch.tensor(1.0 + layer.norm.eps))
    pairs = sum(
        2 * w[0, i] * w[0, j] * (e[:, i] * e[:, j]).sum(-1)
        for i, j in itertools.combinations([0, 1, 3], 2)
    )
    x = e[:, :3] * w[1, :3, None]
    triples = x.sum(1).pow(3).sum(-1) - x.pow(3).sum(1).sum(-1)
    assert torch.allclose(out[:, 0], pairs, atol=1e-5)
    assert torch.allclose(out[:, 1], triples, atol=1e-5)
    assert layer.sets() == {2: [["a", "b", "d"]], 3: [["a", "b", "c"]]}


def test_soft_membership_carries_gradients() -> None:
    layer = GroupedInteraction(["a", "b", "c"], {2: [["a", "b", "c"]]})
    soft = torch.full((1, 3), 0.5, requires_grad=True)
    layer(torch.randn(8, 3, 4), membership=soft).pow(2).sum().backward()
    assert soft.grad is not None and torch.all(soft.grad != 0)


def _model(backbone: str, groups: dict) -> ModelSpec:
    return ModelSpec.model_validate(
        {
            "backbone": backbone,
            "embedding": {"dim": 4},
            "mlp": {"layers": [8]},
            "interactions": {"groups": groups},
        }  # fmt: skip
    )


def test_fixed_groups_build_run_and_add_to_the_logit() -> None:
    schema = tiny_schema()
    names = schema.names
    groups = {"orders": [2, 3], "sets": 1, "members": {2: [names[:3]], 3: [names[1:4]]}}
    model = build_model(_model("deepfm", groups), schema)
    layer = model.backbone.groups.interaction
    found = {order: [sorted(m) for m in sets] for order, sets in layer.sets().items()}
    assert found == {2: [sorted(names[:3])], 3: [sorted(names[1:4])]}
    cat = torch.randint(0, 3, (16, len(schema.categorical)))
    num = torch.rand(16, len(schema.numerical))
    out = model(cat, num, torch.zeros_like(num, dtype=torch.bool))
    out.sum().backward()
    assert out.shape == (16,) and layer.weights.grad is not None


def test_groups_errors() -> None:
    schema = tiny_schema()
    groups = {"orders": [2], "sets": 1, "members": {2: [["nope"]]}}
    with pytest.raises(SpecError, match="no field 'nope' in the data"):
        build_model(_model("fm", groups), schema)
    dcn = {"orders": [2], "sets": 1, "members": {2: [schema.names[:2]]}}
    with pytest.raises(SpecError, match="backbone 'dcn' has no grouped interactions"):
        build_model(_model("dcn", dcn), schema)
    spec = {"name": "g", "data": {"dataset": "synthetic", "rows": 500}}
    with pytest.raises(SpecError, match=r"orders: \[2, 2\] lists an order twice"):
        parse_spec(spec | {"model": {"interactions": {"groups": {"orders": [2, 2], "sets": 1}}}})
    bad = {"orders": [2, 3], "sets": 1, "members": {2: [["C1"]]}}
    with pytest.raises(SpecError, match=r"members: expected the orders \[2, 3\], got \[2\]"):
        parse_spec(spec | {"model": {"interactions": {"groups": bad}}})
    unknown = {"orders": [2], "sets": 1, "members": {2: [["C1", "C99"]]}}
    with pytest.raises(
        SpecError, match=r"members\[2\]\[0\]\[1\]: no field 'C99' in the data; did you mean 'C9'\?"
    ):
        SearchSpace.from_spec(parse_spec(spec | {"model": {"interactions": {"groups": unknown}}}))
    with pytest.raises(SpecError, match="feature groups need a backbone with grouped"):
        searched = {"backbone": "dcn", "interactions": {"groups": {"orders": [2], "sets": 1}}}
        SearchSpace.from_spec(parse_spec(spec | {"model": searched}))
