"""What the hostile tests share: deeply nested payloads, raw HTTP on a socket, a process's memory."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import httpx

from transformer.io.split import depth_exceeds

from ..test_server_harness import payload, signed

HOOK = "/webhooks/customerio"


def nested(levels: int) -> Any:
    """A JSON value of exactly `levels` nested arrays."""
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    return value


def deep_payload(n: int, depth: int) -> dict[str, Any]:
    """`payload(n)` nested exactly `depth` levels deep (the object, data, then arrays)."""
    body = payload(n)
    body["data"]["nest"] = nested(depth - 2)
    return body


def deep_body(n: int, depth: int) -> bytes:
    """`deep_payload` as JSON (orjson refuses to write more than 255 levels; json does not)."""
    data = json.dumps(deep_payload(n, depth), separators=(",", ":")).encode()
    assert depth_exceeds(data, depth - 1) and not depth_exceeds(data, depth)
    return data


def post(url: str, body: bytes, *, timeout: float = 10) -> httpx.Response:
    """POST a signed webhook."""
    return httpx.post(url + HOOK, content=body, headers=signed(body), timeout=timeout)


def head_of(body: bytes) -> bytes:
    """The request line and headers of a signed webhook carrying `body`."""
    lines = [f"POST {HOOK} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}",
             *(f"{k}: {v}" for k, v in signed(body).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_answer(conn: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection (or `timeout`)."""
    conn.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = conn.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        data += chunk
    return data


def rss_kib(pid: int) -> int:
    """The resident memory of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")
