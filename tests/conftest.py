"""Shared paths and fixtures."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from transformer import CompiledMapping, load_mapping
from transformer.expr.budget import DEFAULT_OUTPUT_BUDGET

from .postgres_cluster import Postgres, PostgresUnavailableError, postgres

ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "mappings" / "amplitude.yaml"
SAMPLES = ROOT / "samples"

_COMPILED: dict[str, CompiledMapping] = {}


def compiled_mapping(path: Path = MAPPING, settings: Mapping[str, Any] | None = None, *,
                     output_budget: int = DEFAULT_OUTPUT_BUDGET) -> CompiledMapping:
    """`load_mapping(path, settings, environ={})`, compiled once per test session for each
    (mapping, settings, output budget): tests share it, and none changes it."""
    key = json.dumps([str(path), dict(settings or {}), output_budget], sort_keys=True)
    found = _COMPILED.get(key)
    if found is None:
        found = _COMPILED[key] = load_mapping(path, settings, environ={}, output_budget=output_budget)
    return found


@pytest.fixture(scope="session")
def compiled() -> Callable[..., CompiledMapping]:
    """`compiled(path=MAPPING, settings=None, *, output_budget=…)`: see `compiled_mapping`."""
    return compiled_mapping


_RUNNING: list[pytest.Item] = []   # the test being run, for `require_slow_mark`


@pytest.fixture(autouse=True)
def _running(request: pytest.FixtureRequest) -> Iterator[None]:
    _RUNNING[:] = [request.node]
    yield
    _RUNNING.clear()


def require_slow_mark(what: str) -> None:
    """Helpers that start a real server (the receiver, in a thread or a process) or many
    processes call this: the running test must be marked `slow`."""
    if _RUNNING and _RUNNING[0].get_closest_marker("slow") is None:
        raise AssertionError(f"{_RUNNING[0].nodeid} starts {what}: mark it @pytest.mark.slow")


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
