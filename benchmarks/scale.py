"""Criteo-size click logs on one machine: ingest, memory, training speed, AutoDim's cost.

For each N of ``--rows`` (1M, 10M, 45M), in this one process:

1. a Criteo-format TSV of N rows (``benchmarks/_criteo_file.py``: ``label, I1..I13,
   C1..C26``, vocabularies log-spaced up to ``--max-vocab`` ids, Zipf frequencies, ~20%
   missing numericals, planted signal) is written to ``--workdir``, or reused from there;
2. **pyarrow's bare parse**: ``pyarrow.csv.open_csv`` streams the file (tab, no header,
   I-columns float64, C-columns string) and nothing else is done with the batches;
3. **our ingest**: ``searchengine.data.load_data`` of ``dataset: criteo`` into a fresh
   cache folder: seconds, rows/s, its ratio to pyarrow's rate, peak anonymous memory;
4. **training**: DeepFM (embeddings 16, MLP 256-128, batch 2048, ``train.sparse``), one
   epoch through our ``Evaluator``, at fp32 (and bf16 where the CPU has native
   bfloat16, or with ``--precision both``): train samples/s, peak anonymous memory,
   embedding parameters, test AUC. ``--train-steps K`` times K steps instead of the
   epoch (every N, so that the figures compare), ``--auc`` then adds the epoch for the
   AUC;
5. at N = ``--autodim-rows``: AutoDim (``differentiable``, widths 2-32 per field) search
   + retrain seconds, over one plain training of the same DeepFM at width 16, both run
   by ``searchengine.engine.run`` as ``searchengine run`` does.

Then the issue's targets beside the figures. *Peak anonymous memory* is ``RssAnon``
(``/proc/self/status``) sampled every 20 ms: heap and private pages; memory-mapped file
pages do not count. Memory is returned to the OS between the N (and between phases);
each N's ingest cache is deleted after it unless ``--keep``.

Run from the repository root::

    python benchmarks/scale.py --quick                       # 100k and 300k rows, minutes
    python benchmarks/scale.py --rows 1000000,10000000 --train-steps 300
    python benchmarks/scale.py --train-steps 300 --auc       # 1M, 10M, 45M: hours
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import torch
from _criteo_file import write_criteo
from _measure import anon_peak, machine, others_cpu, release_memory, wait_idle

from searchengine.data import load_data
from searchengine.engine import run as run_search
from searchengine.evaluation import Evaluator
from searchengine.evaluation.trainer import _native_bf16
from searchengine.searchspace import SearchSpace, parse_spec
from searchengine.spec.format import DataSpec

NAMES = ["label", *(f"I{i}" for i in range(1, 14)), *(f"C{i}" for i in range(1, 27))]
GiB = 2**30
SEED = 2024
TARGETS = {
    "ingest": 0.5,  # of pyarrow's bare parse rate
    "memory_gib": 4.0,  # beyond embedding tables + Adam state, at the largest N
    "train": 0.8,  # samples/s of the larger N over the smallest N's
    "autodim": 3.0,  # search + retrain over one plain training
}


# ------------------------------------------------------------------------- measured


@dataclass
class Ingest:
    rows: int
    file_bytes: int
    arrow_seconds: float
    seconds: float
    peak: int
    baseline: int
    others: float
    click_rate: float

    @property
    def arrow_rate(self) -> float:
        return self.rows / self.arrow_seconds

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


@dataclass
class Training:
    rows: int
    precision: str
    train_rows: int
    embedding_params: int
    how: str  # "epoch" or "K steps"
    samples_per_s: float
    seconds: float
    peak: int
    baseline: int
    others: float
    auc: float = math.nan
    epoch_samples_per_s: float = math.nan

    @property
    def tables_bytes(self) -> int:
        """Embedding tables and Adam's two moments, float32."""
        return self.embedding_params * 4 * 3


@dataclass
class AutoDim:
    rows: int
    plain_seconds: float
    seconds: float
    search_seconds: float
    supernet_epochs: int
    widths: dict[str, int] = field(default_factory=dict)
    auc: float = math.nan
    plain_auc: float = math.nan
    others: float = 0.0


class _Enough(Exception):
    """Raised by the step clock after the steps to time: ends the training early."""


class _StepTimer:
    """When each training step began (a forward pre-hook; eval-mode calls ignored), and
    ``_Enough`` at the start of step ``limit + 1``, so that ``limit`` whole steps ran."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.starts: list[float] = []

    def hook(self, model: torch.nn.Module, args: Any) -> None:
        if not model.training:
            return
        self.starts.append(time.perf_counter())
        if self.limit is not None and len(self.starts) > self.limit:
            raise _Enough

    def seconds(self) -> float:
        return self.starts[-1] - self.starts[0] if len(self.starts) > 1 else math.nan


class _TimedEvaluator(Evaluator):
    """Our evaluator with a :class:`_StepTimer` on the model it builds."""

    timer: _StepTimer | None = None

    def build(self, arch: Any) -> torch.nn.Module:
        model = super().build(arch)
        if self.timer is not None:
            model.register_forward_pre_hook(self.timer.hook)
        return model


# --------------------------------------------------------------------------- phases


def criteo_file(workdir: Path, rows: int, seed: int, max_vocab: int) -> tuple[Path, dict]:
    """The file of ``rows`` rows, written unless there from an earlier run."""
    path = workdir / f"criteo-{rows}-seed{seed}-vocab{max_vocab}.tsv"
    facts_path = path.with_suffix(".json")
    if path.exists() and facts_path.exists():
        return path, json.loads(facts_path.read_text())
    print(f"(writing {path}: {rows:,} rows)", file=sys.stderr, flush=True)
    facts = write_criteo(path, rows, seed=seed, max_vocab=max_vocab)
    facts_path.write_text(json.dumps(facts, indent=1))
    return path, facts


def arrow_parse(path: Path) -> tuple[float, int]:
    """Seconds and rows of pyarrow's streaming parse of the file, batches dropped."""
    types = {n: pa.float64() for n in NAMES[:14]} | {n: pa.string() for n in NAMES[14:]}
    start = time.perf_counter()
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=NAMES),
        parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False),
        convert_options=pacsv.ConvertOptions(column_types=types),
    )
    rows = sum(batch.num_rows for batch in reader)
    return time.perf_counter() - start, rows


def data_spec(path: Path, options: dict[str, Any]) -> dict[str, Any]:
    return {"dataset": "criteo", "path": str(path), "options": options}


def ingest(path: Path, cache: Path, options: dict[str, Any]) -> tuple[Any, float, dict, float]:
    """``load_data`` into the fresh folder ``cache``: data, seconds, memory, others."""
    shutil.rmtree(cache, ignore_errors=True)
    spec = DataSpec(**data_spec(path, options))
    with anon_peak() as memory, others_cpu() as others:
        start = time.perf_counter()
        data = load_data(spec, cache_dir=cache)
        seconds = time.perf_counter() - start
    return data, seconds, memory, others["share"]


def train_spec(path: Path, args: argparse.Namespace, **model: Any) -> dict[str, Any]:
    """The spec of the benchmark's DeepFM; ``model`` overrides the embedding width."""
    embedding = {"dim": 16} | model
    return {
        "name": "scale",
        "data": data_spec(path, args.options),
        "model": {
            "backbone": "deepfm",
            "embedding": embedding,
            "mlp": {"layers": [256, 128]},
        },
        "train": {
            "optimizer": "adam",
            "lr": 1.0e-3,
            "batch_size": args.batch_size,
            "epochs": 1,
            "patience": 1,
            "sparse": True,
            "threads": args.threads,
        },
        "search": {"seed": SEED, "trials": 1},
    }


def train(
    path: Path, cache: Path, rows: int, precision: str, args: argparse.Namespace
) -> Training:
    """Our DeepFM at ``precision``: K steps timed (``--train-steps``) or one epoch."""
    raw = train_spec(path, args)
    raw["train"]["precision"] = precision
    spec = parse_spec(raw)
    evaluator = _TimedEvaluator(spec, cache_dir=cache)
    evaluator.prepare()  # the ingested data, from memory or the cache: not timed
    arch = SearchSpace.from_spec(spec).fixed({})
    train_rows = len(evaluator.data.splits["train"])
    params = int(evaluator.static_metrics(arch)["embedding_params"])
    steps = args.train_steps
    if steps is not None and steps * args.batch_size >= train_rows:
        steps = None  # K steps would be the whole epoch
    out = Training(rows, precision, train_rows, params, "", math.nan, math.nan, 0, 0, 0.0)
    if steps is not None:
        evaluator.timer = _StepTimer(steps)
        _wait(args)
        with anon_peak() as memory, others_cpu() as others, contextlib.suppress(_Enough):
            evaluator.evaluate(arch, report=False)
        out.how, out.seconds = f"{steps} steps", evaluator.timer.seconds()
        out.samples_per_s = steps * args.batch_size / out.seconds
        out.peak, out.baseline, out.others = memory["peak"], memory["baseline"], others["share"]
    if steps is None or (args.auc and precision == "fp32"):
        evaluator.timer = None
        _wait(args)
        with anon_peak() as memory, others_cpu() as others:
            result = evaluator.evaluate(arch, report=False)
        seconds = sum(row["train_seconds"] for row in result.history)
        out.auc = result.test_metrics["auc"]
        out.epoch_samples_per_s = train_rows * len(result.history) / seconds
        if steps is None:
            out.how, out.seconds, out.samples_per_s = "epoch", seconds, out.epoch_samples_per_s
        out.peak = max(out.peak, memory["peak"])
        out.baseline = out.baseline or memory["baseline"]
        out.others = max(out.others, others["share"])
    return out


def autodim(path: Path, cache: Path, rows: int, args: argparse.Namespace) -> AutoDim:
    """AutoDim search + retrain, and one plain training, both by ``engine.run``."""
    runs = args.workdir / f"runs-{rows}"
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir(parents=True)
    plain = parse_spec(train_spec(path, args))
    searched = train_spec(path, args, dim={"choice": [2, 4, 8, 16, 32], "per": "field"})
    searched["search"] |= {"strategy": "differentiable"}
    if args.autodim_epochs is not None:
        searched["search"]["options"] = {"epochs": args.autodim_epochs}
    seconds, results = {}, {}
    with _cache_env(cache), others_cpu() as others:
        for name, spec in (("plain", plain), ("autodim", parse_spec(searched))):
            _wait(args)
            start = time.perf_counter()
            results[name] = run_search(
                spec,
                storage=f"sqlite:///{runs / 'study.db'}",
                study_name=name,
                out=runs / name,
                progress=False,
                write_results=False,
            )
            seconds[name] = time.perf_counter() - start
    trial = results["autodim"].study.trials[-1]
    cost = trial.user_attrs.get("search_cost", {})
    widths = {k.rsplit("[", 1)[-1].rstrip("]"): v for k, v in trial.params.items()}
    return AutoDim(
        rows,
        plain_seconds=seconds["plain"],
        seconds=seconds["autodim"],
        search_seconds=float(cost.get("seconds", math.nan)),
        supernet_epochs=int(cost.get("epochs", 0)),
        widths=widths,
        auc=_test_auc(trial),
        plain_auc=_test_auc(results["plain"].study.trials[-1]),
        others=others["share"],
    )


def _test_auc(trial: Any) -> float:
    return float(trial.user_attrs.get("test_metrics", {}).get("auc", math.nan))


@contextlib.contextmanager
def _cache_env(cache: Path) -> Iterator[None]:
    """``$SEARCHENGINE_CACHE`` pointed at ``cache``: ``run`` finds the ingested data."""
    before = os.environ.get("SEARCHENGINE_CACHE")
    os.environ["SEARCHENGINE_CACHE"] = str(cache)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("SEARCHENGINE_CACHE", None)
        else:
            os.environ["SEARCHENGINE_CACHE"] = before


def _wait(args: argparse.Namespace) -> None:
    if args.wait_idle and not wait_idle(args.wait_idle):
        print(f"(the machine was still busy after {args.wait_idle:.0f} s)", file=sys.stderr)


def forget_data() -> None:
    """Drop what this process holds of the last N's data and return it to the OS.

    ``load_data`` keeps recent results in memory for the trials of one process; that
    memo has no public reset, so it is cleared where it is found."""
    with contextlib.suppress(ImportError, AttributeError):
        from searchengine.data import _load

        _load._memo.clear()
    release_memory()
    with contextlib.suppress(AttributeError):
        pa.default_memory_pool().release_unused()


# --------------------------------------------------------------------------- report


def _gib(n: float) -> str:
    return f"{n / GiB:.2f}"


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def ingest_table(ingests: list[Ingest]) -> str:
    lines = [
        "### File and ingest",
        "",
        "| rows | file GiB | pyarrow parse s | pyarrow rows/s | ingest s | ingest rows/s "
        "| ingest / pyarrow | peak anon GiB | over baseline GiB | click rate | others' CPU |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for i in ingests:
        lines.append(
            f"| {i.rows:,} | {_gib(i.file_bytes)} | {i.arrow_seconds:.1f} | {i.arrow_rate:,.0f} "
            f"| {i.seconds:.1f} | {i.rate:,.0f} | {i.rate / i.arrow_rate:.2f} | {_gib(i.peak)} "
            f"| {_gib(i.peak - i.baseline)} | {i.click_rate:.3f} | {i.others:.0%} |"
        )
    return "\n".join(lines)


def train_table(trainings: list[Training], emulated: bool) -> str:
    lines = [
        "### Training (DeepFM, embeddings 16, MLP 256-128, batch 2048, sparse tables)",
        "",
        "| rows | precision | train rows | embedding params | tables + Adam GiB | timed "
        "| train samples/s | epoch samples/s | timed s | peak anon GiB | over baseline GiB "
        "| test AUC | others' CPU |",
        "| ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: |",
    ]
    for t in trainings:
        note = " (emulated)" if t.precision == "bf16" and emulated else ""
        epoch = "" if math.isnan(t.epoch_samples_per_s) else f"{t.epoch_samples_per_s:,.0f}"
        auc = "" if math.isnan(t.auc) else f"{t.auc:.4f}"
        lines.append(
            f"| {t.rows:,} | {t.precision}{note} | {t.train_rows:,} | {t.embedding_params:,} "
            f"| {_gib(t.tables_bytes)} | {t.how} | {t.samples_per_s:,.0f} | {epoch} "
            f"| {t.seconds:.1f} | {_gib(t.peak)} | {_gib(t.peak - t.baseline)} | {auc} "
            f"| {t.others:.0%} |"
        )
    return "\n".join(lines)


def autodim_table(a: AutoDim) -> str:
    widths = ", ".join(f"{k} {v}" for k, v in sorted(a.widths.items(), key=_field_order))
    return "\n".join(
        [
            f"### AutoDim (differentiable) at {a.rows:,} rows",
            "",
            "| plain training s | search + retrain s | of which search s | supernet epochs "
            "| ratio | plain test AUC | AutoDim test AUC | others' CPU |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| {a.plain_seconds:.1f} | {a.seconds:.1f} | {a.search_seconds:.1f} "
            f"| {a.supernet_epochs} | {a.seconds / a.plain_seconds:.2f}x | {a.plain_auc:.4f} "
            f"| {a.auc:.4f} | {a.others:.0%} |",
            "",
            f"Widths found: {widths}.",
        ]
    )


def _field_order(item: tuple[str, Any]) -> tuple[int, int]:
    name = item[0]
    return (0 if name.startswith("I") else 1, int(name[1:]) if name[1:].isdigit() else 0)


def targets_table(ingests: list[Ingest], trainings: list[Training], auto: AutoDim | None) -> str:
    lines = ["### Targets", "", "| target | measured | |", "| --- | --- | --- |"]
    worst = min(ingests, key=lambda i: i.rate / i.arrow_rate)
    ratio = worst.rate / worst.arrow_rate
    lines.append(
        f"| ingest >= {TARGETS['ingest']:.0%} of pyarrow's parse rate | lowest {ratio:.2f} "
        f"({worst.rows:,} rows) | {_met(ratio >= TARGETS['ingest'])} |"
    )
    fp32 = [t for t in trainings if t.precision == "fp32"]
    largest = max(ingests, key=lambda i: i.rows)
    at = [t for t in fp32 if t.rows == largest.rows]
    if at:
        peak = max([largest.peak] + [t.peak for t in trainings if t.rows == largest.rows])
        beyond = peak - at[0].tables_bytes
        lines.append(
            f"| peak anon memory at {largest.rows:,} rows <= {TARGETS['memory_gib']:.0f} GiB "
            f"beyond tables + Adam | {_gib(peak)} GiB peak - {_gib(at[0].tables_bytes)} GiB = "
            f"{_gib(beyond)} GiB | {_met(beyond <= TARGETS['memory_gib'] * GiB)} |"
        )
    if len(fp32) > 1:
        base = min(fp32, key=lambda t: t.rows)
        for t in fp32:
            if t is base:
                continue
            share = t.samples_per_s / base.samples_per_s
            lines.append(
                f"| train samples/s at {t.rows:,} >= {TARGETS['train']:.0%} of {base.rows:,} "
                f"| {share:.0%} ({t.samples_per_s:,.0f} / {base.samples_per_s:,.0f}, "
                f"{t.how}) | {_met(share >= TARGETS['train'])} |"
            )
    if auto is not None:
        ratio = auto.seconds / auto.plain_seconds
        lines.append(
            f"| AutoDim search + retrain <= {TARGETS['autodim']:.0f}x one training "
            f"({auto.rows:,} rows) | {ratio:.2f}x | {_met(ratio <= TARGETS['autodim'])} |"
        )
    return "\n".join(lines)


METHOD = (
    "*pyarrow parse*: `pyarrow.csv.open_csv` (tab, no header, I-columns float64, "
    "C-columns string), every batch read and dropped. *ingest*: `load_data` of "
    "`dataset: criteo` into an empty cache folder. *peak anon*: the highest RssAnon "
    "(/proc/self/status, every 20 ms) during the phase, the whole process; *over "
    "baseline*: minus the value just before it. *train samples/s*: with *timed* `epoch`, "
    "train rows / the epoch's `train_seconds` (the training pass alone); with `K steps`, "
    "K x batch size / the time from the start of the first step to the start of step "
    "K + 1 (the training stops there). *tables + Adam*: embedding parameters x 4 bytes x 3 "
    "(weights and Adam's two moments). *AutoDim*: wall seconds of `engine.run` (as "
    "`searchengine run` does, the data already encoded) for the differentiable search "
    "(supernet, then the derived widths retrained), over the same for the fixed DeepFM at "
    "width 16; one epoch each. *others' CPU*: the share of the machine's CPU used by other "
    "processes meanwhile; timings with a high share are unreliable."
)


# ----------------------------------------------------------------------------- main


def precisions(choice: str) -> tuple[tuple[str, ...], bool]:
    """The precisions to train at, and whether bf16 is emulated on this CPU."""
    emulated = not _native_bf16("cpu")
    if choice == "auto":
        return (("fp32",) if emulated else ("fp32", "bf16")), emulated
    return (("fp32", "bf16") if choice == "both" else (choice,)), emulated


def bench(args: argparse.Namespace) -> None:
    wanted, emulated = precisions(args.precision)
    if args.precision == "auto" and emulated:
        print("this CPU has no native bfloat16 (emulated, about 12x slower): fp32 only; "
              "--precision both measures bf16 anyway\n")  # fmt: skip
    ingests: list[Ingest] = []
    trainings: list[Training] = []
    auto: AutoDim | None = None
    for rows in args.rows:
        path, facts = criteo_file(args.workdir, rows, args.seed, args.max_vocab)
        cache = args.workdir / f"cache-{rows}"
        _wait(args)
        arrow_seconds, parsed = arrow_parse(path)
        assert parsed == rows, f"pyarrow read {parsed} rows of {rows}"
        forget_data()
        _wait(args)
        data, seconds, memory, others = ingest(path, cache, args.options)
        ingests.append(
            Ingest(
                rows,
                path.stat().st_size,
                arrow_seconds,
                seconds,
                memory["peak"],
                memory["baseline"],
                others,
                float(facts["click_rate"]),
            )
        )
        del data
        for precision in wanted:
            trainings.append(train(path, cache, rows, precision, args))
            release_memory()
        if rows == args.autodim_rows:
            auto = autodim(path, cache, rows, args)
        forget_data()
        if not args.keep:
            shutil.rmtree(cache, ignore_errors=True)
        print(f"({rows:,} rows done)", file=sys.stderr, flush=True)
        # the tables so far, so that a long run cut short still leaves its figures
        print(ingest_table(ingests) + "\n\n" + train_table(trainings, emulated) + "\n",
              file=sys.stderr, flush=True)  # fmt: skip
    print(ingest_table(ingests) + "\n")
    print(train_table(trainings, emulated) + "\n")
    if auto is not None:
        print(autodim_table(auto) + "\n")
    print(targets_table(ingests, trainings, auto) + "\n")


def _option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _rows(text: str) -> list[int]:
    return [int(v.replace("_", "")) for v in text.split(",") if v]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    cache = os.environ.get("SEARCHENGINE_CACHE")
    workdir = Path(cache or "~/.cache/searchengine").expanduser() / "scale"
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--rows", type=_rows, default=[1_000_000, 10_000_000, 45_000_000],
        help="comma-separated row counts (default: 1000000,10000000,45000000)")  # fmt: skip
    add("--workdir", type=Path, default=workdir,
        help="files, caches and studies (default: %(default)s)")  # fmt: skip
    add("--seed", type=int, default=0, help="of the generated files")
    add("--max-vocab", type=int, default=2_000_000, help="ids of the largest C-field")
    add("--option", dest="options", type=_option, action="append", default=[],
        metavar="KEY=VALUE", help="a `data.options` entry of the criteo dataset (repeatable), "
        "e.g. min_count=2")  # fmt: skip
    add("--batch-size", type=int, default=2048)
    add("--threads", type=int, default=2, help="torch threads (default: 2)")
    add("--precision", choices=["auto", "fp32", "bf16", "both"], default="auto",
        help="auto (the default): fp32, and bf16 too where the CPU has native bfloat16; "
        "both: bf16 even where emulated (about 12x slower)")  # fmt: skip
    add("--train-steps", type=int, default=None, metavar="K",
        help="time K training steps instead of a whole epoch, at every N (an epoch shorter "
        "than K steps is trained whole); no AUC unless --auc")  # fmt: skip
    add("--auc", action="store_true",
        help="with --train-steps: also train one whole fp32 epoch for the test AUC")  # fmt: skip
    add("--autodim-rows", type=int, default=10_000_000,
        help="the N at which AutoDim is measured (default: 10000000; 0: never)")  # fmt: skip
    add("--autodim-epochs", type=int, default=None,
        help="supernet epochs (default: the differentiable strategy's own)")  # fmt: skip
    add("--wait-idle", type=float, default=0.0, metavar="SECONDS",
        help="before each measured phase, wait up to SECONDS for the CPUs to be idle")  # fmt: skip
    add("--keep", action="store_true", help="keep each N's ingest cache")
    add("--quick", action="store_true", help="a smoke run: 100k and 300k rows, AutoDim at 100k")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.autodim_rows = [100_000, 300_000], 100_000
    args.options = dict(args.options)
    args.workdir = args.workdir.expanduser()
    args.workdir.mkdir(parents=True, exist_ok=True)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    command = " ".join(["python", "benchmarks/scale.py", *sys.argv[1:]])
    print("## Criteo-size click logs on one machine\n")
    print(f"Command: `{command}`  ")
    print(f"Machine: {machine()}\n")
    print(METHOD + "\n", flush=True)
    bench(args)
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"Load average at the end: {load}")


if __name__ == "__main__":
    main()
