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


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqliteBackend]:
    opened = SqliteBackend(tmp_path / "var")
    yield opened
    opened.close()
