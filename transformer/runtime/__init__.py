"""A plan → a runnable mapping: generated code, the values it uses, apply and apply_many."""

__all__: list[str] = []
