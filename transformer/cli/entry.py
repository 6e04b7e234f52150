"""`transformer`, the script: `--help`, `--version` and plain `replay` command lines without typer
(`commands.py`, `replay_args.py`), anything else through the typer application (`typer_app.py`)."""

from __future__ import annotations

import os
import sys

from ..io.checked import use_directory
from .commands import cache_folder, help_width, program_name, top_help

__all__ = ["main"]


def main() -> None:
    """Entry point of the `transformer` script."""
    args = sys.argv[1:]
    if args in (["--help"], ["-h"]):
        sys.stdout.write(top_help(program_name(), help_width()))
        return
    if args in (["--version"], ["-V"]):   # the package's own (a test holds it to the installed one's)
        from .. import __version__

        sys.stdout.write(f"transformer {__version__}\n")
        return
    use_directory(cache_folder(os.environ))
    if args[:1] == ["replay"]:   # a plain command line: no typer (replay_args.py)
        from .replay_args import parse

        given = parse(args[1:])
        if given is not None:
            from .replay_run import run

            sys.exit(run(**given))
    from .typer_app import app

    app()
