"""What every command does the same way, without typer (so that `entry.main` can run `replay`
without importing it): loading a mapping from options, and reporting failures. A failure exits
with `SystemExit(code)`, which typer passes through as it does its own `Exit`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from ..catalog import load_mapping
from ..data import data_file
from ..errors import SettingsError, SpecError
from ..expr.budget import DEFAULT_OUTPUT_BUDGET
from ..io.jsonio import DEFAULT_MAX_DEPTH
from ..runtime.mapping import CompiledMapping
from ..spec.settings import parse_assignments

if TYPE_CHECKING:
    from ..destinations.base import Destination

__all__ = [
    "DEFAULT_MAPPING",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_OUTPUT_BUDGET",
    "check_listen_address",
    "check_writable_file",
    "err",
    "fail",
    "load_from_options",
    "make_destination",
    "resolve_mapping_path",
    "stdout_failed",
]

DEFAULT_MAPPING = "mappings/amplitude.yaml"


def err(message: str) -> None:
    """Write one line to standard error."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def fail(message: str, code: int) -> NoReturn:
    """Print an error and exit with `code`."""
    err(message)
    raise SystemExit(code)


def resolve_mapping_path(path: str) -> Path:
    """The mapping to load: as given, or the bundled copy when the default is not here."""
    given = Path(path)
    if given.exists() or path != DEFAULT_MAPPING:
        return given
    return data_file("mappings", "amplitude.yaml")


def load_from_options(mapping: str, assignments: list[str] | None, settings_file: Path | None,
                      output_budget: int = DEFAULT_OUTPUT_BUDGET, *,
                      destination: str | None = None) -> CompiledMapping:
    """Load a mapping for a command, its settings from the options and the environment (and
    those of its destination, `destination` if given, and source); spec problems exit 1,
    settings problems and an unknown `destination` exit 2."""
    if destination is not None:
        from ..destinations.registry import destination_kind

        try:
            destination_kind(destination)
        except ValueError as exc:
            fail(f"error: --destination: {exc}", 2)
    try:
        given = parse_assignments(assignments or [])
        return load_mapping(resolve_mapping_path(mapping), given, settings_file=settings_file,
                            environ=os.environ, output_budget=output_budget, destination=destination)
    except SpecError as exc:
        for problem in exc.problems:
            err(str(problem))
        fail(f"{len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''} in the mapping", 1)
    except SettingsError as exc:
        for message in exc.messages:
            err(f"error: {message}")
        raise SystemExit(2) from None


def make_destination(compiled: CompiledMapping) -> Destination:
    """The destination the mapping names (or `--destination`), from its settings; exit 2 when
    there is none or a setting it needs is missing."""
    from ..destinations.registry import DESTINATIONS, destination_kind

    name = compiled.plan.destination
    if name is None:
        fail("error: the mapping names no destination: add `destination: NAME` to it "
             f"({', '.join(sorted(DESTINATIONS))}), or pass --destination NAME", 2)
    try:
        return destination_kind(name).create(compiled.settings)
    except ValueError as exc:
        fail(f"error: {exc}", 2)


def check_writable_file(path: Path, option: str) -> None:
    """Before any work: `path` can be appended to (exit 2 with the reason otherwise)."""
    if path.is_dir():
        fail(f"error: {option} {path} is a directory; give a file path "
             f"(such as {path / 'dead-letters.ndjson'})", 2)
    folder = path.parent
    if not folder.is_dir():
        fail(f"error: {option} {path}: no such folder {folder}", 2)
    if not os.access(path if path.exists() else folder, os.W_OK):
        fail(f"error: {option} {path}: permission denied", 2)


def check_listen_address(host: str, port: int) -> None:
    """Before starting a server: the port is in range (exit 2) and free on `host` (exit 1)."""
    import socket

    if not 0 < port < 65536:
        fail(f"error: --port must be between 1 and 65535, got {port}", 2)
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (OSError, UnicodeError) as exc:
        fail(f"error: --host {host}: {getattr(exc, 'strerror', None) or exc}", 2)
    with socket.socket(family, kind, proto) as probe:
        # as the servers bind: a port in TIME_WAIT is usable, one another program listens on is not
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            fail(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", 1)


def stdout_failed(exc: OSError) -> None:
    """Writing to standard output failed (a full disk, a closed pipe): say so once (not for a
    pipe its reader closed) and point stdout at /dev/null, so that the exit flush is quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    if not isinstance(exc, BrokenPipeError):
        err(f"error: cannot write to standard output: {exc.strerror or exc}")
    raise SystemExit(1)
