"""Opening the study of a finished (or running) search: by run folder, or storage + name.

``searchengine report``, ``export`` and the Python API read studies this way. A run
folder is what ``searchengine run`` wrote: ``result.json`` names the storage and the
study; without it, ``study.db`` (SQLite) or ``study.log`` (a journal file) is opened.
Nothing is created: a missing folder, file or study is a clear error.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from searchengine.errors import SearchEngineError
from searchengine.spec.format import Spec

__all__ = ["OpenedRun", "open_run", "spec_of"]

_log = logging.getLogger(__name__)


@dataclass
class OpenedRun:
    """A study and what is known about it.

    Attributes:
        study: the Optuna study (read it; a search may still be writing to it).
        storage: its storage URL.
        run_dir: the run folder, when opened by folder.
        spec: the spec the study was made with, or None (a study made by other tools).
    """

    study: optuna.Study
    storage: str
    run_dir: Path | None
    spec: Spec | None


def open_run(
    run_dir: str | Path | None = None, *, storage: str | None = None, study: str | None = None
) -> OpenedRun:
    """Open the study of a run folder, or of a storage URL and a study name.

    Args:
        run_dir: a folder ``searchengine run`` wrote (``runs/NAME``).
        storage: an Optuna storage URL or journal file, instead of ``run_dir``.
        study: the study name; optional when the storage holds one study only.

    Raises:
        SearchEngineError: a missing folder or storage, or no such study.
    """
    folder = None
    if storage is None:
        if run_dir is None:
            raise SearchEngineError("give a run folder, or --storage URL (and --study NAME)")
        folder = Path(run_dir).expanduser()
        storage, named = _storage_of(folder)
        study = study or named
    _check_exists(storage)
    from searchengine.engine.storage import StorageOptions, open_storage

    opened = open_storage(storage, StorageOptions(heartbeat=None))
    names = optuna.get_all_study_names(storage=opened)
    if study is None:
        if len(names) != 1:
            listing = ", ".join(names) or "none"
            raise SearchEngineError(
                f"{storage} holds {len(names)} studies ({listing}); pick one with --study NAME"
            )
        study = names[0]
    if study not in names:
        raise SearchEngineError(
            f"no study {study!r} in {storage} (studies: {', '.join(names) or 'none'})"
        )
    loaded = optuna.load_study(study_name=study, storage=opened)
    return OpenedRun(loaded, storage, folder, spec_of(loaded))


def spec_of(study: optuna.Study) -> Spec | None:
    """The spec stored with ``study`` by ``searchengine run``, or None."""
    from searchengine._optuna import SPEC_ATTR

    data: Any = study.user_attrs.get(SPEC_ATTR)
    if data is None:
        return None
    try:
        return Spec.model_validate(data)
    except ValueError as exc:
        _log.warning("the spec stored with study %s is unreadable: %s", study.study_name, exc)
        return None


def _storage_of(folder: Path) -> tuple[str, str | None]:
    """The storage URL and study name of a run folder."""
    if not folder.is_dir():
        raise SearchEngineError(f"run folder not found: {folder}")
    result = folder / "result.json"
    if result.is_file():
        try:
            summary = json.loads(result.read_text())
            url, name = str(summary["storage"]), summary.get("study")
        except (ValueError, KeyError, TypeError) as exc:
            raise SearchEngineError(f"{result}: not a searchengine result ({exc})") from None
        local = _local_file(url)
        if local is None or local.exists():
            return url, name
        _log.info("%s names %s, which is gone; looking in %s", result, url, folder)
    for file, scheme in (("study.db", "sqlite:///"), ("study.log", "journal:")):
        if (folder / file).is_file():
            return f"{scheme}{(folder / file).resolve()}", None
    raise SearchEngineError(
        f"{folder} holds no study (expected study.db, study.log or result.json); "
        "is it a folder that `searchengine run` wrote?"
    )


def _local_file(url: str) -> Path | None:
    """The file of a SQLite or journal storage; None for a database server."""
    from searchengine.engine.storage import is_journal

    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///"))
    if is_journal(url):
        return Path(url.removeprefix("journal:"))
    return None


def _check_exists(url: str) -> None:
    path = _local_file(url)
    if path is not None and not path.is_file():
        raise SearchEngineError(f"storage not found: {path}")
    if path is None and "://" not in url:
        raise SearchEngineError(
            f"storage {url!r}: expected an RDB URL (sqlite:///file.db, postgresql://...) "
            "or a journal file (journal:PATH or a .log path)"
        )
