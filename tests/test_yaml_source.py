"""Specs are composed by libyaml when PyYAML has it, by PyYAML's own parser otherwise (or when
libyaml refuses the text): both give the same data, and the same line, column and style for
every key and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from transformer.spec import yaml_source
from transformer.spec.yaml_source import Located, load_yaml_text

from .conftest import ROOT

FILES = sorted({*ROOT.glob("mappings/**/*.yaml"), *ROOT.glob("tests/**/*.yaml")})
EXTRA = {
    "unicode and styles": "a: é\nb: 'q: é'\nc: \"x\\ty\"\nd: |\n  one\n  two\ne: >\n  folded\nf: [1, é, {k: v}]\n",
    "anchors": "base: &b {x: 1}\nuse: *b\nlist: &l [a, b]\nagain: *l\n",
    "tabs and comments": "a: 1   # note\n# only a comment\nb:\n  - x\n  -\ty\n",
}


def _both(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Located, Located]:
    fast = load_yaml_text(text, "x.yaml")
    monkeypatch.setattr(yaml_source, "_FAST_LOADER", None)
    slow = load_yaml_text(text, "x.yaml")
    monkeypatch.undo()
    return fast, slow


@pytest.mark.parametrize("text", [f.read_text(encoding="utf-8-sig") for f in FILES] + list(EXTRA.values()),
                         ids=[str(f.relative_to(ROOT)) for f in FILES] + list(EXTRA))
def test_libyaml_and_pyyaml_compose_the_same_spec(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        fast, slow = _both(text, monkeypatch)
    except Exception as exc:  # noqa: BLE001 - a refused text: the other loader refuses it alike
        with pytest.raises(type(exc)) as caught:
            monkeypatch.setattr(yaml_source, "_FAST_LOADER", None)
            load_yaml_text(text, "x.yaml")
        assert str(caught.value) == str(exc)
        return
    assert fast.data == slow.data
    assert fast.index.values == slow.index.values
    assert fast.index.keys == slow.index.keys
    assert fast.text == text


def test_there_is_something_to_compare() -> None:
    assert len(FILES) > 30 and yaml_source._FAST_LOADER is not None


def test_a_syntax_error_is_worded_by_pyyaml(tmp_path: Path) -> None:
    from transformer import SpecError

    with pytest.raises(SpecError) as caught:
        load_yaml_text("a: [1, 2\nb: 3\n", "bad.yaml")
    assert str(caught.value).startswith("bad.yaml:2:2: YAML syntax error: expected ',' or ']', but got ':'")
