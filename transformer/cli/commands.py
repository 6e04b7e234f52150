"""The command table, and `transformer --help` written without typer.

Importing typer (and the click it carries) takes most of `transformer --help`'s time, and the
top-level help says nothing that needs it: the commands and the first sentence of each are in
`COMMANDS`. `top_help` lays it out as click does (`tests/test_startup.py` holds the two equal
at several widths); `entry.main` writes it, and hands every other command line to the typer
application of `typer_app.py`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["APP_HELP", "COMMANDS", "cache_folder", "help_width", "program_name", "top_help"]

APP_HELP = "Declarative JSON event transformer: Customer.io reporting webhooks → Amplitude."

COMMANDS: dict[str, tuple[str, str, str]] = {
    # name: (module in transformer.cli, its function or Typer app, the first sentence of its help)
    "validate": ("validate", "validate", "Check mapping specs: schema, expressions, filters, settings."),
    "replay": ("replay", "replay", "Transform payloads and write the output events as NDJSON, one line "
               "per event."),
    "send": ("send", "send", "Transform payloads and deliver the events to the mapping's destination "
             "(Amplitude for mappings/amplitude.yaml); summary on stderr."),
    "backfill": ("backfill", "backfill", "Transform a history of payloads on a Dask cluster, in "
                 "partitions: parts and a manifest in --output (concatenated in order, what `replay` "
                 "writes), and with --send, delivered at a global events/s budget."),
    "test-connection": ("test_connection", "test_connection", "Send one test `Email Sent` event to the "
                        "mapping's destination; exit 0 only when it accepts it (within 10 s)."),
    "fake": ("fake", "fake", "Serve a fake of a destination on 127.0.0.1, with faults on demand, to send "
             "to (see the README's Destinations and sources)."),
    "fake-amplitude": ("fake", "fake_amplitude", "Serve a fake Amplitude on 127.0.0.1 (send with --set "
                       "endpoint=http://127.0.0.1:PORT); the same as `transformer fake amplitude`."),
    "serve": ("serve", "serve", "Receive webhooks from the mapping's source on POST /webhooks/SOURCE "
              "(Customer.io: /webhooks/customerio), store them, forward to the mapping's destination "
              "(Amplitude)."),
    "explain": ("explain", "explain", "For each output field: its rule's YAML location, expression, "
                "value found, fallback, filters."),
    "test": ("test_cmd", "test", "Run golden cases: payload in, expected events / skip / error out."),
    "lint": ("lint", "lint", "Typos in payload paths, output keys the output schema refuses, `||` over "
             "false/0, coverage of every input combination, unused settings."),
    "diff": ("diff", "diff", "Replay the corpus through both mappings; counts per output field and skip "
             "rule, examples."),
    "dead-letters": ("dead_letters_cmd", "app", "Dead letters kept by `transformer serve` in its queue "
                     "(--data-dir or --queue): list, show, resend."),
    "queue": ("queue_cmd", "app", "The queue `transformer serve` keeps: create or migrate its PostgreSQL "
              "tables."),
}

# the options of `transformer` itself, as click lists them
_OPTIONS = (("-V, --version", "Show the version and exit."), ("-h, --help", "Show this message and exit."))
_COLUMN = 30   # click's widest first column in a definition list


def cache_folder(environ: Mapping[str, str]) -> Path | None:
    """Where the command remembers the schemas and specs it found valid (`io/checked.py`), so
    that the next run need not check them again: `$TRANSFORMER_CACHE_DIR` (empty: nowhere),
    else `$XDG_CACHE_HOME/transformer/checked`, else `~/.cache/transformer/checked`."""
    given = environ.get("TRANSFORMER_CACHE_DIR")
    if given is not None:
        return Path(given) if given else None
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "transformer", "checked")


def program_name() -> str:
    """The command as click names it in a usage line: the script's name, or `python -m PACKAGE`."""
    path = sys.argv[0]
    package = getattr(sys.modules["__main__"], "__package__", None)
    if not package:
        return os.path.basename(path)
    name = os.path.splitext(os.path.basename(path))[0]
    return f"python -m {package if name == '__main__' else f'{package}.{name}'}".replace("-m .", "-m ")


def help_width() -> int:
    """The width click lays help out in: 2 less than the terminal's, between 50 and 78."""
    import shutil

    return max(min(shutil.get_terminal_size().columns, 80) - 2, 50)


def top_help(prog: str, width: int) -> str:
    """`transformer --help` as click writes it `width` columns wide."""
    prefix = f"Usage: {prog} "
    usage = "[OPTIONS] COMMAND [ARGS]..."
    if width >= len(prefix) + 20:
        out = [_wrap(usage, width, prefix, " " * len(prefix))]
    else:
        out = [prefix, _wrap(usage, width, " " * 11, " " * 11)]
    out += ["", _wrap(APP_HELP, width, "  ", "  "), "", "Options:"]
    out += _definitions(_OPTIONS, width)
    out += ["", "Commands:"]
    limit = width - 6 - max(map(len, COMMANDS))
    out += _definitions([(name, _short_help(first, limit)) for name, (_, _, first) in COMMANDS.items()],
                        width)
    return "\n".join(out) + "\n"


def _definitions(rows: Sequence[tuple[str, str]], width: int) -> list[str]:
    """click's `write_dl` at an indent of 2."""
    first = min(max(len(name) for name, _ in rows), _COLUMN) + 2
    lines = []
    for name, text in rows:
        head = f"  {name}"
        wrapped = _wrap(text, max(width - first - 2, 10), "", "").splitlines()
        if len(name) <= first - 2:
            lines.append(head + " " * (first - len(name)) + (wrapped[0] if wrapped else ""))
        else:
            lines += [head, " " * (first + 2) + (wrapped[0] if wrapped else "")]
        lines += [" " * (first + 2) + line for line in wrapped[1:]]
    return lines


def _short_help(text: str, limit: int) -> str:
    """click's `make_default_short_help` for one paragraph: the first sentence when it fits in
    `limit` characters, else as many words as fit, and `...`."""
    words = text.split()
    total = 0
    for i, word in enumerate(words):
        total += len(word) + (i > 0)
        if total > limit:
            break
        if word.endswith("."):
            return " ".join(words[: i + 1])
        if total == limit and i != len(words) - 1:
            break
    else:
        return " ".join(words)
    total += 3
    while i > 0:
        total -= len(words[i]) + 1
        if total <= limit:
            break
        i -= 1
    return " ".join(words[:i]) + "..."


def _wrap(text: str, width: int, first: str, rest: str) -> str:
    """click's `wrap_text` for one paragraph: a word longer than a line is cut where the line ends."""
    import textwrap

    class Wrapper(textwrap.TextWrapper):
        def _handle_long_word(self, chunks: list[str], line: list[str], length: int, width: int) -> None:
            room = max(width - length, 1)
            line.append(chunks[-1][:room])
            chunks[-1] = chunks[-1][room:]

    return Wrapper(width, initial_indent=first, subsequent_indent=rest, replace_whitespace=False).fill(
        text.expandtabs())
