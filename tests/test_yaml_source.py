"""Specs are composed by libyaml when PyYAML has it, by PyYAML's own parser otherwise (or when
libyaml refuses the text): both give the same data, and the same line, column and style for
every key and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from transformer.spec import yaml_build
from transformer.spec.yaml_limits import YamlLimits
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
    monkeypatch.setattr(yaml_build, "_FAST_LOADER", None)
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
            monkeypatch.setattr(yaml_build, "_FAST_LOADER", None)
            load_yaml_text(text, "x.yaml")
        assert str(caught.value) == str(exc)
        return
    assert fast.data == slow.data
    assert fast.index.values == slow.index.values
    assert fast.index.keys == slow.index.keys
    assert fast.text == text


def test_there_is_something_to_compare() -> None:
    assert len(FILES) > 30 and yaml_build._FAST_LOADER is not None


def test_a_syntax_error_is_worded_by_pyyaml(tmp_path: Path) -> None:
    from transformer import SpecError

    with pytest.raises(SpecError) as caught:
        load_yaml_text("a: [1, 2\nb: 3\n", "bad.yaml")
    assert str(caught.value).startswith("bad.yaml:2:2: YAML syntax error: expected ',' or ']', but got ':'")


def _use_folder(path: Path | None) -> None:
    from transformer.io import checked

    checked.use_directory(path)


def test_with_a_cache_folder_a_text_parsed_before_is_read_back_equal(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "mappings" / "amplitude.yaml").read_text(encoding="utf-8")
    _use_folder(tmp_path)
    try:
        first = load_yaml_text(text, "a.yaml", stored=True)
        stored = list(tmp_path.glob("*.parsed"))
        assert len(stored) == 1

        def no_parser(*args: object) -> None:
            raise AssertionError("parsed again")

        monkeypatch.setattr(yaml_build, "build_located", no_parser)
        again = load_yaml_text(text, "b.yaml", stored=True)   # another file with the same text
        assert again.data == first.data and again.text == text
        assert again.index.values == first.index.values and again.index.keys == first.index.keys
        assert again.index.file == "b.yaml"
        # a damaged entry is no entry: the text is parsed again (here: the parser is called)
        stored[0].write_bytes(b"\x00garbage")
        with pytest.raises(AssertionError, match="parsed again"):
            load_yaml_text(text, "c.yaml", stored=True)
        monkeypatch.undo()
        # another text, or the same with other limits or integers kept as text, is its own entry
        assert len(list(tmp_path.glob("*.parsed"))) == 1      # the damaged entry, parsed again
        changed = load_yaml_text(text.replace("\nname: amplitude\n", "\nname: amplitude2\n", 1), "d.yaml",
                                 stored=True)
        assert changed.data != first.data and len(list(tmp_path.glob("*.parsed"))) == 2
        as_text = load_yaml_text("a: 0123\n", "e.yaml", integers_as_text=True, stored=True)
        as_number = load_yaml_text("a: 0123\n", "e.yaml", stored=True)
        assert as_text.data == {"a": "0123"} and as_number.data == {"a": 83}   # YAML 1.1 octal
        load_yaml_text("a: 0123\n", "e.yaml", YamlLimits(max_depth=10), stored=True)
        assert len(list(tmp_path.glob("*.parsed"))) == 5
        assert load_yaml_text("a: 0123\n", "e.yaml", integers_as_text=True, stored=True).data == {"a": "0123"}
    finally:
        _use_folder(None)


def test_only_what_asks_to_be_stored_is(tmp_path: Path) -> None:
    # a settings file may hold a secret: its parse is never written
    from transformer.spec.settings import read_settings_file

    (tmp_path / "s.yaml").write_text("api_key: secret-value-123\n", encoding="utf-8")
    folder = tmp_path / "cache"
    _use_folder(folder)
    try:
        assert read_settings_file(tmp_path / "s.yaml") == {"api_key": "secret-value-123"}
        load_yaml_text("a: 1\n", "plain.yaml")
        assert not folder.exists() or not list(folder.iterdir())
    finally:
        _use_folder(None)


def test_a_text_with_problems_is_not_stored(tmp_path: Path) -> None:
    from transformer import SpecError

    _use_folder(tmp_path)
    try:
        for _ in range(2):
            with pytest.raises(SpecError, match="duplicate key 'a'"):
                load_yaml_text("a: 1\na: 2\n", "dup.yaml", stored=True)
        assert not list(tmp_path.glob("*.parsed"))
    finally:
        _use_folder(None)
