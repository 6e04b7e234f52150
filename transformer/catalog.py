"""The destinations and sources this installation knows, and `load_mapping` with their settings.

A mapping names where its events go (`destination: amplitude`) and, for `serve`, where its
payloads come from (`source: customerio`); each of those declares its own settings in code
(`transformer/destinations/*/settings.py`, `transformer/sources/*.py`). `load_mapping` here,
the one `transformer` exports, resolves them together with the mapping's own settings: the
same `settings`, settings file and environment reach all of them, and an unknown name gets a
"did you mean" among all of them.

Loading a mapping needs only what each destination declares, its settings: `DESTINATION_SETTINGS`
names the module that holds them, so that loading does not import the destinations themselves
(their protocol classes, HTTP framing, gzip: about 15 ms of `transformer replay`'s start-up). A
test holds it to `destinations.registry.DESTINATIONS`; `SOURCE_SETTINGS` does the same for the
sources and `sources.registry.SOURCES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .expr.budget import DEFAULT_OUTPUT_BUDGET
from .runtime.mapping import CompiledMapping
from .runtime.mapping import load_mapping as load_plain
from .spec.components import Components

__all__ = ["COMPONENTS", "DESTINATION_SETTINGS", "SOURCE_SETTINGS", "load_mapping"]

DESTINATION_SETTINGS = {"amplitude": "amplitude.settings", "http": "http.settings"}
"""Each destination of the registry, and its module (in `transformer.destinations`) whose
`SETTINGS` it declares."""

SOURCE_SETTINGS = {"customerio": "customerio_settings"}
"""Each source of the registry, and its module (in `transformer.sources`) whose `SETTINGS` it
declares."""

COMPONENTS = Components(
    destinations={name: importlib.import_module(f".destinations.{module}", __package__).SETTINGS
                  for name, module in DESTINATION_SETTINGS.items()},
    sources={name: importlib.import_module(f".sources.{module}", __package__).SETTINGS
             for name, module in SOURCE_SETTINGS.items()})


def load_mapping(path: str | Path, settings: Mapping[str, Any] | None = None, *,
                 settings_file: str | Path | None = None,
                 environ: Mapping[str, str] | None = None,
                 output_budget: int = DEFAULT_OUTPUT_BUDGET,
                 destination: str | None = None) -> CompiledMapping:
    """Load, check and compile a mapping spec, with the settings of the destination and the
    source it names (`destination` replaces the spec's own: one of `DESTINATIONS`).

    Setting values come from `settings` (highest precedence), then `settings_file`, then the
    environment, then defaults. The environment is read only when given: `environ=os.environ`
    (or a mapping of your own); by default it is not read at all. `output_budget`: about how
    many bytes of JSON the events of one payload may take. Raises `SpecError` (every problem,
    located) or `SettingsError`; `ValueError` for an unknown `destination`.
    """
    return load_plain(path, settings, settings_file=settings_file, environ=environ,
                      output_budget=output_budget, components=COMPONENTS.choosing(destination))
