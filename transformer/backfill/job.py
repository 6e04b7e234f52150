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
from dataclasses import dataclass, field, replace
from typing import IO, Any

from ..runtime.mapping import CompiledMapping
from .inputs import Partition
from .manifest import Manifest, job_digest
from .send import SendPlan
from .store import Store
from .work import PartitionResult, PartitionTask, run_partition

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
    failed: dict[int, str] = field(default_factory=dict)
    sent: Counter[str] = field(default_factory=Counter)
    set_aside: Counter[str] = field(default_factory=Counter)
    undelivered: Counter[str] = field(default_factory=Counter)
    fatal: str | None = None
    url: str | None = None

    @property
    def ok(self) -> bool:
        return not self.errors and not self.failed and not self.undelivered and self.fatal is None

    def summary(self) -> str:
        """As `replay` says it."""
        skipped = sum(self.skips.values())
        by_rule = ", ".join(f"{rule}: {n}" for rule, n in sorted(self.skips.items()))
        return (f"read {self.read} payload{'s' if self.read != 1 else ''}, "
                f"wrote {self.written} event{'s' if self.written != 1 else ''}, "
                f"skipped {skipped}{f' ({by_rule})' if by_rule else ''}, "
                f"{self.errors} payload error{'s' if self.errors != 1 else ''}")


class Backfill:
    """One job: `partitions` of the inputs through `mapping`, parts to `store` (None: returned
    in order to `sink`), events sent by `send` (which needs a store, for its manifest)."""

    def __init__(self, mapping: CompiledMapping, partitions: list[Partition], *, max_depth: int,
                 store: Store | None = None, send: SendPlan | None = None) -> None:
        if send is not None and store is None:
            raise ValueError("sending needs an output folder (its manifest says what was sent)")
        self.mapping = mapping
        self.partitions = partitions
        self.max_depth = max_depth
        self.store = store
        self.send = send
        self.job = job_digest(_output_key(mapping), partitions, max_depth)
        self.manifest = Manifest.open(store, self.job) if store is not None else None

    def todo(self) -> list[Partition]:
        """The partitions a run has to do."""
        manifest, url = self.manifest, self.send.url if self.send is not None else None
        return [p for p in self.partitions if manifest is None or not manifest.done(p.index, url)]

    def run(self, client: Any, *, sink: IO[bytes] | None = None,
            on_result: Callable[[PartitionResult], None] | None = None) -> Outcome:
        """Run what is left on `client` (a `distributed.Client`); `on_result` is called as each
        partition finishes."""
        from distributed import as_completed

        todo = self.todo()
        send = self.send
        if send is not None:  # one semaphore per run: leases of an earlier, killed run do not count
            send = replace(send, semaphore=f"transformer-backfill-{uuid.uuid4().hex}")
        tasks = [PartitionTask(p, self.mapping, self.max_depth, self.store, send) for p in todo]
        futures = client.map(run_partition, tasks, pure=False, retries=0)
        by_future = dict(zip(futures, todo, strict=True))
        results: dict[int, PartitionResult] = {}
        failed: dict[int, str] = {}
        fatal: str | None = None
        written = _InOrder(todo, sink)
        saved = time.monotonic()
        done = as_completed(futures, with_results=True, raise_errors=False)
        for future, value in done:
            partition = by_future[future]
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
        if self.manifest is not None:
            self.manifest.save()
        return self._outcome(results, failed, fatal, skipped=len(self.partitions) - len(todo))

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
            if found.sent is not None:
                outcome.url = found.sent["url"]
                outcome.sent["accepted"] += found.sent["accepted"]
                outcome.sent["requests"] += found.sent["requests"]
                outcome.sent["retries"] += found.sent["retries"]
                outcome.sent["dead_letters"] += found.sent.get("dead_letters", 0)
                outcome.set_aside.update(found.sent["set_aside"])
                outcome.undelivered.update(found.sent["undelivered"])
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
