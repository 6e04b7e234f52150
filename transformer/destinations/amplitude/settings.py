"""The settings the Amplitude destination declares (as a mapping's `settings:` would declare them).

They are not in the mapping spec: a mapping that says `destination: amplitude` gets them, and
`--set`, `--settings` and the environment reach them as they reach the mapping's own.
"""

from __future__ import annotations

from ...spec.settings import SettingDecl

__all__ = ["SETTINGS"]

_OWNER = "destination amplitude"

SETTINGS = (
    SettingDecl("api_key", "string", secret=True, env=("AMPLITUDE_API_KEY",), owner=_OWNER,
                description="Amplitude project API key (Settings > Projects > General)."),
    SettingDecl("eu_residency", "boolean", default=False, owner=_OWNER,
                description="Send to Amplitude's EU data centre (api.eu.amplitude.com)."),
    SettingDecl("api", "string", default="batch", choices=("batch", "http_v2"), owner=_OWNER,
                description="Amplitude endpoint, /batch (as the integration does) or /2/httpapi."),
    SettingDecl("endpoint", "string", format="url", owner=_OWNER,
                description="Base URL that overrides the host, for proxies and tests "
                            "(http://127.0.0.1:8787)."),
    SettingDecl("min_id_length", "integer", default=1, minimum=1, owner=_OWNER,
                description="Amplitude's minimum user_id/device_id length, sent as "
                            "options.min_id_length. 1, because Customer.io person ids are often short "
                            'integers ("42"); Amplitude\'s own default is 5.'),
)
