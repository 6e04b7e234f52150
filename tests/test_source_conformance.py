"""Every source in the registry keeps the `Source` contract: a request signed as the source's
own client signs it verifies; a changed body, another secret, missing headers or a stale time
are refused with one of the reasons it declares; without a secret it verifies nothing (and says
so); an accepted body splits into payloads the mapping transforms; its secret never shows."""

from __future__ import annotations

import json
import time

import pytest

from transformer import load_mapping
from transformer.destinations import DESTINATIONS
from transformer.sources.base import Source, SourceKind
from transformer.sources.registry import SOURCES
from transformer.spec.settings import resolve_settings

from .conftest import MAPPING, SAMPLES

NAMES = sorted(SOURCES)
SECRET = "a-conformance-signing-secret-0123"
TOLERANCE = 300.0


def make(kind: SourceKind, secret: str | None) -> Source:
    decls = {decl.name: decl for decl in kind.settings}
    return kind.create(resolve_settings(decls, {kind.secret: secret} if secret else {}), TOLERANCE)


@pytest.fixture(params=NAMES)
def kind(request: pytest.FixtureRequest) -> SourceKind:
    return SOURCES[request.param]


def test_a_request_signed_by_its_client_verifies(kind: SourceKind) -> None:
    source = make(kind, SECRET)
    body = (SAMPLES / "email_sent.json").read_bytes()
    now = time.time()
    assert source.verifies and source.name == kind.name
    assert source.verify(kind.sign(SECRET, body, now), body, now) is None
    assert source.verify(kind.sign(SECRET, body, now - TOLERANCE / 2), body, now) is None


def test_every_tampering_is_refused_with_a_declared_reason(kind: SourceKind) -> None:
    source = make(kind, SECRET)
    body = (SAMPLES / "email_sent.json").read_bytes()
    now = time.time()
    headers = kind.sign(SECRET, body, now)
    refused = {
        "changed body": source.verify(headers, body.replace(b"sent", b"SENT", 1), now),
        "other secret": source.verify(kind.sign("another-secret-of-this-length", body, now), body, now),
        "no headers": source.verify({}, body, now),
        "stale": source.verify(kind.sign(SECRET, body, now - 2 * TOLERANCE), body, now),
        "from the future": source.verify(kind.sign(SECRET, body, now + 2 * TOLERANCE), body, now),
    }
    for what, reason in refused.items():
        assert reason is not None, what
        assert reason in source.rejections, (what, reason)


def test_without_a_secret_it_verifies_nothing_and_says_so(kind: SourceKind) -> None:
    source = make(kind, None)
    assert not source.verifies and source.secrets == ()
    assert source.verify({}, b"{}", time.time()) is None


def test_an_accepted_body_splits_into_payloads_the_mapping_transforms(kind: SourceKind) -> None:
    source = make(kind, SECRET)
    mapping = load_mapping(MAPPING, {"api_key": "k"})
    for path in sorted(SAMPLES.glob("*.json")):
        document = json.loads(path.read_bytes())
        payloads = source.payloads(document)
        assert payloads, path
        for payload in payloads:
            result = mapping.result(payload)
            assert result.error is None and (result.events or result.skip), path


def test_its_secret_is_declared_secret_and_never_shown(kind: SourceKind) -> None:
    decls = {decl.name: decl for decl in kind.settings}
    assert decls[kind.secret].secret and all(d.owner == f"source {kind.name}" for d in decls.values())
    source = make(kind, SECRET)
    assert SECRET in source.secrets and SECRET not in repr(source)


def test_no_source_declares_a_setting_a_destination_declares() -> None:
    """A mapping's source and destination settings are resolved together: no name may clash."""
    for source in SOURCES.values():
        for destination in DESTINATIONS.values():
            clash = {d.name for d in source.settings} & {d.name for d in destination.settings}
            assert not clash, (source.name, destination.name, clash)
