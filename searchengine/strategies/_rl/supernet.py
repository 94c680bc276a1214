"""The shared supernet of weight sharing (ENAS, NIS): one full-size model, masked.

The supernet is the space's *full-size* architecture built by the Evaluator: every
embedding width at its largest candidate, every multi-size bucket at ``K`` blocks, every
field pair kept, every other decision at its default. A sampled architecture is applied
as masks, through forward hooks, so the model code stays architecture only:

* a field's width ``d`` (``model.embedding.dim``): its vector keeps its first ``d``
  columns, the rest is zero (ENAS: the largest width, sliced);
* a multi-size bucket with ``s`` blocks: the vectors of its ids keep their first ``s``
  blocks (NIS's shared embedding); ``s = 0`` zeroes them (the derived model then gives
  the bucket one shared vector);
* a dropped field pair: its product leaves the FM sum (subtracted from the all-pairs FM
  identity) or its FwFM term is masked.

Every architecture of the space is thus a sub-network sharing the supernet's weights.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from searchengine.models.embedding import FieldEmbedding
from searchengine.models.embedding.multisize import MultiSizeEmbedding
from searchengine.models.interaction.fm import FMInteraction
from searchengine.models.interaction.pairs import PairwiseProducts
from searchengine.searchspace import Decision, SearchSpace
from searchengine.searchspace._multisize import slot_value
from searchengine.strategies._shareable import is_shareable, largest

__all__ = ["SharedSupernet", "is_shareable", "largest"]


class SharedSupernet:
    """Masks that turn the full-size model into any architecture of the space.

    Life cycle: build it over the model the Evaluator built from the full-size
    architecture, call :meth:`apply` with each sampled architecture's values before its
    forward passes, and :meth:`remove` at the end (the model is then full-size again).

    Args:
        model: the full-size model (a ``CTRModel``).
        space: the search space.
        decisions: the shareable decisions that are searched.
    """

    def __init__(
        self, model: nn.Module, space: SearchSpace, decisions: Sequence[Decision]
    ) -> None:
        self.model, self.space = model, space
        self.decisions = list(decisions)
        self.embedding = next((m for m in model.modules() if isinstance(m, FieldEmbedding)), None)
        self._columns: list[Tensor] | None = None  # per width group: (F_g, D_g)
        self._blocks: Tensor | None = None  # (F * B,) blocks per (field, bucket)
        self._dropped: list[tuple[int, int]] = []
        self._kept: dict[int, Tensor] = {}  # per PairwiseProducts module: (P,)
        self._handles: list[RemovableHandle] = []
        self._hook_modules()

    def _hook_modules(self) -> None:
        for module in self.model.modules():
            if isinstance(module, FieldEmbedding):
                self._handles.append(module.register_forward_hook(self._mask_widths))
            elif isinstance(module, MultiSizeEmbedding):
                self._handles.append(module.register_forward_hook(self._mask_blocks))
            elif isinstance(module, FMInteraction) and module.products is None:
                self._handles.append(module.register_forward_hook(self._drop_from_fm))
            elif isinstance(module, PairwiseProducts):
                self._handles.append(module.register_forward_hook(self._mask_products))

    def remove(self) -> None:
        """Take the hooks off: the model is the full-size one again."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def apply(self, values: Mapping[str, Any]) -> None:
        """Mask the supernet into the architecture of ``values`` (decision -> value;
        missing shareable decisions at their full size)."""
        full = {d.name: largest(d) for d in self.decisions}
        values = {**full, **{k: v for k, v in values.items() if k in full}}
        self._columns = self._width_masks(values)
        self._blocks = self._block_limits(values)
        self._dropped = self._dropped_pairs(values)
        self._kept = {}

    # -- masks of an architecture
    def _width_masks(self, values: Mapping[str, Any]) -> list[Tensor] | None:
        e = self.embedding
        dims = [d for d in self.decisions if d.role == "dim" and d.name in values]
        if e is None or not dims:
            return None
        chosen = {d.key: int(values[d.name]) for d in dims}  # key None: every field
        masks, start = [], 0
        for width in e.widths:  # field_names holds the groups' fields, group after group
            count = sum(1 for n in e.field_names if e.dims[n] == width)
            names = e.field_names[start : start + count]
            start += count
            keep = torch.tensor([chosen.get(n, chosen.get(None, width)) for n in names])
            masks.append((torch.arange(width)[None, :] < keep[:, None]).float())  # (F_g, D_g)
        return masks

    def _block_limits(self, values: Mapping[str, Any]) -> Tensor | None:
        slot = next((s for s in self.space.slots if s.mode == "multisize"), None)
        module = next((m for m in self.model.modules() if isinstance(m, MultiSizeEmbedding)), None)
        if slot is None or module is None:
            return None
        settings = self.space.spec.model_or_default().embedding.multisize
        defaults = {d.name: largest(d) for d in self.decisions}
        sizes = slot_value(settings, slot, values, defaults)["sizes"]  # type: ignore[arg-type]
        full = [module.config.chunks] * module.config.buckets
        return torch.tensor([s for n in module.field_names for s in sizes.get(n, full)])

    def _dropped_pairs(self, values: Mapping[str, Any]) -> list[tuple[int, int]]:
        if self.embedding is None:
            return []
        out = []
        for d in self.decisions:
            if d.role == "gate" and not values.get(d.name, True):
                a, b = d.pair
                out.append((self.embedding.position(a), self.embedding.position(b)))
        return out

    # -- the hooks
    def _mask_widths(self, module: nn.Module, args: Any, groups: list[Tensor]) -> list[Tensor]:
        if self._columns is None:
            return groups
        return [g * m.to(g.device, g.dtype) for g, m in zip(groups, self._columns, strict=True)]

    def _mask_blocks(self, module: nn.Module, args: Any, out: Tensor) -> Tensor:
        if self._blocks is None:
            return out
        assert isinstance(module, MultiSizeEmbedding)
        ids = module.global_ids(args[0])  # (B, F)
        limit = self._blocks.to(out.device)[module.cell[ids]]  # (B, F)
        block = torch.arange(module.config.chunks, device=out.device)  # (K,)
        keep = (block < limit.unsqueeze(-1)).to(out.dtype)  # (B, F, K)
        return out * keep.repeat_interleave(module.config.chunk, dim=-1)  # (B, F, K * c)

    def _drop_from_fm(self, module: nn.Module, args: Any, out: Tensor) -> Tensor:
        if not self._dropped:
            return out
        e = args[0]  # (B, F, D)
        left = torch.tensor([i for i, _ in self._dropped], device=e.device)
        right = torch.tensor([j for _, j in self._dropped], device=e.device)
        dropped = (e.index_select(1, left) * e.index_select(1, right)).sum(dim=(1, 2))  # (B,)
        return out - dropped

    def _mask_products(self, module: nn.Module, args: Any, out: Tensor) -> Tensor:
        if not self._dropped:
            return out
        assert isinstance(module, PairwiseProducts)
        keep = self._kept.get(id(module))
        if keep is None:
            dropped = set(self._dropped)
            pairs = zip(module.left.tolist(), module.right.tolist(), strict=True)
            keep = torch.tensor([float((i, j) not in dropped) for i, j in pairs])
            keep = self._kept[id(module)] = keep.to(out.device)  # (P,)
        return out * keep  # (B, P)
