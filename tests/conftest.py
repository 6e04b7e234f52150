"""Shared paths and fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "mappings" / "amplitude.yaml"
SAMPLES = ROOT / "samples"


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's AMPLITUDE_API_KEY or TRANSFORMER_* variables."""
    import os

    for name in list(os.environ):
        if name.startswith(("TRANSFORMER_", "AMPLITUDE_", "CIO_")):
            monkeypatch.delenv(name)
