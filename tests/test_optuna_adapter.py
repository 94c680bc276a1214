"""The one module that reaches into Optuna's internals (searchengine._optuna) still finds
them in the installed Optuna, and no other module of the package reaches them."""

from __future__ import annotations

import re
from pathlib import Path

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from searchengine import _optuna

PACKAGE = Path(__file__).resolve().parents[1] / "searchengine"
PRIVATE = re.compile(
    r"\._storage\b|\._study_id\b|\._trial_id\b|\._contains\(|optuna\.storages\._|"
    r"storages\.journal\._|\"searchengine:[a-z_]+\"|\"(?:evolution|rl):[a-z_:]+\""
)


def test_no_module_but_the_adapter_touches_optuna_internals_or_names_a_study_key() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{n}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "_optuna.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if PRIVATE.search(line)
    ]
    assert not offenders, "\n".join(offenders)


def test_the_adapter_reads_and_writes_through_the_installed_optuna(tmp_path: Path) -> None:
    for url in (None, f"sqlite:///{tmp_path / 'a.db'}"):
        study = optuna.create_study(storage=url)
        trial = study.ask({"x": FloatDistribution(0.0, 1.0)})
        assert _optuna.storage_of(study) is study._storage
        assert _optuna.trial_id(trial) == study.trials[0]._trial_id
        _optuna.set_trial_system_attr(study, trial, _optuna.PARENT_ATTR, 3)
        _optuna.set_study_system_attr(study, _optuna.RL_SEED_ATTR, 7)
        assert _optuna.study_system_attr(study, _optuna.RL_SEED_ATTR) == 7
        assert _optuna.study_system_attr(study, "absent") is None
        study.tell(trial, 0.5)
        (frozen,) = _optuna.all_trials(study)
        assert frozen.system_attrs[_optuna.PARENT_ATTR] == 3 and frozen.value == 0.5
        assert _optuna.study_id(study) == study._study_id
        assert _optuna.heartbeat_interval(_optuna.storage_of(study)) is None


def test_heartbeats_are_seen_on_a_storage_that_sends_them(tmp_path: Path) -> None:
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'h.db'}", heartbeat_interval=5)
    assert _optuna.heartbeat_interval(storage) == 5
    assert _optuna.is_heartbeat_enabled(storage)


def test_contains_takes_external_values() -> None:
    assert _optuna.contains(CategoricalDistribution([2, 4, "x"]), "x")
    assert not _optuna.contains(CategoricalDistribution([2, 4]), 8)
    assert _optuna.contains(IntDistribution(1, 9, step=2), 5)
    assert not _optuna.contains(IntDistribution(1, 9, step=2), 4)
    assert not _optuna.contains(FloatDistribution(0.0, 1.0), 1.5)


def test_reason_and_unused_read_the_keys_the_engine_writes() -> None:
    failed = optuna.trial.create_trial(
        state=optuna.trial.TrialState.FAIL,
        user_attrs={_optuna.FAIL_REASON_ATTR: "boom", _optuna.SURPLUS_ATTR: True},
    )
    assert _optuna.reason(failed) == "boom" and _optuna.unused(failed)
    done = optuna.trial.create_trial(value=1.0)
    assert _optuna.reason(done) == "" and not _optuna.unused(done)
