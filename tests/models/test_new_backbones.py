"""dcnv2, autoint and finalmlp: their layers against hand computations, their settings,
and each one learning a planted interaction."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import torch

from searchengine.errors import SpecError
from searchengine.models import build_model
from searchengine.models.blocks import Shape
from searchengine.models.interaction import CrossNetworkV2, SelfAttention
from searchengine.spec.format import BlockNode, BlocksSpec, ModelSpec
from searchengine.testing import random_batch, tiny_schema
from tests.models.test_training import _planted_problem, fit_and_score

VARIANTS = {
    "dcnv2 full-rank parallel": {"backbone": "dcnv2", "dcnv2": {"layers": 2}},
    "dcnv2 full-rank stacked": {
        "backbone": "dcnv2",
        "dcnv2": {"layers": 2, "structure": "stacked"},
    },
    "dcnv2 low-rank": {"backbone": "dcnv2", "dcnv2": {"layers": 2, "rank": 3}},
    "dcnv2 full-rank experts": {"backbone": "dcnv2", "dcnv2": {"layers": 1, "experts": 3}},
    "dcnv2 no mlp": {"backbone": "dcnv2", "mlp": {"layers": []}},
    "autoint": {"backbone": "autoint", "autoint": {"layers": 2, "heads": 2, "dim": 3}},
    "autoint no residual": {
        "backbone": "autoint",
        "autoint": {"layers": 1, "heads": 1, "dim": 4, "residual": False},
    },
    "autoint+": {"backbone": "autoint", "autoint": {"layers": 1, "deep": True}},
    "finalmlp": {"backbone": "finalmlp", "finalmlp": {"layers": [12], "heads": 3}},
    "finalmlp no gate": {"backbone": "finalmlp", "finalmlp": {"layers": [6], "gate": False}},
}


def _spec(settings: dict, dim: int | dict = 4) -> ModelSpec:
    return ModelSpec.model_validate({"embedding": {"dim": dim}, "mlp": {"layers": [8]}} | settings)


@pytest.mark.parametrize("name", VARIANTS)
def test_every_variant_maps_a_batch_to_logits_and_trains_every_weight(name: str) -> None:
    schema = tiny_schema(3, 2)
    for dim in (4, {"c0": 2, "n0": 4, "c1": 3, "n1": 2, "c2": 4}):
        torch.manual_seed(0)
        model = build_model(_spec(VARIANTS[name], dim), schema)
        out = model(*random_batch(schema, 32))
        assert out.shape == (32,) and torch.isfinite(out).all()
        out.sum().backward()
        for pname, p in model.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), pname
            assert p.grad.abs().sum() > 0, f"{name}: no gradient reaches {pname}"


def test_a_full_rank_cross_layer_is_x0_times_wx_plus_b_plus_x() -> None:
    torch.manual_seed(1)
    cross = CrossNetworkV2(3, 1)
    with torch.no_grad():
        cross.bias.copy_(torch.randn_like(cross.bias))
    w, b = cross.weight[0, 0].tolist(), cross.bias[0, 0].tolist()  # (out, in), (out,)
    x0 = [[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]
    expected = [
        [x[i] * (sum(w[i][j] * x[j] for j in range(3)) + b[i]) + x[i] for i in range(3)]
        for x in x0
    ]
    torch.testing.assert_close(cross(torch.tensor(x0)), torch.tensor(expected))


def test_a_low_rank_cross_layer_is_the_full_rank_one_of_w_equal_to_u_v() -> None:
    torch.manual_seed(2)
    low = CrossNetworkV2(5, 2, rank=2)
    full = CrossNetworkV2(5, 2)
    with torch.no_grad():
        low.bias.normal_()
        full.bias.copy_(low.bias)
        full.weight.copy_((low.v @ low.u).transpose(-1, -2))  # W = (V U)^T, rank 2
    x0 = torch.randn(7, 5)
    torch.testing.assert_close(low(x0), full(x0))
    assert torch.linalg.matrix_rank(full.weight[0, 0]) == 2


def test_a_mixture_of_low_rank_experts_is_the_gated_sum_of_its_experts() -> None:
    torch.manual_seed(3)
    k, r, experts = 4, 2, 3
    cross = CrossNetworkV2(k, 1, experts=experts, rank=r)
    with torch.no_grad():
        cross.bias.normal_()
    x0 = torch.randn(6, k)
    gates = torch.softmax(x0 @ cross.gate[0], dim=-1)  # (B, E)
    expected = x0.clone()
    for e in range(experts):
        v, c, u, b = cross.v[0, e], cross.c[0, e], cross.u[0, e], cross.bias[0, e]
        inner = torch.tanh(torch.tanh(x0 @ v) @ c) @ u + b  # (B, K)
        expected = expected + gates[:, e : e + 1] * x0 * inner
    torch.testing.assert_close(cross(x0), expected)
    # the gate depends on the input: two rows mix the experts differently
    assert not torch.allclose(gates[0], gates[1])


def test_one_attention_layer_matches_a_hand_computation() -> None:
    torch.manual_seed(4)
    layer = SelfAttention(2, heads=2, dim=1, residual=True)
    wq, wk, wv, wr = (
        m.weight.tolist() for m in (layer.query, layer.key, layer.value, layer.residual)
    )
    e = [[1.0, -0.5], [0.25, 2.0], [-1.0, 0.5]]  # 3 fields of width 2

    def proj(w: list[list[float]], x: list[float], h: int) -> float:
        return sum(w[h][j] * x[j] for j in range(2))

    expected = []
    for i in range(3):
        row = []
        for h in range(2):  # head h has width 1: output column h
            scores = [proj(wq, e[i], h) * proj(wk, e[j], h) for j in range(3)]
            total = sum(math.exp(s) for s in scores)
            att = sum(math.exp(s) / total * proj(wv, e[j], h) for j, s in enumerate(scores))
            row.append(max(0.0, att + proj(wr, e[i], h)))
        expected.append(row)
    out = layer(torch.tensor([e]))
    torch.testing.assert_close(out, torch.tensor([expected]))


def test_the_bilinear_fusion_sums_each_head_s_product_of_chunks() -> None:
    from searchengine.models.strong_backbones import _BilinearFusion

    torch.manual_seed(5)
    fusion = _BilinearFusion(5, 3, heads=2)  # chunks 3 + 2 (padded) and 2 + 1 (padded)
    assert tuple(fusion.weight.shape) == (2, 3, 2)
    o1, o2 = torch.randn(4, 5), torch.randn(4, 3)
    w0, w1 = fusion.weight
    expected = (
        fusion.first(o1).squeeze(-1)
        + fusion.second(o2).squeeze(-1)
        + torch.einsum("ba,ac,bc->b", o1[:, :3], w0, o2[:, :2])
        + torch.einsum("ba,ac,bc->b", o1[:, 3:], w1[:2, :1], o2[:, 2:])
    )
    torch.testing.assert_close(fusion(o1, o2), expected)


def test_an_unknown_dcnv2_structure_is_refused_with_its_path() -> None:
    spec = _spec({"backbone": "dcnv2", "dcnv2": {"structure": "stackd"}})
    with pytest.raises(SpecError, match="model.dcnv2.structure: unknown structure 'stackd'; did"):
        build_model(spec, tiny_schema(2, 1))


LEARNERS = {
    "dcnv2": {"backbone": "dcnv2", "dcnv2": {"layers": 2}, "mlp": {"layers": [16]}},
    "dcnv2 mixture": {
        "backbone": "dcnv2",
        "dcnv2": {"layers": 2, "experts": 2, "rank": 4},
        "mlp": {"layers": []},
    },
    "autoint": {"backbone": "autoint", "autoint": {"layers": 2, "heads": 2, "dim": 4}},
    "autoint+": {"backbone": "autoint", "autoint": {"layers": 1, "deep": True}},
    "finalmlp": {"backbone": "finalmlp", "mlp": {"layers": [16]}, "finalmlp": {"layers": [16]}},
}


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Small models train faster on one thread than on cores other processes share."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", LEARNERS)
def test_each_backbone_learns_a_planted_pairwise_interaction(name: str, one_thread: None) -> None:
    torch.manual_seed(0)
    schema, tensors = _planted_problem(3_000)
    model = build_model(
        ModelSpec.model_validate({"embedding": {"dim": 8}} | LEARNERS[name]), schema
    )
    auc = fit_and_score(model, tensors, 2_000, steps=100, batch=128, lr=5e-3)
    # chance is 0.5; the Bayes AUC about 0.95 (p = 0.047 or 0.953); these reach ~0.95
    assert auc > 0.7, f"{name}: AUC {auc:.3f}"


def test_a_dag_of_attention_and_cross_v2_blocks_trains() -> None:
    schema = tiny_schema(3, 2)
    nodes = [
        BlockNode(type="attention", inputs=["sparse"], layers=2),  # (5, 4) -> (5, 4)
        BlockNode(type="cross_v2", inputs=["b0", "dense"], layers=2),  # 20 + 2 values
        BlockNode(type="attention", inputs=["dense"], layers=1),  # projected to fields
    ]
    spec = ModelSpec(backbone="blocks", embedding={"dim": 4}, blocks=BlocksSpec(nodes=nodes))
    torch.manual_seed(0)
    model = build_model(spec, schema)
    backbone = model.backbone
    assert backbone.nodes[0].block.out_shape == Shape("fields", 5, 4)
    assert backbone.nodes[1].block.out_shape == Shape("dense", 22)
    assert backbone.outputs == ["b1", "b2"]
    out = model(*random_batch(schema, 8))
    assert out.shape == (8,) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert backbone.flops() > sum(n.block.flops() for n in backbone.nodes) > 0
