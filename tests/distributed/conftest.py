from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from searchengine.testing.postgres import PostgresServer, find_binaries, throwaway_postgres

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
    with throwaway_postgres() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """A fresh database on the shared throwaway server."""
    return pg_server.create_database(f"study_{next(_names)}")
