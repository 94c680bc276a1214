"""Training throughput, peak memory and test AUC: our evaluator against DeepCTR-Torch.

Both frameworks train the same DeepFM (16-dim embeddings, MLP 256-128, Adam lr 1e-3, no
regularization; numerical fields as raw values in the first-order term and the MLP
input, DeepCTR-Torch's ``DenseFeat``, ours ``model.embedding.numerical: raw``) with the
same batch size and number of epochs, on the same encoded arrays and the same train /
valid / test split, one after the other in this process. Our side trains with
``train.precision: bf16`` (mixed precision) and again at ``fp32`` (``--precision``);
DeepCTR-Torch trains in float32:

- MovieLens-100K (RecBole atomic files, ``--movielens PATH``);
- Criteo-shaped data: our ``synthetic`` dataset, 26 categorical and 13 numerical
  fields, ``--rows`` rows (1,000,000).

Measured identically for both (see ``benchmarks/README.md``):

- train samples/s: training rows x epochs / seconds of the training passes alone (no
  data loading or encoding, which are cached; no validation);
- median-step samples/s: batch size / median time between the starts of consecutive
  training steps, which bursts of load from other processes barely move;
- peak memory: anonymous resident memory sampled every 5 ms while the framework builds
  its model, trains, validates after each epoch and predicts the test split, minus the
  value just before (the encoded data is loaded beforehand and not counted);
- test AUC of the epoch with the best validation AUC, computed by the same function.

Before each dataset both frameworks train 4 batches unmeasured, so that first-use
costs (thread pools, kernels) fall on neither.

DeepCTR-Torch is not a dependency of ``searchengine``; install it for the benchmark only::

    pip install requests
    pip install --no-deps deepctr-torch==0.3.0

Run from the repository root::

    python benchmarks/throughput.py            # the full run (about 9 minutes on 2 cores)
    python benchmarks/throughput.py --quick    # a smoke run (about a minute)
    python benchmarks/throughput.py --deepctr-defaults --plain  # + two more references
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from _deepctr import DeepCTRSetup, import_deepctr, run_deepctr
from _measure import Run, StepClock, machine, others_cpu, peak_memory, wait_idle
from _plain import run_plain

from searchengine.evaluation import Evaluator
from searchengine.evaluation.trainer import _native_bf16, fit
from searchengine.searchspace import SearchSpace, parse_spec

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MOVIELENS = REPO.parent / "shared" / "datasets" / "movielens-100k"
EMBEDDING_DIM = 16
MLP_LAYERS = (256, 128)
LR = 1.0e-3
SEED = 2024
_MAX_OTHERS, _RETRIES = 0.1, 3
METHOD = (
    "Same DeepFM (embeddings 16, MLP 256-128, Adam lr 1e-3, no L2; numerical fields raw "
    "in the first-order term and the MLP input, as DeepCTR-Torch's DenseFeat), same "
    "encoded arrays, split, batch size and epochs for both. *train samples/s*: training "
    "rows x epochs / "
    "seconds of the training passes only (no data loading, no validation). "
    "*median-step samples/s*: batch size / median time between the starts of consecutive "
    "training steps (robust to bursts of load from other processes). *peak memory*: peak "
    "anonymous RSS (sampled every 5 ms from /proc/self/statm) while building, training, "
    "validating each epoch and predicting the test split, minus the value just before. "
    "*test AUC*: of the epoch with the best validation AUC. *others' CPU*: share of the "
    "machine's CPU time used by other processes meanwhile (0% = quiet machine)."
)


@dataclasses.dataclass
class Case:
    """One dataset of the benchmark and how both frameworks train on it."""

    title: str
    data: dict[str, Any]
    epochs: int
    sparse: bool


# ------------------------------------------------------------------------------- ours


class _ClockedEvaluator(Evaluator):
    """Our evaluator, with a :class:`StepClock` on every model it builds."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = StepClock()

    def build(self, arch: Any) -> torch.nn.Module:
        model = super().build(arch)
        self.clock.attach(model)
        return model


def make_evaluator(
    case: Case,
    batch_size: int,
    threads: int,
    numerical: str = "raw",
    precisions: tuple[str, ...] = ("fp32",),
) -> tuple[Evaluator, dict[str, Any]]:
    """Our evaluator and the fixed DeepFM architecture at each of ``precisions``
    (``train.precision``), with the data loaded.

    ``numerical: raw`` reads the numerical fields as DeepCTR-Torch's ``DenseFeat`` do:
    first-order term and MLP input, no FM vector."""
    spec = parse_spec(
        {
            "name": "throughput",
            "data": case.data,
            "model": {
                "backbone": "deepfm",
                "embedding": {"dim": EMBEDDING_DIM, "numerical": numerical},
                "mlp": {"layers": list(MLP_LAYERS)},
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
    evaluator.tensors(torch.device("cpu"))  # loading, not training: before any baseline
    archs = {}
    for precision in precisions:
        train = spec.train.model_copy(update={"precision": precision})
        precise = spec.model_copy(update={"train": train})
        archs[precision] = SearchSpace.from_spec(precise).fixed({})
    return evaluator, archs


def warm_up_ours(evaluator: Evaluator, arch: Any) -> None:
    """Train 4 batches and validate 1, unmeasured."""
    tensors = evaluator.tensors(torch.device("cpu"))
    rows = 4 * int(arch.train.batch_size)
    small = dataclasses.replace(
        tensors, splits={name: idx[:rows] for name, idx in tensors.splits.items()}
    )
    train = arch.train.model_copy(update={"epochs": 1})
    fit(evaluator.build(arch), small, train, seed=SEED, metrics={})


def run_ours(evaluator: _ClockedEvaluator, arch: Any, name: str = "searchengine") -> Run:
    """Train with ``Evaluator.evaluate``; the training passes' seconds are in its history."""
    evaluator.clock.reset()
    with peak_memory() as memory, others_cpu() as others:
        result = evaluator.evaluate(arch)
    history = result.history
    seconds = sum(row["train_seconds"] for row in history)
    best = max(history, key=lambda row: row["auc"])
    return Run(
        name,
        samples_per_s=len(evaluator.data.splits["train"]) * len(history) / seconds,
        step_samples_per_s=evaluator.clock.samples_per_s(int(arch.train.batch_size)),
        peak_mib=memory["peak_mib"],
        test_auc=result.test_metrics["auc"],
        train_seconds=seconds,
        best_epoch=int(best["epoch"]) + 1,
        valid_auc=[row["auc"] for row in history],
        others_cpu=others["share"],
    )


# ------------------------------------------------------------------------------ report


def _ratio_row(ours: Run, theirs: Run) -> str:
    return (
        f"| **ours / {theirs.framework}** "
        f"| **{ours.samples_per_s / theirs.samples_per_s:.2f}x** "
        f"| **{ours.step_samples_per_s / theirs.step_samples_per_s:.2f}x** "
        f"| {ours.peak_mib / max(theirs.peak_mib, 1e-9):.2f}x "
        f"| {ours.test_auc / theirs.test_auc:.4f}x ({ours.test_auc - theirs.test_auc:+.4f}) "
        "| | | |"
    )


def table(
    case: Case, evaluator: Evaluator, runs: list[Run], batch_size: int, precision: str
) -> str:
    """The markdown table of one dataset: each framework, then the ratios ours / theirs."""
    data = evaluator.data
    sizes = "/".join(f"{len(data.splits[s]):,}" for s in ("train", "valid", "test"))
    lines = [
        f"### {case.title}",
        "",
        f"{sizes} rows (train/valid/test), {len(data.schema.categorical)} categorical + "
        f"{len(data.schema.numerical)} numerical fields, batch size {batch_size}, "
        f"{case.epochs} epoch(s); searchengine with `train.sparse: {str(case.sparse).lower()}`"
        f", `model.embedding.numerical: {evaluator.spec.model.embedding.numerical}` and "
        f"`train.precision: {precision}`.",
        "",
        "| framework | train samples/s | median-step samples/s | peak memory MiB "
        "| test AUC | train s | best epoch | others' CPU |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        lines.append(
            f"| {run.framework} | {run.samples_per_s:,.0f} | {run.step_samples_per_s:,.0f} "
            f"| {run.peak_mib:,.0f} | {run.test_auc:.4f} | {run.train_seconds:.1f} "
            f"| {run.best_epoch} | {run.others_cpu:.0%} |"
        )
    lines += [_ratio_row(runs[0], theirs) for theirs in runs[1:]]
    lines.append("")
    for run in runs:
        aucs = ", ".join(f"{v:.4f}" for v in run.valid_auc)
        lines.append(f"- {run.framework}: validation AUC by epoch {aucs}")
    return "\n".join(lines)


# -------------------------------------------------------------------------------- main


def cases(args: argparse.Namespace) -> list[Case]:
    """The datasets asked for on the command line."""
    out = []
    if "movielens" in args.datasets:
        data = {"dataset": "movielens-100k", "path": str(args.movielens)}
        out.append(Case("MovieLens-100K", data, args.movielens_epochs, sparse=False))
    if "criteo" in args.datasets:
        data = {
            "dataset": "synthetic",
            "rows": args.rows,
            "options": {"categorical": 26, "numerical": 13},
        }
        title = f"Criteo-shaped (synthetic), {args.rows:,} rows"
        out.append(Case(title, data, args.criteo_epochs, sparse=args.criteo_sparse))
    return out


def bench(case: Case, args: argparse.Namespace) -> str:
    """Both frameworks on one dataset; the table."""
    precisions = ("bf16", "fp32") if args.precision == "both" else (args.precision,)
    if args.precision == "both" and not _native_bf16("cpu"):
        print(
            "this CPU has no native bfloat16 (emulated, about 12x slower): measuring fp32 "
            "only; --precision bf16 measures it anyway",
            file=sys.stderr,
        )
        precisions = ("fp32",)
    evaluator, archs = make_evaluator(
        case, args.batch_size, args.threads, args.numerical, precisions
    )
    arch = archs[precisions[0]]
    setup = DeepCTRSetup(EMBEDDING_DIM, MLP_LAYERS, LR, args.batch_size, case.epochs, SEED)
    for each in archs.values():
        warm_up_ours(evaluator, each)
    run_deepctr(evaluator.data, setup, warm_up=True)
    measured: list[Callable[[], Run]] = [
        lambda: run_ours(evaluator, arch),
        lambda: run_deepctr(evaluator.data, setup),
    ]
    if args.deepctr_defaults:
        defaults = dataclasses.replace(setup, l2={})
        measured.append(
            lambda: run_deepctr(evaluator.data, defaults, name="DeepCTR-Torch, default l2")
        )
    if args.plain:
        run_plain(evaluator.data, setup, warm_up=True)
        measured.append(lambda: run_plain(evaluator.data, setup))
    for precision in precisions[1:]:
        label = f"searchengine, {precision}"
        measured.append(lambda a=archs[precision], n=label: run_ours(evaluator, a, n))
    runs = [_measure_when_idle(run, args.wait_idle) for run in measured]
    return table(case, evaluator, runs, args.batch_size, precisions[0])


def _measure_when_idle(run: Callable[[], Run], wait: float) -> Run:
    """``run()``; with ``wait``, first wait for an idle machine, and repeat a run during
    which other processes took more than ``_MAX_OTHERS`` of the CPU (``_RETRIES`` tries)."""
    for attempt in range(1, (_RETRIES if wait else 1) + 1):
        if wait and not wait_idle(wait):
            print(f"(the machine was still busy after {wait:.0f} s; measuring anyway)")
        result = run()
        if not wait or result.others_cpu <= _MAX_OTHERS or attempt == _RETRIES:
            return result
        print(f"({result.framework}: others took {result.others_cpu:.0%} of the CPU; again)")
    raise AssertionError("unreachable")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add(
        "--movielens",
        type=Path,
        default=DEFAULT_MOVIELENS,
        help="folder of RecBole's ml-100k atomic files (default: %(default)s)",
    )
    add("--rows", type=int, default=1_000_000, help="rows of the Criteo-shaped data")
    add("--batch-size", type=int, default=2048, help="for both frameworks (default: 2048)")
    add("--movielens-epochs", type=int, default=10)
    add("--criteo-epochs", type=int, default=2)
    add(
        "--dense",
        dest="criteo_sparse",
        action="store_false",
        help="train our side with dense Adam on the Criteo-shaped data as well",
    )
    add("--threads", type=int, default=2, help="torch threads, for both (default: 2)")
    add(
        "--numerical",
        choices=["raw", "scalar"],
        default="raw",
        help="how our DeepFM reads the numerical fields: raw (as DeepCTR-Torch's DenseFeat: "
        "first-order term and MLP input; the default) or scalar (a 16-wide vector each, "
        "also in the FM)",
    )
    add(
        "--precision",
        choices=["fp32", "bf16", "both"],
        default="both",
        help="our side's train.precision: fp32, bf16 (mixed precision, the dense layers in "
        "bfloat16) or both (bf16 measured first, fp32 as one more row; the default; fp32 "
        "only on a CPU without native bfloat16)",
    )
    add("--datasets", nargs="+", choices=["movielens", "criteo"], default=["movielens", "criteo"])
    add(
        "--deepctr-defaults",
        action="store_true",
        help="also train DeepCTR-Torch with its default L2 penalties (1e-5)",
    )
    add(
        "--plain",
        action="store_true",
        help="also train a plain, careful torch loop of the same DeepFM (one fused table "
        "under torch.optim.SparseAdam, fused Adam, index-tensor batches; benchmarks/_plain.py)",
    )
    add(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="for shared machines: before each measured run, wait up to SECONDS for the "
        "CPUs to be idle, and repeat (up to 3 times) a run during which other processes "
        "took over 10%% of the CPU time (default: do not wait)",
    )
    add(
        "--quick",
        action="store_true",
        help="a smoke run: 100,000 Criteo-shaped rows, one epoch each",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.movielens_epochs, args.criteo_epochs = 100_000, 1, 1
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import_deepctr()  # fail before loading any data
    torch.set_num_threads(args.threads)
    command = " ".join(["python", "benchmarks/throughput.py", *sys.argv[1:]])
    print("## DeepFM training: searchengine vs DeepCTR-Torch\n")
    print(f"Command: `{command}`  ")
    print(f"Machine: {machine()}\n")
    print(METHOD + "\n")
    for case in cases(args):
        print(bench(case, args) + "\n", flush=True)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"Load average at the end: {load}")


if __name__ == "__main__":
    main()
