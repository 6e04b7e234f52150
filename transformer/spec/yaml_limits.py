"""How much one YAML document may hold (`yaml_guard` checks it); apart, so that naming the limits
does not import the YAML parser."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "YamlLimits"]


@dataclass(frozen=True, slots=True)
class YamlLimits:
    """What one YAML document may hold: bytes of text, nodes once every alias is expanded,
    and levels of nesting."""

    max_bytes: int = 1 << 20
    max_nodes: int = 100_000
    max_depth: int = 64


DEFAULT_LIMITS = YamlLimits()
