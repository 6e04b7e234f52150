"""The typer application; each command lives in its own module."""

from __future__ import annotations

import typer

from . import (
    dead_letters_cmd,
    diff,
    explain,
    fake,
    lint,
    replay,
    send,
    serve,
    test_cmd,
    test_connection,
    validate,
)

app = typer.Typer(
    name="transformer",
    help="Declarative JSON event transformer: Customer.io reporting webhooks → Amplitude.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("validate")(validate.validate)
app.command("replay")(replay.replay)
app.command("send")(send.send)
app.command("test-connection")(test_connection.test_connection)
app.command("fake-amplitude")(fake.fake_amplitude)
app.command("serve")(serve.serve)
app.add_typer(dead_letters_cmd.app, name="dead-letters")
app.command("explain")(explain.explain)
app.command("test")(test_cmd.test)
app.command("lint")(lint.lint)
app.command("diff")(diff.diff)


def main() -> None:
    """Entry point of the `transformer` script."""
    app()
