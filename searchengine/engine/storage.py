"""Optuna storages from URLs, with heartbeats and patience for a lost database.

* ``sqlite:///file.db`` (the default): one process.
* ``journal:PATH`` or a path ending in ``.log``: many processes on one host.
* ``postgresql://user@host/db`` (or any SQLAlchemy URL Optuna supports): many hosts.

RDB storages get heartbeats: a worker that dies leaves its trial RUNNING only until the
grace period; the next worker to ask fails it and re-queues it once (Optuna's
``RetryHeartbeatStaleTrialCallback``). A lost database connection is retried with
exponential backoff for ``retry_seconds`` before the run stops with a clear message.
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import optuna
from optuna.storages import BaseStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock, JournalStorage

from searchengine._optuna import BaseJournalFileLock
from searchengine.errors import SearchEngineError

__all__ = ["DatabaseLostError", "StorageOptions", "default_storage_url", "open_storage"]

_log = logging.getLogger(__name__)
_JOURNAL_SUFFIXES = (".log", ".journal", ".jsonl")
F = TypeVar("F", bound=Callable[..., Any])


class DatabaseLostError(SearchEngineError):
    """The database stayed unreachable longer than the retry budget."""


@dataclass(frozen=True)
class StorageOptions:
    """How patient a storage is: heartbeat interval, grace period, retry budget (seconds)."""

    heartbeat: int | None = 15
    grace: int | None = None
    retry_seconds: float = 120.0


def default_storage_url(out_dir: Path) -> str:
    """``sqlite:///<out_dir>/study.db`` with an absolute path."""
    return f"sqlite:///{(out_dir / 'study.db').resolve()}"


def is_journal(url: str) -> bool:
    return url.startswith("journal:") or (url.endswith(_JOURNAL_SUFFIXES) and "://" not in url)


def open_storage(url: str, options: StorageOptions | None = None) -> BaseStorage:
    """An Optuna storage for ``url`` (see the module docstring).

    Raises:
        SearchEngineError: an unusable URL, with the reason.
    """
    options = options or StorageOptions()
    if is_journal(url):
        path = Path(url.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = _SignalDeferringLock(JournalFileSymlinkLock(str(path)))
        return JournalStorage(JournalFileBackend(str(path), lock_obj=lock))
    if "://" not in url:
        raise SearchEngineError(
            f"storage {url!r}: expected an RDB URL (sqlite:///file.db, postgresql://...) "
            "or a journal file (journal:PATH or a .log path)"
        )
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    heartbeat = options.heartbeat
    grace = options.grace or (4 * heartbeat if heartbeat else None)
    kwargs: dict[str, Any] = {}
    if heartbeat:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry = RetryHeartbeatStaleTrialCallback(max_retry=1)
        kwargs = {
            "heartbeat_interval": heartbeat,
            "grace_period": grace,
            "heartbeat_stale_trial_callback": retry,
        }
    try:
        storage = _create_rdb(url, kwargs)
    except (ImportError, ValueError, optuna.exceptions.StorageInternalError) as exc:
        raise SearchEngineError(f"storage {url!r}: {exc}") from None
    except Exception as exc:  # SQLAlchemy's connection errors, missing drivers
        raise SearchEngineError(
            f"storage {url!r}: cannot open it ({type(exc).__name__}: {exc})"
        ) from None
    storage.retry_seconds = options.retry_seconds
    return storage


def _create_rdb(url: str, kwargs: dict[str, Any]) -> RetryingRDBStorage:
    """Create the storage; tolerate other workers creating the schema at the same moment."""
    import sqlalchemy.exc

    for attempt in range(8):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" since Optuna 2.9
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = RetryingRDBStorage(url, engine_kwargs=_engine_kwargs(url), **kwargs)
            if url.startswith("sqlite"):
                _tune_sqlite(storage)
            return storage
        except (
            sqlalchemy.exc.IntegrityError,
            sqlalchemy.exc.ProgrammingError,
            sqlalchemy.exc.OperationalError,
        ) as exc:
            racing = not isinstance(exc, sqlalchemy.exc.OperationalError) or (
                "already exists" in str(exc) or "locked" in str(exc)
            )
            if attempt == 7 or not racing:
                raise
            time.sleep(0.25 * (attempt + 1))  # another process is creating the tables
    raise AssertionError("unreachable")


class _SignalDeferringLock(BaseJournalFileLock):
    """The journal file's lock, with SIGINT and SIGTERM held back while it is held.

    A KeyboardInterrupt raised inside Optuna's lock while it waits for another process
    releases that process's lock file (breaking the other's write), or raises
    RuntimeError("did not possess lock") instead of the interrupt: a worker then failed
    its trial with that reason and went on, or crashed leaving it RUNNING (seen about one
    Ctrl-C in ten with two workers). Here a signal that arrives from acquiring to
    releasing is delivered just after the release. Only the main thread can hold signals
    back; other threads lock as before.
    """

    _HELD = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, lock: BaseJournalFileLock) -> None:
        self._lock = lock
        self._saved: dict[int, Any] = {}
        self._pending: list[int] = []

    def acquire(self) -> bool:
        if threading.current_thread() is threading.main_thread():
            self._pending = []
            for signum in self._HELD:
                self._saved[signum] = signal.signal(signum, self._hold)
        try:
            return self._lock.acquire()
        except BaseException:  # not held: nobody will call release
            self._deliver()
            raise

    def release(self) -> None:
        try:
            self._lock.release()
        finally:
            self._deliver()

    def _deliver(self) -> None:
        saved, self._saved = self._saved, {}
        for signum, handler in saved.items():
            signal.signal(signum, handler)
        pending, self._pending = self._pending, []
        for signum in pending:
            signal.raise_signal(signum)

    def _hold(self, signum: int, frame: Any) -> None:
        self._pending.append(signum)


def _tune_sqlite(storage: RDBStorage) -> None:
    """Write-ahead logging, and fsync at checkpoints rather than at every commit.

    A trial makes about ten small commits; with SQLite's defaults each waits for an fsync
    (~20 ms here). In WAL mode with ``synchronous=NORMAL`` a commit survives the process
    being killed, and only an operating-system crash can lose the last commits. WAL also
    lets readers (a report, a dashboard) run while a search writes.
    """
    import sqlalchemy

    def on_connect(dbapi_connection: Any, _: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    sqlalchemy.event.listen(storage.engine, "connect", on_connect)
    storage.engine.dispose()  # connections made while creating the tables predate the hook


def _engine_kwargs(url: str) -> dict[str, object]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 60}}
    return {"pool_pre_ping": True}


def _is_connection_error(exc: BaseException) -> bool:
    import sqlalchemy.exc

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
            return True
        if isinstance(seen, sqlalchemy.exc.DBAPIError) and seen.connection_invalidated:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _shown(url: str) -> str:
    """A storage URL as messages show it: without its password."""
    import sqlalchemy.engine

    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # not parseable: show nothing of it rather than a secret
        return "(storage)"


def _retrying(method: F) -> F:
    @functools.wraps(method)
    def wrapper(self: RetryingRDBStorage, *args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.5
        while True:
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:
                if not _is_connection_error(exc):
                    raise
                if time.monotonic() + delay > deadline:
                    raise DatabaseLostError(
                        f"lost the database {_shown(self.url)} ({type(exc).__name__}) and it "
                        f"did not come back within {self.retry_seconds:g} s; the study is "
                        "intact up to the last finished trial: rerun the same command to resume"
                    ) from None
                _log.warning(
                    "database unreachable (%s); retrying in %.1f s", type(exc).__name__, delay
                )
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    return wrapper  # type: ignore[return-value]


class RetryingRDBStorage(RDBStorage):
    """An RDBStorage whose every operation survives a short loss of the database."""

    retry_seconds: float = 120.0


_RETRIED = (
    "create_new_study",
    "delete_study",
    "set_study_user_attr",
    "set_study_system_attr",
    "get_study_id_from_name",
    "get_study_name_from_id",
    "get_study_directions",
    "get_study_user_attrs",
    "get_study_system_attrs",
    "get_all_studies",
    "create_new_trial",
    "set_trial_param",
    "get_trial_id_from_study_id_trial_number",
    "get_trial_number_from_id",
    "get_trial_param",
    "set_trial_state_values",
    "set_trial_intermediate_value",
    "set_trial_user_attr",
    "set_trial_system_attr",
    "get_trial",
    "get_all_trials",
    "get_n_trials",
    "get_best_trial",
    "get_trial_params",
    "get_trial_user_attrs",
    "get_trial_system_attrs",
    "record_heartbeat",
    "_get_stale_trial_ids",
    # what Optuna's cache layer (_CachedStorage) calls on the storage under it
    "_create_new_trial",
    "_get_best_trial_id",
    "_get_trials",
    "_set_trial_param",
    "check_trial_is_updatable",
)
for _name in _RETRIED:
    if hasattr(RDBStorage, _name):  # the private ones differ between Optuna versions
        setattr(RetryingRDBStorage, _name, _retrying(getattr(RDBStorage, _name)))

_record_heartbeat = RetryingRDBStorage.record_heartbeat


def _quiet_heartbeat(self: RetryingRDBStorage, trial_id: int) -> None:
    """The heartbeat thread's beat: a database lost for good ends the beats quietly (the
    main thread meets the same loss and ends the run with its message)."""
    try:
        _record_heartbeat(self, trial_id)
    except DatabaseLostError:
        _log.debug("heartbeat of trial %d stopped: the database is lost", trial_id)


RetryingRDBStorage.record_heartbeat = _quiet_heartbeat  # type: ignore[method-assign]
