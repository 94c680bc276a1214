"""Trials whose worker is gone: who runs a trial, and when its RUNNING state is stale.

Every trial this engine runs carries the trial system attribute ``searchengine:worker``:
the host name, process id and process start time of the worker that runs it, and the
trial's own number (a retried copy inherits its original's attributes; the number tells
that they are not its own). A RUNNING trial's worker is known to be gone when

* it ran on this host and that process no longer exists (any storage); or
* ``stale_after`` seconds are given, the storage has no heartbeats, the trial cannot be
  checked so (another host, or no attribute), and it started longer ago than that.

On RDB storages with heartbeats, Optuna's own ``fail_stale_trials`` also fails a trial
whose heartbeat is older than the grace period. A gone worker's trial is failed and
re-queued once, as Optuna's heartbeat callback does: the failed trial does not count
against the budget (see ``engine._uncounted``), its retry does.
"""

from __future__ import annotations

import logging
import os
import socket
import warnings
from datetime import datetime
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from searchengine._optuna import (
    WORKER_ATTR,
    is_heartbeat_enabled,
    set_trial_system_attr,
    storage_of,
    trial_id,
)

__all__ = ["WORKER_ATTR", "can_resolve", "fail_gone_trials", "mark_worker", "own_running"]

_log = logging.getLogger(__name__)
_HOST = socket.gethostname()


def _stat(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/PID/stat`` from the third on (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: count after the last ")"
    fields = stat[stat.rfind(b")") + 2 :].split()
    return fields if len(fields) > 19 else None


def _start_ticks(pid: int) -> int | None:
    """A process's start time in clock ticks since boot (Linux), to tell a reused pid."""
    fields = _stat(pid)
    return int(fields[19]) if fields is not None else None


def mark_worker(study: optuna.Study, tid: int, number: int) -> None:
    """Record this process as the worker of a trial it runs."""
    pid = os.getpid()
    worker = {"host": _HOST, "pid": pid, "start": _start_ticks(pid), "trial": number}
    set_trial_system_attr(study, tid, WORKER_ATTR, worker)


def _owner(trial: FrozenTrial) -> dict[str, Any] | None:
    """The trial's own worker record (not one inherited from the trial it retries)."""
    worker = trial.system_attrs.get(WORKER_ATTR)
    if isinstance(worker, dict) and worker.get("trial") == trial.number:
        return worker
    return None


def _local(trial: FrozenTrial) -> dict[str, Any] | None:
    worker = _owner(trial)
    return worker if worker is not None and worker.get("host") == _HOST else None


def own_running(study: optuna.Study) -> list[FrozenTrial]:
    """The RUNNING trials that this process runs."""
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return [t for t in running if (w := _local(t)) is not None and w.get("pid") == os.getpid()]


def _alive(pid: int, start: int | None) -> bool:
    """Whether the process still runs: it exists, is not a zombie (killed, not yet reaped
    by its parent) and started when recorded (not a reused pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        pass
    fields = _stat(pid)
    if fields is None:  # no /proc: existing is all we know
        return True
    return fields[0] != b"Z" and (start is None or int(fields[19]) == start)


def can_resolve(study: optuna.Study, trial: FrozenTrial, stale_after: float | None) -> bool:
    """Whether a RUNNING trial ends for sure: it finishes or its worker is seen gone."""
    if _local(trial) is not None or is_heartbeat_enabled(storage_of(study)):
        return True
    return stale_after is not None


def _gone(study: optuna.Study, trial: FrozenTrial, stale_after: float | None) -> str | None:
    """Why a RUNNING trial's worker is gone, or None while it may be alive."""
    local = _local(trial)
    if local is not None:
        if _alive(int(local["pid"]), local.get("start")):
            return None
        return f"its worker, process {local['pid']} on this host, is gone"
    if stale_after is None or is_heartbeat_enabled(storage_of(study)):
        return None
    started = trial.datetime_start
    if started is None:
        return None
    age = (datetime.now() - started).total_seconds()
    if age <= stale_after:
        return None
    worker = _owner(trial)
    where = f"on {worker['host']}" if worker is not None else "on an unknown host"
    return f"it has run {age:.0f} s {where}, over --stale-after {stale_after:g} s"


def fail_gone_trials(study: optuna.Study, stale_after: float | None) -> list[int]:
    """Fail the RUNNING trials whose worker is gone and re-queue each once.

    Of several workers that find the same trial, one fails it (the storage refuses to
    finish a trial twice) and re-queues it. Returns the numbers of the trials this call
    failed.
    """
    failed = []
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in running:
        reason = _gone(study, trial, stale_after)
        if reason is None:
            continue
        try:
            if not storage_of(study).set_trial_state_values(trial_id(trial), TrialState.FAIL):
                continue
        except UpdateFinishedTrialError:  # another worker failed it, or it just finished
            continue
        _log.warning("trial %d failed and re-queued: %s", trial.number, reason)
        failed.append(trial.number)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry = RetryHeartbeatStaleTrialCallback(max_retry=1)
        retry(study, storage_of(study).get_trial(trial_id(trial)))
    return failed
