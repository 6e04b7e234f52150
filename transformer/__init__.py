"""transformer: a declarative, config-driven JSON event transformer.

The public API: load a mapping spec, apply it to payloads.

    mapping = load_mapping("mappings/amplitude.yaml", settings={"account_id": "1"})
    result = mapping.apply(payload)      # Result: .events, .skip (.rule, .reason)
"""

from .catalog import load_mapping
from .errors import PayloadError, Problem, SettingsError, SpecError, TransformerError
from .runtime.mapping import CompiledMapping
from .runtime.result import Result, Skip

__all__ = [
    "CompiledMapping",
    "PayloadError",
    "Problem",
    "Result",
    "SettingsError",
    "Skip",
    "SpecError",
    "TransformerError",
    "load_mapping",
]

__version__ = "0.1.0"
