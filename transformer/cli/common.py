"""The options several commands declare, as typer types (what every command does the same way,
without typer, is in `basics.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..catalog import DESTINATION_SETTINGS

__all__ = ["DestinationOpt", "MappingOpt", "MaxDepthOpt", "OutputBudgetOpt", "SetOpt", "SettingsOpt"]

MappingOpt = Annotated[str, typer.Option("--mapping", "-m", metavar="PATH", help="Mapping spec (YAML).",
                                         show_default=True)]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", "-s", metavar="NAME=VALUE", help="Set a setting (repeatable); parsed by its declared type.")]
SettingsOpt = Annotated[Path | None, typer.Option(
    "--settings", metavar="FILE", help="YAML or JSON file of setting values.")]
OutputBudgetOpt = Annotated[int, typer.Option(
    "--output-budget", metavar="BYTES", min=1,
    help="A payload whose events would take more than about BYTES of JSON is a payload error.")]
DestinationOpt = Annotated[str | None, typer.Option(
    "--destination", metavar="NAME", help="Deliver to this destination instead of the mapping's: "
                                           f"{' or '.join(sorted(DESTINATION_SETTINGS))}.")]
MaxDepthOpt = Annotated[int, typer.Option(
    "--max-depth", metavar="N", min=1, max=1000,
    help="A payload whose arrays and objects nest deeper than N levels is a payload error.")]
