"""Running a backfill on a Dask cluster: one task per partition not done yet, results recorded
in the manifest as they come, the job's outcome put together in partition order.

A task that fails because its worker died is run again elsewhere by Dask; one that raises (an
input that cannot be read) is reported, and the partition is left for a re-run.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError
from dataclasses import dataclass, field, replace
from typing import IO, Any

from ..runtime.mapping import CompiledMapping
from ..runtime.result import summary_line
from .inputs import Partition
from .manifest import Manifest, job_digest
from .send import SendPlan
from .store import Store
from .work import GroupTask, PartitionResult, PartitionTask, run_group_part, run_partition

__all__ = ["Backfill", "Outcome"]

_SAVE_EVERY = 1.0  # seconds between manifest writes while partitions finish


@dataclass(slots=True)
class Outcome:
    """A whole job: counts over every partition (done before or now), error lines in input
    order, what sending did, and the partitions that failed (with why)."""

    read: int = 0
    written: int = 0
    errors: int = 0
    skips: Counter[str] = field(default_factory=Counter)
    lines: list[str] = field(default_factory=list)
    skipped_partitions: int = 0
    left: int = 0  # partitions this run did not finish (cancelled after a fatal answer, or failed)
    failed: dict[int, str] = field(default_factory=dict)
    sent: Counter[str] = field(default_factory=Counter)
    set_aside: Counter[str] = field(default_factory=Counter)
    undelivered: Counter[str] = field(default_factory=Counter)
    fatal: str | None = None
    url: str | None = None
    unsent_groups: int = 0  # `by_user`: groups whose sending stopped at a task that failed

    def add_sent(self, sent: dict[str, Any]) -> None:
        """Count what sending one partition (or one group of it) did."""
        self.url = sent["url"]
        for name in ("accepted", "requests", "retries", "dead_letters"):
            self.sent[name] += sent.get(name, 0)
        self.set_aside.update(sent["set_aside"])
        self.undelivered.update(sent["undelivered"])

    @property
    def ok(self) -> bool:
        return (not self.errors and not self.failed and not self.undelivered and self.fatal is None
                and not self.unsent_groups)

    def summary(self) -> str:
        """As `replay` says it."""
        return summary_line(self.read, self.written, self.skips, self.errors)


class Backfill:
    """One job: `partitions` of the inputs through `mapping`, parts to `store` (None: returned
    in order to `sink`), events sent by `send` (which needs a store, for its manifest).

    `by_user`: instead of each partition sending its own events, once every part is written
    the events are sent in `send.senders` groups by user (or device) id, each group by one
    sender at a time, part after part: one user's events go through one sender, in input order.
    """

    def __init__(self, mapping: CompiledMapping, partitions: list[Partition], *, max_depth: int,
                 store: Store | None = None, send: SendPlan | None = None, by_user: bool = False) -> None:
        if send is not None and store is None:
            raise ValueError("sending needs an output folder (its manifest says what was sent)")
        if by_user and send is None:
            raise ValueError("grouping by user is a way of sending: it needs `send`")
        self.by_user = by_user
        self.mapping = mapping
        self.partitions = partitions
        self.max_depth = max_depth
        self.store = store
        self.send = send
        self.job = job_digest(_output_key(mapping), partitions, max_depth)
        self.manifest = Manifest.open(store, self.job) if store is not None else None

    def todo(self) -> list[Partition]:
        """The partitions a run has to do."""
        manifest = self.manifest
        url = self.send.url if self.send is not None and not self.by_user else None
        return [p for p in self.partitions if manifest is None or not manifest.done(p.index, url)]

    def run(self, client: Any, *, sink: IO[bytes] | None = None,
            on_result: Callable[[PartitionResult], None] | None = None,
            on_sent: Callable[[dict[str, Any]], None] | None = None) -> Outcome:
        """Run what is left on `client` (a `distributed.Client`); `on_result` is called as each
        partition finishes, `on_sent` (`by_user`) as each part's group is sent."""
        from distributed import as_completed

        todo = self.todo()
        send = self.send
        if send is not None:  # one semaphore per run: leases of an earlier, killed run do not count
            send = replace(send, semaphore=f"transformer-backfill-{uuid.uuid4().hex}")
        tasks = [PartitionTask(p, self.mapping, self.max_depth, self.store, None if self.by_user else send)
                 for p in todo]
        futures = client.map(run_partition, tasks, pure=False, retries=0)
        by_future = dict(zip(futures, todo, strict=True))
        results: dict[int, PartitionResult] = {}
        failed: dict[int, str] = {}
        fatal: str | None = None
        written = _InOrder(todo, sink)
        saved = time.monotonic()
        try:
            for future, value in as_completed(futures, with_results=True, raise_errors=False):
                partition = by_future[future]
                if isinstance(value, CancelledError):  # after a fatal answer: left for a re-run
                    continue
                if isinstance(value, BaseException):
                    failed[partition.index] = _failure(partition, value)
                    written.add(PartitionResult(partition.index, data=b""))  # nothing of it, in its place
                    continue
                result: PartitionResult = value
                results[partition.index] = result
                written.add(result)
                if self.manifest is not None:
                    self.manifest.record(partition, result)
                    if time.monotonic() - saved > _SAVE_EVERY:
                        self.manifest.save()
                        saved = time.monotonic()
                if on_result is not None:
                    on_result(result)
                if result.sent is not None and result.sent["fatal"] and fatal is None:
                    fatal = str(result.sent["fatal"])
                    client.cancel([f for f in futures if not f.done()])
        finally:  # interrupted or not, what is done is recorded
            if self.manifest is not None:
                self.manifest.save()
        outcome = self._outcome(results, failed, fatal, skipped=len(self.partitions) - len(todo))
        outcome.left = len(todo) - len(results)
        if self.store is not None and fatal is None:  # every task is over: what a killed one left is litter
            self.store.clean()
        if self.by_user and send is not None and self.manifest is not None:
            if failed:
                outcome.lines.append("error: nothing was sent: every part must be written before the "
                                     "groups are sent; re-run to do the rest")
            else:
                self._send_groups(client, send, self.manifest, outcome, on_sent)
        return outcome

    def _send_groups(self, client: Any, send: SendPlan, manifest: Manifest, outcome: Outcome,
                     on_sent: Callable[[dict[str, Any]], None] | None) -> None:
        """Send every part's events in groups by user: one chain of tasks per group, part after
        part (the next submitted when one finishes), so that a group's events keep their order."""
        from distributed import as_completed

        groups, store = send.senders, self.store
        assert store is not None
        chains = {group: [p.index for p in self.partitions if not manifest.group_done(p.index, group, groups,
                                                                                      send.url)]
                  for group in range(groups)}
        running = as_completed(with_results=True, raise_errors=False)
        by_future: dict[Any, tuple[int, int]] = {}

        def submit(group: int) -> None:
            if chains[group]:
                index = chains[group].pop(0)
                task = GroupTask(index, group, groups, self.mapping, store, send)
                future = client.submit(run_group_part, task, pure=False)
                by_future[future] = (index, group)
                running.add(future)

        for group in range(groups):
            submit(group)
        saved = time.monotonic()
        for future, value in running:
            index, group = by_future.pop(future)
            if isinstance(value, BaseException):  # this group stops here: its later parts must not overtake
                outcome.unsent_groups += 1
                outcome.lines.append(f"error: sending part {index} (group {group} of {groups}) failed: "
                                     f"{type(value).__name__}: {value}; re-run to send the rest")
                continue
            manifest.record_group(index, group, groups, value)
            if on_sent is not None:
                on_sent(value)
            if value["fatal"]:
                outcome.fatal = outcome.fatal or str(value["fatal"])
                chains = {g: [] for g in chains}
            submit(group)
            if time.monotonic() - saved > _SAVE_EVERY:
                manifest.save()
                saved = time.monotonic()
        manifest.save()
        for sent in manifest.group_results(groups, send.url):
            outcome.add_sent(sent)

    def _outcome(self, results: dict[int, PartitionResult], failed: dict[int, str], fatal: str | None,
                 skipped: int) -> Outcome:
        outcome = Outcome(skipped_partitions=skipped, failed=failed, fatal=fatal)
        first_line: dict[str, int | None] = {}
        for partition in self.partitions:
            found = results.get(partition.index)
            if found is None and self.manifest is not None:
                found = self.manifest.result(partition.index)
            base = first_line.get(partition.path, 1)
            first_line[partition.path] = None if found is None or base is None else base + found.lines
            if found is None:
                if partition.index in failed:
                    outcome.errors += 1
                    outcome.lines.append(failed[partition.index])
                continue
            outcome.read += found.read
            outcome.written += found.written
            outcome.errors += found.errors
            outcome.skips.update(found.skips)
            outcome.lines.extend(_located(partition, base, found))
            if found.sent is not None and not self.by_user:
                outcome.add_sent(found.sent)
        return outcome


def _output_key(mapping: CompiledMapping) -> str:
    """A digest of what decides the parts: the mapping and its own settings, not where events
    are sent (a destination's settings, such as its endpoint)."""
    recipe = mapping.recipe
    decls = mapping.settings.decls
    own = {name: value for name, value in recipe.settings.items() if decls[name].owner is None}
    return replace(recipe, settings=own, components=None).key()


def _located(partition: Partition, base: int | None, result: PartitionResult) -> Iterator[str]:
    """The partition's error lines, located in the file: `file:line` counts from `base`, the
    file's line number of the partition's first line (None: unknown, a partition before it failed)."""
    for line, text in result.messages:
        if line is None:
            yield text
        elif base is None:
            yield f"{partition.path} (partition {partition.index}, line {line}){text}"
        else:
            yield f"{partition.path}:{base + line - 1}{text}"


def _failure(partition: Partition, exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return f"error: cannot read {partition.path}: {exc.strerror or exc}"
    return f"error: partition {partition.index} ({partition.path}) failed: {type(exc).__name__}: {exc}"


class _InOrder:
    """Writes returned parts to `sink` in partition order, holding those that come early."""

    def __init__(self, todo: list[Partition], sink: IO[bytes] | None) -> None:
        self.order = [p.index for p in todo]
        self.sink = sink
        self.next = 0
        self.waiting: dict[int, bytes] = {}

    def add(self, result: PartitionResult) -> None:
        if self.sink is None or result.data is None:
            return
        self.waiting[result.index] = result.data
        while self.next < len(self.order) and self.order[self.next] in self.waiting:
            self.sink.write(self.waiting.pop(self.order[self.next]))
            self.next += 1
        self.sink.flush()
