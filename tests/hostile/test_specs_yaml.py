"""Hostile YAML in a mapping spec or a settings file: alias bombs, recursive aliases, Python
tags, deep nesting, huge files. Each is a located problem (file:line:column) found in bounded
time and memory, never a traceback; before, a 900-byte "billion laughs" spec ran `validate`
for 80 s until MemoryError, and the others gave raw tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from transformer import SpecError, load_mapping

from ..conftest import SAMPLES
from .cli_process import cli_peak, run

CORE_ONLY = "(only YAML's core tags are: !!str, !!int, !!float, !!bool, !!null, !!map, !!seq)"


def billion_laughs() -> str:
    """The classic: nine levels of ten aliases, 10^9 strings once expanded."""
    lines = ["version: 1", "lol0: &lol0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * 10) + "]" for i in range(1, 10)]
    lines += ["fields: {x: {const: *lol9}}"]
    return "\n".join(lines) + "\n"


ATTACKS = {
    "billion laughs": (billion_laughs(), 6, 63,
                       "with its aliases expanded, the document holds more than 100,000 nodes "
                       "(the limit for a YAML document)"),
    "recursive alias": ("version: 1\nfields:\n  x: &loop {const: [1, *loop]}\n", 3, 24,
                        "recursive alias *loop: it stands for a collection that contains it"),
    "python name tag": ("version: 1\nfields:\n  x: {const: !!python/name:os.system x}\n", 3, 14,
                        f"tag !!python/name:os.system is not allowed on a scalar {CORE_ONLY}"),
    "python object tag": ("version: 1\nfields: !!python/object/apply:os.system [ls]\n", 2, 9,
                          f"tag !!python/object/apply:os.system is not allowed on a sequence {CORE_ONLY}"),
    "local tag": ("version: 1\nfields:\n  x: {const: !secret value}\n", 3, 14,
                  f"tag !secret is not allowed on a scalar {CORE_ONLY}"),
    "binary tag": ("version: 1\nfields:\n  x: {const: !!binary aGVsbG8=}\n", 3, 14,
                   f"tag !!binary is not allowed on a scalar {CORE_ONLY}"),
    "deep nesting": ("version: 1\nfields:\n  x: {const: " + "[" * 5000 + "]" * 5000 + "}\n", 3, 75,
                     "nested deeper than 64 levels (the limit for a YAML document)"),
    "huge file": ("version: 1\ndescription: '" + "x" * (1 << 20) + "'\n", 1, 1,
                  "the file is larger than 1,048,576 bytes (the limit for a YAML document)"),
}


def test_the_billion_laughs_spec_is_the_size_the_issue_names() -> None:
    assert 800 <= len(billion_laughs().encode()) <= 950


@pytest.mark.parametrize("attack", ATTACKS)
def test_validate_refuses_a_hostile_spec_with_its_place(attack: str, tmp_path: Path) -> None:
    text, line, column, message = ATTACKS[attack]
    spec = tmp_path / "evil.yaml"
    spec.write_text(text)
    done = run("validate", str(spec))
    assert (done.code, done.out, done.err) == (1, "", f"{spec}:{line}:{column}: {message}\n{spec}: 1 problem\n")


def test_validate_refuses_the_billion_laughs_in_bounded_memory(tmp_path: Path) -> None:
    spec = tmp_path / "evil.yaml"
    spec.write_text(billion_laughs())
    done, peak = cli_peak("validate", str(spec), timeout=60)
    assert done.code == 1 and "holds more than 100,000 nodes" in done.err
    assert peak < 150 * 1024 * 1024           # it used to grow until MemoryError


@pytest.mark.parametrize("attack", ["billion laughs", "recursive alias", "python name tag"])
def test_the_library_raises_a_located_spec_error(attack: str, tmp_path: Path) -> None:
    text, line, column, message = ATTACKS[attack]
    spec = tmp_path / "evil.yaml"
    spec.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_mapping(spec, environ={})
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.column, problem.message) == (str(spec), line, column, message)


def test_scalars_yaml_1_1_would_turn_into_other_types_stay_text(tmp_path: Path) -> None:
    spec = tmp_path / "dates.yaml"
    spec.write_text("version: 1\nfields:\n  day: {const: 2024-01-01}\n  sign: {const: =}\n"
                    "  number: {const: !!int '42'}\n")
    assert load_mapping(spec, environ={}).apply({}).events == [{"day": "2024-01-01", "sign": "=", "number": 42}]
    spec.write_text("version: 1\nfields:\n  n: {const: !!int forty-two}\n")
    with pytest.raises(SpecError) as caught:
        load_mapping(spec, environ={})
    assert str(caught.value) == (f"{spec}:3:14: fields.n.const: cannot read 'forty-two' as !!int: "
                                 "invalid literal for int() with base 10: 'forty-two'")


SETTINGS_ATTACKS = {
    "billion laughs": (billion_laughs().replace("fields: {x: {const: *lol9}}", "account_id: *lol9"),
                       "6:63: with its aliases expanded, the document holds more than 100,000 nodes "
                       "(the limit for a YAML document)"),
    "recursive alias": ("events: &e [*e]\n", "1:13: recursive alias *e: it stands for a collection "
                                             "that contains it"),
    "python tag": ("account_id: !!python/name:os.getcwd x\n",
                   f"1:13: tag !!python/name:os.getcwd is not allowed on a scalar {CORE_ONLY}"),
    "deep nesting": ("events: " + "[" * 3000 + "]" * 3000 + "\n",
                     "1:72: nested deeper than 64 levels (the limit for a YAML document)"),
}


@pytest.mark.parametrize("attack", SETTINGS_ATTACKS)
def test_a_hostile_settings_file_is_a_located_settings_error(attack: str, tmp_path: Path) -> None:
    text, where = SETTINGS_ATTACKS[attack]
    settings = tmp_path / "settings.yaml"
    settings.write_text(text)
    done = run("replay", str(SAMPLES / "sms_sent.json"), "--settings", str(settings))
    assert (done.code, done.out, done.err) == (2, "", f"error: settings file {settings}:{where}\n")
