"""The receiver's durable queue of events: the lease/ack `Queue` protocol (`base`) and its
SQLite implementation (`sqlite`, with its tables in `sqlite_schema`)."""

__all__: list[str] = []
