"""Texts known to pass a costly check, so that a process (and, when the command line asks, the
next process) need not check them again.

Checking a JSON Schema against its metaschema takes about a fifth of a second for the
Customer.io schema, and checking a spec against the spec schema needs jsonschema imported
(about 80 ms); most loads see texts already checked. A text is known by the SHA-256 of its kind
and content, remembered in this process and, after `use_directory`, as an empty file named by
that digest (the `transformer` command uses the user's cache folder: see `cli/common.py`). Only
texts that passed are remembered; a text that fails is checked again each time, so its problems
are always reported. Nothing here reads the environment.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["checked_key", "is_checked", "remember_checked", "use_directory"]

_KNOWN: dict[str, None] = {}   # insertion-ordered, bounded
_REMEMBERED = 256
_DIRECTORY: list[Path] = []    # at most one


def use_directory(path: Path | None) -> None:
    """Also remember checked texts in `path` (created when first needed); None: in this process only."""
    _DIRECTORY[:] = [] if path is None else [path]


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
