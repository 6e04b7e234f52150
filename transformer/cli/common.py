"""What every command shares: loading a mapping from options, and reporting failures."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from ..budget import DEFAULT_OUTPUT_BUDGET
from ..engine import CompiledMapping, load_mapping
from ..errors import SettingsError, SpecError
from ..jsonio import DEFAULT_MAX_DEPTH
from ..settings import parse_assignments
from ..spec_schema import data_file

__all__ = [
    "DEFAULT_MAPPING",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_OUTPUT_BUDGET",
    "MappingOpt",
    "MaxDepthOpt",
    "OutputBudgetOpt",
    "SetOpt",
    "SettingsOpt",
    "fail",
    "load_from_options",
    "resolve_mapping_path",
]

DEFAULT_MAPPING = "mappings/amplitude.yaml"

MappingOpt = Annotated[str, typer.Option("--mapping", "-m", help="Mapping spec (YAML).",
                                         show_default=True)]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", "-s", metavar="NAME=VALUE", help="Set a setting (repeatable); parsed by its declared type.")]
SettingsOpt = Annotated[Path | None, typer.Option(
    "--settings", metavar="FILE", help="YAML or JSON file of setting values.")]
OutputBudgetOpt = Annotated[int, typer.Option(
    "--output-budget", metavar="BYTES", min=1,
    help="A payload whose events would take more than about BYTES of JSON is a payload error.")]
MaxDepthOpt = Annotated[int, typer.Option(
    "--max-depth", metavar="N", min=1, max=1000,
    help="A payload whose arrays and objects nest deeper than N levels is a payload error.")]


def err(message: str) -> None:
    """Write one line to standard error."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def fail(message: str, code: int) -> NoReturn:
    """Print an error and exit with `code`."""
    err(message)
    raise typer.Exit(code)


def resolve_mapping_path(path: str) -> Path:
    """The mapping to load: as given, or the bundled copy when the default is not here."""
    given = Path(path)
    if given.exists() or path != DEFAULT_MAPPING:
        return given
    return data_file("mappings", "amplitude.yaml")


def load_from_options(mapping: str, assignments: list[str] | None, settings_file: Path | None,
                      output_budget: int = DEFAULT_OUTPUT_BUDGET) -> CompiledMapping:
    """Load a mapping for a command; spec problems exit 1, settings problems exit 2."""
    try:
        given = parse_assignments(assignments or [])
        return load_mapping(resolve_mapping_path(mapping), given, settings_file=settings_file,
                            output_budget=output_budget)
    except SpecError as exc:
        for problem in exc.problems:
            err(str(problem))
        fail(f"{len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''} in the mapping", 1)
    except SettingsError as exc:
        for message in exc.messages:
            err(f"error: {message}")
        raise typer.Exit(2) from None
