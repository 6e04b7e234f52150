"""Where the queue is (`--data-dir` for SQLite, `--queue` for PostgreSQL), as `serve` and
`dead-letters` take it, and `transformer queue migrate`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from ..server import QueueError, SqliteQueue
from ..server.queue.base import Queue
from .basics import err, fail

__all__ = [
    "INSTALL_HINT",
    "SCHEMES",
    "DataDirOpt",
    "QueueOpt",
    "app",
    "migrate",
    "open_postgres",
    "open_queue",
]

SCHEMES = ("postgresql://", "postgres://")
INSTALL_HINT = "pip install 'transformer[postgres]'"

DataDirOpt = Annotated[Path | None, typer.Option(
    "--data-dir", metavar="DIR", envvar="TRANSFORMER_DATA_DIR",
    help="Folder of an SQLite queue; one per instance.", show_default=False)]
QueueOpt = Annotated[str | None, typer.Option(
    "--queue", metavar="URL", envvar="TRANSFORMER_QUEUE_URL",
    help="A PostgreSQL queue shared by several receivers: postgresql://USER[:PASSWORD]@HOST:PORT/DB "
         f"(needs {INSTALL_HINT}).", show_default=False)]

app = typer.Typer(
    name="queue",
    help="The queue `transformer serve` keeps: create or migrate its PostgreSQL tables.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def open_queue(data_dir: Path | None, url: str | None, *, create: bool = True, sync: str = "full") -> Queue:
    """The queue the options name (exactly one of them), or exit 2 saying what is wrong."""
    if (data_dir is None) == (url is None):
        fail("error: give --data-dir DIR (an SQLite queue, one receiver) or --queue postgresql://… "
             "(a PostgreSQL queue, several receivers)" + (", not both" if data_dir is not None else ""), 2)
    try:
        if data_dir is not None:
            return SqliteQueue(data_dir, synchronous=sync, create=create)
        assert url is not None
        return open_postgres(url, create=create)
    except QueueError as exc:
        fail(f"error: {exc}", 2)


def _postgres_url(url: str) -> str:
    if not url.startswith(SCHEMES):
        fail(f"error: --queue takes a postgresql://USER@HOST:PORT/DB URL, got {url.split('://')[0]!r}://…", 2)
    return url


def _missing_driver(exc: ImportError) -> NoReturn:
    fail(f"error: --queue needs the PostgreSQL driver, which is not installed ({exc.name}): "
         f"{INSTALL_HINT}", 2)


def open_postgres(url: str, *, create: bool = True) -> Queue:
    """A `PostgresQueue`, or exit 2 when the URL or the driver is wrong or missing."""
    _postgres_url(url)
    try:
        from ..server.queue.postgres import PostgresQueue
    except ImportError as exc:
        _missing_driver(exc)
    return PostgresQueue(url, create=create)


@app.command("migrate")
def migrate(
    queue: Annotated[str, typer.Option(
        "--queue", metavar="URL", envvar="TRANSFORMER_QUEUE_URL",
        help="The PostgreSQL database: postgresql://USER[:PASSWORD]@HOST:PORT/DB.", show_default=False)],
) -> None:
    """Create or migrate the queue's tables in a PostgreSQL database (serve does it too when it
    starts). Safe to run again, and while receivers run."""
    _postgres_url(queue)
    try:
        from ..server.queue.postgres import migrate_database, redact
    except ImportError as exc:
        _missing_driver(exc)
    try:
        before, after = migrate_database(queue)
    except QueueError as exc:
        fail(f"error: {exc}", 1)
    if before == after:
        err(f"{redact(queue)}: the queue's tables are at schema {after}; nothing to do")
    else:
        err(f"{redact(queue)}: the queue's tables migrated from schema {before} to {after}")
