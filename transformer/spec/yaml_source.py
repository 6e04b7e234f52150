"""YAML text → plain data, plus an index from rule path to line and column.

`yaml.compose` keeps every node's `start_mark`; building the data ourselves from the node tree
lets us refuse duplicate keys (PyYAML silently keeps the last) and remember where each key and
value stands, so that later checks can point at the exact place. Before that, `yaml_guard`
checks the document against its limits (size, expanded nodes, nesting, tags), so that a
hostile document is refused, located, before anything is built from it. That part, which needs
the YAML parser, is `yaml_build`; with a cache folder in use, a text parsed cleanly before is read
back from its stored parse instead (`io.checked.recall_parsed`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import Problem, SpecError
from ..io.checked import checked_key, recall_parsed, remember_parsed, use_directory_active
from .located import Located, PathKey, Position, SourceIndex
from .yaml_limits import DEFAULT_LIMITS, YamlLimits

__all__ = ["Located", "PathKey", "Position", "SourceIndex", "load_yaml_file", "load_yaml_text"]


def load_yaml_file(path: str | Path, limits: YamlLimits = DEFAULT_LIMITS, *,
                   integers_as_text: bool = False, stored: bool = False) -> Located:
    """Read and compose one YAML file; raises `SpecError` with line and column on bad YAML or
    on a document beyond `limits`. A UTF-8 byte order mark is accepted. With `integers_as_text`,
    integers keep their source text (`0123` stays "0123")."""
    name = str(path)
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(limits.max_bytes + 1)   # never more than the limit, whatever the size
        text = data.decode("utf-8-sig")
    except OSError as exc:
        raise SpecError([Problem(name, 1, 1, "", f"cannot read file: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        raise SpecError([Problem(name, 1, 1, "", f"file is not UTF-8 text: {exc.reason}")]) from None
    return load_yaml_text(text, name, limits, integers_as_text=integers_as_text, stored=stored)


def load_yaml_text(text: str, name: str = "<string>", limits: YamlLimits = DEFAULT_LIMITS, *,
                   integers_as_text: bool = False, stored: bool = False) -> Located:
    """Compose YAML text into plain data and a `SourceIndex`. With `stored` and a cache folder
    in use (`io.checked.use_directory`: the `transformer` command), a text parsed cleanly before
    is read back from its stored parse, without importing the YAML parser, and a new one is
    stored. Mapping specs are (a spec holds no secret: settings declared secret take their
    values from the environment or the command line); settings files are not."""
    key = None
    if stored and use_directory_active():
        key = checked_key(_PARSED_KIND, text.encode(), repr(limits).encode(), b"%d" % integers_as_text)
        located = _restore(recall_parsed(key), name, text)
        if located is not None:
            return located
    from .yaml_build import build_located

    located = build_located(text, name, limits, integers_as_text)
    if key is not None:
        remember_parsed(key, _stored(located))
    return located


_PARSED_KIND = "yaml-parse-1"
"""What a stored parse is (its format's version is part of every key)."""

_Stored = tuple[Any, dict[PathKey, tuple[int, int, "str | None", bool]], dict[PathKey, tuple[int, int]]]


def _stored(located: Located) -> _Stored:
    index = located.index
    return (located.data,
            {path: (p.line, p.column, p.style, p.single_line) for path, p in index.values.items()},
            {path: (p.line, p.column) for path, p in index.keys.items()})


def _restore(stored: Any, name: str, text: str) -> Located | None:
    """The `Located` of a stored parse; None when there is none or it is not one (a damaged
    file in the cache folder is read as no entry)."""
    if stored is None:
        return None
    try:
        data, values, keys = stored
        index = SourceIndex(name, {path: Position(*p) for path, p in values.items()},
                            {path: Position(*p) for path, p in keys.items()})
    except (TypeError, ValueError, AttributeError):
        return None
    return Located(data, index, text)
