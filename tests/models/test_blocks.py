"""AutoCTR's virtual blocks: shapes, costs, adapters, the DAG's checks and its drawings."""

from __future__ import annotations

import pytest
import torch

from searchengine.errors import SpecError
from searchengine.models import build_model
from searchengine.models.blocks import BLOCKS, BlocksConfig, Shape, to_dot, to_mermaid
from searchengine.spec.format import BlockNode, BlocksSpec, EmbeddingSpec, ModelSpec
from searchengine.testing import random_batch, tiny_schema

SETTINGS = {
    "mlp": {"width": 6, "layers": 2},
    "cross": {"layers": 2},
    "efc": {"fields": 3},
    "cross_v2": {"layers": 2},
    "attention": {"layers": 2},
}


@pytest.mark.parametrize("name", BLOCKS.names())
def test_every_block_maps_its_input_kind_and_reports_its_costs(name: str) -> None:
    cls = BLOCKS.get(name)
    shape = Shape("fields", 5, 4) if cls.input_kind == "fields" else Shape("dense", 20)
    block = cls(shape, **SETTINGS.get(name, {}))
    x = torch.randn(8, *((5, 4) if cls.input_kind == "fields" else (20,)))
    y = block(x)
    out = block.out_shape
    assert out.kind == cls.output_kind
    assert tuple(y.shape[1:]) == ((out.size, out.dim) if out.kind == "fields" else (out.size,))
    assert block.params() == sum(p.numel() for p in block.parameters())
    assert block.flops() > 0
    x.requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # train.precision: bf16
        half = block(x)
    assert half.shape == y.shape and torch.isfinite(half).all()
    half.float().sum().backward()
    for p in [x, *block.parameters()]:
        assert p.grad is not None and p.grad.dtype == torch.float32
        assert torch.isfinite(p.grad).all()


def test_mlp_flops_count_multiply_adds_biases_and_activations() -> None:
    block = BLOCKS.get("mlp")(Shape("dense", 10), width=4, layers=2)
    assert block.flops() == (2 * 10 * 4 + 2 * 4) + (2 * 4 * 4 + 2 * 4)


def _model(nodes: list[BlockNode]) -> ModelSpec:
    return ModelSpec(
        backbone="blocks", embedding=EmbeddingSpec(dim=4), blocks=BlocksSpec(nodes=nodes)
    )


def test_a_dag_builds_its_adapters_and_counts_its_flops() -> None:
    schema = tiny_schema(3, 2)
    nodes = [
        BlockNode(type="mlp", inputs=["dense"], width=6, layers=1),  # dense
        BlockNode(type="fm", inputs=["sparse", "b0"]),  # b0 projected to fields
        BlockNode(type="cross", inputs=["b1", "sparse"], layers=1),  # sparse flattened
    ]
    model = build_model(_model(nodes), schema)
    backbone = model.backbone
    assert "b0" in backbone.nodes[1].adapters and not backbone.nodes[2].adapters
    blocks = sum(n.block.flops() + n.adapter_flops for n in backbone.nodes)
    head = 2 * backbone.head.in_features
    assert backbone.flops() == blocks + head
    assert backbone.outputs == ["b2"]  # b0 and b1 are read later
    cat, num, missing = random_batch(schema, 4)
    assert model(cat, num, missing).shape == (4,)
    assert backbone.describe()["dag"]["edges"][-1] == ["b2", "logit"]


def test_the_dag_is_drawn_as_dot_and_mermaid() -> None:
    dag = BlocksConfig.unchecked(
        BlocksSpec(
            nodes=[
                BlockNode(type="mlp", inputs=["sparse"], width=8, layers=1),
                BlockNode(type="dot", inputs=["sparse"]),
                BlockNode(type="mlp", inputs=["b0"], width=4, layers=1),
            ]
        )
    )
    dot, mermaid = to_dot(dag), to_mermaid(dag)
    assert dot.startswith("digraph blocks {") and dot.rstrip().endswith("}")
    assert 'b0 [label="b0: mlp width=8 layers=1", shape=box];' in dot
    assert "sparse -> b0;" in dot and "b2 -> logit;" in dot and "b1 -> logit;" in dot
    assert mermaid.startswith("flowchart LR")
    assert '  b1["b1: dot"]' in mermaid and "  sparse --> b1" in mermaid
    assert "  logit((logit))" in mermaid


def test_bad_dags_are_refused_with_their_paths() -> None:
    schema = tiny_schema(3, 0)
    later = [BlockNode(type="mlp", inputs=["b1"], width=4, layers=1),
             BlockNode(type="dot", inputs=["sparse"])]  # fmt: skip
    with pytest.raises(SpecError, match=r"nodes\[0\]\.inputs: b0 cannot read b1: a block reads"):
        build_model(_model(later), schema)
    with pytest.raises(SpecError, match="no dense input: the data has no numerical fields"):
        build_model(_model([BlockNode(type="dot", inputs=["dense"])]), schema)
    with pytest.raises(SpecError, match=r"nodes\[0\]\.type: unknown block type 'mpl'; did you"):
        build_model(_model([BlockNode(type="mpl", inputs=["sparse"])]), schema)
    with pytest.raises(SpecError, match=r"nodes\[0\]\.width: not a setting of dot"):
        build_model(_model([BlockNode(type="dot", inputs=["sparse"], width=3)]), schema)
