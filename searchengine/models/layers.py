"""Small building blocks shared by the backbones: activations and the MLP."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["ACTIVATIONS", "MLP", "make_activation"]

#: Activation names a spec may use (``model.mlp.activation``).
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "prelu": nn.PReLU,
}


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by name.

    Raises:
        ValueError: if ``name`` is not in :data:`ACTIVATIONS` (the spec compiler and
            :class:`~searchengine.models.config.ModelConfig` check user input earlier).
    """
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choices: {sorted(ACTIVATIONS)}") from None


class MLP(nn.Module):
    """Hidden layers ``Linear -> [BatchNorm1d] -> activation -> Dropout``, then an optional
    linear output layer.

    Args:
        in_dim: input width.
        layers: hidden widths; empty means no hidden layer.
        dropout: dropout probability after each hidden layer (0 disables it).
        batch_norm: add BatchNorm1d after each hidden Linear.
        activation: an :data:`ACTIVATIONS` name.
        out_dim: width of a final linear layer (no activation), or None for none.

    Attributes:
        out_dim: width of the output: ``out_dim`` if given, else the last hidden width
            (``in_dim`` when there are no hidden layers).
    """

    def __init__(
        self,
        in_dim: int,
        layers: Sequence[int],
        *,
        dropout: float = 0.0,
        batch_norm: bool = False,
        activation: str = "relu",
        out_dim: int | None = None,
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = in_dim
        for hidden in layers:
            blocks.append(nn.Linear(width, hidden, bias=not batch_norm))
            if batch_norm:
                blocks.append(nn.BatchNorm1d(hidden))
            blocks.append(make_activation(activation))
            if dropout > 0:
                blocks.append(nn.Dropout(dropout))
            width = hidden
        if out_dim is not None:
            blocks.append(nn.Linear(width, out_dim))
            width = out_dim
        self.net = nn.Sequential(*blocks)
        self.out_dim = width

    def forward(self, x: Tensor, side: Tensor | None = None) -> Tensor:
        """Map ``(B, in_dim)`` to ``(B, out_dim)``.

        ``side`` ``(B, S)``: inputs that follow ``x`` (``x`` then has ``in_dim - S``
        columns); the first layer reads them by their own product with the last ``S``
        columns of its weight, which saves concatenating them to ``x`` and computing
        their gradient."""
        if side is None:
            return self.net(x)
        first = self.net[0] if len(self.net) else None
        if not isinstance(first, nn.Linear):
            return self.net(torch.cat([x, side], dim=1))  # (B, in_dim)
        width = x.shape[1]
        h = nn.functional.linear(x, first.weight[:, :width], first.bias)  # (B, H)
        # linear's output is free; under autocast it is bfloat16, and so must be the rest
        side_weight = first.weight[:, width:].t().to(h.dtype)  # (S, H)
        h = h.addmm_(side.to(h.dtype), side_weight)  # (B, H)
        return self.net[1:](h)
