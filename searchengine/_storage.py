"""Optuna storages from URLs: RDB (SQLite, PostgreSQL, MySQL) or a journal file."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalStorage

from searchengine.errors import SearchEngineError

__all__ = ["default_storage_url", "open_storage"]

_JOURNAL_SUFFIXES = (".log", ".journal", ".jsonl")


def default_storage_url(out_dir: Path) -> str:
    """``sqlite:///<out_dir>/study.db`` with an absolute path."""
    return f"sqlite:///{(out_dir / 'study.db').resolve()}"


def open_storage(url: str) -> BaseStorage:
    """An Optuna storage for ``url``.

    ``journal:PATH`` or a path ending in ``.log``/``.journal``/``.jsonl`` is a journal file
    (many processes on one host); anything with ``://`` is an RDB URL
    (``sqlite:///file.db``, ``postgresql://user@host/db``).

    Raises:
        SearchEngineError: an unusable URL, with the reason.
    """
    if url.startswith("journal:") or (url.endswith(_JOURNAL_SUFFIXES) and "://" not in url):
        path = Path(url.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if "://" not in url:
        raise SearchEngineError(
            f"storage {url!r}: expected an RDB URL (sqlite:///file.db, postgresql://...) "
            "or a journal file (journal:PATH or a .log path)"
        )
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        return RDBStorage(url, engine_kwargs=_engine_kwargs(url))
    except (optuna.exceptions.StorageInternalError, ImportError, ValueError) as exc:
        raise SearchEngineError(f"storage {url!r}: {exc}") from None
    except Exception as exc:  # SQLAlchemy's connection errors, missing drivers
        raise SearchEngineError(
            f"storage {url!r}: cannot open it ({type(exc).__name__}: {exc})"
        ) from None


def _engine_kwargs(url: str) -> dict[str, object]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 60}}
    return {"pool_pre_ping": True}
