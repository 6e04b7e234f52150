"""Shared paths and fixtures."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .postgres_cluster import Postgres, PostgresUnavailableError, postgres

ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "mappings" / "amplitude.yaml"
SAMPLES = ROOT / "samples"


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's AMPLITUDE_API_KEY or TRANSFORMER_* variables."""
    for name in list(os.environ):
        if name.startswith(("TRANSFORMER_", "AMPLITUDE_", "CIO_")):
            monkeypatch.delenv(name)


_postgres_missing: list[str] = []


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """The session's throwaway PostgreSQL (tests/postgres_cluster.py): skipped with one line when
    there is none, failed under CI=true."""
    stack = contextlib.ExitStack()
    try:
        server = stack.enter_context(postgres())
    except PostgresUnavailableError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and no PostgreSQL for the tests: {exc}", pytrace=False)
        _postgres_missing.append(str(exc))
        pytest.skip(f"no PostgreSQL: {exc}")
    with stack:
        yield server


@pytest.fixture
def postgres_url(postgres_server: Postgres) -> str:
    """A fresh, empty database on the session's PostgreSQL."""
    return postgres_server.database()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _postgres_missing:
        terminalreporter.write_line(f"PostgreSQL tests skipped: {_postgres_missing[0]}", yellow=True)
