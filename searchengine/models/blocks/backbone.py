"""The ``blocks`` backbone (AutoCTR, KDD'20): a DAG of virtual blocks over the inputs."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from searchengine.data.schema import DataSchema
from searchengine.models.base import BACKBONES, Backbone
from searchengine.models.blocks.base import BLOCKS, Project, Shape, adapter_flops, concat
from searchengine.models.blocks.config import BlocksConfig, NodeConfig, block_name
from searchengine.models.blocks.draw import dag_attr
from searchengine.models.config import ModelConfig
from searchengine.spec.format import BlockNode, BlocksSpec, EmbeddingSpec, ModelSpec

__all__ = ["BlockDAG", "Node"]


def _dag(config: ModelConfig) -> BlocksConfig:
    if config.blocks is None:
        raise ValueError("backbone `blocks` needs a concrete DAG (model.blocks.nodes): sample it")
    return config.blocks


class Node(nn.Module):
    """One block with the adapters of its inputs.

    Args:
        config: the block's type, inputs and hyperparameters.
        sources: the shape of each input, in ``config.inputs`` order.
        dim: ``D``, the width of every ``fields`` tensor.
        projected_fields: ``F'`` of the ``dense -> fields`` adapter.
    """

    def __init__(
        self, config: NodeConfig, sources: list[Shape], dim: int, projected_fields: int
    ) -> None:
        super().__init__()
        cls = BLOCKS.get(config.type)
        self.inputs, self.kind = config.inputs, cls.input_kind
        self.adapters = nn.ModuleDict()
        shapes = []
        for name, shape in zip(config.inputs, sources, strict=True):
            if shape.kind == self.kind:
                shapes.append(shape)
            elif self.kind == "fields":  # dense -> fields: a linear projection
                self.adapters[name] = Project(shape.numel, projected_fields, dim)
                shapes.append(Shape("fields", projected_fields, dim))
            else:  # fields -> dense: flatten
                shapes.append(Shape("dense", shape.numel))
        size = sum(s.size for s in shapes)
        combined = Shape("fields", size, dim) if self.kind == "fields" else Shape("dense", size)
        self.block = cls(combined, **dict(config.hyper))
        self.adapter_flops = sum(
            adapter_flops(s, self.kind, projected_fields, dim) for s in sources
        )

    def forward(self, xs: list[Tensor]) -> Tensor:
        parts = []
        for name, x in zip(self.inputs, xs, strict=True):
            if name in self.adapters:
                x = self.adapters[name](x)  # (B, d) -> (B, F', D)
            elif self.kind == "dense" and x.dim() == 3:
                x = x.flatten(1)  # (B, F, D) -> (B, F * D)
            parts.append(x)
        return self.block(concat(parts, self.kind))


@BACKBONES.register("blocks")
class BlockDAG(Backbone):
    """AutoCTR's searched architecture: blocks in index order, each reading raw inputs
    (``sparse`` ``(B, F, D)``, ``dense`` ``(B, N)``, groups ``(B, F_g, D)``) and earlier
    blocks through adapters; the blocks no later block reads are flattened, concatenated
    and mapped to the logit by one linear layer (see :mod:`~searchengine.models.blocks`).

    Only the fields a block reads are embedded, at the common width ``D`` (mixed widths
    are projected, as for fm). :meth:`flops` counts everything after the embedding lookup.
    """

    description = "AutoCTR: a DAG of virtual blocks (mlp, dot, fm, cross, efc, ...)"
    uses_blocks = True
    needs_equal_dims = True
    reports_flops = True

    def __init__(self, schema: DataSchema, config: ModelConfig, *, sparse: bool = False) -> None:
        super().__init__(schema, config, sparse=sparse)
        self.dag = dag = _dag(config)
        self.embedding = self.field_embedding(schema, config, sparse=sparse)
        dim = (
            self.embedding.common_dim if self.embedding is not None else max(config.dims.values())
        )
        shapes = {"dense": Shape("dense", len(schema.numerical))}
        self.groups = {group: len(fields) for group, fields in dag.groups.items()}
        if self.embedding is not None:
            shapes["sparse"] = Shape("fields", len(self.embedding.field_names), dim)
            shapes.update({g: Shape("fields", n, dim) for g, n in self.groups.items()})
            index = [self.embedding.position(f) for fields in dag.groups.values() for f in fields]
            self.register_buffer("group_index", torch.tensor(index, dtype=torch.long), False)
        self.nodes = nn.ModuleList()
        for i, node in enumerate(dag.nodes):
            module = Node(node, [shapes[s] for s in node.inputs], dim, dag.projected_fields)
            shapes[block_name(i)] = module.block.out_shape
            self.nodes.append(module)
        self.shapes, self.dim = shapes, dim  # every tensor's shape, by name (for supernets)
        self.outputs = dag.dangling()
        width = sum(shapes[name].numel for name in self.outputs)
        self.head = nn.Linear(width, 1)
        self._flops = (
            2 * width
            + _equalize_flops(config, self.embedding)
            + sum(m.adapter_flops + m.block.flops() for m in self.nodes)
        )

    @classmethod
    def embedded_fields(cls, schema: DataSchema, config: ModelConfig) -> list[str]:
        # raw numerical fields have no vector: `sparse` holds the others, `dense` all values
        return [f for f in _dag(config).embedded_fields(schema) if not config.numerical.is_raw(f)]

    def forward(self, cat: Tensor, num: Tensor, num_missing: Tensor) -> Tensor:
        outs: dict[str, Tensor] = {"dense": num}  # (B, N)
        if self.embedding is not None:
            e = self.embedding.equalize(self.embedding(cat, num, num_missing))  # (B, F, D)
            outs["sparse"] = e
            if self.groups:
                members = e.index_select(1, self.group_index)  # (B, sum F_g, D)
                outs.update(
                    zip(self.groups, members.split(list(self.groups.values()), dim=1), strict=True)
                )
        for i, node in enumerate(self.nodes):
            outs[block_name(i)] = node([outs[name] for name in node.inputs])
        x = torch.cat([outs[name].flatten(1) for name in self.outputs], dim=1)  # (B, W)
        return self.head(x).squeeze(-1)  # (B,)

    def flops(self) -> int:
        return self._flops

    def describe(self) -> dict[str, Any]:
        return {"dag": dag_attr(self.dag)}

    @classmethod
    def tiny(cls, schema: DataSchema) -> ModelSpec:
        """Every block type and both adapters, two blocks feeding the logit."""
        dense = ["dense"] if schema.numerical else []
        nodes = [
            BlockNode(type="efc", inputs=["sparse"], fields=3),
            BlockNode(type="dot", inputs=["b0"]),
            BlockNode(type="mlp", inputs=[*dense, "b1"], width=8, layers=1),
            BlockNode(type="fm", inputs=["sparse", "b2"]),  # dense -> fields adapter
            BlockNode(type="cross", inputs=["b0", "b2"], layers=2),  # fields -> dense
        ]
        return ModelSpec(
            backbone="blocks",
            embedding=EmbeddingSpec(dim=4),
            blocks=BlocksSpec(nodes=nodes, projected_fields=2),
        )


def _equalize_flops(config: ModelConfig, embedding: nn.Module | None) -> int:
    """FLOPs of projecting narrower fields to the common width ``D``."""
    if embedding is None:
        return 0
    dims = [config.dims[name] for name in embedding.field_names]  # type: ignore[union-attr]
    return sum(2 * d * max(dims) for d in dims if d != max(dims))
