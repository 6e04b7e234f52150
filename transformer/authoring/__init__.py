"""Tools for people who write mappings: explain, lint, diff (golden cases are in `golden`)."""

from .explain import Explanation, FilterStepTrace, RuleTrace, SkipCheck, explain
from .explain_text import render_explanation

__all__ = ["Explanation", "FilterStepTrace", "RuleTrace", "SkipCheck", "explain", "render_explanation"]
