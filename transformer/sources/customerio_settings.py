"""What the Customer.io source declares: its settings. Apart from the source itself, so that loading
a mapping (`catalog.SOURCE_SETTINGS`) does not import the signature checking."""

from __future__ import annotations

from ..spec.settings import SettingDecl

__all__ = ["SETTINGS"]

SETTINGS = (
    SettingDecl("signing_secret", "string", secret=True, env=("CIO_SIGNING_SECRET",),
                owner="source customerio",
                description="Customer.io reporting-webhook signing key; `transformer serve` refuses "
                            "webhooks whose X-CIO-Signature does not match it."),
)
