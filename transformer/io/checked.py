"""Texts known to pass a costly check, so that a process (and, when the command line asks, the
next process) need not check them again.

Checking a JSON Schema against its metaschema takes about a fifth of a second for the
Customer.io schema, and checking a spec against the spec schema needs jsonschema imported
(about 80 ms); most loads see texts already checked. A text is known by the SHA-256 of its kind
and content, remembered in this process and, after `use_directory`, as an empty file named by
that digest (the `transformer` command uses the user's cache folder: see `cli/common.py`). Only
texts that passed are remembered; a text that fails is checked again each time, so its problems
are always reported. Nothing here reads the environment.

The folder also keeps the parse of texts read cleanly before (`recall_parsed`): a spec's YAML,
as plain data and the line and column of each part, in `marshal`'s format, so that the next
process need not import and run the YAML parser (about 20 ms of a command's start).
"""

from __future__ import annotations

import contextlib
import marshal
import os
from pathlib import Path
from typing import Any

__all__ = ["checked_key", "is_checked", "recall_parsed", "remember_checked", "remember_parsed",
           "use_directory", "use_directory_active"]

_KNOWN: dict[str, None] = {}   # insertion-ordered, bounded
_REMEMBERED = 256
_DIRECTORY: list[Path] = []    # at most one


def use_directory(path: Path | None) -> None:
    """Also remember checked texts in `path` (created when first needed); None: in this process only."""
    _DIRECTORY[:] = [] if path is None else [path]


def use_directory_active() -> bool:
    """Whether a folder is in use (`use_directory`)."""
    return bool(_DIRECTORY)


def checked_key(kind: str, *parts: bytes) -> str:
    """The key of one check (`kind`: what was checked against what) of these bytes."""
    import hashlib  # not needed by `transformer --help`

    digest = hashlib.sha256(kind.encode())
    for part in parts:
        digest.update(b"\0")
        digest.update(part)
    return f"{kind}-{digest.hexdigest()}"


def is_checked(key: str) -> bool:
    """Whether the check of `key` passed before, in this process or (with a directory) another."""
    if key in _KNOWN:
        return True
    if _DIRECTORY and (_DIRECTORY[0] / key).is_file():
        _keep(key)
        return True
    return False


def remember_checked(key: str, *, persist: bool = True) -> None:
    """The check of `key` passed (with `persist` false: for this process only). A cache folder
    that cannot be written is no error: the text is checked again next time."""
    _keep(key)
    if persist and _DIRECTORY:
        try:
            _DIRECTORY[0].mkdir(parents=True, exist_ok=True)
            (_DIRECTORY[0] / key).touch()
        except OSError:
            pass


def _keep(key: str) -> None:
    _KNOWN[key] = None
    while len(_KNOWN) > _REMEMBERED:
        del _KNOWN[next(iter(_KNOWN))]


def recall_parsed(key: str) -> Any:
    """The value `remember_parsed` kept under `key` in the folder, or None (no folder, no entry,
    or an entry that cannot be read)."""
    if not _DIRECTORY:
        return None
    try:
        return marshal.loads((_DIRECTORY[0] / f"{key}.parsed").read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None


def remember_parsed(key: str, value: Any) -> None:
    """Keep `value` (plain data: what `marshal` writes) under `key` in the folder, if one is in
    use and can be written; written whole or not at all (a temporary file, then renamed)."""
    if not _DIRECTORY:
        return
    folder = _DIRECTORY[0]
    target = folder / f"{key}.parsed"
    temporary = folder / f".{key}.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(marshal.dumps(value))
        os.replace(temporary, target)
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            temporary.unlink()
