"""Cheaper candidate training during a search (``search.fidelity``, AutoCTR's speed-ups).

* ``subsample``: candidates train on one seeded subset of the train rows (validation and
  test stay whole, so candidates are measured alike);
* ``epochs``: candidates train for this many epochs instead of ``train.epochs``;
* ``warm_start``: every trained candidate's weights are saved as
  ``<weights dir>/<trial number>.pt``; a candidate whose trial names a parent (the
  trial system attribute :data:`~searchengine.spec.architecture.PARENT_ATTR`,
  set by evolution's ``dag`` mutation) starts from the parent's weights wherever a
  parameter has the same name and shape, and from its fresh initialization elsewhere.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Any

import optuna
import torch
from torch import nn

from searchengine._optuna import PARENT_ATTR, trial_id
from searchengine.evaluation.trainer import Tensors
from searchengine.spec.format import Fidelity, TrainSpec

__all__ = ["parent_of", "save_weights", "subsample", "train_spec", "warm_start"]

_log = logging.getLogger(__name__)


def subsample(tensors: Tensors, fraction: float, seed: int) -> Tensors:
    """``tensors`` with the train split cut to ``ceil(fraction * n)`` rows, chosen by
    ``seed`` (the same rows for every candidate)."""
    if fraction >= 1.0:
        return tensors
    train = tensors.splits["train"]
    keep = max(1, math.ceil(fraction * train.numel()))
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randperm(train.numel(), generator=generator)[:keep].sort().values
    splits = {**tensors.splits, "train": train[chosen.to(train.device)]}
    return dataclasses.replace(tensors, splits=splits)


def train_spec(train: TrainSpec, fidelity: Fidelity) -> TrainSpec:
    """``train`` with the candidates' epochs."""
    if fidelity.epochs is None:
        return train
    return train.model_copy(update={"epochs": fidelity.epochs})


def parent_of(trial: optuna.trial.BaseTrial | None) -> int | None:
    """The trial number of the candidate's parent, if its sampler recorded one."""
    if not isinstance(trial, optuna.Trial):
        return None
    parent = trial.storage.get_trial_system_attrs(trial_id(trial)).get(PARENT_ATTR)
    return None if parent is None else int(parent)


def save_weights(model: nn.Module, folder: Path, number: int) -> None:
    """Keep a trained candidate's weights for its children."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(state, folder / f"{number}.pt")


def warm_start(model: nn.Module, folder: Path, parent: int) -> dict[str, Any]:
    """Copy the parent's weights into ``model`` where names and shapes match.

    Returns:
        ``{"parent": n, "copied": tensors copied, "of": tensors of the model}``; nothing is
        copied when the parent's weights are not on disk (e.g. it failed).
    """
    path = folder / f"{parent}.pt"
    own = model.state_dict()
    if not path.exists():
        _log.info("no weights of parent trial %d; training from scratch", parent)
        return {"parent": parent, "copied": 0, "of": len(own)}
    saved = torch.load(path, map_location="cpu", weights_only=True)
    same = {k: v for k, v in saved.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(same, strict=False)
    return {"parent": parent, "copied": len(same), "of": len(own)}
