"""The `transformer` command line: a thin shell over the library.

`main` (the `transformer` script) imports typer only for a command that needs it (see
`entry.py`); `app`, the typer application, is imported when first asked for.
"""

from __future__ import annotations

import typing

from ..lazy import lazy_exports as _lazy_exports
from .entry import main

if typing.TYPE_CHECKING:
    from .typer_app import app

__getattr__ = _lazy_exports(__name__, {"app": ".typer_app"})

__all__ = ["app", "main"]
