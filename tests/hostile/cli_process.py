"""Running `transformer` for the hostile input, spec and signal tests: as a real process, as a
user or a supervisor would (`cli`, `cli_peak` with its peak memory), or in this process when
only the command's outcome matters (`run`, much faster)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from transformer.cli import app

from ..conftest import ROOT

CLI = [sys.executable, "-m", "transformer"]

# Reads the peak resident memory of one `transformer` run: a wrapper process has it as its
# only child, so RUSAGE_CHILDREN is that run's alone (ru_maxrss is in KiB on Linux).
_PEAK = """
import resource, subprocess, sys
stdin = open(sys.argv[1], "rb") if sys.argv[1] else subprocess.DEVNULL
done = subprocess.run(sys.argv[2:], stdin=stdin, capture_output=True)
sys.stdout.buffer.write(done.stdout)
sys.stderr.buffer.write(done.stderr)
sys.stderr.write("\\npeak_rss_kib=%d\\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(done.returncode)
"""


@dataclass
class Done:
    code: int
    out: str
    err: str

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines()]


def env(**extra: str) -> dict[str, str]:
    """The environment of a run: nothing of the developer's settings, plus `extra`."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("TRANSFORMER_", "AMPLITUDE_", "CIO_"))}
    return {**base, **extra}


def cli(*args: str, stdin: bytes | None = None, cwd: Path = ROOT, timeout: float = 120,
        **extra: str) -> Done:
    """Run `transformer ARGS` to the end."""
    done = subprocess.run([*CLI, *args], input=stdin if stdin is not None else b"",
                          capture_output=True, cwd=cwd, timeout=timeout, env=env(**extra))
    return Done(done.returncode, done.stdout.decode(), done.stderr.decode())


def cli_peak(*args: str, stdin: Path | None = None, timeout: float = 120) -> tuple[Done, int]:
    """Run `transformer ARGS` and return it with its peak resident memory, in bytes."""
    done = subprocess.run([sys.executable, "-c", _PEAK, str(stdin or ""), *CLI, *args],
                          capture_output=True, cwd=ROOT, timeout=timeout, env=env())
    err, _, peak = done.stderr.decode().rpartition("\npeak_rss_kib=")
    return Done(done.returncode, done.stdout.decode(), err), int(peak) * 1024


def run(*args: str, stdin: bytes | None = None) -> Done:
    """Run `transformer ARGS` in this process (the test's environment: see conftest)."""
    result = CliRunner().invoke(app, list(args), input=stdin)
    return Done(result.exit_code, result.stdout, result.stderr)
