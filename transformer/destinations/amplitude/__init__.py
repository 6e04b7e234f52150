"""Amplitude: settings, endpoint, preflight, response classification, framing, the sender, a fake."""
