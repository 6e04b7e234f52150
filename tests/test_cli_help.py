"""The command line introduces itself: -h everywhere, --version, help without odd type tags,
and a package that library users' mypy can check (py.typed)."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from transformer.cli import app

runner = CliRunner()
COMMANDS = [[], ["validate"], ["replay"], ["send"], ["test-connection"], ["fake"], ["fake-amplitude"], ["serve"],
            ["explain"], ["test"], ["lint"], ["diff"], ["dead-letters"], ["dead-letters", "list"],
            ["dead-letters", "show"], ["dead-letters", "resend"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "transformer")
def test_every_command_has_short_help_without_type_tags(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "-h"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: transformer")
    assert result.stdout == runner.invoke(app, [*command, "--help"], env={"COLUMNS": "100"}).stdout
    assert not re.findall(r"<[a-z][\w\[\], ]*>", result.stdout), result.stdout   # no <bool>, <str>, <list[str]>
    assert "{" not in result.stdout.splitlines()[0]                                 # no {INPUT...}...


def test_value_options_show_what_they_take() -> None:
    shown = runner.invoke(app, ["send", "-h"], env={"COLUMNS": "100"}).stdout
    assert "Usage: transformer send [OPTIONS] INPUT..." in shown
    for option in ("-m, --mapping PATH", "--set NAME=VALUE", "--settings FILE", "--dead-letters PATH",
                   "--deadline SECONDS", "--concurrency N"):
        assert option in shown


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag: str) -> None:
    result = runner.invoke(app, [flag])
    assert (result.exit_code, result.stdout) == (0, f"transformer {version('transformer')}\n")


def test_the_package_is_typed_for_library_users(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    import transformer

    assert (Path(transformer.__file__).parent / "py.typed").is_file()
    user = tmp_path / "use.py"
    user.write_text("from transformer import load_mapping\n"
                    "mapping = load_mapping('m.yaml')\n"
                    "events: list[dict[str, object]] = mapping.apply({}).events\n")
    run = subprocess.run([sys.executable, "-m", "mypy", "--strict", str(user)], cwd=tmp_path,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout


@pytest.mark.parametrize("command", [["validate"], ["lint"], ["test"], ["replay"], ["send"],
                                     ["test-connection"], ["serve"], ["explain"], ["dead-letters", "resend"]])
def test_commands_that_load_a_mapping_take_mapping(command: list[str]) -> None:
    shown = runner.invoke(app, [*command, "-h"]).stdout
    assert "-m, --mapping PATH" in shown


@pytest.mark.parametrize("command", [["validate"], ["lint"], ["replay"], ["send"], ["test-connection"],
                                     ["serve"], ["explain"], ["diff"], ["dead-letters", "resend"]])
def test_commands_that_resolve_settings_take_set_and_settings(command: list[str]) -> None:
    shown = runner.invoke(app, [*command, "-h"]).stdout
    assert "--set NAME=VALUE" in shown and "--settings FILE" in shown


def test_gitignore_keeps_dead_letters_out_of_commits() -> None:
    ignored = (Path(__file__).parent.parent / ".gitignore").read_text().splitlines()
    assert "dead-letters.ndjson" in ignored
