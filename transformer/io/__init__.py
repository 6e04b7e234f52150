"""Payload readers and writers, and schema checks of payloads."""
