"""`transformer replay`'s plain command lines are read without typer (`cli/replay_args.py`) exactly
as typer reads them: the same arguments for `replay`, on listed lines and on generated ones; the
lines it leaves to typer are typer's to refuse or read."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from transformer.cli import app, replay, replay_run
from transformer.cli.replay_args import DEFAULTS, parse

RUNNER = CliRunner()


def typers_reading(args: list[str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any] | None:
    """The arguments typer gives `replay_run.run` for `transformer replay ARGS`, or None when it
    refuses the line."""
    seen: list[dict[str, Any]] = []
    names = list(inspect.signature(replay_run.run).parameters)

    def capture(*values: Any) -> int:
        seen.append(dict(zip(names, values, strict=True)))
        return 0

    with monkeypatch.context() as patch:
        patch.setattr(replay, "run", capture)
        result = RUNNER.invoke(app, ["replay", *args], env={})
    if result.exit_code != 0:
        assert not seen and result.exit_code == 2, result.output
        return None
    return seen[0] if seen else None


@pytest.mark.parametrize("args", [
    ["a.json"],
    ["a.json", "-", "b.ndjson"],
    ["-m", "m.yaml", "--set", "a=1", "-s", "b=2", "--set=c=3", "a.json"],
    ["a.json", "--mapping=m.yaml", "--settings", "s.yaml", "-o", "out.ndjson", "--include-skips", "--check"],
    ["--max-depth", "1000", "--output-budget=1", "--workers", "2", "a.json"],
    ["-w", "1", "--", "--not-an-option.json", "-"],
    ["--set", "-", "a.json"],
    ["--mapping", "", "a.json"],
])
def test_a_plain_line_is_read_as_typer_reads_it(args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    mine = parse(args)
    assert mine is not None
    assert mine == typers_reading(args, monkeypatch)


@pytest.mark.parametrize("args", [
    [], ["--help"], ["-h", "a.json"], ["--nope", "a.json"], ["-mm.yaml", "a.json"],
    ["--max-depth", "0", "a.json"], ["--max-depth", "1001", "a.json"], ["--workers", "x", "a.json"],
    ["--workers", "+2", "a.json"], ["--check=yes", "a.json"], ["--check", "--check", "a.json"],
    ["-o", "a", "-o", "b", "c.json"], ["-o", "-q", "a.json"], ["a.json", "--set"], ["--mapping"],
])
def test_anything_else_is_left_to_typer(args: list[str]) -> None:
    assert parse(args) is None


def test_the_defaults_are_the_commands() -> None:
    parameters = inspect.signature(replay.replay).parameters
    assert {name: parameters[name].default for name in DEFAULTS} == DEFAULTS
    assert set(parameters) == {"inputs", *DEFAULTS}


_TOKENS = st.sampled_from([
    "a.json", "b.ndjson", "-", "--", "x", "5", "0", "1000", "1001", "a=b", "", "-q", "--help",
    "--mapping", "-m", "--set", "-s", "--settings", "--output", "-o", "--max-depth", "--output-budget",
    "--workers", "-w", "--include-skips", "--check", "--set=k=v", "--workers=3", "--check=1", "-m=x"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_TOKENS, max_size=8))
def test_whatever_it_reads_typer_reads_the_same(args: list[str]) -> None:
    mine = parse(args)
    if mine is not None:
        with pytest.MonkeyPatch.context() as monkeypatch:
            assert mine == typers_reading(args, monkeypatch)

