"""The typer application; each command lives in its own module."""

from __future__ import annotations

from importlib.metadata import version
from typing import Annotated

import click
import typer
from typer.core import TyperArgument

from . import (
    backfill,
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

__all__ = ["HELP_SETTINGS", "app", "main"]

# Plain help (as click writes it): flags show no type, values show their metavar
HELP_SETTINGS = {"help_option_names": ["-h", "--help"]}


def _argument_usage(self: TyperArgument) -> str:
    name = str(self.display_name_raw)
    if self.nargs != 1 and not name.endswith("..."):
        name += "..."
    return name if self.required or name.startswith("[") else f"[{name}]"


def _no_type_tag(self: TyperArgument, ctx: click.Context) -> None:
    return None


# Recent typer writes arguments as `{INPUT...}...` in the usage line and adds a type tag
# (`PAYLOAD <str>`) to each; every argument here is named by its metavar, so write them as click
# does (`INPUT...`, `[FILES]...`). Older typer has neither method and needs nothing.
for _name, _method in (("_usage_display_name", _argument_usage), ("display_type_rich", _no_type_tag)):
    if hasattr(TyperArgument, _name):
        setattr(TyperArgument, _name, _method)

app = typer.Typer(
    name="transformer",
    help="Declarative JSON event transformer: Customer.io reporting webhooks → Amplitude.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
    context_settings=HELP_SETTINGS,
)


def _version(shown: bool) -> None:
    if shown:
        typer.echo(f"transformer {version('transformer')}")
        raise typer.Exit(0)


@app.callback()
def _main(
    show_version: Annotated[bool, typer.Option(
        "--version", "-V", callback=_version, is_eager=True, help="Show the version and exit.")] = False,
) -> None:
    """Declarative JSON event transformer: Customer.io reporting webhooks → Amplitude."""

app.command("validate")(validate.validate)
app.command("replay")(replay.replay)
app.command("send")(send.send)
app.command("backfill")(backfill.backfill)
app.command("test-connection")(test_connection.test_connection)
app.command("fake")(fake.fake)
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
