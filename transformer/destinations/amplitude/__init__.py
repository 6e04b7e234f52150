"""Amplitude: settings, endpoint, preflight, response classification, framing, the sender, a fake."""

__all__: list[str] = []
