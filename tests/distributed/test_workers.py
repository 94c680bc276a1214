"""Many workers on one study, and faults that must cost nothing already done.

Real components: a PostgreSQL server started from the distribution's binaries (skipped
with a reason where there are none), worker processes started through the CLI, SIGKILL
and SIGINT, and a database stopped and restarted during a run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

ROOT = Path(__file__).resolve().parents[2]


def spec_file(tmp_path: Path, trials: int, extra: str = "") -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(
        "name: dist\n"
        "evaluator: tests.engine.functions:sleepy\n"
        "params: {x: {float: [-5, 5]}, n: {int: [0, 1000]}}\n"
        "objectives: [{metric: value, direction: minimize}]\n"
        f"search: {{strategy: random, trials: {trials}, heartbeat: 1, grace: 3{extra}}}\n"
    )
    return path


def worker(spec: Path, storage: str, index: int, sleep: float = 0.05) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "searchengine",
            "worker",
            str(spec),
            "--storage",
            storage,
            "--worker-index",
            str(index),
            "--no-results",
            "-q",
        ],
        cwd=ROOT,
        env={**os.environ, "SE_TEST_SLEEP": str(sleep)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def load(storage: str) -> optuna.Study:
    return optuna.load_study(study_name="dist", storage=storage)


def complete(storage: str) -> list[optuna.trial.FrozenTrial]:
    try:
        trials = load(storage).get_trials(deepcopy=False)
    except Exception:  # not created yet
        return []
    return [t for t in trials if t.state == TrialState.COMPLETE]


def wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_three_workers_share_the_budget(tmp_path: Path, pg_url: str) -> None:
    spec = spec_file(tmp_path, trials=30)
    procs = [worker(spec, pg_url, k) for k in range(3)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    trials = load(pg_url).get_trials()
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == 30
    assert len({tuple(sorted(t.params.items())) for t in done}) == 30  # none evaluated twice
    others = [t for t in trials if t.state != TrialState.COMPLETE]
    assert all(t.user_attrs.get("surplus") for t in others)  # only closed, never evaluated


def test_sigkilled_worker_trial_is_failed_and_retried(tmp_path: Path, pg_url: str) -> None:
    spec = spec_file(tmp_path, trials=8)
    victim = worker(spec, pg_url, 0, sleep=1.5)
    wait_for(lambda: len(complete(pg_url)) >= 1)
    time.sleep(0.5)  # inside its second trial
    before = {t.number: t.params for t in complete(pg_url)}
    running = [t for t in load(pg_url).get_trials() if t.state == TrialState.RUNNING]
    assert len(running) == 1
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    survivor = worker(spec, pg_url, 1, sleep=0.3)
    out, err = survivor.communicate(timeout=300)
    assert survivor.returncode == 0, err
    trials = {t.number: t for t in load(pg_url).get_trials()}
    stale = trials[running[0].number]
    assert stale.state == TrialState.FAIL
    retries = [t for t in trials.values() if t.system_attrs.get("failed_trial") == stale.number]
    assert len(retries) == 1 and retries[0].params == stale.params
    assert retries[0].state == TrialState.COMPLETE
    assert sum(t.state == TrialState.COMPLETE for t in trials.values()) == 8
    assert all(
        trials[n].params == p and trials[n].state == TrialState.COMPLETE for n, p in before.items()
    )  # nothing done earlier was lost


def test_database_outage_is_survived(tmp_path: Path, pg_server, pg_url: str) -> None:
    spec = spec_file(tmp_path, trials=10)
    proc = worker(spec, pg_url, 0, sleep=0.5)
    wait_for(lambda: len(complete(pg_url)) >= 2)
    before = {t.number: t.params for t in complete(pg_url)}
    pg_server.stop()
    time.sleep(4)
    pg_server.start()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "database unreachable" in err
    trials = load(pg_url).get_trials()
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 10
    assert all(t.state != TrialState.RUNNING for t in trials)
    by_number = {t.number: t for t in trials}
    assert all(by_number[n].params == p for n, p in before.items())


def test_a_ten_second_outage_under_two_workers_loses_and_doubles_nothing(
    tmp_path: Path, pg_server, pg_url: str
) -> None:
    """The server stops for 10 s, past the heartbeats' grace period (3 s): when it is
    back, a worker may find the other's running trial stale and retry it; the late
    result of that trial is then dropped, never counted beside its retry."""
    spec = spec_file(tmp_path, trials=10)
    procs = [worker(spec, pg_url, k, sleep=0.5) for k in range(2)]
    wait_for(lambda: len(complete(pg_url)) >= 2)
    before = {t.number: t.params for t in complete(pg_url)}
    pg_server.stop()
    time.sleep(10)
    pg_server.start()
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    trials = load(pg_url).get_trials()
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == 10
    assert len({tuple(sorted(t.params.items())) for t in done}) == 10  # none counted twice
    assert all(t.state != TrialState.RUNNING for t in trials)
    by_number = {t.number: t for t in trials}
    assert all(by_number[n].params == p for n, p in before.items())  # none lost


def test_ctrl_c_stops_all_local_workers_and_rerun_completes(tmp_path: Path) -> None:
    spec = spec_file(tmp_path, trials=12)
    out = tmp_path / "run"
    storage = f"journal:{out / 'study.log'}"
    command = [
        sys.executable,
        "-m",
        "searchengine",
        "run",
        str(spec),
        "--workers",
        "2",
        "--out",
        str(out),
        "-q",
    ]
    env = {**os.environ, "SE_TEST_SLEEP": "0.5"}
    parent = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_for(lambda: (out / "study.log").exists())
    journal = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(out / "study.log"))
    )
    wait_for(lambda: len(complete_in(journal)) >= 2)
    parent.send_signal(signal.SIGINT)
    _, err = parent.communicate(timeout=180)
    assert parent.returncode == 130, err
    workers = subprocess.run(
        ["pgrep", "-f", "searchengine worker .*workers.spec.yaml"], capture_output=True, text=True
    )
    assert workers.stdout.strip() == "", "a worker outlived the run"
    trials = complete_in(journal, all_states=True)
    assert all(t.state != TrialState.RUNNING for t in trials)
    assert (out / "result.json").exists()
    rerun = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert len(complete_in(journal)) == 12
    assert storage.endswith("study.log")


def complete_in(storage, all_states: bool = False) -> list[optuna.trial.FrozenTrial]:
    try:
        trials = optuna.load_study(study_name="dist", storage=storage).get_trials(deepcopy=False)
    except KeyError:
        return []
    return trials if all_states else [t for t in trials if t.state == TrialState.COMPLETE]


def test_three_evolution_workers_grow_one_population(tmp_path: Path, pg_url: str) -> None:
    spec = spec_file(tmp_path, trials=30, extra=", options: {population_size: 6}").read_text()
    spec = spec.replace("strategy: random", "strategy: evolution, seed: 3")
    path = tmp_path / "evo.yaml"
    path.write_text(spec)
    procs = [worker(path, pg_url, k) for k in range(3)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    trials = load(pg_url).get_trials()
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == 30
    claims = [
        (t.system_attrs["evolution:generation"], t.system_attrs["evolution:slot"]) for t in done
    ]
    assert len(set(claims)) == 30  # no child of the population evaluated twice
    assert max(g for g, _ in claims) >= 2  # (workers add children while a generation runs)
    for generation in {g for g, _ in claims}:  # within a generation, no parameter set twice
        params = [
            tuple(sorted(t.params.items()))
            for t, c in zip(done, claims, strict=True)
            if c[0] == generation
        ]
        assert len(params) == len(set(params))


ONE_SHOT = """\
name: dist
data: {dataset: synthetic, rows: 20000, cache: true,
       options: {categorical: 4, numerical: 1, seed: 4, max_vocab: 200}}
model: {backbone: fm, embedding: {dim: 4}, interactions: {gate: search}}
train: {batch_size: 256, epochs: 4, threads: 1}
search: {strategy: differentiable, trials: 5, heartbeat: 1, grace: 3}
"""


def test_workers_share_one_one_shot_search(tmp_path: Path, pg_url: str) -> None:
    path = tmp_path / "oneshot.yaml"
    # A generous grace: on a loaded machine a heartbeat late by 3 s would make the other
    # worker take the (live) search over, which is the takeover test's business, not this one's.
    path.write_text(ONE_SHOT.replace("epochs: 4", "epochs: 1").replace("grace: 3", "grace: 30"))
    procs = [worker(path, pg_url, k) for k in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    study = load(pg_url)
    trials = study.get_trials()
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == 1 and done[0].user_attrs["search_cost"]["strategy"] == "differentiable"
    assert study.user_attrs["searchengine:oneshot_done"] is True
    others = [
        (t.number, t.state.name, t.user_attrs.get("fail_reason"))
        for t in trials
        if t.state != TrialState.COMPLETE and not t.user_attrs.get("surplus")
    ]
    assert not others, (others, outputs)


def test_a_killed_one_shot_search_is_taken_over(tmp_path: Path, pg_url: str) -> None:
    path = tmp_path / "oneshot.yaml"
    path.write_text(ONE_SHOT)
    victim = worker(path, pg_url, 0)

    def claimed() -> bool:
        try:
            trials = load(pg_url).get_trials(deepcopy=False)
        except Exception:
            return False
        return any(t.user_attrs.get("searchengine:oneshot") for t in trials)

    wait_for(claimed)
    time.sleep(1.0)  # inside the supernet's training
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    survivor = worker(path, pg_url, 1)
    out, err = survivor.communicate(timeout=300)
    assert survivor.returncode == 0, err
    trials = load(pg_url).get_trials()
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    stale = [t for t in trials if t.state == TrialState.FAIL and not t.user_attrs.get("surplus")]
    assert len(done) == 1 and len(stale) == 1  # the dead claim failed, its retry searched
    assert done[0].system_attrs.get("failed_trial") == stale[0].number


def test_a_database_lost_for_good_ends_the_run_clearly(
    tmp_path: Path, pg_server, pg_url: str
) -> None:
    spec = spec_file(tmp_path, trials=50, extra=", retry_seconds: 3")
    proc = worker(spec, pg_url, 0, sleep=0.3)
    wait_for(lambda: len(complete(pg_url)) >= 2)
    pg_server.stop()
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        pg_server.start()
    assert proc.returncode == 2, err
    assert "Traceback" not in err
    assert "database unreachable" in err and "rerun the same command to resume" in err
    assert f"lost the database {pg_url}" in err  # names the storage
    trials = load(pg_url).get_trials()
    assert sum(t.state == TrialState.COMPLETE for t in trials) >= 2  # kept


def test_local_workers_share_the_cores_out(tmp_path: Path, monkeypatch) -> None:
    """N local workers each get cores // N torch threads (one each at least), unless the
    spec or the environment says otherwise: N processes with every core each would spin
    OpenMP threads against each other."""
    from searchengine.engine.workers import _cores, _thread_env

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    expected = max(1, _cores() // 2)
    assert _thread_env(2, threads_fixed=False)["OMP_NUM_THREADS"] == str(expected)
    assert "OMP_NUM_THREADS" not in _thread_env(2, threads_fixed=True)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert _thread_env(2, threads_fixed=False)["OMP_NUM_THREADS"] == "3"
    monkeypatch.delenv("OMP_NUM_THREADS")

    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: dist\n"
        "evaluator: tests.engine.functions:threads\n"
        "params: {x: {float: [-5, 5]}}\n"
        "objectives: [{metric: value, direction: minimize}]\n"
        "search: {strategy: random, trials: 4}\n"
    )
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    done = subprocess.run(
        [sys.executable, "-m", "searchengine", "run", str(spec), "--workers", "2"]
        + ["--out", str(out), "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    journal = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(out / "study.log"))
    )
    trials = complete_in(journal)
    assert len(trials) == 4
    assert {t.user_attrs["metrics"]["threads"] for t in trials} == {float(expected)}


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_a_sigkilled_workers_trial_is_retried_before_the_others_stop(
    tmp_path: Path, kind: str
) -> None:
    """Two workers, 6 trials; one is SIGKILLed inside a trial. The other retries that trial
    (its process is gone from this host: no need to wait for a heartbeat's grace period,
    60 s here) and both the study and a rerun end with 6 COMPLETE and nothing RUNNING."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(spec_file(tmp_path, trials=6).read_text().replace("grace: 3", "grace: 60"))
    storage = {
        "sqlite": f"sqlite:///{tmp_path / 'study.db'}",
        "journal": f"journal:{tmp_path / 'study.log'}",
    }[kind]
    victim = worker(spec, storage, 0, sleep=3.0)
    wait_for(lambda: any(t.state == TrialState.RUNNING for t in trials_in(storage)))
    survivor = worker(spec, storage, 1, sleep=0.3)
    time.sleep(1.0)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    out, err = survivor.communicate(timeout=120)
    assert survivor.returncode == 0, err
    trials = trials_in(storage)
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 6
    assert all(t.state != TrialState.RUNNING for t in trials)
    failed = [t for t in trials if t.state == TrialState.FAIL and not t.user_attrs.get("surplus")]
    assert len(failed) == 1 and failed[0].system_attrs["searchengine:worker"]["pid"] == victim.pid
    from searchengine import run
    from searchengine.searchspace import load_spec

    rerun = run(load_spec(spec), storage=storage, out=tmp_path / "rerun", progress=False)
    assert len(rerun.study.trials) == len(trials)  # nothing left to do


def trials_in(storage: str) -> list[optuna.trial.FrozenTrial]:
    if storage.startswith("journal:"):
        path = storage.removeprefix("journal:")
        if not Path(path).exists():
            return []
        storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
    try:
        return optuna.load_study(study_name="dist", storage=storage).get_trials(deepcopy=False)
    except Exception:  # not created yet
        return []
