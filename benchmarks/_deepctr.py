"""DeepCTR-Torch's DeepFM on our encoded data, measured like our evaluator.

DeepCTR-Torch is installed for the benchmarks only (see ``benchmarks/README.md``); it
is used as published, with no patch: version 0.3.0 runs unchanged on torch 2.13 and
numpy 2. It needs ``requests`` at import, for a version check in a thread.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from _measure import Run, StepClock, others_cpu, peak_memory

from searchengine.data import EncodedData
from searchengine.evaluation import auc

__all__ = ["INSTALL_HINT", "DeepCTRSetup", "import_deepctr", "run_deepctr"]

INSTALL_HINT = (
    "DeepCTR-Torch is needed for this benchmark (it is not a dependency of searchengine). "
    "Install it without touching torch:\n"
    "    pip install requests\n"
    "    pip install --no-deps deepctr-torch==0.3.0"
)
_PREDICT_BATCH = 32768


def import_deepctr() -> Any:
    """The DeepCTR-Torch modules, or exit with how to install them."""
    before = set(threading.enumerate())
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            from deepctr_torch import callbacks, inputs, models

            # Its import starts a thread that asks PyPI for a newer version and prints
            # when it cannot: let it finish here, silenced, before anything is timed.
            for thread in set(threading.enumerate()) - before:
                thread.join(timeout=30)
    except ImportError as exc:
        sys.exit(f"{INSTALL_HINT}\n(import failed: {exc})")
    return argparse.Namespace(callbacks=callbacks, inputs=inputs, models=models)


@dataclass
class DeepCTRSetup:
    """How DeepCTR-Torch's DeepFM is built and trained."""

    embedding_dim: int
    hidden_units: tuple[int, ...]
    lr: float
    batch_size: int
    epochs: int
    seed: int
    #: DeepCTR-Torch's own defaults are 1e-5 for both; 0 trains the same objective as ours.
    l2: dict[str, float] = field(
        default_factory=lambda: {"l2_reg_linear": 0.0, "l2_reg_embedding": 0.0}
    )


def _inputs(data: EncodedData, dim: int) -> tuple[list[Any], dict[str, np.ndarray]]:
    """Feature columns and one float32 matrix per split: our categorical ids (with our
    vocabulary sizes) as SparseFeat, then our numerical values as DenseFeat."""
    deepctr = import_deepctr()
    cats, nums = data.schema.categorical, data.schema.numerical
    columns: list[Any] = [
        deepctr.inputs.SparseFeat(f.name, f.vocab_size, embedding_dim=dim) for f in cats
    ]
    columns += [deepctr.inputs.DenseFeat(f.name, 1) for f in nums]
    # DeepCTR-Torch feeds every input as float; ids below 2**24 are exact in float32.
    assert all(f.vocab_size < 2**24 for f in cats)
    matrix = np.concatenate(
        [
            data.cat[:, [f.column for f in cats]].astype(np.float32),
            data.num[:, [f.column for f in nums]].astype(np.float32),
        ],
        axis=1,
    )
    return columns, {name: matrix[idx] for name, idx in data.splits.items()}


def _epoch_timer(base: type) -> Any:
    """A callback summing the seconds from ``on_epoch_begin`` to ``on_epoch_end``: the
    training loop alone, as ``fit`` is given no validation data."""

    class EpochTimer(base):  # type: ignore[misc, valid-type]
        seconds = 0.0
        _start = 0.0

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.seconds += time.perf_counter() - self._start

    return EpochTimer()


def _predict(model: Any, x: np.ndarray) -> np.ndarray:
    return model.predict([x], _PREDICT_BATCH).ravel()


def _build(columns: list[Any], setup: DeepCTRSetup) -> Any:
    deepctr = import_deepctr()
    model = deepctr.models.DeepFM(
        columns,
        columns,
        dnn_hidden_units=setup.hidden_units,
        seed=setup.seed,
        device="cpu",
        **setup.l2,
    )
    model.compile(torch.optim.Adam(model.parameters(), lr=setup.lr), "binary_crossentropy")
    return model


def run_deepctr(
    data: EncodedData, setup: DeepCTRSetup, *, name: str = "DeepCTR-Torch", warm_up: bool = False
) -> Run:
    """Train DeepCTR-Torch's DeepFM, validating after each epoch; keep the best epoch.

    With ``warm_up``, train on 4 batches only (first-use costs, not measured).
    """
    deepctr = import_deepctr()
    columns, x = _inputs(data, setup.embedding_dim)
    y = {name: data.label[idx].astype(np.float32) for name, idx in data.splits.items()}
    if warm_up:
        x = {name: rows[: 4 * setup.batch_size] for name, rows in x.items()}
        y = {name: labels[: 4 * setup.batch_size] for name, labels in y.items()}
    timer, clock = _epoch_timer(deepctr.callbacks.Callback), StepClock()
    valid: list[float] = []
    best: tuple[float, int, dict[str, Any]] = (-1.0, 0, {})
    quiet = contextlib.redirect_stdout(io.StringIO())  # fit() prints, even with verbose=0
    with peak_memory() as memory, others_cpu() as others, quiet:
        model = _build(columns, setup)
        clock.attach(model)
        for epoch in range(1 if warm_up else setup.epochs):
            model.fit(
                [x["train"]], y["train"], setup.batch_size, epochs=1, verbose=0, callbacks=[timer]
            )
            valid.append(auc(y["valid"], _predict(model, x["valid"])))
            if valid[-1] > best[0]:
                best = (valid[-1], epoch, copy.deepcopy(model.state_dict()))
        model.load_state_dict(best[2])
        test_auc = auc(y["test"], _predict(model, x["test"]))
    return Run(
        name,
        samples_per_s=len(y["train"]) * len(valid) / timer.seconds,
        step_samples_per_s=clock.samples_per_s(setup.batch_size),
        peak_mib=memory["peak_mib"],
        test_auc=test_auc,
        train_seconds=timer.seconds,
        best_epoch=best[1] + 1,
        valid_auc=valid,
        others_cpu=others["share"],
    )
