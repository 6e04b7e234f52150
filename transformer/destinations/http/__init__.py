"""`http`: a generic JSON sink. Batches of events POSTed as a JSON array or NDJSON to any URL."""

__all__: list[str] = []
