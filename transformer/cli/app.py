"""The typer application; each command lives in its own module."""

from __future__ import annotations

import typer

from . import replay, validate

app = typer.Typer(
    name="transformer",
    help="Declarative JSON event transformer: Customer.io reporting webhooks → Amplitude.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("validate")(validate.validate)
app.command("replay")(replay.replay)


def main() -> None:
    """Entry point of the `transformer` script."""
    app()
