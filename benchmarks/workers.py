"""Trial throughput with 1, 2 and 4 workers on SQLite, a journal file and PostgreSQL.

Two workloads, each run through ``searchengine.run`` exactly as the CLI does:

* cheap trials (``examples.functions:branin``, microseconds of work): the wall time per
  trial is the engine's own overhead (ask, sample, tell, heartbeats, constraint and
  budget bookkeeping, storage round trips);
* real trials: a small DeepFM on MovieLens-100K (one epoch), the time a trial really takes.

The engine overhead per trial is measured on the study itself: with ``k`` workers,
``k x (last finish - first start) / trials`` for the cheap workload (process start-up is
excluded), the median of ``--repeats`` runs. Beside it, Optuna alone: ``study.optimize``
of the same objective with the same TPE settings on the same storage, so that the
engine's own share (ours - Optuna alone) is told apart from Optuna's storage and sampler.
Run from the repository root::

    python benchmarks/workers.py                  # all storages, 1/2/4 workers
    python benchmarks/workers.py --quick          # fewer trials, 1 and 2 workers
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

import optuna  # noqa: E402

from searchengine import run  # noqa: E402
from searchengine.searchspace import parse_spec  # noqa: E402

CHEAP = """\
name: cheap
evaluator: examples.functions:branin
params: {x: {float: [-5, 10]}, y: {float: [0, 15]}, scale: {choice: [small, large]}}
objectives: [{metric: branin, direction: minimize}]
search: {strategy: tpe, trials: %d, seed: 0}
"""
REAL = """\
name: real
data: {dataset: movielens-100k, path: %s}
model: {backbone: deepfm, embedding: {dim: {choice: [4, 8]}}, mlp: {layers: [32]}}
train: {batch_size: 2048, epochs: 1, lr: 2.0e-3}
search: {strategy: random, trials: %d, seed: 0}
"""


def _span(study: optuna.Study) -> tuple[float, list[float], int]:
    done = [
        t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE
    ]
    start = min(t.datetime_start for t in done)
    end = max(t.datetime_complete for t in done)
    durations = [(t.datetime_complete - t.datetime_start).total_seconds() for t in done]
    return (end - start).total_seconds(), durations, len(done)


def _storage(kind: str, folder: Path, pg: object | None, name: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{folder / 'study.db'}"
    if kind == "journal":
        return f"journal:{folder / 'study.log'}"
    return pg.create_database(name)  # type: ignore[attr-defined]


def measure(text: str, kind: str, workers: int, pg: object | None, tag: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        storage = _storage(kind, folder, pg, f"{tag}_{kind}_{workers}")
        spec = parse_spec(text)
        t0 = time.perf_counter()
        result = run(spec, storage=storage, workers=workers, out=folder, progress=False)
        wall = time.perf_counter() - t0
        span, durations, n = _span(result.study)
    return {
        "trials": n,
        "wall": wall,
        "span": span,
        "per_trial_ms": 1000 * workers * span / n,
        "trial_s": statistics.mean(durations),
        "throughput": n / span,
    }


def _branin(trial: optuna.Trial) -> float:
    from examples.functions import branin

    values = {
        "params.x": trial.suggest_float("params.x", -5, 10),
        "params.y": trial.suggest_float("params.y", 0, 15),
        "params.scale": trial.suggest_categorical("params.scale", ["small", "large"]),
    }
    return branin(values, 0)["branin"]


def optuna_alone(kind: str, pg: object | None, trials: int, tag: str) -> float:
    """ms per trial of Optuna's own ``study.optimize`` on the cheap workload: the same
    objective, TPE settings and storage (ours tuned as the engine opens it), one process."""
    from searchengine.engine.storage import StorageOptions, open_storage

    with tempfile.TemporaryDirectory() as tmp:
        url = _storage(kind, Path(tmp), pg, f"alone_{tag}")
        storage = open_storage(url, StorageOptions(None, None, 0.0))
        with warnings.catch_warnings():  # as the tpe strategy does
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(
                seed=0, n_startup_trials=10, multivariate=True, group=True, constant_liar=True
            )
        study = optuna.create_study(storage=storage, sampler=sampler, study_name="alone")
        study.optimize(_branin, n_trials=trials)
        span, _, n = _span(study)
    return 1000 * span / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--repeats", type=int, default=3, help="cheap runs per cell; the median is shown (3)"
    )
    parser.add_argument("--movielens", default=str(ROOT.parent / "shared/datasets/movielens-100k"))
    args = parser.parse_args()
    counts = (1, 2) if args.quick else (1, 2, 4)
    cheap_n, real_n = (20, 4) if args.quick else (60, 8)
    kinds = ["sqlite", "journal", "postgresql"]
    try:
        from searchengine.testing.postgres import throwaway_postgres

        pg_context = throwaway_postgres()
        pg = pg_context.__enter__()
    except (RuntimeError, ImportError) as exc:
        print(f"PostgreSQL skipped: {exc}")
        kinds, pg_context, pg = kinds[:2], None, None
    try:
        print(
            f"cheap trials ({cheap_n} per run, TPE, median of {args.repeats} runs): "
            "ms per trial, ours and Optuna's alone"
        )
        print(
            f"{'storage':<11}{'workers':>8}{'trials/s':>10}{'ms/trial':>10}"
            f"{'optuna alone':>14}{'ours - optuna':>15}"
        )
        overhead: dict[str, float] = {}
        alone: dict[str, float] = {}
        for kind in kinds:
            alone[kind] = statistics.median(
                optuna_alone(kind, pg, cheap_n, f"{kind}_{rep}") for rep in range(args.repeats)
            )
            for k in counts:
                runs = [
                    measure(CHEAP % cheap_n, kind, k, pg, f"cheap{rep}")
                    for rep in range(args.repeats)
                ]
                r = sorted(runs, key=lambda run: run["per_trial_ms"])[len(runs) // 2]
                overhead[f"{kind}/{k}"] = r["per_trial_ms"]
                extra = r["per_trial_ms"] - alone[kind]
                ref = f"{alone[kind]:>14.1f}{extra:>15.1f}" if k == 1 else ""
                print(f"{kind:<11}{k:>8}{r['throughput']:>10.1f}{r['per_trial_ms']:>10.1f}{ref}")
        print(f"\nreal trials ({real_n} per run, DeepFM on MovieLens-100K, 1 epoch)")
        print(f"{'storage':<11}{'workers':>8}{'trials/s':>10}{'s/trial':>9}{'all':>8}{'ours':>8}")
        for kind in kinds:
            for k in counts:
                r = measure(REAL % (args.movielens, real_n), kind, k, pg, "real")
                total = overhead[f"{kind}/{k}"] / (1000 * r["trial_s"])
                ours = (overhead[f"{kind}/{k}"] - alone[kind]) / (1000 * r["trial_s"])
                print(
                    f"{kind:<11}{k:>8}{r['throughput']:>10.2f}{r['trial_s']:>9.2f}"
                    f"{total:>8.1%}{format(ours, '>8.1%') if k == 1 else ''}"
                )
        print(
            "\nall = ms per cheap trial (Optuna's storage and sampler included) / ms per real"
            "\ntrial; ours = the same less Optuna alone's ms (1 worker): the engine's own"
            "\noverhead (target < 5%)"
        )
    finally:
        if pg_context is not None:
            pg_context.__exit__(None, None, None)


if __name__ == "__main__":
    main()
