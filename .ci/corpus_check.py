"""CI: replay a corpus of real webhook bodies with --check, and hold the input schema to it.

Usage: python .ci/corpus_check.py CORPUS.ndjson  (notes.ndjson beside it, same line numbers)

Fails when a body whose note does not say `broken: …` draws a schema violation, when any
payload error reported names no JSON path, or when replay ends other than normally.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path


def main(corpus: Path) -> int:
    notes = [json.loads(line) for line in (corpus.parent / "notes.ndjson").read_text().splitlines()
             if line.strip()]
    broken = {note["line"] for note in notes if str(note["expect"]).startswith("broken")}
    run = subprocess.run(["transformer", "replay", str(corpus), "--check", "--include-skips"],
                         capture_output=True, text=True, stdin=subprocess.DEVNULL)
    lines = run.stderr.splitlines()
    if run.returncode not in (0, 1) or not lines or not lines[-1].startswith("read "):
        print(f"corpus check: replay failed (exit {run.returncode}):\n{run.stderr}", file=sys.stderr)
        return 1
    error = re.compile(re.escape(str(corpus)) + r":(\d+)(?: \(.*\))?: (\S+): .*, at (\$\S*)$")
    problems = []
    for line in lines[:-1]:
        found = error.match(line)
        if found is None:
            problems.append(f"a payload error without a JSON path: {line}")
        elif found[2] == "input" and int(found[1]) not in broken:
            problems.append(f"a schema violation on a body not marked broken: {line}")
    for problem in problems:
        print(f"corpus check: {problem}", file=sys.stderr)
    print(f"corpus check: {corpus}: {lines[-1]}; {len(broken)} bodies marked broken; "
          f"{len(problems)} problem{'s' if len(problems) != 1 else ''}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
