"""The Evaluator: the one place that trains a candidate and measures it."""

from __future__ import annotations

import copy
import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import optuna
import torch

from searchengine.errors import SearchEngineError
from searchengine.evaluation import _fidelity
from searchengine.evaluation._allocator import keep_freed_memory
from searchengine.evaluation.metrics import METRICS
from searchengine.evaluation.trainer import (
    CandidateError,
    Tensors,
    fit,
    latency_ms,
    split_metrics,
)
from searchengine.spec.architecture import Architecture
from searchengine.spec.format import Fidelity, Spec

__all__ = [
    "BaseEvaluator",
    "EpochListener",
    "Evaluator",
    "FunctionEvaluator",
    "Result",
    "make_evaluator",
]

_log = logging.getLogger(__name__)

#: Called after each training epoch: ``(trial or None, epoch, max epochs, valid metrics)``.
EpochListener = Callable[[optuna.trial.BaseTrial | None, int, int, dict[str, float]], None]


@dataclass
class Result:
    """What evaluating one Architecture measured.

    Attributes:
        metrics: validation metrics (``auc``, ``logloss``, registered metrics) and costs
            (``embedding_params``, ``params``, ``latency_ms``, ``train_seconds``, ``epochs``).
        test_metrics: the same prediction metrics on the test split.
        history: one row per epoch.
    """

    metrics: dict[str, float]
    test_metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)


class BaseEvaluator(Protocol):
    """What the engine needs of an evaluator."""

    def static_metrics(self, arch: Architecture) -> dict[str, float]:
        """Costs known before training (for early constraint checks)."""
        ...

    def evaluate(
        self,
        arch: Architecture,
        trial: optuna.trial.BaseTrial | None = None,
        *,
        report: bool = True,
    ) -> Result:
        """Train and measure ``arch``."""
        ...


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class Evaluator:
    """Trains CTR candidates on the spec's data and measures them.

    Data is loaded and encoded once per process (and cached on disk by ``searchengine.data``);
    its tensors are kept on the device for every later candidate.

    Args:
        spec: the search spec (its ``data``, ``train`` and ``search.seed`` are used).
        cache_dir: the encoded-data cache folder (default: ``$SEARCHENGINE_CACHE``).
        fidelity: cheaper candidate training (a search's ``search.fidelity``; see
            :mod:`~searchengine.evaluation._fidelity`); None trains as ``train`` says.
        weights_dir: where trained weights are kept for warm starts.

    Attributes:
        listeners: called after every epoch of every candidate (progress displays).
    """

    def __init__(
        self,
        spec: Spec,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        fidelity: Fidelity | None = None,
        weights_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.spec = spec
        self.cache_dir = cache_dir
        self.fidelity = fidelity
        self.weights_dir = Path(weights_dir) if weights_dir is not None else None
        self.seed = spec.search.seed
        self._data: Any = None
        self._tensors: Tensors | None = None
        self.listeners: list[EpochListener] = []

    def at_full_fidelity(self) -> Evaluator:
        """This evaluator training as ``train`` says (all rows, all epochs, fresh weights),
        sharing the loaded data, its tensors and listeners."""
        full = copy.copy(self)
        full.fidelity, full.weights_dir = None, None
        return full

    @property
    def data(self) -> Any:
        """The :class:`~searchengine.data.EncodedData` (loaded on first use)."""
        if self._data is None:
            from searchengine.data import load_data

            self._data = load_data(self.spec.data_or_default(), cache_dir=self.cache_dir)
        return self._data

    def prepare(self) -> None:
        """Load and encode the data now, so that data errors come before any trial."""
        _ = self.data

    def tensors(self, device: torch.device) -> Tensors:
        """The data as tensors on ``device``, loaded once; training starts from here, so
        the first call also keeps freed memory mapped (:func:`keep_freed_memory`).

        On the CPU the tensors share the memory-mapped arrays of the data cache: every
        trial of every strategy in every process on this machine reads the same pages,
        and none holds a copy."""
        keep_freed_memory()
        if self._tensors is None or self._tensors.label.device != device:
            d = self.data
            self._tensors = Tensors(
                cat=_tensor(d.cat, device),
                num=_tensor(d.num, device),
                num_missing=_tensor(d.num_missing, device),
                label=_tensor(d.label, device),
                splits={k: _tensor(v, device) for k, v in d.splits.items()},
            )
        return self._tensors

    def static_metrics(self, arch: Architecture) -> dict[str, float]:
        from searchengine.models import count_embedding_params

        return {"embedding_params": float(count_embedding_params(arch.model, self.data.schema))}

    def build(self, arch: Architecture) -> torch.nn.Module:
        """The untrained module of ``arch``, seeded, on the training device."""
        from searchengine.models import build_model

        torch.manual_seed(self.seed)
        model = build_model(arch.model, self.data.schema, sparse=arch.train.sparse)
        return model.to(_device(arch.train.device))

    def evaluate(
        self,
        arch: Architecture,
        trial: optuna.trial.BaseTrial | None = None,
        *,
        report: bool = True,
    ) -> Result:
        """Train ``arch`` with early stopping and measure it.

        Args:
            arch: the candidate.
            trial: validation AUC is reported to it after each epoch, and it is asked
                whether to prune (single-objective studies).
            report: whether to report to ``trial``.

        Raises:
            optuna.TrialPruned: the pruner stopped it.
            CandidateError: NaN loss or non-finite predictions.
        """
        if arch.train.threads:
            torch.set_num_threads(arch.train.threads)
        device = _device(arch.train.device)
        tensors, train = self.tensors(device), arch.train
        if self.fidelity is not None:
            train = _fidelity.train_spec(train, self.fidelity)
        model = self.build(arch)
        self._warm_start(model, trial)
        extra = {name: METRICS.get(name).fn for name in METRICS.names()}

        def on_epoch(epoch: int, valid: dict[str, float]) -> None:
            for listener in self.listeners:
                listener(trial, epoch, int(train.epochs), valid)
            if trial is None or not report or not math.isfinite(valid["auc"]):
                return
            trial.report(valid["auc"], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch} (valid auc {valid['auc']:.4f})")

        fitted = tensors
        if self.fidelity is not None:
            fitted = _fidelity.subsample(tensors, self.fidelity.subsample, self.seed)
        outcome = fit(model, fitted, train, seed=self.seed, metrics=extra, on_epoch=on_epoch)
        test = split_metrics(model, tensors, "test", extra, precision=train.precision)
        metrics = dict(outcome.valid)
        metrics.update(
            embedding_params=float(model.embedding_params()),
            params=float(sum(p.numel() for p in model.parameters())),
            latency_ms=latency_ms(model, tensors, precision=train.precision),
            train_seconds=outcome.seconds,
            epochs=float(len(outcome.history)),
        )
        self._describe(model, metrics, trial)
        self.last_model = model
        return Result(metrics, test, outcome.history)

    def _warm_start(self, model: torch.nn.Module, trial: optuna.trial.BaseTrial | None) -> None:
        """Start from the parent's weights (``search.fidelity.warm_start``)."""
        if self.fidelity is None or not self.fidelity.warm_start or self.weights_dir is None:
            return
        parent = _fidelity.parent_of(trial)
        if parent is not None and trial is not None:
            trial.set_user_attr(
                "warm_start", _fidelity.warm_start(model, self.weights_dir, parent)
            )

    def _describe(
        self, model: Any, metrics: dict[str, float], trial: optuna.trial.BaseTrial | None
    ) -> None:
        """FLOPs, the backbone's description for reports, the weights kept for children."""
        flops = model.backbone.flops()
        if flops is not None:
            metrics["flops"] = float(flops)
        if trial is None:
            return
        for key, value in model.backbone.describe().items():
            trial.set_user_attr(key, value)
        if self.fidelity is not None and self.fidelity.warm_start and self.weights_dir is not None:
            _fidelity.save_weights(model, self.weights_dir, trial.number)


class FunctionEvaluator:
    """A generic search: ``package.module:function(values, seed) -> {metric: value}``.

    ``values`` holds every entry of the spec's ``params``, keyed ``params.<name>``.
    """

    def __init__(self, spec: Spec) -> None:
        assert spec.evaluator is not None
        self.spec = spec
        from searchengine._imports import import_reference

        function = import_reference(spec.evaluator, "evaluator")
        if not callable(function):
            raise SearchEngineError(f"evaluator: {spec.evaluator!r} is not a function")
        self.function = function

    def prepare(self) -> None:
        """Nothing to load: the function does its own work."""

    def static_metrics(self, arch: Architecture) -> dict[str, float]:
        return {}

    def evaluate(
        self,
        arch: Architecture,
        trial: optuna.trial.BaseTrial | None = None,
        *,
        report: bool = True,
    ) -> Result:
        out = self.function(arch.function_params(), self.spec.search.seed)
        if not isinstance(out, Mapping):
            raise CandidateError(f"evaluator returned {type(out).__name__}, expected a dict")
        try:
            metrics = {str(k): float(v) for k, v in out.items()}
        except (TypeError, ValueError) as exc:
            raise CandidateError(f"evaluator returned a non-numeric metric: {exc}") from None
        return Result(metrics)


def make_evaluator(spec: Spec, **kwargs: Any) -> Evaluator | FunctionEvaluator:
    """The evaluator a spec asks for."""
    return FunctionEvaluator(spec) if spec.is_generic else Evaluator(spec, **kwargs)


def _tensor(values: np.ndarray, device: torch.device) -> torch.Tensor:
    """``values`` as a tensor on ``device``, sharing its memory where it can (CPU)."""
    if not values.flags.writeable:  # a read-only map: torch wants writable memory
        values = np.array(values)
    return torch.from_numpy(np.ascontiguousarray(values)).to(device)
