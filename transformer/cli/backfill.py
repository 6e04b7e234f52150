"""`transformer backfill INPUT...`: `replay` (and `send`) of a history, on a Dask cluster."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from contextlib import ExitStack
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..backfill.inputs import DEFAULT_PARTITION_SIZE
from .basics import (
    DEFAULT_MAPPING,
    DEFAULT_MAX_DEPTH,
    DEFAULT_OUTPUT_BUDGET,
    err,
    fail,
    load_from_options,
    make_destination,
    stdout_failed,
)
from .common import DestinationOpt, MappingOpt, MaxDepthOpt, OutputBudgetOpt, SetOpt, SettingsOpt

if TYPE_CHECKING:
    from ..backfill.job import Backfill, Outcome
    from ..backfill.work import PartitionResult

__all__ = ["DEFAULT_RATE", "backfill"]

DEFAULT_RATE = 800.0
"""Events/s sent by default: below Amplitude's 1,000 per project."""

_NEEDS = ("distributed", "fsspec")


def backfill(
    inputs: Annotated[list[str], typer.Argument(
        metavar="INPUT...", help="Files or globs, local or fsspec URLs (s3://…): .ndjson/.jsonl, .json, "
                                 "either compressed (.gz, …), or .parquet.")],
    mapping: MappingOpt = DEFAULT_MAPPING,
    assignments: SetOpt = None,
    settings_file: SettingsOpt = None,
    output: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="DIR",
        help="Write one NDJSON part per partition and a manifest here (a re-run does what is left); "
             "without it the events go to standard output.")] = None,
    send: Annotated[bool, typer.Option(
        "--send", help="Also deliver the events to the mapping's destination (needs --output).")] = False,
    workers: Annotated[int | None, typer.Option(
        "--workers", metavar="N", min=1,
        help="Start a local cluster of N worker processes (default: one per core).")
    ] = None,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", metavar="ADDRESS", help="Use an existing Dask cluster (tcp://host:8786).")] = None,
    partition_size: Annotated[int, typer.Option(
        "--partition-size", metavar="BYTES", min=1, help="Bytes of uncompressed NDJSON per partition.")
    ] = DEFAULT_PARTITION_SIZE,
    rate: Annotated[float, typer.Option(
        "--rate", metavar="EVENTS", min=1, help="Events per second sent, by all workers together.")
    ] = DEFAULT_RATE,
    by_user: Annotated[bool, typer.Option(
        "--by-user", help="With --send: once every part is written, send in --senders groups by user "
                          "(or device) id, so that one user's events go through one sender, in order.")
    ] = False,
    senders: Annotated[int, typer.Option(
        "--senders", metavar="N", min=1, help="Partitions sending at once, cluster-wide.")] = 2,
    deadline: Annotated[float, typer.Option(metavar="SECONDS",
        help="Seconds an event may take to be accepted, retries included, before it is dead-lettered.")
    ] = 600.0,
    max_depth: MaxDepthOpt = DEFAULT_MAX_DEPTH,
    output_budget: OutputBudgetOpt = DEFAULT_OUTPUT_BUDGET,
    destination: DestinationOpt = None,
) -> None:
    """Transform a history of payloads on a Dask cluster, in partitions: parts and a manifest
    in --output (concatenated in order, what `replay` writes), and with --send, delivered at a
    global events/s budget."""
    from ..backfill.inputs import PlanError, expand_inputs, plan_partitions
    from ..backfill.job import Backfill
    from ..backfill.manifest import ManifestError
    from ..backfill.send import Sealed, SendPlan
    from ..backfill.store import Store

    missing = [name for name in _NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        fail(f"error: transformer backfill needs Dask ({', '.join(missing)} is not installed): "
             "pip install 'transformer[dask]'", 2)
    if workers is not None and scheduler is not None:
        fail("error: give --workers (a local cluster) or --scheduler (an existing one), not both", 2)
    if by_user and not send:
        fail("error: --by-user is a way of sending: add --send", 2)
    if send and output is None:
        fail("error: --send needs --output DIR: its manifest records what was sent, so that a re-run "
             "sends nothing twice", 2)
    compiled = load_from_options(mapping, assignments, settings_file, output_budget, destination=destination)
    plan = None
    if send:
        target = make_destination(compiled)
        secrets = {name: value for name, value in compiled.settings.resolved.items()
                   if compiled.settings.decls[name].secret and value is not None}
        plan = SendPlan(target.name, target.url, Sealed(secrets), rate, senders, "", deadline)
    try:
        partitions = plan_partitions(expand_inputs(inputs), partition_size)
        store = Store(output) if output is not None else None
        job = Backfill(compiled, partitions, max_depth=max_depth, store=store, send=plan, by_user=by_user)
    except (PlanError, ManifestError) as exc:
        fail(f"error: {exc}", 2)
    except OSError as exc:
        fail(f"error: {output}: {exc.strerror or exc}", 2)
    try:
        outcome = _run(job, workers, scheduler)
    except KeyboardInterrupt:
        fail("interrupted: what was done is in the manifest; run the same command again to do the rest"
             if output is not None else "interrupted", 130)
    except OSError as exc:  # writing the parts to standard output
        if output is not None:
            raise
        stdout_failed(exc)
    for line in outcome.lines:
        err(line)
    _summarise(outcome, job, output)
    raise typer.Exit(0 if outcome.ok else 1)


def _run(job: Backfill, workers: int | None, scheduler: str | None) -> Outcome:
    import dask.config
    from distributed import Client, LocalCluster

    todo = job.todo()
    with ExitStack() as stack:
        if scheduler is not None:
            try:
                client = stack.enter_context(Client(scheduler, timeout="30s"))
            except OSError as exc:
                fail(f"error: cannot reach the Dask scheduler at {scheduler}: {exc}", 1)
        else:
            # Dask's sampling profiler takes the GIL from the tasks 100 times a second (about a
            # tenth of a worker's time here); the workers of a local cluster run without it
            stack.enter_context(dask.config.set({"distributed.worker.profile.enabled": False}))
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR))
            client = stack.enter_context(Client(cluster))
        # the dashboard's pages need bokeh where the scheduler runs: here, for a local cluster
        shown = scheduler is not None or importlib.util.find_spec("bokeh") is not None
        err(f"dask: {len(client.scheduler_info()['workers'])} workers"
            + (f", dashboard {client.dashboard_link}" if shown else " (pip install bokeh for a dashboard)")
            + f"; {len(todo)} of {len(job.partitions)} partitions to do")
        progress = _Progress(len(todo))
        stack.callback(progress.stop)
        sink = sys.stdout.buffer if job.store is None else None
        return job.run(client, sink=sink, on_result=progress.update, on_sent=progress.sent)
    raise AssertionError("unreachable")  # pragma: no cover - the with block returns or exits


class _Progress:
    """On a terminal: a bar of partitions, with the payloads read and events written (or sent)."""

    def __init__(self, total: int) -> None:
        self.progress: Any = None
        self.read = self.events = self.accepted = 0
        if not sys.stderr.isatty() or total == 0:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("partitions"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                                 console=Console(file=sys.stderr), transient=True)
        self.task = self.progress.add_task("backfill", total=total, detail="")
        self.progress.start()

    def update(self, result: PartitionResult) -> None:
        if self.progress is None:
            return
        self.read += result.read
        self.events += result.sent["accepted"] if result.sent is not None else result.written
        verb = "accepted" if result.sent is not None else "written"
        self.progress.update(self.task, advance=1,
                             detail=f"{self.read:,} payloads read, {self.events:,} events {verb}")

    def sent(self, sent: dict[str, Any]) -> None:
        """`--by-user`: one part's group sent."""
        if self.progress is None:
            return
        self.accepted += sent["accepted"]
        self.progress.update(self.task, detail=f"{self.read:,} payloads read; sending by user: "
                                               f"{self.accepted:,} events accepted")

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _summarise(outcome: Outcome, job: Backfill, output: str | None) -> None:
    err(outcome.summary())
    if outcome.url is not None:
        sent = outcome.sent
        set_aside, undelivered = sum(outcome.set_aside.values()), sum(outcome.undelivered.values())
        err(f"sent to {outcome.url}: {sent['accepted']:,} accepted, {set_aside:,} set aside, "
            f"{undelivered:,} undelivered; {sent['requests']:,} requests ({sent['retries']:,} retries)")
        if sent["dead_letters"]:
            err(f"dead letters: {sent['dead_letters']:,} in {output}/dead-letters/ (after a fix, resend "
                f"them with: transformer send {output}/dead-letters/*.ndjson)")
    if outcome.fatal:
        err(f"error: stopped sending: {outcome.fatal}")
    if output is not None:
        left = f", {outcome.left} partitions left for a re-run" if outcome.left else ""
        err(f"output: {len(job.partitions)} parts in {output}, {outcome.skipped_partitions} done before "
            f"this run{left}")
