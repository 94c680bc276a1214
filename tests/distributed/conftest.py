from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.distributed.pg import PostgresServer, find_binaries

_names = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    binaries = find_binaries()
    if binaries is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install the "
            "distribution's postgresql package (.ci/run does)"
        )
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
    pytest.importorskip("psycopg2", reason="the PostgreSQL driver psycopg2 is not installed")
    # Not under pytest's tmp_path: it is private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="searchengine-pg-"))
    server = PostgresServer(root, binaries)
    try:
        server.init()
        server.start()
        yield server
        server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """A fresh database on the shared throwaway server."""
    return pg_server.create_database(f"study_{next(_names)}")
