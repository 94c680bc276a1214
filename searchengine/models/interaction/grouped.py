"""Grouped high-order interactions (AutoGroup, SIGIR'20).

For each order ``p`` there are ``K`` feature sets; set ``s`` of order ``p`` holds some of
the fields, each with a learned weight ``w_si``. Its representation and its order-``p``
interaction are::

    g_s = sum_{i in s} w_si e_i                          (B, D)
    I_s = sum_d [ (g_s)^p - sum_{i in s} (w_si e_i)^p ]_d   (B,)

(elementwise powers; for ``p = 2`` this is ``2 sum_{i<j in s} w_si w_sj <e_i, e_j>``, an
FM over the set, and for ``p = 3`` it is dominated by the set's triple products). The
layer returns every set's ``I_s``, batch-normalized so that orders of different scale
meet, and a backbone adds a learned linear combination of them to its logit.

Membership is a ``(S, F)`` matrix of 0/1 (fixed groups of a spec) or of probabilities (the
relaxation the ``differentiable`` strategy trains, see :meth:`GroupedInteraction.forward`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

__all__ = ["GroupedInteraction"]


class GroupedInteraction(nn.Module):
    """Order-``p`` interactions of feature sets.

    Args:
        field_names: the fields of the input's field axis, in order.
        members: order -> its sets, each a list of field names (a set may be empty).

    Attributes:
        orders: ``(S,)`` the order of each set, sets of one order together.
        membership: ``(S, F)`` buffer, 1 where a field is in a set.
        weights: ``(S, F)`` the fields' weights in each set (``w_si``), ones at the start.

    Raises:
        ValueError: an order below 2, a field that is not in ``field_names``, no set.

    Shapes:
        ``(B, F, D)`` -> ``(B, S)``.
    """

    def __init__(self, field_names: Sequence[str], members: Mapping[int, Sequence[Sequence[str]]]):
        super().__init__()
        position = {name: i for i, name in enumerate(field_names)}
        orders: list[int] = []
        rows: list[Tensor] = []
        for order in sorted(int(p) for p in members):
            if order < 2:
                raise ValueError(f"interaction orders must be >= 2, got {order}")
            for fields in members[order]:
                unknown = [f for f in fields if f not in position]
                if unknown:
                    raise ValueError(f"unknown field(s) {unknown} in a set of order {order}")
                row = torch.zeros(len(field_names))
                row[[position[f] for f in fields]] = 1.0
                orders.append(order)
                rows.append(row)
        if not rows:
            raise ValueError("members must hold at least one set")
        self.field_names = list(field_names)
        self.order_list = orders
        self.register_buffer("membership", torch.stack(rows))  # (S, F)
        self.weights = nn.Parameter(torch.ones(len(rows), len(field_names)))  # (S, F)
        self.norm = nn.BatchNorm1d(len(rows))
        self._spans = _spans(orders)

    @property
    def n_sets(self) -> int:
        return len(self.order_list)

    def forward(self, e: Tensor, membership: Tensor | None = None) -> Tensor:
        """Every set's interaction, normalized: ``(B, S)``.

        Args:
            e: ``(B, F, D)`` the field vectors, at one width.
            membership: ``(S, F)`` soft membership to use instead of the fixed one (a
                relaxed search); gradients flow into it.
        """
        m = self.membership if membership is None else membership
        w = (m * self.weights).unsqueeze(-1)  # (S, F, 1)
        out = []
        for order, start, stop in self._spans:
            x = e.unsqueeze(1) * w[start:stop]  # (B, S_p, F, D)
            g = x.sum(dim=2)  # (B, S_p, D)
            out.append((g.pow(order) - x.pow(order).sum(dim=2)).sum(dim=-1))  # (B, S_p)
        return self.norm(torch.cat(out, dim=1))  # (B, S)

    def sets(self) -> dict[int, list[list[str]]]:
        """Order -> its sets as lists of field names (the concrete ``members``)."""
        out: dict[int, list[list[str]]] = {}
        for order, row in zip(self.order_list, self.membership.tolist(), strict=True):
            out.setdefault(order, []).append(
                [name for name, m in zip(self.field_names, row, strict=True) if m > 0.5]
            )
        return out

    @staticmethod
    def count_params(n_sets: int, n_fields: int) -> int:
        """Field weights and the batch norm's scale and shift."""
        return n_sets * n_fields + 2 * n_sets


def _spans(orders: Sequence[int]) -> list[tuple[int, int, int]]:
    """``(order, start, stop)`` of each run of sets of one order."""
    spans: list[tuple[int, int, int]] = []
    for i, order in enumerate(orders):
        if spans and spans[-1][0] == order:
            spans[-1] = (order, spans[-1][1], i + 1)
        else:
            spans.append((order, i, i + 1))
    return spans
