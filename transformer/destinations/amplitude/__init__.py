"""Amplitude: endpoint, preflight, response classification, the sender, and a fake."""

__all__: list[str] = []
