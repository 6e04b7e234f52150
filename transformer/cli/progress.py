"""Progress lines for long runs (`replay -o FILE`, `send`), on a terminal only.

Shows payloads read, their rate, and, when the input's size is known (NDJSON files, whose lines
are counted first; a single-payload .json), a bar and the time left. `send` adds what has been
accepted and, while requests are being retried, why. Off a terminal nothing is shown and no
input is counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column
from rich.text import Text

from ..destinations import SendReport
from ..io.jsonio import is_ndjson

__all__ = ["RunProgress", "count_payloads"]

_CHUNK = 1 << 20


def count_payloads(inputs: Sequence[str]) -> int | None:
    """How many payloads the inputs hold, when that is cheap to know: NDJSON files (non-blank
    lines) and single-payload .json files; None for stdin or a .json array."""
    total = 0
    for name in inputs:
        path = Path(name)
        if name == "-" or not path.is_file():
            return None
        with path.open("rb") as handle:
            if is_ndjson(name):
                total += _count_lines(handle)
            elif handle.read(4096).lstrip(b" \t\r\n\xef\xbb\xbf")[:1] == b"{":
                total += 1
            else:
                return None
    return total


def _count_lines(handle: IO[bytes]) -> int:
    lines = 0
    last = b"\n"
    while chunk := handle.read(_CHUNK):
        lines += chunk.count(b"\n")
        last = chunk[-1:]
    return lines + (last != b"\n")


class _RateColumn(ProgressColumn):
    """Payloads per second, over rich's recent window."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f}/s" if speed else "-/s")


class RunProgress:
    """A progress line on `stream` when it is a terminal; every method is a no-op otherwise.

    `tick(read)` is cheap enough to call per payload: the display is updated every 256."""

    def __init__(self, stream: IO[str], label: str, inputs: Sequence[str], *,
                 enabled: bool | None = None) -> None:
        self.enabled = stream.isatty() if enabled is None else enabled
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if not self.enabled:
            return
        total = count_payloads(inputs)
        columns: list[ProgressColumn] = [TextColumn("{task.description}")]
        if total is not None:
            columns += [BarColumn(bar_width=24), TextColumn("{task.completed:,}/{task.total:,}")]
        else:
            columns += [TextColumn("{task.completed:,} payloads")]
        columns += [_RateColumn(), TimeElapsedColumn()]
        if total is not None:
            columns += [TextColumn("ETA"), TimeRemainingColumn()]
        # the status takes what is left of the line and wraps, so that the counts stay whole
        columns += [TextColumn("{task.fields[status]}",
                               table_column=Column(ratio=1, no_wrap=False, overflow="fold"))]
        self._progress = Progress(*columns, console=Console(file=stream), transient=True)
        self._task = self._progress.add_task(label, total=total, status="")
        self._progress.start()

    def tick(self, read: int) -> None:
        """`read` payloads so far."""
        if self._progress is not None and not read & 255:
            self._progress.update(self._task or TaskID(0), completed=read)

    def status(self, text: str) -> None:
        """Words after the counts: what has been delivered, why requests are retried."""
        if self._progress is not None:
            self._progress.update(self._task or TaskID(0), status=text)

    def send_report(self, report: SendReport) -> None:
        """`status` from a sender's report (its `on_progress` callback)."""
        set_aside = sum(report.set_aside.values())
        text = f"{report.accepted:,} accepted, {set_aside:,} set aside, {report.retries:,} retries"
        if report.retrying:
            text += f"; retrying: {report.retrying}"
        self.status(text)

    def stop(self, read: int | None = None) -> None:
        if self._progress is not None:
            if read is not None:
                self._progress.update(self._task or TaskID(0), completed=read)
            self._progress.stop()
            self._progress = None
