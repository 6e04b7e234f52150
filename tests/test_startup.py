"""Each command imports what it needs when it runs: `replay` never loads the web stack, the HTTP
client, rich or pydantic, nor typer for a plain command line; `--help` loads no command; a schema or spec found valid once is not
checked again by the next run (so jsonschema is not even imported). Behaviours, not timings:
`benchmarks/run.py` measures how long start-up takes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer._click import Context
from typer._click.utils import make_default_short_help
from typer.core import TyperGroup
from typer.testing import CliRunner

from transformer.cli import app
from transformer.cli.commands import COMMANDS, cache_folder, top_help
from transformer.cli.options import plain_converter
from transformer.io import checked
from transformer.io.schema_check import SchemaFileError, read_schema_file

ROOT = Path(__file__).parent.parent
SAMPLE = str(ROOT / "samples" / "email_sent.json")
HEAVY = ("typer", "httpx", "starlette", "uvicorn", "jsonschema", "pydantic", "rich", "click", "fastjsonschema",
         "sqlite3", "http.server", "socket", "email", "concurrent.futures", "multiprocessing",
         "dask", "distributed", "fsspec", "pyarrow")

_PROBE = """
import json, sys
sys.argv = ["transformer", *json.loads(sys.argv[1])]
from transformer.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
sys.stdout.flush()
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _modules_after(args: list[str], cache: Path) -> tuple[set[str], str]:
    """The modules a `transformer ARGS` run has imported when it ends, and its stdout."""
    env = {**os.environ, "TRANSFORMER_CACHE_DIR": str(cache)}
    run = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(args)], capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=120)
    return set(json.loads(run.stderr.splitlines()[-1])), run.stdout


def _loaded(modules: set[str], name: str) -> bool:
    return name in modules or any(m.startswith(name + ".") for m in modules)


def test_replay_imports_neither_typer_nor_the_web_stack_nor_the_http_client(tmp_path: Path) -> None:
    args = ["replay", SAMPLE, "--set", "account_id=1", "--set", "workspace_id=56354"]
    first, out = _modules_after(args, tmp_path)
    assert json.loads(out)["event_type"] == "Email Sent"
    assert [name for name in HEAVY if name != "jsonschema" and _loaded(first, name)] == []
    assert _loaded(first, "jsonschema")                 # the first run checks the schemas and the spec
    again, out_again = _modules_after(args, tmp_path)   # the next one finds them checked
    assert out_again == out
    assert [name for name in HEAVY if _loaded(again, name)] == []
    # a mapping's destination is known by its settings alone: no destination class, no gzip
    assert sorted(m for m in again if m.startswith("transformer.destinations.")) == [
        "transformer.destinations.amplitude", "transformer.destinations.amplitude.settings",
        "transformer.destinations.http", "transformer.destinations.http.settings"]
    # and a source by its settings: no signature checking
    assert sorted(m for m in again if m.startswith("transformer.sources.")) == [
        "transformer.sources.customerio_settings"]


def test_the_catalog_knows_each_destination_of_the_registry_by_its_settings() -> None:
    from transformer.catalog import COMPONENTS, DESTINATION_SETTINGS
    from transformer.destinations.registry import DESTINATIONS

    assert list(DESTINATION_SETTINGS) == list(DESTINATIONS)
    assert all(COMPONENTS.destinations[name] is kind.settings for name, kind in DESTINATIONS.items())


def test_the_catalog_knows_each_source_of_the_registry_by_its_settings() -> None:
    from transformer.catalog import COMPONENTS, SOURCE_SETTINGS
    from transformer.sources.registry import SOURCES

    assert list(SOURCE_SETTINGS) == list(SOURCES)
    assert all(COMPONENTS.sources[name] is kind.settings for name, kind in SOURCES.items())


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["--version"]])
def test_help_and_version_load_no_command_and_not_typer(tmp_path: Path, args: list[str]) -> None:
    modules, out = _modules_after(args, tmp_path)
    assert ("replay" in out and "dead-letters" in out) if args != ["--version"] else out.startswith("transformer ")
    assert [m for m in modules if m.startswith("transformer.") and m.split(".")[1] not in ("cli", "io", "lazy")] == []
    assert sorted(m for m in modules if m.startswith("transformer.cli.")) == ["transformer.cli.commands",
                                                                              "transformer.cli.entry"]
    assert [name for name in HEAVY if _loaded(modules, name)] == []


def test_the_help_written_without_typer_is_typers() -> None:
    import typer

    group = typer.main.get_command(app)
    for prog in ("transformer", "python -m transformer", "a-program-name-much-longer-than-any-real-one-x"):
        for width in (50, 60, 78, 120):   # click's: 2 less than the terminal's, between 50 and 78
            context = Context(group, info_name=prog, terminal_width=width, help_option_names=["-h", "--help"])
            assert top_help(prog, width) == group.get_help(context) + "\n", (prog, width)


def test_help_and_version_are_typers_on_the_command_line(tmp_path: Path) -> None:
    env = {**os.environ, "TRANSFORMER_CACHE_DIR": str(tmp_path), "COLUMNS": "64"}
    through_typer = ("import sys; sys.argv[0] = 'transformer'; from transformer.cli import app; "
                     "app(prog_name='transformer')")
    for args in (["--help"], ["-V"]):
        fast = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(args)], capture_output=True, text=True,
                              cwd=ROOT, env=env, timeout=120)
        slow = subprocess.run([sys.executable, "-c", through_typer, *args], capture_output=True, text=True,
                              cwd=ROOT, env=env, timeout=120)
        assert (fast.stdout, slow.returncode) == (slow.stdout, 0)
        assert slow.stdout.startswith("Usage: transformer [OPTIONS]") or slow.stdout.startswith("transformer 0.")


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_listed_help_is_the_commands_own(name: str) -> None:
    import typer

    group = typer.main.get_command(app)  # the click group, as `transformer` runs it
    assert isinstance(group, TyperGroup)
    command = group.get_command(Context(group), name)
    assert command is not None and command.name == name
    first = COMMANDS[name][2]
    for limit in (40, 60, 200):
        assert make_default_short_help(first, limit) == command.get_short_help_str(limit)


def test_plain_options_are_converted_with_clicks_words() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["replay", SAMPLE, "--max-depth", "0"])
    assert result.exit_code == 2
    assert "Invalid value for '--max-depth': 0 is not in the range 1<=x<=1000." in result.output
    result = runner.invoke(app, ["replay", SAMPLE, "--output-budget", "lots"])
    assert "Invalid value for '--output-budget': 'lots' is not a valid integer." in result.output
    to_float = plain_converter(float, 0.5)
    assert to_float is not None and to_float("2") == 2.0
    with pytest.raises(ValueError, match=r"0\.1 is not in the range x>=0\.5"):
        to_float("0.1")
    to_bools = plain_converter(list[bool])
    assert to_bools is not None and to_bools(["yes", "0"]) == [True, False]
    assert plain_converter(complex) is None   # left to typer


def test_the_cache_folder_follows_the_environment(tmp_path: Path) -> None:
    assert cache_folder({"TRANSFORMER_CACHE_DIR": str(tmp_path)}) == tmp_path
    assert cache_folder({"TRANSFORMER_CACHE_DIR": ""}) is None
    assert cache_folder({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "transformer" / "checked"


def test_a_schema_is_remembered_only_when_valid(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"type": "object", "x-note": tmp_path.name}))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"type": 12, "x-note": tmp_path.name}))
    folder = tmp_path / "cache"
    checked.use_directory(folder)
    try:
        read_schema_file(good)
        assert len(list(folder.iterdir())) == 1
        for _ in range(2):  # reported every time, never remembered
            with pytest.raises(SchemaFileError, match="not a valid JSON Schema"):
                read_schema_file(bad)
        assert len(list(folder.iterdir())) == 1
    finally:
        checked.use_directory(None)


def test_the_packages_app_is_the_typer_application_whatever_was_imported_first() -> None:
    # the typer application's module is not named `app`: importing it cannot replace the
    # package's lazily exported `app` with a module (it did, depending on test order)
    import typer

    import transformer.cli.typer_app
    from transformer.cli import app as exported

    assert isinstance(exported, typer.Typer) and exported is transformer.cli.typer_app.app
