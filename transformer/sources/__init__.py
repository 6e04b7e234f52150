"""Where payloads come from: webhook sources (signature checks, one payload per body)."""

__all__: list[str] = []
