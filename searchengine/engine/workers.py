"""``searchengine run --workers N``: N local worker processes on one shared study.

The parent creates the study and encodes the data once (so workers find it cached), then
starts ``searchengine worker`` processes, each in its own session so that a terminal's
Ctrl-C reaches only the parent, which forwards one SIGINT to every worker: each closes
its running trial as interrupted and exits. The parent shows progress from the study and
writes the results when all workers are done.

A one-shot strategy (differentiable, esapn, rl with weight sharing, fde, mde) trains one
supernet, so it gets one local worker. Workers on other hosts (``searchengine worker``)
share its search through a claim: see ``Session.claim_search``.

Local workers share a journal file by default: SQLite serializes writers on one file
lock and reports "database is locked" under concurrent writes, while Optuna's journal
storage appends to a log file with a file lock designed for many processes on one host.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TextIO

import yaml

from searchengine.engine import final
from searchengine.engine.progress import Progress
from searchengine.errors import SearchEngineError
from searchengine.evaluation import make_evaluator
from searchengine.searchspace import SearchSpace
from searchengine.spec import Spec

__all__ = ["run_workers"]

_log = logging.getLogger(__name__)
_GRACE_SECONDS = 120


def _worker_spec(spec: Spec, storage: str, out_dir: Path) -> Path:
    search = spec.search.model_copy(
        update={"storage": storage, "study": spec.study_name, "workers": 1}
    )
    data = spec.model_copy(update={"search": search}).model_dump(
        mode="json", by_alias=True, exclude_defaults=True
    )
    path = out_dir / "workers.spec.yaml"
    path.write_text(
        "# written by `searchengine run --workers`; each worker reads it\n"
        + yaml.safe_dump(data, sort_keys=False)
    )
    return path


def run_workers(
    spec: Spec,
    space: SearchSpace,
    out_dir: Path,
    *,
    progress: bool,
    log_json: TextIO | None = None,
    switch: bool = False,
    stale_after: float | None = None,
) -> object:
    """Run ``spec.search.workers`` worker processes on one study; see the module docstring."""
    from searchengine.engine.loop import add_seconds, finish, prepare_data
    from searchengine.engine.study import open_study
    from searchengine.searchspace.loader import spec_source
    from searchengine.strategies import create_strategy

    settings = spec.search
    storage = settings.storage or f"journal:{(out_dir / 'study.log').resolve()}"
    if settings.storage is None and (out_dir / "study.db").exists():
        _log.warning(
            "several workers use %s; the single-process study in %s is not resumed "
            "(pass --storage to share it instead)",
            storage,
            out_dir / "study.db",
        )
    strategy = create_strategy(
        settings.strategy, settings.options, seed=settings.seed, source=spec_source(spec)
    )
    evaluator = make_evaluator(spec, fidelity=settings.fidelity)
    prepare_data(spec, evaluator)  # encode once; workers then read the disk cache
    out_dir.mkdir(parents=True, exist_ok=True)
    study = open_study(spec, space, strategy, storage, spec.study_name, switch=switch)
    spec_file = _worker_spec(spec, storage, out_dir)
    workers = settings.workers
    if strategy.one_shot and len(space):
        _log.warning(
            "%s trains one supernet: one worker searches, %d would only wait for it",
            settings.strategy, workers - 1,
        )  # fmt: skip
        workers = 1
    command = [
        sys.executable,
        "-m",
        "searchengine",
        "worker",
        str(spec_file),
        "--no-results",
        "-q",
        *(["--stale-after", f"{stale_after:g}"] if stale_after is not None else []),
    ]
    env = _thread_env(workers, threads_fixed=_threads_fixed(spec))
    procs = [
        subprocess.Popen([*command, "--worker-index", str(k)], start_new_session=True, env=env)
        for k in range(workers)
    ]
    budget = settings.trials if len(space) else 1
    interrupted = False
    with Progress(study, budget, spec, enabled=progress, log_json=log_json) as display:
        try:
            while any(p.poll() is None for p in procs):
                display.update(study, None)
                time.sleep(1.0)
        except KeyboardInterrupt:
            interrupted = True
            _stop(procs)
        display.update(study, None)
    codes = [p.wait() for p in procs]
    if not interrupted and all(code == 2 for code in codes):
        raise SearchEngineError("every worker stopped on bad input (see their messages above)")
    if any(code not in (0, 2, 130) for code in codes):
        _log.warning("worker exit codes: %s", codes)
    interrupted = interrupted or any(code == 130 for code in codes)
    if not interrupted:  # the workers leave the final full-fidelity retrains to this process
        started = time.monotonic()
        try:
            final.retrain_best(study, space, spec, evaluator)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            add_seconds(study, time.monotonic() - started)
    return finish(study, space, spec, out_dir, storage, interrupted)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _threads_fixed(spec: Spec) -> bool:
    """Whether the spec sets ``train.threads`` (a literal or a search expression)."""
    return "threads" in spec.train.model_fields_set


def _thread_env(workers: int, *, threads_fixed: bool) -> dict[str, str]:
    """The workers' environment: the machine's cores shared out among them.

    Each torch process uses every core by default; N of them on one machine then run
    N x cores OpenMP threads that spin against each other, and a trial takes many times
    longer than alone (13x measured with 2 workers on 2 cores). So each local worker gets
    ``max(1, cores // N)`` threads, unless the spec sets ``train.threads`` or the
    environment already sets ``OMP_NUM_THREADS``.
    """
    env = dict(os.environ)
    if threads_fixed or "OMP_NUM_THREADS" in env:
        return env
    cores = _cores()
    per_worker = max(1, cores // workers)
    if workers > cores:
        _log.info("%d workers on %d cores: trials share the cores", workers, cores)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(per_worker)
    return env


def _stop(procs: list[subprocess.Popen]) -> None:
    """Forward one SIGINT to each worker, then wait; kill those that do not stop."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    deadline = time.monotonic() + _GRACE_SECONDS
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _log.warning("worker %d did not stop; killing it", p.pid)
            p.kill()
