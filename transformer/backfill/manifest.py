"""The manifest of a backfill's output folder: which partitions are done, with their counts and
error lines, so that a re-run does only what is left and still reports the whole job.

`manifest.json` names the job (a digest of the mapping, its settings, the inputs and how they
are split): a re-run with anything different is refused rather than mixing two jobs' parts.
Only the process that runs the job writes it, atomically, as partitions finish.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from .inputs import Partition
from .store import Store
from .work import Message, PartitionResult, part_name

__all__ = ["MANIFEST", "Manifest", "ManifestError", "job_digest"]

MANIFEST = "manifest.json"
_VERSION = 1

_WRITTEN = "written"  # the part is written
_SENT = "sent"        # written, and every event accepted or set aside
_UNSENT = "unsent"    # written, but some events were not delivered (see the partition's dead letters)


def _group_key(index: int, group: int, groups: int) -> str:
    return f"{index:05d}/{group}/{groups}"


class ManifestError(ValueError):
    """A manifest that belongs to another job, or cannot be read."""


def job_digest(mapping_key: str, partitions: Iterable[Partition], max_depth: int) -> str:
    """What identifies a job: the mapping with its settings (`Recipe.key()`), the partitions."""
    text = json.dumps([mapping_key, max_depth, [[p.describe(), p.size] for p in partitions]], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


class Manifest:
    """Partition index → its record: status, counts, error lines, what sending did."""

    def __init__(self, store: Store, job: str) -> None:
        self.store = store
        self.job = job
        self.partitions: dict[int, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        """"part/group/groups" → what sending that part's events of that group did (`--by-user`)."""

    @classmethod
    def open(cls, store: Store, job: str) -> Manifest:
        """The folder's manifest, or a new one; `ManifestError` when it is another job's."""
        manifest = cls(store, job)
        raw = store.read(MANIFEST)
        if raw is None:
            return manifest
        try:
            data = json.loads(raw)
            found_job, records = data["job"], data["partitions"]
            manifest.partitions = {int(index): record for index, record in records.items()}
            manifest.groups = dict(data.get("groups", {}))
        except (ValueError, KeyError, TypeError) as exc:
            raise ManifestError(f"{store.path(MANIFEST)} cannot be read ({exc}); remove it to start "
                                "the job again") from None
        if found_job != job:
            raise ManifestError(f"{store.path(MANIFEST)} is another job's (other inputs, mapping or "
                                "settings): use another --output folder, or empty this one")
        return manifest

    def done(self, index: int, sending_to: str | None) -> bool:
        """Whether partition `index` needs nothing more: written, and when `sending_to` a URL,
        sent there (a partition sent to a fake is not sent to the real service)."""
        record = self.partitions.get(index, {})
        status = record.get("status")
        if sending_to is None:
            return status in (_WRITTEN, _SENT, _UNSENT)
        return status == _SENT and (record.get("sent") or {}).get("url") == sending_to

    def record(self, partition: Partition, result: PartitionResult) -> None:
        sent = result.sent
        status = _WRITTEN if sent is None else _SENT if sent["ok"] else _UNSENT
        self.partitions[partition.index] = {
            **partition.describe(), "part": part_name(partition.index), "status": status,
            "read": result.read, "written": result.written, "errors": result.errors,
            "skips": dict(result.skips), "lines": result.lines,
            "messages": [list(message) for message in result.messages], "sent": sent}

    def group_done(self, index: int, group: int, groups: int, url: str) -> bool:
        """Whether part `index`'s events of `group` (of `groups`) were sent to `url`."""
        sent = self.groups.get(_group_key(index, group, groups), {})
        return bool(sent.get("ok")) and sent.get("url") == url

    def record_group(self, index: int, group: int, groups: int, sent: dict[str, Any]) -> None:
        self.groups[_group_key(index, group, groups)] = sent

    def group_results(self, groups: int, url: str) -> list[dict[str, Any]]:
        """What sending did for every part and group of `groups` sent to `url`."""
        return [sent for key, sent in sorted(self.groups.items())
                if key.endswith(f"/{groups}") and sent.get("url") == url]

    def result(self, index: int) -> PartitionResult | None:
        """A recorded partition as a result (without its data)."""
        record = self.partitions.get(index)
        if record is None:
            return None
        messages: list[Message] = [(line, text) for line, text in record["messages"]]
        return PartitionResult(index, record["read"], record["written"], record["errors"],
                               Counter(record["skips"]), record["lines"], messages, None, record["sent"])

    def save(self) -> None:
        data = {"version": _VERSION, "job": self.job,
                "partitions": {f"{index:05d}": record for index, record in sorted(self.partitions.items())},
                "groups": dict(sorted(self.groups.items()))}
        self.store.write(MANIFEST, json.dumps(data, indent=1).encode() + b"\n")
