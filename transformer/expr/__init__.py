"""JMESPath expressions, extended with `$name` variables, compiled to Python closures."""

from .compile import CompiledExpr, ExprError, Scope, compile_expression
from .parse import parse_expression

__all__ = ["CompiledExpr", "ExprError", "Scope", "compile_expression", "parse_expression"]
