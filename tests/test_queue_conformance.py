"""The `Queue` conformance suite (tests/queue_conformance.py), run against every implementation.

A new implementation adds a backend below (a fresh, empty store per test) and a param to the
`backend` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from transformer.server.queue.base import Queue
from transformer.server.queue.sqlite import SqliteQueue

from .postgres_cluster import Postgres
from .queue_conformance import *  # noqa: F403 - the suite's tests run here, once per backend


class SqliteBackend:
    """Queue objects on one SQLite store in a temporary folder."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.opened: list[SqliteQueue] = []

    def open(self) -> Queue:
        queue = SqliteQueue(self.data_dir)
        self.opened.append(queue)
        return queue

    def close(self) -> None:
        for queue in self.opened:
            queue.close()


class PostgresBackend:
    """Queue objects on one fresh database of the session's PostgreSQL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.opened: list[Queue] = []

    def open(self) -> Queue:
        from transformer.server.queue.postgres import PostgresQueue

        queue = PostgresQueue(self.url, pool_size=2)
        self.opened.append(queue)
        return queue

    def close(self) -> None:
        for queue in self.opened:
            queue.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqliteBackend | PostgresBackend]:
    opened: SqliteBackend | PostgresBackend
    if request.param == "postgres":
        server: Postgres = request.getfixturevalue("postgres_server")
        opened = PostgresBackend(server.database())
    else:
        opened = SqliteBackend(tmp_path / "var")
    yield opened
    opened.close()
