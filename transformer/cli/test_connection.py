"""`transformer test-connection`: send one `Email Sent` test event to the mapping's destination,
say which host answered."""

from __future__ import annotations

import time
import uuid
from typing import Any

import typer

from ..destinations import Sender, SendReport
from ..errors import PayloadError
from ..runtime.mapping import CompiledMapping
from .basics import DEFAULT_MAPPING, err, load_from_options, make_destination
from .common import DestinationOpt, MappingOpt, SetOpt, SettingsOpt

__all__ = ["DEADLINE", "REQUEST_TIMEOUT", "TEST_USER", "connection_event", "test_connection"]

TEST_USER = "transformer-test-connection"
# one request may take REQUEST_TIMEOUT; a retry is started only within DEADLINE: under 10 s in all
REQUEST_TIMEOUT = 4.0
DEADLINE = 5.0


def test_connection(
    mapping: MappingOpt = DEFAULT_MAPPING,
    assignments: SetOpt = None,
    settings_file: SettingsOpt = None,
    destination: DestinationOpt = None,
) -> None:
    """Send one test `Email Sent` event to the mapping's destination; exit 0 only when it
    accepts it (within 10 s)."""
    compiled = load_from_options(mapping, assignments, settings_file, destination=destination)
    target = make_destination(compiled)
    event = connection_event(compiled)
    with Sender(target, deadline=DEADLINE, concurrency=1, timeout=REQUEST_TIMEOUT) as sender:
        def give_up_if_unreachable(report: SendReport) -> None:
            if report.unreachable:
                sender.stop()

        sender.on_progress = give_up_if_unreachable
        err(f"host: {target.host_label}, {target.url}")
        report = sender.send([event])
    if report.accepted == 1:
        groups = f" with groups {event['groups']}" if event.get("groups") else ""
        err(f"ok: {target.title} accepted the test event (insert_id {event['insert_id']}){groups}; "
            f"look for an 'Email Sent' event of user '{TEST_USER}' there")
        raise typer.Exit(0)
    if report.unreachable:
        reason = f"cannot connect to {report.unreachable}"
    else:
        reason = report.fatal or next(
            (d["dead_letter"]["reason"] for d in report.dead_letters), "not accepted")
    err(f"failed: {reason}")
    raise typer.Exit(1)


def connection_event(compiled: CompiledMapping) -> dict[str, Any]:
    """The mapping's own event for a test `email/sent` webhook (so `groups` come from
    account_id and workspace_id as in real events); a plain event if the mapping gives none."""
    now = int(time.time())
    insert_id = f"transformer-test-{uuid.uuid4()}"
    webhook = {"event_id": insert_id, "object_type": "email", "metric": "sent", "timestamp": now,
               "data": {"identifiers": {"id": TEST_USER}, "recipient": "test-connection@example.com",
                        "subject": "transformer test-connection",
                        "test_connection": True, "sent_by": "transformer test-connection"}}
    try:
        events = compiled.apply(webhook).events
    except PayloadError:
        events = []
    if len(events) == 1 and events[0].get("insert_id") == insert_id:
        return events[0]
    return {"event_type": "Email Sent", "user_id": TEST_USER, "insert_id": insert_id, "time": now * 1000,
            "event_properties": {"test_connection": True, "sent_by": "transformer test-connection"}}
