"""Evaluator functions for engine tests (generic searches, no training)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from searchengine.strategies import OneShotStrategy


def quadratic(values: dict[str, Any], seed: int) -> dict[str, float]:
    x = float(values["params.x"])
    return {"value": (x - 1.0) ** 2, "size": abs(x) * 10, "seed": float(seed)}


def interrupt_on_third(values: dict[str, Any], seed: int) -> dict[str, float]:
    """Raises KeyboardInterrupt on the third call of a process, as Ctrl-C would."""
    counter = Path(os.environ["SE_TEST_COUNTER"])
    calls = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(calls))
    if calls == 3:
        raise KeyboardInterrupt
    return quadratic(values, seed)


def nan_metric(values: dict[str, Any], seed: int) -> dict[str, float]:
    return {"value": float("nan")}


def slow_quadratic(values: dict[str, Any], seed: int) -> dict[str, float]:
    """Takes a while, so that a test can press Ctrl-C in the middle of a trial."""
    import time

    time.sleep(0.4)
    return quadratic(values, seed)


def sleepy(values: dict[str, Any], seed: int) -> dict[str, float]:
    """Sleeps ``$SE_TEST_SLEEP`` seconds (default 0.05), then returns the quadratic."""
    import time

    time.sleep(float(os.environ.get("SE_TEST_SLEEP", "0.05")))
    return quadratic(values, seed)


def interrupt_at(values: dict[str, Any], seed: int) -> dict[str, float]:
    """Counts calls in ``$SE_TEST_COUNTER``; the call number ``$SE_TEST_INTERRUPT_AT``
    raises KeyboardInterrupt (0: never)."""
    counter = Path(os.environ["SE_TEST_COUNTER"])
    calls = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(calls))
    if calls == int(os.environ.get("SE_TEST_INTERRUPT_AT", "0")):
        raise KeyboardInterrupt
    return quadratic(values, seed)


class SlowOneShot(OneShotStrategy):
    """A one-shot plug-in that "searches" for ``$SE_TEST_SLEEP`` seconds, then records the
    space's defaults."""

    name = "slow_one_shot"

    def search(self, session: Any) -> None:
        import time

        time.sleep(float(os.environ.get("SE_TEST_SLEEP", "0.5")))
        session.record(session.space.fixed(session.space.defaults()))


def threads(values: dict[str, Any], seed: int) -> dict[str, float]:
    """The quadratic, and the torch CPU threads this process trains with."""
    import torch

    return {**quadratic(values, seed), "threads": float(torch.get_num_threads())}


def closed_meanwhile(values: dict[str, Any], seed: int) -> dict[str, float]:
    """The first call of a process fails its own RUNNING trial in the journal file
    ``$SE_TEST_JOURNAL`` through another storage object, as another worker that took this
    one for dead would; then it returns the quadratic."""
    import optuna
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState

    counter = Path(os.environ["SE_TEST_COUNTER"])
    calls = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(calls))
    if calls == 1:
        storage = optuna.storages.JournalStorage(JournalFileBackend(os.environ["SE_TEST_JOURNAL"]))
        study = optuna.load_study(study_name="g", storage=storage)
        for trial in study.get_trials(states=(TrialState.RUNNING,)):
            storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    return quadratic(values, seed)
