"""A plain, careful torch loop of the same DeepFM: the reference the issue's targets quote.

"Plain": no framework, only torch's own parts. "Careful": what a practitioner who knows
torch on CPU would write without writing kernels: one fused ``nn.Embedding`` for all
categorical fields (ids shifted by per-field offsets) with sparse gradients under
``torch.optim.SparseAdam``, a fused ``Adam`` for the dense weights, batches taken with
``index_select`` of a permutation (no per-row Python), the FM identity. The numerical
fields enter as DeepCTR-Torch's ``DenseFeat`` and our ``raw`` method: first-order
weights and MLP inputs.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
from _deepctr import DeepCTRSetup
from _measure import Run, StepClock, others_cpu, peak_memory
from torch import Tensor, nn

from searchengine.data import EncodedData
from searchengine.evaluation import auc

__all__ = ["run_plain"]

_PREDICT_BATCH = 32768


class PlainDeepFM(nn.Module):
    """DeepFM over fused categorical tables and raw numerical values."""

    def __init__(self, vocab_sizes: list[int], n_num: int, setup: DeepCTRSetup) -> None:
        super().__init__()
        dim, total = setup.embedding_dim, sum(vocab_sizes)
        offsets = np.concatenate([[0], np.cumsum(vocab_sizes)[:-1]])
        self.register_buffer("offsets", torch.tensor(offsets, dtype=torch.long))
        self.embedding = nn.Embedding(total, dim, sparse=True)
        self.first_order = nn.Embedding(total, 1, sparse=True)
        nn.init.normal_(self.embedding.weight, std=1e-2)
        nn.init.zeros_(self.first_order.weight)
        self.bias = nn.Parameter(torch.zeros(()))
        self.num_weight = nn.Parameter(torch.zeros(n_num))
        layers: list[nn.Module] = []
        width = len(vocab_sizes) * dim + n_num
        for hidden in setup.hidden_units:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        self.mlp = nn.Sequential(*layers, nn.Linear(width, 1))

    def forward(self, cat: Tensor, num: Tensor) -> Tensor:
        ids = cat + self.offsets  # (B, F)
        e = self.embedding(ids)  # (B, F, D)
        linear = self.bias + self.first_order(ids).sum(dim=(1, 2)) + num @ self.num_weight
        total = e.sum(dim=1)  # (B, D)
        fm = 0.5 * (total.square().sum(dim=1) - e.square().sum(dim=(1, 2)))  # (B,)
        deep = self.mlp(torch.cat([e.flatten(1), num], dim=1)).squeeze(-1)  # (B,)
        return linear + fm + deep


@torch.inference_mode()
def _predict(model: PlainDeepFM, cat: Tensor, num: Tensor) -> np.ndarray:
    model.eval()
    out = [
        torch.sigmoid(model(cat[i : i + _PREDICT_BATCH], num[i : i + _PREDICT_BATCH]))
        for i in range(0, cat.shape[0], _PREDICT_BATCH)
    ]
    model.train()
    return torch.cat(out).numpy()


def run_plain(
    data: EncodedData,
    setup: DeepCTRSetup,
    *,
    name: str = "plain torch loop",
    warm_up: bool = False,
) -> Run:
    """Train :class:`PlainDeepFM`, validating after each epoch; keep the best epoch.

    With ``warm_up``, train on 4 batches only (first-use costs, not measured).
    """
    cats, nums = data.schema.categorical, data.schema.numerical
    cat = torch.from_numpy(np.ascontiguousarray(data.cat[:, [f.column for f in cats]]))
    num = torch.from_numpy(np.ascontiguousarray(data.num[:, [f.column for f in nums]]))
    label = torch.from_numpy(data.label.astype(np.float32))
    splits = {s: torch.from_numpy(np.asarray(i, dtype=np.int64)) for s, i in data.splits.items()}
    if warm_up:
        splits = {s: idx[: 4 * setup.batch_size] for s, idx in splits.items()}
    clock, seconds = StepClock(), 0.0
    valid: list[float] = []
    best: tuple[float, int, dict] = (-1.0, 0, {})
    generator = torch.Generator().manual_seed(setup.seed)
    loss_fn = nn.BCEWithLogitsLoss()
    with peak_memory() as memory, others_cpu() as others:
        torch.manual_seed(setup.seed)
        model = PlainDeepFM([f.vocab_size for f in cats], len(nums), setup)
        clock.attach(model)
        tables = [model.embedding.weight, model.first_order.weight]
        dense = [p for p in model.parameters() if all(p is not t for t in tables)]
        optimizers = [
            torch.optim.SparseAdam(tables, lr=setup.lr),
            torch.optim.Adam(dense, lr=setup.lr, fused=True),
        ]
        train = splits["train"]
        for epoch in range(1 if warm_up else setup.epochs):
            start = time.perf_counter()
            perm = train[torch.randperm(train.numel(), generator=generator)]
            for i in range(0, perm.numel(), setup.batch_size):
                idx = perm[i : i + setup.batch_size]
                logits = model(cat.index_select(0, idx), num.index_select(0, idx))
                loss = loss_fn(logits, label.index_select(0, idx))
                for opt in optimizers:
                    opt.zero_grad(set_to_none=True)
                loss.backward()
                for opt in optimizers:
                    opt.step()
            seconds += time.perf_counter() - start
            v = splits["valid"]
            valid.append(auc(label[v].numpy(), _predict(model, cat[v], num[v])))
            if valid[-1] > best[0]:
                best = (valid[-1], epoch, copy.deepcopy(model.state_dict()))
        model.load_state_dict(best[2])
        t = splits["test"]
        test_auc = auc(label[t].numpy(), _predict(model, cat[t], num[t]))
    return Run(
        name,
        samples_per_s=train.numel() * len(valid) / seconds,
        step_samples_per_s=clock.samples_per_s(setup.batch_size),
        peak_mib=memory["peak_mib"],
        test_auc=test_auc,
        train_seconds=seconds,
        best_epoch=best[1] + 1,
        valid_auc=valid,
        others_cpu=others["share"],
    )
