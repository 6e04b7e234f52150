"""The typer application; each command lives in its own module, imported only when it runs.

Its help lists the commands from `COMMANDS` (`commands.py`: name, module, and the first
sentence of the command's help, which a test holds equal to its docstring) without importing
any of them (`transformer --help` itself is written by `entry.main`, without typer);
`transformer replay …` imports `replay.py` and what it needs, not the web stack of `serve` or
the HTTP client of `send`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperArgument, TyperGroup

from . import options
from .commands import APP_HELP, COMMANDS

if TYPE_CHECKING:
    from typer._click import Context, HelpFormatter

try:   # typer 0.2x carries its own click
    from typer._click.utils import make_default_short_help
except ImportError:  # pragma: no cover - older typer uses click itself
    from click.utils import make_default_short_help  # type: ignore[no-redef]

__all__ = ["COMMANDS", "HELP_SETTINGS", "app"]

# Plain help (as click writes it): flags show no type, values show their metavar
HELP_SETTINGS = {"help_option_names": ["-h", "--help"]}

class _LazyGroup(TyperGroup):
    """Builds a command from its module the first time it is asked for."""

    def list_commands(self, ctx: Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Context, cmd_name: str) -> Any:
        found = self.commands.get(cmd_name)
        if found is None and cmd_name in COMMANDS:
            module, attribute, _ = COMMANDS[cmd_name]
            target = getattr(importlib.import_module(f"{__package__}.{module}"), attribute)
            if isinstance(target, typer.Typer):
                found = typer.main.get_group(target)
            else:
                found = typer.main.get_command_from_info(
                    typer.models.CommandInfo(name=cmd_name, callback=target),
                    pretty_exceptions_short=app.pretty_exceptions_short,
                    rich_markup_mode=app.rich_markup_mode)
            found.name = cmd_name
            self.commands[cmd_name] = found
        return found

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        limit = formatter.width - 6 - max(map(len, COMMANDS))
        with formatter.section("Commands"):
            formatter.write_dl([(name, make_default_short_help(first, limit))
                                for name, (_, _, first) in COMMANDS.items()])


def _argument_usage(self: TyperArgument) -> str:
    name = str(self.display_name_raw)
    if self.nargs != 1 and not name.endswith("..."):
        name += "..."
    return name if self.required or name.startswith("[") else f"[{name}]"


def _no_type_tag(self: TyperArgument, ctx: Context) -> None:
    return None


# Recent typer writes arguments as `{INPUT...}...` in the usage line and adds a type tag
# (`PAYLOAD <str>`) to each; every argument here is named by its metavar, so write them as click
# does (`INPUT...`, `[FILES]...`). Older typer has neither method and needs nothing.
for _name, _method in (("_usage_display_name", _argument_usage), ("display_type_rich", _no_type_tag)):
    if hasattr(TyperArgument, _name):
        setattr(TyperArgument, _name, _method)

options.install()

app = typer.Typer(
    name="transformer",
    cls=_LazyGroup,
    help=APP_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
    context_settings=HELP_SETTINGS,
)


def _version(shown: bool) -> None:
    if shown:   # the same as entry.main's --version
        from .. import __version__

        typer.echo(f"transformer {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    show_version: Annotated[bool, typer.Option(
        "--version", "-V", callback=_version, is_eager=True, help="Show the version and exit.")] = False,
) -> None:
    """Declarative JSON event transformer: Customer.io reporting webhooks → Amplitude."""
