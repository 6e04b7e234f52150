"""YAML spec → a checked plan: source index, schema check, settings, compiler."""
