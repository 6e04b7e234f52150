"""transformer: a declarative, config-driven JSON event transformer.

The public API: load a mapping spec, apply it to payloads.

    mapping = load_mapping("mappings/amplitude.yaml", settings={"account_id": "1"})
    result = mapping.result(payload)     # Result: .kind, .events, .skip (.rule, .reason), .error

A compiled mapping pickles (as its `Recipe`) and compiles again, once, in the process that
unpickles it.
"""

from .catalog import load_mapping
from .errors import PayloadError, Problem, SettingsError, Severity, SpecError, TransformerError
from .runtime.mapping import CompiledMapping, Recipe
from .runtime.result import Result, ResultKind, Skip

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
