"""`transformer diff A B --input CORPUS...`: what changes between two versions of a mapping."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from ..authoring.diff import diff_mappings, render_diff
from ..io.jsonio import InputError, read_items
from .basics import DEFAULT_MAX_DEPTH, err, fail, load_from_options
from .common import MaxDepthOpt, SetOpt, SettingsOpt

__all__ = ["diff"]


def diff(
    mapping_a: Annotated[str, typer.Argument(metavar="A", help="A mapping spec (e.g. your edited one).")],
    mapping_b: Annotated[str, typer.Argument(metavar="B", help="The mapping to compare it with.")],
    inputs: Annotated[list[str], typer.Option(
        "--input", "-i", metavar="PATH", help="Corpus files (.json, .ndjson, -); repeatable.")],
    assignments: SetOpt = None,
    settings_file: SettingsOpt = None,
    examples: Annotated[int, typer.Option(metavar="N", help="Examples kept per kind of change.")] = 3,
    exit_code: Annotated[bool, typer.Option(
        "--exit-code", help="Exit 1 when the outputs differ (like git diff --exit-code).")] = False,
    max_depth: MaxDepthOpt = DEFAULT_MAX_DEPTH,
) -> None:
    """Replay the corpus through both mappings; counts per output field and skip rule, examples."""
    a = load_from_options(mapping_a, assignments, settings_file)
    b = load_from_options(mapping_b, assignments, settings_file)
    problems: list[str] = []

    def corpus() -> Iterator[tuple[str, Any]]:
        for source in inputs:
            try:
                for item in read_items(source, max_depth):
                    if item.error is not None:
                        problems.append(f"{item.where}: {item.error}")
                        continue
                    yield item.where, item.payload
            except InputError as exc:
                fail(f"error: {exc}", 1)

    report = diff_mappings(a, b, corpus(), examples=examples)
    for problem in problems:
        err(f"skipped {problem}")
    sys.stdout.write(render_diff(report, mapping_a, mapping_b) + "\n")
    raise typer.Exit(1 if exit_code and report.changed else 0)
