"""transformer: a declarative, config-driven JSON event transformer.

The public API: load a mapping spec, apply it to payloads.

    mapping = load_mapping("mappings/amplitude.yaml", settings={"account_id": "1"})
    result = mapping.result(payload)     # Result: .kind, .events, .skip (.rule, .reason), .error

A compiled mapping pickles (as its `Recipe`) and compiles again, once, in the process that
unpickles it.

The names below are imported when first used (PEP 562), so that `import transformer.cli` or
`transformer.io` costs only what they need.
"""

from __future__ import annotations

import typing

from .lazy import lazy_exports as _lazy_exports

if typing.TYPE_CHECKING:
    from .catalog import load_mapping
    from .errors import PayloadError, Problem, SettingsError, Severity, SpecError, TransformerError
    from .runtime.mapping import CompiledMapping, Recipe
    from .runtime.result import Result, ResultKind, Skip

__getattr__ = _lazy_exports(__name__, {
    "load_mapping": ".catalog", "PayloadError": ".errors", "Problem": ".errors",
    "SettingsError": ".errors", "Severity": ".errors", "SpecError": ".errors",
    "TransformerError": ".errors", "CompiledMapping": ".runtime.mapping", "Recipe": ".runtime.mapping",
    "Result": ".runtime.result", "ResultKind": ".runtime.result", "Skip": ".runtime.result",
})


__all__ = [
    "CompiledMapping",
    "PayloadError",
    "Problem",
    "Recipe",
    "Result",
    "ResultKind",
    "SettingsError",
    "Severity",
    "Skip",
    "SpecError",
    "TransformerError",
    "load_mapping",
]

__version__ = "0.1.0"
