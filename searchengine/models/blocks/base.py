"""The virtual block plug-in point, its registry, and the adapters between tensor kinds.

Two kinds of tensor flow along the edges of a block DAG:

* ``dense``: ``(B, d)``, a vector per example;
* ``fields``: ``(B, F, D)``, ``F`` vectors of the common embedding width ``D``.

Every block declares the kind it reads and the kind it writes. An input of the other
kind is adapted first: ``fields -> dense`` flattens ``(B, F, D)`` to ``(B, F * D)``
(no weights), ``dense -> fields`` is a linear map ``(B, d) -> (B, F', D)``. A block with
several inputs reads them concatenated: along the features (dense) or along the field
axis (fields). So any block can follow any other: the DAG never needs a type check.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

from searchengine.registry import Registry

__all__ = ["BLOCKS", "Block", "Project", "Shape", "adapter_flops"]

Kind = Literal["dense", "fields"]


@dataclass(frozen=True)
class Shape:
    """The shape of one example's tensor: ``dense`` ``(size,)`` or ``fields``
    ``(size, dim)``."""

    kind: Kind
    size: int
    dim: int = 1

    @property
    def numel(self) -> int:
        """Values per example (the width after flattening)."""
        return self.size * self.dim if self.kind == "fields" else self.size

    def __str__(self) -> str:
        return f"({self.size}, {self.dim})" if self.kind == "fields" else f"({self.size},)"


class Block(nn.Module, abc.ABC):
    """A virtual block: one node of the DAG of backbone ``blocks``.

    Life cycle: the blocks backbone adapts and concatenates a node's inputs into one
    tensor of :attr:`input_kind`, constructs ``cls(shape, **hyperparameters)`` with that
    tensor's :class:`Shape` and the node's hyperparameters (the names in
    :attr:`hyperparameters`, each a ``model.blocks`` slot), reads :attr:`out_shape` to
    wire the next nodes, and calls :meth:`forward` on every batch. :meth:`params` and
    :meth:`flops` report its cost (the search's complexity objectives).

    Attributes:
        input_kind: ``dense`` or ``fields``: what :meth:`forward` reads.
        output_kind: what it writes (:attr:`out_shape` has this kind).
        hyperparameters: its searchable settings: ``width``, ``layers``, ``fields``.
        description: one line for listings.
        out_shape: the output's shape, set by ``__init__``.

    Args:
        shape: the shape of the (concatenated) input, of :attr:`input_kind`.
    """

    input_kind: ClassVar[Kind]
    output_kind: ClassVar[Kind]
    hyperparameters: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""

    out_shape: Shape

    def __init__(self, shape: Shape) -> None:
        super().__init__()
        if shape.kind != self.input_kind:
            raise ValueError(f"{type(self).__name__} reads {self.input_kind}, got {shape.kind}")

    @abc.abstractmethod
    def forward(self, x: Tensor) -> Tensor:
        """Map the input to the output, see :attr:`out_shape`."""

    @abc.abstractmethod
    def flops(self) -> int:
        """Floating-point operations per example (a multiply-add counts 2)."""

    def params(self) -> int:
        """Trainable weights."""
        return sum(p.numel() for p in self.parameters())


#: The block types by name (plug-ins: entry point group ``searchengine.blocks``).
BLOCKS: Registry[type[Block]] = Registry("block type", group="searchengine.blocks")


class Project(nn.Module):
    """The ``dense -> fields`` adapter: ``(B, d) -> (B, F', D)`` by one linear map.

    Args:
        in_dim: ``d``.
        fields: ``F'``.
        dim: ``D``.
    """

    def __init__(self, in_dim: int, fields: int, dim: int) -> None:
        super().__init__()
        self.fields, self.dim = fields, dim
        self.linear = nn.Linear(in_dim, fields * dim)
        nn.init.normal_(self.linear.weight, std=1.0 / math.sqrt(max(in_dim, 1)))

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).view(-1, self.fields, self.dim)  # (B, F', D)


def adapter_flops(source: Shape, target: Kind, fields: int, dim: int) -> int:
    """FLOPs per example of adapting ``source`` to ``target`` (a flatten is free)."""
    if source.kind == target or target == "dense":
        return 0
    return 2 * source.numel * fields * dim + fields * dim


def concat(parts: list[Tensor], kind: Kind) -> Tensor:
    """Inputs of one kind side by side: features (dense) or the field axis (fields)."""
    if len(parts) == 1:
        return parts[0]
    return torch.cat(parts, dim=1)  # (B, sum d) or (B, sum F, D)
