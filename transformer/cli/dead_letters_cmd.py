"""`transformer dead-letters list|show|resend`: the dead letters kept by `transformer serve`."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from ..destinations.dead_letters import DeadLetter, DeadLetterKind
from ..errors import SettingsError
from ..runtime.mapping import CompiledMapping
from ..server.letters import resend
from ..server.queue.base import Queue
from ..spec.settings import parse_assignments, read_settings_file
from .basics import DEFAULT_MAPPING, DEFAULT_MAX_DEPTH, err, fail, load_from_options
from .common import MappingOpt, MaxDepthOpt, SetOpt, SettingsOpt
from .queue_cmd import DataDirOpt, QueueOpt, open_queue

__all__ = ["KINDS", "app", "list_letters", "resend_letters", "show"]

app = typer.Typer(
    name="dead-letters",
    help="Dead letters kept by `transformer serve` in its queue (--data-dir or --queue): list, show, resend.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

KINDS = tuple(DeadLetterKind)


def _open(data_dir: Path | None, url: str | None) -> Queue:
    return open_queue(data_dir, url, create=False)


@app.command("list")
def list_letters(
    data_dir: DataDirOpt = None,
    queue: QueueOpt = None,
    kind: Annotated[str | None, typer.Option(metavar="KIND",
        help=f"Only this kind: {', '.join(KINDS)}.")] = None,
    limit: Annotated[int, typer.Option(metavar="N", help="Show at most this many (oldest first).")] = 100,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Whole records as NDJSON (the format `transformer send` reads).")] = False,
) -> None:
    """One line per dead letter: id, when, kind, event_id, reason."""
    if kind is not None and kind not in KINDS:
        fail(f"error: --kind must be one of {', '.join(KINDS)}, got {kind!r}", 2)
    store = _open(data_dir, queue)
    try:
        rows = store.letters(kind=None if kind is None else DeadLetterKind(kind), limit=limit)
        total = store.stats().letters
    finally:
        store.close()
    out = sys.stdout
    for row in rows:
        if as_json:
            out.write(json.dumps(DeadLetter.from_stored(row).to_json(), ensure_ascii=False,
                                 separators=(",", ":")) + "\n")
            continue
        when = datetime.fromtimestamp(row.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        reason = row.reason if len(row.reason) <= 100 else row.reason[:99] + "…"
        out.write(f"{row.id:>6}  {when}  {row.kind:<13}  {row.event_id or '-':<26}  {reason}\n")
    shown = f" (showing {len(rows):,})" if len(rows) != total else ""
    err(f"{total:,} dead letter{'' if total == 1 else 's'} in {_where(data_dir, store)}{shown}")


@app.command("show")
def show(
    letter_id: Annotated[int, typer.Argument(metavar="ID", help="A dead letter's id (from list).")],
    data_dir: DataDirOpt = None,
    queue: QueueOpt = None,
) -> None:
    """The whole dead letter as JSON: reason, kind, attempts, and the event or payload."""
    store = _open(data_dir, queue)
    try:
        row = store.letter(letter_id)
    finally:
        store.close()
    if row is None:
        fail(f"error: no dead letter {letter_id} in {_where(data_dir, store)}", 1)
    sys.stdout.write(json.dumps(DeadLetter.from_stored(row).to_json(), ensure_ascii=False, indent=2) + "\n")


@app.command("resend")
def resend_letters(
    ids: Annotated[list[int] | None, typer.Argument(metavar="[IDS]...", help="Dead letters to resend.")
                   ] = None,
    data_dir: DataDirOpt = None,
    queue: QueueOpt = None,
    every: Annotated[bool, typer.Option("--all", help="Resend every dead letter (the default without IDS).")
                     ] = False,
    mapping: MappingOpt = DEFAULT_MAPPING,
    assignments: SetOpt = None,
    settings_file: SettingsOpt = None,
    max_depth: MaxDepthOpt = DEFAULT_MAX_DEPTH,
) -> None:
    """Put dead letters (all, or IDS) back in the queue of `transformer serve`. Payloads are
    transformed again with --mapping/--set/--settings (give the server's); events go as they are."""
    if ids and every:
        fail("error: give dead-letter ids or --all, not both", 2)
    given = _given_settings(assignments, settings_file)
    compiled = load_from_options(mapping, assignments, settings_file)
    _refuse_settings_read_elsewhere(compiled, given)
    store = _open(data_dir, queue)
    where = _where(data_dir, store)
    try:
        chosen = list(ids) if ids else [row.id for row in store.letters()]
        report = resend(store, chosen, lambda: compiled, max_depth=max_depth)
    finally:
        store.close()

    err(f"requeued {len(report.requeued):,} dead letter{'' if len(report.requeued) == 1 else 's'} "
        f"({report.events:,} event{'' if report.events == 1 else 's'}): a transformer serve on "
        f"{where} forwards them within a second, or as soon as it starts")
    for letter_id, rule in report.skipped:
        err(f"dead letter {letter_id}: the mapping now skips it ({rule}); removed")
    for letter_id, reason in report.failed:
        err(f"dead letter {letter_id}: still failing, kept: {reason}")
    for letter_id in report.missing:
        err(f"dead letter {letter_id}: not found in {where}")
    if given and report.events_as_they_were:
        count = report.events_as_they_were
        err(f"note: {', '.join(sorted(given))} applied to payloads only; {count:,} set-aside "
            f"event{'' if count == 1 else 's'} went back unchanged")
    raise typer.Exit(1 if report.failed or report.missing else 0)


def _where(data_dir: Path | None, store: Queue) -> str:
    """How the messages name the queue: the data dir as given, or the URL without its password."""
    return str(data_dir) if data_dir is not None else store.location


def _given_settings(assignments: list[str] | None, settings_file: Path | None) -> set[str]:
    try:
        names = set(parse_assignments(assignments or []))
        if settings_file is not None:
            names |= set(read_settings_file(settings_file))
    except SettingsError as exc:
        fail("\n".join(f"error: {m}" for m in exc.messages), 2)
    return names


def _refuse_settings_read_elsewhere(compiled: CompiledMapping, given: set[str]) -> None:
    """A setting of the destination or the source (min_id_length, endpoint, signing_secret, ...)
    cannot change what resend does: the running `serve` sends with its own. Refuse it rather
    than ignore it."""
    decls = compiled.settings.decls
    elsewhere = sorted(n for n in given if n in decls and decls[n].owner)
    if elsewhere:
        names = ", ".join(elsewhere)
        fail(f"error: {names} {'is' if len(elsewhere) == 1 else 'are'} read by `transformer serve` "
             f"when it sends, not by resend: restart serve with --set {elsewhere[0]}=…, "
             "then resend (or resend first: serve picks the letters up when it starts)", 2)
