"""A dead worker's RUNNING trial: a rerun waits for it, fails and retries it, and returns
with the budget met by COMPLETE trials and nothing RUNNING."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from searchengine import run
from searchengine.engine import open_study
from searchengine.engine.stale import WORKER_ATTR, _start_ticks
from searchengine.searchspace import SearchSpace, parse_spec
from searchengine.strategies import resolve_strategy
from tests.engine.test_engine import generic

SPEC = generic(extra="search: {heartbeat: 1, grace: 2}\n")
pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage")


def orphan(storage: str, worker: dict | None) -> int:
    """Two COMPLETE trials and one RUNNING trial of ``worker``, as a killed worker leaves
    them; returns the RUNNING trial's number."""
    spec = parse_spec(SPEC)
    space = SearchSpace.from_spec(spec)
    study = open_study(spec, space, resolve_strategy("random")(seed=0), storage, "g")
    for x in (1.0, 2.0):
        study.add_trial(
            optuna.trial.create_trial(
                params={"params.x": x},
                distributions={"params.x": FloatDistribution(-5, 5)},
                value=(x - 1.0) ** 2,
            )
        )
    trial = study.ask({"params.x": FloatDistribution(-5, 5)})
    if worker is not None:
        worker = {**worker, "trial": trial.number}
        study._storage.set_trial_system_attr(trial._trial_id, WORKER_ATTR, worker)
    return trial.number


def states(result) -> list[TrialState]:
    return [t.state for t in result.study.trials]


def assert_retried(result, number: int) -> None:
    trials = result.study.trials
    assert trials[number].state == TrialState.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == number]
    assert len(retries) == 1 and retries[0].params == trials[number].params
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 3
    assert TrialState.RUNNING not in states(result)


def test_a_dead_local_worker_is_waited_for_then_retried(tmp_path: Path) -> None:
    """The worker process still runs for a second (the rerun waits), then exits without
    finishing its trial, and is not reaped at once (a zombie is dead too)."""
    storage = f"journal:{tmp_path / 'study.log'}"
    worker = subprocess.Popen(["sleep", "1"])
    number = orphan(
        storage, {"host": _host(), "pid": worker.pid, "start": _start_ticks(worker.pid)}
    )
    started = time.monotonic()
    result = run(parse_spec(SPEC), trials=3, storage=storage, out=tmp_path, progress=False)
    assert time.monotonic() - started >= 0.9  # it waited while the process lived
    worker.wait()
    assert_retried(result, number)


def test_a_stale_heartbeat_is_waited_for_then_retried(tmp_path: Path) -> None:
    """SQLite: a trial of another host whose heartbeat stopped; the grace period is 2 s."""
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    number = orphan(storage, {"host": "elsewhere", "pid": 1, "start": None})
    study = optuna.load_study(study_name="g", storage=storage)
    study._storage.record_heartbeat(study.trials[number]._trial_id)
    result = run(parse_spec(SPEC), trials=3, storage=storage, out=tmp_path, progress=False)
    assert_retried(result, number)


def test_another_hosts_trial_needs_stale_after_on_a_journal(tmp_path: Path, caplog) -> None:
    storage = f"journal:{tmp_path / 'study.log'}"
    number = orphan(storage, {"host": "elsewhere", "pid": 1, "start": None})
    with caplog.at_level("WARNING"):
        kept = run(parse_spec(SPEC), trials=3, storage=storage, out=tmp_path, progress=False)
    assert states(kept).count(TrialState.RUNNING) == 1  # nothing can tell it stale
    assert f"trial(s) {number} still RUNNING" in caplog.text and "--stale-after" in caplog.text
    result = run(
        parse_spec(SPEC), trials=3, storage=storage, out=tmp_path, progress=False, stale_after=0.5
    )
    assert_retried(result, number)


@pytest.mark.parametrize("storage", ["journal", "sqlite"])
def test_a_live_workers_trial_is_not_failed(tmp_path: Path, storage: str) -> None:
    """A trial of this very process (alive) is left alone; a timeout ends the wait."""
    import os

    url = {"journal": f"journal:{tmp_path / 'study.log'}", "sqlite": None}[storage]
    url = url or f"sqlite:///{tmp_path / 'study.db'}"
    me = os.getpid()
    number = orphan(url, {"host": _host(), "pid": me, "start": _start_ticks(me)})
    result = run(
        parse_spec(SPEC), trials=3, storage=url, out=tmp_path, progress=False, timeout=1.5
    )
    assert result.study.trials[number].state == TrialState.RUNNING


def _host() -> str:
    import socket

    return socket.gethostname()


def test_a_trial_closed_by_another_worker_meanwhile_is_dropped(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    journal = tmp_path / "study.log"
    monkeypatch.setenv("SE_TEST_COUNTER", str(tmp_path / "calls"))
    monkeypatch.setenv("SE_TEST_JOURNAL", str(journal))
    spec = parse_spec(generic("tests.engine.functions:closed_meanwhile"))
    with caplog.at_level("WARNING"):
        result = run(spec, trials=2, storage=f"journal:{journal}", out=tmp_path, progress=False)
    assert states(result) == [TrialState.FAIL, TrialState.COMPLETE]
    assert "trial 0 was closed as FAIL by another worker while it ran" in caplog.text


def test_an_interrupt_while_telling_leaves_nothing_running(tmp_path: Path, monkeypatch) -> None:
    """Ctrl-C that lands inside ``study.tell`` (outside the evaluation's handlers)."""
    tell = optuna.Study.tell
    calls = []

    def interrupted_tell(self, trial, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return tell(self, trial, *args, **kwargs)

    monkeypatch.setattr(optuna.Study, "tell", interrupted_tell)
    result = run(parse_spec(SPEC), trials=3, out=tmp_path, progress=False)
    assert result.interrupted
    assert states(result) == [TrialState.COMPLETE, TrialState.FAIL]
    assert result.study.trials[1].user_attrs["interrupted"] is True


def test_a_signal_is_held_while_the_journal_lock_is(tmp_path: Path) -> None:
    """Optuna's journal lock, interrupted while it waits, breaks another process's lock:
    SIGINT is raised only once the lock is released."""
    import os
    import signal

    from searchengine.engine.storage import open_storage

    storage = open_storage(f"journal:{tmp_path / 'study.log'}")
    lock = storage._backend._lock
    lock.acquire()
    os.kill(os.getpid(), signal.SIGINT)
    released = False
    with pytest.raises(KeyboardInterrupt):
        try:
            lock.release()
        finally:
            released = not (tmp_path / "study.log.lock").exists()
    assert released
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
