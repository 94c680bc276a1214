"""The settings of the dcnv2, autoint and finalmlp backbones (``model.dcnv2``,
``model.autoint``, ``model.finalmlp``).

Every scalar slot accepts a literal or a search expression, as the rest of ``model:``;
a backbone reads only its own section, so when the backbone is a choice each section's
decisions are conditioned on the backbones that read it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from searchengine.spec.expressions import NonNegInt, PosInt, slot

__all__ = ["AutoIntSpec", "DCNv2Spec", "FinalMLPSpec"]

_IntSlot = slot(PosInt, ranges=("int",))
_NonNegIntSlot = slot(NonNegInt, ranges=("int",))
_StrSlot = slot(str)
_BoolSlot = slot(bool)
_LayersSlot = slot(list[_IntSlot], choice_of=list[PosInt])  # type: ignore[valid-type]

#: How dcnv2 joins its cross network and its MLP.
DCNV2_STRUCTURES = ("parallel", "stacked")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DCNv2Spec(_Model):
    """DCN-V2 (DCN-M, WWW'21): cross layers ``x_{l+1} = x_0 * (W_l x_l + b_l) + x_l``."""

    layers: _IntSlot = Field(3, description="Cross layers.")  # type: ignore[valid-type]
    experts: _IntSlot = Field(  # type: ignore[valid-type]
        1, description="K: a gated mixture of K experts per cross layer (1: no mixture)."
    )
    rank: _NonNegIntSlot = Field(  # type: ignore[valid-type]
        0, description="r: each expert's W as U (r x r) V^T, low rank (0: a full-rank W)."
    )
    structure: _StrSlot = Field(  # type: ignore[valid-type]
        "parallel",
        description="parallel (cross network and model.mlp side by side) or stacked (the "
        "MLP reads the cross network's output).",
    )


class AutoIntSpec(_Model):
    """AutoInt (CIKM'19): multi-head self-attention over the field embeddings."""

    layers: _IntSlot = Field(3, description="Attention layers.")  # type: ignore[valid-type]
    heads: _IntSlot = Field(2, description="Attention heads per layer.")  # type: ignore[valid-type]
    dim: _IntSlot = Field(16, description="Width of each head.")  # type: ignore[valid-type]
    residual: _BoolSlot = Field(  # type: ignore[valid-type]
        True, description="Add a linear map of each layer's input to its output."
    )
    deep: _BoolSlot = Field(  # type: ignore[valid-type]
        False, description="AutoInt+: add model.mlp over the concatenated embeddings."
    )


class FinalMLPSpec(_Model):
    """FinalMLP (AAAI'23): two MLP streams, feature gating, bilinear fusion."""

    layers: _LayersSlot = Field(  # type: ignore[valid-type]
        [256, 128],
        description="Hidden widths of the second stream (the first is model.mlp).",
    )
    gate: _BoolSlot = Field(  # type: ignore[valid-type]
        True, description="Feature gating: each stream scales its input by its own gate."
    )
    gate_width: _IntSlot = Field(  # type: ignore[valid-type]
        64, description="The hidden width of each gate's MLP."
    )
    heads: _IntSlot = Field(  # type: ignore[valid-type]
        1, description="Heads of the bilinear fusion: each stream cut into this many chunks."
    )
