"""The webhook route as plain ASGI, called in process: a client that leaves while its body
arrives gets no answer and nothing is stored; a body in several parts is read whole."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest

from transformer.server import Receiver, SqliteQueue
from transformer.server.app import ReceiverOptions

from .test_server_harness import encode, mapping, payload, signed


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    store = SqliteQueue(tmp_path / "var")
    made = Receiver(mapping("http://127.0.0.1:9"), store, ReceiverOptions(forward=False))
    made.start()
    try:
        yield made
    finally:
        made.close()
        store.close()


def _call(receiver: Receiver, body: bytes, parts: list[dict[str, Any]]) -> list[MutableMapping[str, Any]]:
    """POST /webhooks/customerio with the signed headers of `body` (no content-length), the
    request's messages `parts`; what the app sent."""
    scope = {"type": "http", "method": "POST", "path": "/webhooks/customerio",
             "headers": [(name.lower().encode(), value.encode()) for name, value in signed(body).items()]}
    given, sent = iter(parts), list[MutableMapping[str, Any]]()

    async def receive() -> dict[str, Any]:
        return next(given)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(receiver.webhook(scope, receive, send))
    return sent


def test_a_client_that_leaves_while_its_body_arrives_gets_no_answer_and_nothing_is_stored(
        receiver: Receiver) -> None:
    body = encode(payload(1))
    sent = _call(receiver, body, [{"type": "http.request", "body": body[:10], "more_body": True},
                                  {"type": "http.disconnect"}])
    assert sent == []
    assert receiver.store.stats().depth == 0
    assert receiver.metrics.received.value() == 1


def test_a_body_in_parts_is_read_whole_and_stored(receiver: Receiver) -> None:
    body = encode(payload(2))
    sent = _call(receiver, body, [{"type": "http.request", "body": body[:10], "more_body": True},
                                  {"type": "http.request", "body": body[10:], "more_body": False}])
    assert [m.get("status") for m in sent] == [200, None] and sent[1]["body"] == b'{"status":"stored"}'
    assert receiver.store.stats().depth == 1
