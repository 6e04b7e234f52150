"""Payload readers and writers, and schema checks of payloads."""

__all__: list[str] = []
