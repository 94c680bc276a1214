from __future__ import annotations

import itertools

import pytest
import torch

from searchengine.models.interaction import (
    CrossNetwork,
    FMInteraction,
    FwFMInteraction,
    PairwiseProducts,
    all_pairs_sum,
)


def _explicit(e: torch.Tensor, pairs: list[tuple[int, int]]) -> torch.Tensor:
    return torch.stack([(e[:, i] * e[:, j]).sum(-1) for i, j in pairs], dim=1)


def test_fm_trick_equals_explicit_pairwise_sum() -> None:
    torch.manual_seed(0)
    e = torch.randn(7, 6, 5, dtype=torch.float64)
    pairs = list(itertools.combinations(range(6), 2))
    torch.testing.assert_close(all_pairs_sum(e), _explicit(e, pairs).sum(1))
    torch.testing.assert_close(FMInteraction(6)(e), _explicit(e, pairs).sum(1))


@pytest.mark.parametrize("n_pairs", [2, 5, 12, 15])  # gather below 6 pairs, Gram above
def test_pairwise_products_equal_explicit_products(n_pairs: int) -> None:
    torch.manual_seed(0)
    e = torch.randn(4, 6, 3, dtype=torch.float64, requires_grad=True)
    pairs = list(itertools.combinations(range(6), 2))[:n_pairs]
    products = PairwiseProducts(pairs, 6)
    out = products(e)
    torch.testing.assert_close(out, _explicit(e, pairs))
    (grad,) = torch.autograd.grad(out.sum(), e)
    (expected,) = torch.autograd.grad(_explicit(e, pairs).sum(), e)
    torch.testing.assert_close(grad, expected)


def test_masked_fm_sums_only_kept_pairs() -> None:
    torch.manual_seed(0)
    e = torch.randn(3, 4, 2)
    all_pairs = list(itertools.combinations(range(4), 2))
    kept = [(0, 2), (1, 3)]
    torch.testing.assert_close(FMInteraction(4, kept)(e), _explicit(e, kept).sum(1))
    torch.testing.assert_close(FMInteraction(4, all_pairs)(e), FMInteraction(4)(e))
    assert torch.equal(FMInteraction(4, [])(e), torch.zeros(3))


def test_fwfm_weights_pairs_and_starts_as_fm() -> None:
    torch.manual_seed(0)
    e = torch.randn(3, 4, 2)
    pairs = list(itertools.combinations(range(4), 2))
    fwfm = FwFMInteraction(4, pairs)
    torch.testing.assert_close(fwfm(e), all_pairs_sum(e))
    with torch.no_grad():
        fwfm.weight.copy_(torch.arange(6.0))
    torch.testing.assert_close(fwfm(e), _explicit(e, pairs) @ torch.arange(6.0))


def test_pair_positions_are_checked() -> None:
    with pytest.raises(ValueError, match="pair positions"):
        PairwiseProducts([(0, 4)], 4)


def test_cross_network_follows_the_dcn_formula() -> None:
    torch.manual_seed(0)
    cross = CrossNetwork(5, 3)
    with torch.no_grad():
        cross.bias.normal_()
    x0 = torch.randn(4, 5)
    x = x0
    for layer in range(3):
        w, b = cross.weight[layer], cross.bias[layer]
        x = x0 * (x @ w)[:, None] + b + x
    torch.testing.assert_close(cross(x0), x)
    assert torch.equal(CrossNetwork(5, 0)(x0), x0)
