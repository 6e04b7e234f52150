"""Tools for people who write mappings: explain, lint, diff (golden cases are in `golden`)."""

from .explain import Explanation, RuleTrace, explain
from .explain_text import render_explanation

__all__ = ["Explanation", "RuleTrace", "explain", "render_explanation"]
