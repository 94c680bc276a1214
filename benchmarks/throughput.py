"""Training throughput, peak memory and test AUC: our evaluator against DeepCTR-Torch.

Both frameworks train the same DeepFM (16-dim embeddings, MLP 256-128, Adam lr 1e-3, one
batch size, a fixed number of epochs, no regularization) on the same encoded arrays and
the same train / valid / test split, one after the other in this process:

- MovieLens-100K (RecBole atomic files, ``--movielens PATH``);
- synthetic Criteo-shaped data: our ``synthetic`` dataset, 26 categorical and 13
  numerical fields, ``--rows`` rows (1,000,000).

What is measured, identically for both:

- samples/s: training rows x epochs / seconds spent in the training passes alone (data
  loading and encoding are cached and excluded; so is the validation after each epoch);
- peak memory: a background thread samples the resident set size (``/proc/self/statm``)
  every 5 ms while the framework trains, validates each epoch and predicts the test split;
  reported is the peak minus the resident size just before (after ``gc`` and
  ``malloc_trim``), so the encoded data, loaded beforehand, is not counted;
- test AUC of the epoch with the best validation AUC, computed by the same function.

DeepCTR-Torch is not a dependency of ``searchengine``; install it for the benchmark only::

    pip install requests
    pip install --no-deps deepctr-torch==0.3.0

(``--no-deps`` keeps the installed torch; deepctr-torch also needs tqdm and scikit-learn.)

Run from the repository root::

    python benchmarks/throughput.py            # the full run (about 10 minutes on 2 cores)
    python benchmarks/throughput.py --quick    # a smoke run (about a minute)
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import ctypes
import datetime
import gc
import io
import os
import platform
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from searchengine.evaluation import Evaluator, auc
from searchengine.searchspace import SearchSpace, parse_spec

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MOVIELENS = REPO.parent / "shared" / "datasets" / "movielens-100k"
INSTALL_HINT = (
    "DeepCTR-Torch is needed for this benchmark (it is not a dependency of searchengine). "
    "Install it without touching torch:\n"
    "    pip install requests\n"
    "    pip install --no-deps deepctr-torch==0.3.0"
)
EMBEDDING_DIM = 16
MLP_LAYERS = [256, 128]
LR = 1.0e-3
SEED = 2024
PREDICT_BATCH = 32768
MEASURED = (
    "Measured: samples/s = training rows x epochs / seconds of the training passes only "
    "(no data loading, no validation); median-step samples/s = batch size / median time "
    "between the starts of consecutive training steps (robust to bursts of load from "
    "other processes); peak memory = peak RSS (sampled every 5 ms from "
    "/proc/self/statm) while the framework builds, trains, validates each epoch and "
    "predicts the test split, minus the RSS just before (data already loaded); test AUC "
    "of the epoch with the best validation AUC."
)


@dataclass
class Case:
    """One dataset of the benchmark and how both frameworks train on it."""

    title: str
    data: dict[str, Any]
    epochs: int
    sparse: bool


@dataclass
class Run:
    """What one framework measured on one dataset."""

    framework: str
    samples_per_s: float
    step_samples_per_s: float
    peak_mib: float
    test_auc: float
    train_seconds: float
    best_epoch: int


# ----------------------------------------------------------------------------- memory


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _release_memory() -> None:
    """Return freed heap pages to the OS so that the next baseline is honest."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc: the baseline may then include freed pages
        pass


@contextlib.contextmanager
def peak_rss(interval: float = 0.005) -> Iterator[dict[str, float]]:
    """Sample RSS in a thread; on exit, ``out["peak_mib"]`` is peak minus baseline."""
    _release_memory()
    baseline = _rss_bytes()
    out = {"peak_mib": 0.0}
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            done.wait(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        done.set()
        thread.join()
        peak[0] = max(peak[0], _rss_bytes())
        out["peak_mib"] = (peak[0] - baseline) / 2**20


class StepClock:
    """When each training step began: a forward pre-hook on the model (both frameworks
    call the model once per step; calls in eval mode, i.e. validation, are ignored).

    The median gap between steps is the time of one whole step (batch, forward,
    backward, update) and shrugs off bursts of load from other processes.
    """

    def __init__(self) -> None:
        self.starts: list[float] = []

    def attach(self, model: torch.nn.Module) -> None:
        model.register_forward_pre_hook(self._hook)

    def _hook(self, model: torch.nn.Module, args: Any) -> None:
        if model.training:
            self.starts.append(time.perf_counter())

    def samples_per_s(self, batch_size: int) -> float:
        """``batch_size`` / the median seconds of a step."""
        gaps = np.diff(self.starts)
        return batch_size / float(np.median(gaps)) if gaps.size else float("nan")


# ------------------------------------------------------------------------------- ours


class _ClockedEvaluator(Evaluator):
    """Our evaluator, with a :class:`StepClock` on every model it builds."""

    clock: StepClock

    def build(self, arch: Any) -> torch.nn.Module:
        model = super().build(arch)
        self.clock.attach(model)
        return model


def make_evaluator(case: Case, batch_size: int, threads: int) -> tuple[Evaluator, Any]:
    """Our evaluator and the fixed DeepFM architecture; the data is loaded (cached)."""
    spec = parse_spec(
        {
            "name": "throughput",
            "data": case.data,
            "model": {
                "backbone": "deepfm",
                "embedding": {"dim": EMBEDDING_DIM},
                "mlp": {"layers": MLP_LAYERS},
            },
            "train": {
                "optimizer": "adam",
                "lr": LR,
                "batch_size": batch_size,
                "epochs": case.epochs,
                "patience": case.epochs,  # never stop early: both train every epoch
                "sparse": case.sparse,
                "threads": threads,
            },
            "search": {"seed": SEED},
        }
    )
    evaluator = _ClockedEvaluator(spec)
    evaluator.prepare()
    evaluator.tensors(torch.device("cpu"))  # loading, not training: before the baseline
    return evaluator, SearchSpace.from_spec(spec).fixed({})


def run_ours(evaluator: _ClockedEvaluator, arch: Any) -> Run:
    """Train with ``Evaluator.evaluate``; time the training passes from its history."""
    evaluator.clock = StepClock()
    with peak_rss() as memory:
        result = evaluator.evaluate(arch)
    seconds = sum(row["train_seconds"] for row in result.history)
    rows = len(evaluator.data.splits["train"]) * len(result.history)
    best = max(result.history, key=lambda row: row["auc"])
    return Run(
        "searchengine",
        rows / seconds,
        evaluator.clock.samples_per_s(int(arch.train.batch_size)),
        memory["peak_mib"],
        result.test_metrics["auc"],
        seconds,
        int(best["epoch"]) + 1,
    )


# ---------------------------------------------------------------------------- deepctr


def import_deepctr() -> Any:
    """Import DeepCTR-Torch or exit with how to install it."""
    try:
        import deepctr_torch  # noqa: F401
        from deepctr_torch import callbacks, inputs, models
    except ImportError as exc:
        sys.exit(f"{INSTALL_HINT}\n(import failed: {exc})")
    return argparse.Namespace(callbacks=callbacks, inputs=inputs, models=models)


def deepctr_arrays(evaluator: Evaluator) -> tuple[list[Any], dict[str, np.ndarray]]:
    """Our encoded data as DeepCTR-Torch input: feature columns and one float32 matrix
    per split (categorical ids, then numerical values; ids < 2**24 are exact)."""
    deepctr = import_deepctr()
    data = evaluator.data
    columns: list[Any] = [
        deepctr.inputs.SparseFeat(f.name, f.vocab_size, embedding_dim=EMBEDDING_DIM)
        for f in data.schema.categorical
    ]
    columns += [deepctr.inputs.DenseFeat(f.name, 1) for f in data.schema.numerical]
    cat_cols = [f.column for f in data.schema.categorical]
    num_cols = [f.column for f in data.schema.numerical]
    assert max((f.vocab_size for f in data.schema.categorical), default=0) < 2**24
    matrix = np.concatenate(
        [data.cat[:, cat_cols].astype(np.float32), data.num[:, num_cols].astype(np.float32)],
        axis=1,
    )
    return columns, {name: matrix[idx] for name, idx in data.splits.items()}


def _epoch_timer(base: type) -> Any:
    """A DeepCTR-Torch callback summing the seconds from ``on_epoch_begin`` to
    ``on_epoch_end``: the training loop alone (``fit`` is given no validation data)."""

    class EpochTimer(base):  # type: ignore[misc, valid-type]
        seconds = 0.0
        _start = 0.0

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.seconds += time.perf_counter() - self._start

    return EpochTimer()


def run_deepctr(evaluator: Evaluator, case: Case, batch_size: int) -> Run:
    """Train DeepCTR-Torch's DeepFM for ``case.epochs`` epochs, validating after each."""
    deepctr = import_deepctr()
    columns, x = deepctr_arrays(evaluator)
    splits = evaluator.data.splits
    y = {name: evaluator.data.label[idx].astype(np.float32) for name, idx in splits.items()}
    timer = _epoch_timer(deepctr.callbacks.Callback)
    clock = StepClock()
    best: tuple[float, int, dict[str, Any]] = (-1.0, 0, {})
    with peak_rss() as memory, contextlib.redirect_stdout(io.StringIO()):
        model = deepctr.models.DeepFM(
            columns,
            columns,
            dnn_hidden_units=tuple(MLP_LAYERS),
            l2_reg_linear=0.0,  # ours has no regularization either
            l2_reg_embedding=0.0,
            seed=SEED,
            device="cpu",
        )
        clock.attach(model)
        model.compile(torch.optim.Adam(model.parameters(), lr=LR), "binary_crossentropy")
        for epoch in range(case.epochs):
            model.fit([x["train"]], y["train"], batch_size, epochs=1, verbose=0, callbacks=[timer])
            score = auc(y["valid"], model.predict([x["valid"]], PREDICT_BATCH).ravel())
            if score > best[0]:
                best = (score, epoch, copy.deepcopy(model.state_dict()))
        model.load_state_dict(best[2])
        test_auc = auc(y["test"], model.predict([x["test"]], PREDICT_BATCH).ravel())
    rows = len(y["train"]) * case.epochs
    return Run(
        "DeepCTR-Torch",
        rows / timer.seconds,
        clock.samples_per_s(batch_size),
        memory["peak_mib"],
        test_auc,
        timer.seconds,
        best[1] + 1,
    )


# ------------------------------------------------------------------------------ report


def table(case: Case, evaluator: Evaluator, runs: list[Run], batch_size: int) -> str:
    """The markdown table of one dataset, with the ratio ours / theirs."""
    data = evaluator.data
    sizes = "/".join(f"{len(data.splits[s]):,}" for s in ("train", "valid", "test"))
    n_cat, n_num = len(data.schema.categorical), len(data.schema.numerical)
    lines = [
        f"### {case.title}",
        "",
        f"{sizes} rows (train/valid/test), {n_cat} categorical + {n_num} numerical "
        f"fields, batch {batch_size}, {case.epochs} epoch(s); searchengine trains with "
        f"`train.sparse: {str(case.sparse).lower()}`.",
        "",
        "| framework | train samples/s | median-step samples/s | peak memory (MiB) "
        "| test AUC | train s | best epoch |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        lines.append(
            f"| {run.framework} | {run.samples_per_s:,.0f} | {run.step_samples_per_s:,.0f} | "
            f"{run.peak_mib:,.0f} | "
            f"{run.test_auc:.4f} | {run.train_seconds:.1f} | {run.best_epoch} |"
        )
    ours, theirs = runs
    lines.append(
        f"| **ours / theirs** | **{ours.samples_per_s / theirs.samples_per_s:.2f}x** | "
        f"**{ours.step_samples_per_s / theirs.step_samples_per_s:.2f}x** | "
        f"{ours.peak_mib / max(theirs.peak_mib, 1e-9):.2f}x | "
        f"{ours.test_auc / theirs.test_auc:.4f}x ({ours.test_auc - theirs.test_auc:+.4f}) "
        "| | |"
    )
    return "\n".join(lines)


def machine() -> str:
    """One line about where the numbers come from."""
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return (
        f"{os.cpu_count()} cores, CPU only, {platform.python_implementation()} "
        f"{platform.python_version()}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), numpy {np.__version__}; load average "
        f"{load}; {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}"
    )


# -------------------------------------------------------------------------------- main


def cases(args: argparse.Namespace) -> list[Case]:
    """The datasets asked for on the command line."""
    out = []
    if "movielens" in args.datasets:
        out.append(
            Case(
                "MovieLens-100K",
                {"dataset": "movielens-100k", "path": str(args.movielens)},
                args.movielens_epochs,
                sparse=False,
            )
        )
    if "criteo" in args.datasets:
        out.append(
            Case(
                f"Criteo-shaped synthetic, {args.rows:,} rows",
                {
                    "dataset": "synthetic",
                    "rows": args.rows,
                    "options": {"categorical": 26, "numerical": 13},
                },
                args.criteo_epochs,
                sparse=args.criteo_sparse,
            )
        )
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--movielens",
        type=Path,
        default=DEFAULT_MOVIELENS,
        help="folder of RecBole ml-100k atomic files (default: %(default)s)",
    )
    parser.add_argument(
        "--rows",
        type=int,
        default=1_000_000,
        help="rows of the Criteo-shaped data (default: %(default)s)",
    )
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--movielens-epochs", type=int, default=5)
    parser.add_argument("--criteo-epochs", type=int, default=2)
    parser.add_argument(
        "--no-criteo-sparse",
        dest="criteo_sparse",
        action="store_false",
        help="train our side with dense Adam on the Criteo-shaped data too",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads for both")
    parser.add_argument(
        "--datasets", nargs="+", choices=["movielens", "criteo"], default=["movielens", "criteo"]
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 100,000 Criteo-shaped rows, 1 epoch each",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.movielens_epochs, args.criteo_epochs = 100_000, 1, 1
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import_deepctr()  # fail before loading any data
    torch.set_num_threads(args.threads)
    print("# Training throughput: searchengine vs DeepCTR-Torch (DeepFM)\n")
    print(f"Command: `python benchmarks/throughput.py {' '.join(sys.argv[1:])}`".rstrip())
    print(f"Machine: {machine()}\n")
    print(MEASURED)
    for case in cases(args):
        evaluator, arch = make_evaluator(case, args.batch_size, args.threads)
        runs = [run_ours(evaluator, arch), run_deepctr(evaluator, case, args.batch_size)]
        print("\n" + table(case, evaluator, runs, args.batch_size), flush=True)
    print(f"\nFinished: load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
