"""Where payloads come from: webhook sources (signature checks, one payload per body)."""
