"""A real Ctrl-C (SIGINT) on the CLI leaves a consistent study that a rerun completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

ROOT = Path(__file__).resolve().parents[2]
SPEC = """\
name: sigint
evaluator: tests.engine.functions:slow_quadratic
params: {x: {float: [-5, 5]}}
objectives: [{metric: value, direction: minimize}]
search: {trials: 40}
"""


def _complete(storage: str) -> int:
    if not Path(storage.removeprefix("sqlite:///")).exists():
        return 0
    try:
        study = optuna.load_study(study_name="sigint", storage=storage)
    except Exception:  # not created yet, or the CLI is creating the tables right now
        return 0
    return sum(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False))


def test_sigint_then_rerun(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "run"
    storage = f"sqlite:///{out / 'study.db'}"
    command = [sys.executable, "-m", "searchengine", "run", str(spec), "--out", str(out), "-q"]
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while _complete(storage) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.2)  # most likely inside a trial now
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    study = optuna.load_study(study_name="sigint", storage=storage)
    trials = study.get_trials()
    assert all(t.state != TrialState.RUNNING for t in trials)
    interrupted = [t for t in trials if t.user_attrs.get("interrupted")]
    assert len(interrupted) <= 1 and all(t.state == TrialState.FAIL for t in interrupted)
    done = [t.params for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) >= 3 and (out / "result.json").exists()

    rerun = subprocess.run(
        [*command, "--trials", str(len(done) + 2)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert rerun.returncode == 0, rerun.stderr
    study = optuna.load_study(study_name="sigint", storage=storage)
    complete = [t.params for t in study.get_trials() if t.state == TrialState.COMPLETE]
    assert len(complete) == len(done) + 2
    assert complete[: len(done)] == done  # nothing completed was lost


def test_ctrl_c_as_the_heartbeat_starts_leaves_no_thread_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SIGINT just after the heartbeat thread started, before the trial's block is
    entered, must not leave that thread beating: the process would wait for it at exit."""
    from searchengine.engine.session import _heartbeat

    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'db'}", heartbeat_interval=1)
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    start = threading.Thread.start

    def start_then_interrupt(self: threading.Thread) -> None:
        start(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(threading.Thread, "start", start_then_interrupt)
    before = set(threading.enumerate())
    with pytest.raises(KeyboardInterrupt):
        with _heartbeat(study, trial):
            pass
    monkeypatch.undo()
    left = [t for t in set(threading.enumerate()) - before if t.is_alive()]
    assert not left, left
    assert study.get_trials()[0].state == TrialState.RUNNING  # beats were recorded, then stopped
