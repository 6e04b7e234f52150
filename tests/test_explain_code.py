"""`transformer explain --code` prints what runs: the Python the mapping is compiled to, with the
settings given (conditions on settings already decided, values folded in)."""

from __future__ import annotations

import ast

from typer.testing import CliRunner

from transformer.cli import app

runner = CliRunner()


def test_explain_code_prints_the_generated_functions_with_the_settings_folded_in() -> None:
    result = runner.invoke(app, ["explain", "--code", "--set", "workspace_id=98765", "--set", "account_id=1"])
    assert result.exit_code == 0, result.output
    tree = ast.parse(result.stdout)                       # valid Python, as it was compiled
    names = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert {"_run", "_ident"} <= names and any(n.startswith("_rest_copy") for n in names)
    assert "['98765']" in result.stdout                   # the setting is a constant in the code
    other = runner.invoke(app, ["explain", "--code", "--set", "workspace_id=11111", "--set", "account_id=1"])
    assert "['11111']" in other.stdout and "98765" not in other.stdout


def test_explain_without_a_payload_or_code_is_a_usage_error() -> None:
    result = runner.invoke(app, ["explain"])
    assert result.exit_code == 2
    assert "give a PAYLOAD to explain (or --code" in result.output
