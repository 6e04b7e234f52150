"""The receiver's durable queue of events: intake, forwarding, dead letters."""

__all__: list[str] = []
