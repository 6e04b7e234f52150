"""`transformer explain PAYLOAD`: how each output field of a payload was produced."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ..authoring import explain as explain_payload
from ..authoring import render_explanation
from ..io.jsonio import InputError, read_items
from .basics import DEFAULT_MAPPING, DEFAULT_MAX_DEPTH, err, fail, load_from_options
from .common import MappingOpt, MaxDepthOpt, SetOpt, SettingsOpt

__all__ = ["explain"]


def explain(
    source: Annotated[str | None, typer.Argument(
        metavar="PAYLOAD", help="A payload file (.json, or each payload of an .ndjson / array), or -.",
        show_default=False)] = None,
    mapping: MappingOpt = DEFAULT_MAPPING,
    assignments: SetOpt = None,
    settings_file: SettingsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable trace, one JSON line per payload.")
                       ] = False,
    max_depth: MaxDepthOpt = DEFAULT_MAX_DEPTH,
    code: Annotated[bool, typer.Option(
        "--code", help="Print the Python code the mapping is compiled to (with these settings), "
                       "instead of explaining a payload.")] = False,
) -> None:
    """For each output field: its rule's YAML location, expression, value found, fallback, filters."""
    if source is None and not code:
        fail("error: give a PAYLOAD to explain (or --code to see the generated code)", 2)
    compiled = load_from_options(mapping, assignments, settings_file)
    if code:
        sys.stdout.write(compiled.source)
        raise typer.Exit(0)
    assert source is not None
    out = sys.stdout
    failed = False
    try:
        for n, item in enumerate(read_items(source, max_depth)):
            if item.error is not None:
                err(f"{item.where}: {item.error}")
                failed = True
                continue
            story = explain_payload(compiled, item.payload)
            if as_json:
                out.write(json.dumps({"where": item.where, **story.to_dict()}, ensure_ascii=False,
                                     default=str) + "\n")
            else:
                out.write(("\n" if n else "") + render_explanation(story, where=item.where) + "\n")
    except InputError as exc:
        fail(f"error: {exc}", 1)
    raise typer.Exit(1 if failed else 0)
