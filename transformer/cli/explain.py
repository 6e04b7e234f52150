"""`transformer explain PAYLOAD`: how each output field of a payload was produced."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ..authoring import render_explanation
from ..jsonio import InputError, read_items
from .common import DEFAULT_MAPPING, MappingOpt, SetOpt, SettingsOpt, fail, load_from_options


def explain(
    source: Annotated[str, typer.Argument(
        metavar="PAYLOAD", help="A payload file (.json, or each payload of an .ndjson / array), or -.")],
    mapping: MappingOpt = DEFAULT_MAPPING,
    assignments: SetOpt = None,
    settings_file: SettingsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable trace, one JSON line per payload.")
                       ] = False,
) -> None:
    """For each output field: its rule's YAML location, expression, value found, fallback, filters."""
    compiled = load_from_options(mapping, assignments, settings_file)
    out = sys.stdout
    try:
        for n, item in enumerate(read_items(source)):
            if item.error is not None:
                fail(f"{item.where}: {item.error}", 1)
            story = compiled.explain(item.payload)
            if as_json:
                out.write(json.dumps({"where": item.where, **story.to_dict()}, ensure_ascii=False,
                                     default=str) + "\n")
            else:
                out.write(("\n" if n else "") + render_explanation(story, where=item.where) + "\n")
    except InputError as exc:
        fail(f"error: {exc}", 1)
