"""The typer application; each command lives in its own module, imported only when it runs.

`transformer --help` lists the commands from `COMMANDS` (name, module, and the first sentence
of the command's help, which a test holds equal to its docstring) without importing any of
them; `transformer replay …` imports `replay.py` and what it needs, not the web stack of
`serve` or the HTTP client of `send`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperArgument, TyperGroup

from ..io.checked import use_directory
from . import options

if TYPE_CHECKING:
    from typer._click import Context, HelpFormatter

try:   # typer 0.2x carries its own click
    from typer._click.utils import make_default_short_help
except ImportError:  # pragma: no cover - older typer uses click itself
    from click.utils import make_default_short_help  # type: ignore[no-redef]

__all__ = ["COMMANDS", "HELP_SETTINGS", "app", "cache_folder", "main"]

# Plain help (as click writes it): flags show no type, values show their metavar
HELP_SETTINGS = {"help_option_names": ["-h", "--help"]}

COMMANDS: dict[str, tuple[str, str, str]] = {
    # name: (module in transformer.cli, its function or Typer app, the first sentence of its help)
    "validate": ("validate", "validate", "Check mapping specs: schema, expressions, filters, settings."),
    "replay": ("replay", "replay", "Transform payloads and write the output events as NDJSON, one line "
               "per event."),
    "send": ("send", "send", "Transform payloads and deliver the events to the mapping's destination "
             "(Amplitude for mappings/amplitude.yaml); summary on stderr."),
    "backfill": ("backfill", "backfill", "Transform a history of payloads on a Dask cluster, in "
                 "partitions: parts and a manifest in --output (concatenated in order, what `replay` "
                 "writes), and with --send, delivered at a global events/s budget."),
    "test-connection": ("test_connection", "test_connection", "Send one test `Email Sent` event to the "
                        "mapping's destination; exit 0 only when it accepts it (within 10 s)."),
    "fake": ("fake", "fake", "Serve a fake of a destination on 127.0.0.1, with faults on demand, to send "
             "to (see the README's Destinations and sources)."),
    "fake-amplitude": ("fake", "fake_amplitude", "Serve a fake Amplitude on 127.0.0.1 (send with --set "
                       "endpoint=http://127.0.0.1:PORT); the same as `transformer fake amplitude`."),
    "serve": ("serve", "serve", "Receive webhooks from the mapping's source on POST /webhooks/SOURCE "
              "(Customer.io: /webhooks/customerio), store them, forward to the mapping's destination "
              "(Amplitude)."),
    "explain": ("explain", "explain", "For each output field: its rule's YAML location, expression, "
                "value found, fallback, filters."),
    "test": ("test_cmd", "test", "Run golden cases: payload in, expected events / skip / error out."),
    "lint": ("lint", "lint", "Typos in payload paths, output keys the output schema refuses, `||` over "
             "false/0, coverage of every input combination, unused settings."),
    "diff": ("diff", "diff", "Replay the corpus through both mappings; counts per output field and skip "
             "rule, examples."),
    "dead-letters": ("dead_letters_cmd", "app", "Dead letters kept by `transformer serve` in its queue "
                     "(--data-dir or --queue): list, show, resend."),
    "queue": ("queue_cmd", "app", "The queue `transformer serve` keeps: create or migrate its PostgreSQL "
              "tables."),
}


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
    help="Declarative JSON event transformer: Customer.io reporting webhooks → Amplitude.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
    context_settings=HELP_SETTINGS,
)


def _version(shown: bool) -> None:
    if shown:
        from importlib.metadata import version

        typer.echo(f"transformer {version('transformer')}")
        raise typer.Exit(0)


@app.callback()
def _main(
    show_version: Annotated[bool, typer.Option(
        "--version", "-V", callback=_version, is_eager=True, help="Show the version and exit.")] = False,
) -> None:
    """Declarative JSON event transformer: Customer.io reporting webhooks → Amplitude."""


def main() -> None:
    """Entry point of the `transformer` script."""
    use_directory(cache_folder(os.environ))
    app()


def cache_folder(environ: Mapping[str, str]) -> Path | None:
    """Where the command remembers the schemas and specs it found valid (`io/checked.py`), so
    that the next run need not check them again: `$TRANSFORMER_CACHE_DIR` (empty: nowhere),
    else `$XDG_CACHE_HOME/transformer/checked`, else `~/.cache/transformer/checked`."""
    given = environ.get("TRANSFORMER_CACHE_DIR")
    if given is not None:
        return Path(given) if given else None
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "transformer", "checked")
