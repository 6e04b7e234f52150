"""A progress line for long sends, on a terminal only."""

from __future__ import annotations

from typing import IO

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from ..delivery import SendReport

__all__ = ["SendProgress"]


class SendProgress:
    """Shows accepted / set aside / retries while sending; silent when stderr is not a TTY."""

    def __init__(self, stream: IO[str]) -> None:
        self.enabled = stream.isatty()
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._stream = stream

    def start(self, url: str) -> None:
        if not self.enabled:
            return
        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                  console=Console(file=self._stream), transient=True)
        self._task = self._progress.add_task(f"sending to {url}")
        self._progress.start()

    def update(self, report: SendReport) -> None:
        if self._progress is None or self._task is None:
            return
        set_aside = sum(report.set_aside.values())
        self._progress.update(self._task, description=(
            f"{report.accepted:,} accepted, {set_aside:,} set aside, {report.retries:,} retries, "
            f"{report.requests:,} requests"))

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
