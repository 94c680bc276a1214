"""Virtual blocks (AutoCTR, KDD'20): the nodes of the ``blocks`` backbone's DAG.

Each block is registered in :data:`BLOCKS` and declares what it reads and writes:
``mlp``, ``cross`` and ``cross_v2`` read a dense vector, ``dot``, ``fm``, ``efc`` and
``attention`` read field vectors; ``efc`` and ``attention`` write field vectors, the
others a dense vector. Adapters (flatten,
linear projection) connect any block to any other, so every DAG of the index order is
valid. :class:`BlocksConfig` is a checked concrete DAG; :mod:`.draw` renders one.
"""

from __future__ import annotations

from searchengine.models.blocks import (  # noqa: F401  (registers them)
    attention,
    cross,
    cross_v2,
    dot,
    efc,
    fm,
    mlp,
)
from searchengine.models.blocks.base import BLOCKS, Block, Project, Shape
from searchengine.models.blocks.config import BlocksConfig, NodeConfig, block_name, raw_inputs
from searchengine.models.blocks.draw import dag_attr, to_dot, to_mermaid

__all__ = [
    "BLOCKS",
    "Block",
    "BlocksConfig",
    "NodeConfig",
    "Project",
    "Shape",
    "block_name",
    "dag_attr",
    "raw_inputs",
    "to_dot",
    "to_mermaid",
]
