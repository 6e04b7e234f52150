"""YAML spec → a checked plan: source index, schema check, settings, compiler."""

__all__: list[str] = []
