"""The names a spec may use for what the package builds in, and which spec sections each
built-in backbone reads: what checking a spec needs to know of models and training,
without importing them (torch takes seconds; ``validate`` must not).

The models and the trainer build from these names and a test keeps both sides equal
(``tests/test_vocabulary.py``): a backbone, activation, optimizer or numerical method
added on one side and not the other fails it. Plug-in backbones (entry points or
registered at run time) are not here: the compiler asks their classes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

__all__ = [
    "ACTIVATIONS",
    "AGGREGATIONS",
    "BUCKET_METHODS",
    "BUILTIN_BACKBONES",
    "BUILTIN_BLOCKS",
    "NUMERICAL_METHODS",
    "OPTIMIZERS",
    "RAW",
    "VECTOR_METHODS",
    "BackboneTraits",
    "block_name",
    "literal_raw",
    "unknown_block_input",
    "unknown_block_type",
]

#: ``model.mlp.activation``.
ACTIVATIONS = ("relu", "gelu", "silu", "tanh", "prelu")
#: ``train.optimizer``.
OPTIMIZERS = ("adam", "adamw", "adagrad", "sgd", "rmsprop")

#: The numerical method whose fields get no vector: their values are read as they are.
RAW = "raw"
#: The methods that give a numerical field a vector.
VECTOR_METHODS = ("scalar", "bucket", "autodis")
#: How a numerical field can be embedded (``model.embedding.numerical``).
NUMERICAL_METHODS = (*VECTOR_METHODS, RAW)
#: How bucket boundaries are placed (``model.embedding.bucket.method``).
BUCKET_METHODS = ("width", "frequency", "log")
#: How AutoDis turns its soft discretization into one vector
#: (``model.embedding.autodis.aggregation``).
AGGREGATIONS = ("max", "topk", "weighted")


@dataclass(frozen=True)
class BackboneTraits:
    """Which parts of ``model:`` a backbone reads (the same names as the class
    attributes of :class:`searchengine.models.Backbone`, which documents them)."""

    uses_pairs: bool = False
    uses_mlp: bool = False
    uses_cross: bool = False
    uses_groups: bool = False
    uses_blocks: bool = False
    reports_flops: bool = False
    needs_equal_dims: bool = False
    settings: str | None = None
    mlp_switch: str | None = None

    @classmethod
    def of(cls, backbone: object) -> BackboneTraits:
        """The traits a backbone class declares."""
        return cls(
            **{
                f.name: getattr(backbone, f.name, None)
                if f.name in _NAMES
                else bool(getattr(backbone, f.name, False))
                for f in fields(cls)
            }
        )

    def reads(self, attribute: str, model: Any) -> bool:
        """Whether the backbone reads the slots of ``attribute`` (``uses_mlp``: ``model.mlp``)
        in ``model`` (a ``ModelSpec``): the trait, unless its own settings switch the part
        off (``mlp_switch``: autoint reads ``model.mlp`` only where ``deep`` is not false)."""
        if attribute == "uses_mlp" and self.settings and self.mlp_switch:
            switch = getattr(getattr(model, self.settings), self.mlp_switch)
            return switch is not False  # true, or searched
        return bool(getattr(self, attribute, True))


#: The traits that name something (the rest are flags).
_NAMES = ("settings", "mlp_switch")


_FM = BackboneTraits(uses_pairs=True, uses_groups=True, needs_equal_dims=True)
#: The built-in backbones: name -> traits.
BUILTIN_BACKBONES: Mapping[str, BackboneTraits] = {
    "fm": _FM,
    "fwfm": _FM,
    "wide_deep": BackboneTraits(uses_mlp=True),
    "deepfm": BackboneTraits(uses_mlp=True, uses_pairs=True, uses_groups=True,
                             needs_equal_dims=True),
    "dcn": BackboneTraits(uses_mlp=True, uses_cross=True),
    "dcnv2": BackboneTraits(uses_mlp=True, settings="dcnv2"),
    "autoint": BackboneTraits(uses_mlp=True, needs_equal_dims=True, settings="autoint",
                              mlp_switch="deep"),
    "finalmlp": BackboneTraits(uses_mlp=True, settings="finalmlp"),
    "blocks": BackboneTraits(uses_blocks=True, needs_equal_dims=True, reports_flops=True),
}  # fmt: skip


#: The built-in block types of the ``blocks`` DAG: name -> the settings each reads.
BUILTIN_BLOCKS: Mapping[str, tuple[str, ...]] = {
    "mlp": ("width", "layers"),
    "dot": (),
    "fm": (),
    "cross": ("layers",),
    "efc": ("fields",),
    "cross_v2": ("layers",),
    "attention": ("layers",),
}


def block_name(index: int) -> str:
    """The name of the ``index``-th block of a DAG: ``b<index>``."""
    return f"b{index}"


def unknown_block_type(name: str, names: Sequence[str]) -> str:
    """The message for a block type not among ``names``, with the closest match."""
    from searchengine.errors import did_you_mean

    return f"unknown block type {name!r}{did_you_mean(name, names)} (choices: {', '.join(names)})"


def unknown_block_input(name: str, index: int, known: Sequence[str]) -> str:
    """The message for an input block ``index`` cannot read."""
    from searchengine.errors import did_you_mean

    if name.startswith("b") and name[1:].isdigit() and int(name[1:]) >= index:
        return (
            f"{block_name(index)} cannot read {name}: a block reads raw inputs and earlier "
            "blocks only (the index order keeps the DAG acyclic)"
        )
    if name == "dense":
        return "no dense input: the data has no numerical fields"
    return f"unknown input {name!r}{did_you_mean(name, known)} (choices: {', '.join(known)})"


def literal_raw(chosen: object, names: Sequence[str]) -> set[str]:
    """The numerical fields of ``names`` that ``model.embedding.numerical`` (``chosen``:
    a method, a map of them, or a search expression) makes ``raw`` for sure."""
    if isinstance(chosen, str):
        return set(names) if chosen == RAW else set()
    if isinstance(chosen, Mapping):
        return {name for name, method in chosen.items() if method == RAW and name in names}
    return set()
