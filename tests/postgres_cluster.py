"""A throwaway PostgreSQL for the tests: a cluster in a temporary folder on a free loopback port,
started once per session (or the server named by `TRANSFORMER_TEST_POSTGRES_URL`).

Without PostgreSQL's programs (`initdb`, `pg_ctl`) or the driver, the tests that need it are
skipped with one line saying so, except under CI=true, where they fail: CI always runs them.
As root, `initdb` and `pg_ctl` refuse to run, so they run as the `postgres` user in a folder
that user owns. Each test gets its own database (`Postgres.database()`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

URL_VARIABLE = "TRANSFORMER_TEST_POSTGRES_URL"


class PostgresUnavailableError(Exception):
    """No PostgreSQL for the tests; the message says why."""


def _program(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Postgres:
    """A PostgreSQL server for tests: `url` for its maintenance database, `database()` for a
    fresh one, `stop()`/`start()` for a restart (only for a cluster this object started)."""

    def __init__(self, url: str, folder: Path | None = None, port: int | None = None) -> None:
        self.url = url
        self.folder = folder
        self.port = port
        self._user: list[str] = []
        self._pg_ctl = _program("pg_ctl") or "pg_ctl"
        if folder is not None and os.geteuid() == 0:
            self._user = ["runuser", "-u", "postgres", "--"]

    @classmethod
    def start_cluster(cls) -> Postgres:
        initdb, pg_ctl = _program("initdb"), _program("pg_ctl")
        if initdb is None or pg_ctl is None:
            raise PostgresUnavailableError("PostgreSQL's initdb and pg_ctl are not installed (Debian: apt-get install "
                              f"postgresql), and {URL_VARIABLE} is not set")
        folder = Path(tempfile.mkdtemp(prefix="transformer-pg-"))
        port = _free_port()
        cluster = cls(f"postgresql://postgres@127.0.0.1:{port}/postgres", folder, port)
        if cluster._user:
            try:
                entry = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailableError("running as root and there is no postgres user to run initdb") from None
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        cluster._run([initdb, "-D", str(folder / "data"), "-A", "trust", "-U", "postgres", "--no-sync",
                      "-E", "UTF8"], "initdb")
        cluster.start()
        return cluster

    def _run(self, command: list[str], what: str) -> None:
        done = subprocess.run(self._user + command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            log = ""
            if self.folder is not None and (self.folder / "log").exists():
                log = (self.folder / "log").read_text(errors="replace")[-2000:]
            raise PostgresUnavailableError(f"{what} failed: {done.stderr.strip() or done.stdout.strip()} {log}".strip())

    def start(self) -> None:
        assert self.folder is not None, "only a cluster the tests started can be started"
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c max_connections=200")
        self._run([self._pg_ctl, "-D", str(self.folder / "data"), "-o", options, "-l",
                   str(self.folder / "log"), "-w", "-t", "60", "start"], "pg_ctl start")

    def stop(self, mode: str = "fast") -> None:
        assert self.folder is not None, "only a cluster the tests started can be stopped"
        self._run([self._pg_ctl, "-D", str(self.folder / "data"), "-m", mode, "-w", "-t", "60", "stop"],
                  "pg_ctl stop")

    def close(self) -> None:
        if self.folder is not None:
            with contextlib.suppress(PostgresUnavailableError):
                self.stop("immediate")
            shutil.rmtree(self.folder, ignore_errors=True)

    def database(self) -> str:
        """A new, empty database; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url.rsplit("/", 1)[0] + f"/{name}"


@contextlib.contextmanager
def postgres() -> Iterator[Postgres]:
    """The tests' PostgreSQL (raises `PostgresUnavailableError` saying why there is none)."""
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        raise PostgresUnavailableError("psycopg is not installed (pip install -e '.[test]' installs it)") from None
    given = os.environ.get(URL_VARIABLE)
    if given:
        yield Postgres(given)
        return
    cluster = Postgres.start_cluster()
    try:
        yield cluster
    finally:
        cluster.close()
