"""JMESPath expressions, extended with `$name` variables, compiled to Python source."""

from .compile import CompiledExpr, ExprError, Namespace, Scope, compile_expression
from .parse import parse_expression

__all__ = ["CompiledExpr", "ExprError", "Namespace", "Scope", "compile_expression", "parse_expression"]
