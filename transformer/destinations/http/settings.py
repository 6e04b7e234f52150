"""The settings the `http` destination declares (`--set url=…`, a settings file, the environment)."""

from __future__ import annotations

from ...spec.settings import SettingDecl

__all__ = ["SETTINGS"]

_OWNER = "destination http"

SETTINGS = (
    SettingDecl("url", "string", format="url", owner=_OWNER,
                description="Where batches are POSTed: an http:// or https:// URL (required). It is "
                            "printed in summaries: give credentials in auth_token, not in the URL."),
    SettingDecl("body_format", "string", default="json", choices=("json", "ndjson"), owner=_OWNER,
                description="json: one JSON array of events per request; ndjson: one event per line."),
    SettingDecl("batch_size", "integer", default=500, minimum=1, owner=_OWNER,
                description="Most events per request."),
    SettingDecl("batch_bytes", "integer", default=1_000_000, minimum=1, owner=_OWNER,
                description="Most bytes per request body (before gzip); a larger event is set aside."),
    SettingDecl("gzip", "boolean", default=False, owner=_OWNER,
                description="Compress request bodies (Content-Encoding: gzip)."),
    SettingDecl("auth_header", "string", default="Authorization", owner=_OWNER,
                description="The header that carries auth_token."),
    SettingDecl("auth_token", "string", secret=True, owner=_OWNER,
                description="The auth header's whole value, such as 'Bearer abc…' (secret; env "
                            "TRANSFORMER_AUTH_TOKEN); without it no auth header is sent."),
    SettingDecl("on_rejection", "string", default="fatal", choices=("fatal", "isolate"), owner=_OWNER,
                description="A 4xx other than 401, 403, 404, 405, 408, 413 and 429: fatal (stop, keep "
                            "every event) or isolate (halve the batch until the refused events are "
                            "alone, set those aside, deliver the rest)."),
    SettingDecl("order_by", "list", default=[], owner=_OWNER,
                description="Event fields whose values keep their input order across concurrent "
                            "requests (user_id, device_id); none: events may overtake each other."),
)
