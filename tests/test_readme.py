"""README.md's examples stay true: every fenced `sh` block is run, in order, on a copy of the
project, and the output it shows is compared.

Marking, in README.md (HTML comments do not show on GitHub):

- `<!-- readme-test: skip: WHY -->` on the line before a ```` ```sh ```` block: not run (it needs
  the network, a key, a running server, or takes minutes); every other `sh` block is run with
  bash (`set -e -o pipefail`) and must exit 0.
- a ```` ```text output ```` block right after an `sh` block: what the block prints (stdout and
  stderr together). In it, `…` within a line stands for any text, and a line that is only `…`
  for any number of lines. `exit=N` after `output` expects that exit code instead of 0.
- `<!-- readme-test: edit PATH -->` before a ```` ```yaml ```` block: the person edits PATH by
  hand; the test does it by replacing the rule that starts with the block's first line (up to
  the next line indented no deeper) with the block.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import ROOT

README = ROOT / "README.md"
FENCE = re.compile(r"^(?P<indent> *)```(?P<info>[^`]*)$")
MARK = re.compile(r"^\s*<!-- readme-test: (?P<what>\w+)(?::? (?P<arg>.*?))? -->$")


@dataclass
class Block:
    line: int
    info: str
    text: str
    mark: str | None = None
    mark_arg: str = ""
    output: Block | None = None


def blocks(markdown: str) -> list[Block]:
    """Fenced blocks with the marker before each and, for sh blocks, the output block after."""
    found: list[Block] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent = len(opening["indent"])
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
        body = "\n".join(line[indent:] for line in lines[i + 1:end]) + "\n"
        before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        mark = MARK.match(before)
        found.append(Block(i + 1, opening["info"].strip(), body,
                           mark["what"] if mark else None, (mark["arg"] or "") if mark else ""))
        i = end + 1
    for block, after in itertools.pairwise(found):
        if block.info == "sh" and after.info.startswith("text output"):
            block.output = after
    return found


def matches(expected: str, actual: str) -> bool:
    """`expected` with `…` wildcards (within a line; alone on a line: any lines) against `actual`."""
    pattern = ""
    for line in expected.splitlines():
        if line.strip() == "…":
            pattern += r"(?:.*\n)*?"
        else:
            pattern += ".*?".join(re.escape(part) for part in line.split("…")) + r"\n"
    return re.fullmatch(pattern, actual if actual.endswith("\n") or not actual else actual + "\n") is not None


def edit(folder: Path, block: Block) -> None:
    path = folder / block.mark_arg
    text = path.read_text(encoding="utf-8")
    first = block.text.splitlines()[0]
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.split("#")[0].rstrip() == first.rstrip())
    depth = len(first) - len(first.lstrip())
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].strip() and len(lines[i]) - len(lines[i].lstrip()) <= depth), len(lines))
    path.write_text("".join(lines[:start]) + block.text + "".join(lines[end:]), encoding="utf-8")


def run(folder: Path, block: Block) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRANSFORMER_", "AMPLITUDE_", "CIO_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "100"
    log = folder / ".readme-block.log"
    with log.open("wb") as sink:   # a file, not a pipe: a server left in the background keeps a pipe open
        process = subprocess.Popen(["bash", "-e", "-o", "pipefail", "-c", block.text], cwd=folder, env=env,
                                   stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            process.wait(timeout=180)
        finally:
            # a block may leave a server running in the background (`fake-amplitude &`)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    output = log.read_text(encoding="utf-8")
    where = f"README.md:{block.line}"
    wanted_exit = 0
    if block.output is not None:
        found = re.search(r"exit=(\d+)", block.output.info)
        wanted_exit = int(found[1]) if found else 0
        assert matches(block.output.text, output), (
            f"{where}: the output differs from README.md:{block.output.line}\n--- shown\n"
            f"{block.output.text}--- actual\n{output}")
    assert process.returncode == wanted_exit, f"{where}: exit {process.returncode}\n{output}"


def test_the_markers_are_understood() -> None:
    assert matches("a\n…\nz …\n", "a\nb\nc\nz 12\n") and not matches("a\nz\n", "a\nb\nz\n")
    found = blocks(README.read_text(encoding="utf-8"))
    runnable = [b for b in found if b.info == "sh" and b.mark is None]
    assert len(runnable) >= 6 and sum(b.output is not None for b in runnable) >= 5
    assert all(b.mark in (None, "skip", "edit") for b in found)
    assert all(b.mark_arg for b in found if b.mark)          # every skip says why, every edit where


@pytest.mark.slow
def test_every_runnable_sh_example_in_the_readme_does_what_it_shows(tmp_path: Path) -> None:
    for folder in ("mappings", "schemas", "samples"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    for block in blocks(README.read_text(encoding="utf-8")):
        if block.mark == "edit":
            edit(tmp_path, block)
        elif block.info == "sh" and block.mark != "skip":
            run(tmp_path, block)
