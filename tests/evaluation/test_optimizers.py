"""The optimizers of searchengine: GRDA (exact zeros for noise, a signal survives) and the
row-sparse Adam of large embedding tables (the update of torch.optim.SparseAdam)."""

from __future__ import annotations

import pytest
import torch

from searchengine.evaluation.grda import GRDA


def test_one_step_is_the_soft_threshold_of_the_accumulator() -> None:
    w = torch.nn.Parameter(torch.tensor([0.6, -0.6, 0.01]))
    opt = GRDA([w], lr=0.1, c=0.5, mu=0.7)
    w.grad = torch.tensor([-1.0, 0.5, 0.0])
    opt.step()
    acc = torch.tensor([0.6, -0.6, 0.01]) - 0.1 * w.grad
    limit = 0.5 * 0.1**1.2 * 1**0.7
    expected = acc.sign() * (acc.abs() - limit).clamp(min=0)
    assert torch.allclose(w.detach(), expected)
    assert w[2].item() == 0.0  # under the threshold: exactly zero
    assert GRDA.threshold(1, 0.1, 0.5, 0.7) == pytest.approx(limit)


def test_noise_goes_to_exact_zero_and_a_signal_survives() -> None:
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.full((200,), 0.6))
    opt = GRDA([w], lr=0.05, c=1.0, mu=0.8)
    signal = torch.zeros(200)
    signal[:10] = -0.5  # a consistent push up for the first ten weights
    for _ in range(1000):
        w.grad = signal + torch.randn(200)
        opt.step()
    assert torch.all(w[:10] > 0.6)
    zeros = (w[10:] == 0).float().mean().item()
    assert zeros > 0.97, f"only {zeros:.0%} of the noise weights are exactly zero"


def test_c_zero_is_sgd_and_bad_arguments_are_refused() -> None:
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = GRDA([w], lr=0.1, c=0.0)
    for _ in range(3):
        w.grad = torch.tensor([1.0, -1.0])
        opt.step()
    assert torch.allclose(w.detach(), torch.tensor([0.7, 2.3]))
    with pytest.raises(ValueError, match="`lr > 0` must hold, got lr=0"):
        GRDA([w], lr=0)
    with pytest.raises(ValueError, match="`0 < mu <= 1` must hold, got mu=1.5"):
        GRDA([w], mu=1.5)
    table = torch.nn.Embedding(5, 2, sparse=True)
    table(torch.tensor([1])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse"):
        GRDA(table.parameters()).step()


def test_row_sparse_adam_is_sparse_adam() -> None:
    from searchengine.evaluation._sparse_adam import RowSparseAdam

    torch.manual_seed(0)
    tables = [torch.nn.Embedding(50, 3, sparse=True) for _ in range(2)]
    tables[1].load_state_dict(tables[0].state_dict())
    ours = RowSparseAdam([tables[0].weight], lr=0.01)
    theirs = torch.optim.SparseAdam([tables[1].weight], lr=0.01)
    for _ in range(5):
        ids = torch.randint(0, 12, (40, 4))  # many repeated ids, as in a real batch
        for table, opt in zip(tables, (ours, theirs), strict=True):
            opt.zero_grad()
            (table(ids) * torch.arange(3.0)).pow(2).sum().backward()
            opt.step()
    assert torch.allclose(tables[0].weight, tables[1].weight, atol=1e-6)


def test_row_sparse_adam_is_sparse_adam_on_several_tables_and_steps() -> None:
    """A one-column table (flat gathers) next to a wider one in one optimizer, and a
    table that sits a step out (its step count falls behind): each as SparseAdam."""
    from searchengine.evaluation._sparse_adam import RowSparseAdam

    torch.manual_seed(1)
    shapes = [(40, 1), (30, 4)]
    ours_tables = [torch.nn.Embedding(*shape, sparse=True) for shape in shapes]
    theirs_tables = [torch.nn.Embedding(*shape, sparse=True) for shape in shapes]
    for a, b in zip(ours_tables, theirs_tables, strict=True):
        b.load_state_dict(a.state_dict())
    ours = RowSparseAdam([t.weight for t in ours_tables], lr=0.05, eps=1e-3)
    theirs = torch.optim.SparseAdam([t.weight for t in theirs_tables], lr=0.05, eps=1e-3)
    for step in range(6):
        ids = torch.randint(0, 10, (32, 3))
        for tables, opt in ((ours_tables, ours), (theirs_tables, theirs)):
            opt.zero_grad(set_to_none=True)
            used = tables if step != 2 else tables[:1]  # the wide table sits step 2 out
            sum(t(ids).pow(2).sum() * (i + 1) for i, t in enumerate(used)).backward()
            opt.step()
    for a, b in zip(ours_tables, theirs_tables, strict=True):
        torch.testing.assert_close(a.weight, b.weight, atol=1e-6, rtol=1e-5)
    assert ours.state[ours_tables[1].weight]["step"] == 5
