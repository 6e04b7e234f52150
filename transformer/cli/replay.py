"""`transformer replay INPUT...`: transform sample payloads and print what Amplitude would get."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .basics import DEFAULT_MAPPING, DEFAULT_MAX_DEPTH, DEFAULT_OUTPUT_BUDGET
from .common import MappingOpt, MaxDepthOpt, OutputBudgetOpt, SetOpt, SettingsOpt
from .replay_run import run

__all__ = ["replay"]


def replay(
    inputs: Annotated[list[str], typer.Argument(
        metavar="INPUT...", help="Payload files: .json (one or an array), .ndjson/.jsonl, or - for stdin.")],
    mapping: MappingOpt = DEFAULT_MAPPING,
    assignments: SetOpt = None,
    settings_file: SettingsOpt = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", metavar="PATH", help="Write NDJSON here instead of standard output.")] = None,
    include_skips: Annotated[bool, typer.Option(
        "--include-skips", help="Also write a line per skipped payload: its id, rule and reason.")] = False,
    check: Annotated[bool, typer.Option(
        "--check", help="Validate each input and output against the mapping's schemas.")] = False,
    max_depth: MaxDepthOpt = DEFAULT_MAX_DEPTH,
    output_budget: OutputBudgetOpt = DEFAULT_OUTPUT_BUDGET,
    workers: Annotated[int | None, typer.Option(
        "--workers", "-w", metavar="N", min=1,
        help="Processes transforming NDJSON files (output in input order, as with one). "
             "Default: one per core for 64 MiB of NDJSON or more, else 1.")] = None,
) -> None:
    """Transform payloads and write the output events as NDJSON, one line per event."""
    raise typer.Exit(run(inputs, mapping, assignments, settings_file, output, include_skips, check, max_depth,
                         output_budget, workers))
