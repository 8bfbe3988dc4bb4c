"""The service's whitespace is ECMA-262 ``\\s``, checked over every Unicode code point against
the spec's definition and against a JavaScript-compatible regex engine."""

from __future__ import annotations

import re
import sys
import unicodedata

import jsonschema_rs
import pytest

from app import whitespace

pytestmark = pytest.mark.database_free

CODE_POINTS = [chr(cp) for cp in range(sys.maxunicode + 1) if not 0xD800 <= cp <= 0xDFFF]

# ECMA-262 (WhiteSpace and LineTerminator productions): TAB VT FF ZWNBSP, any Zs, LF CR LS PS
_ECMA_NAMED = set("\t\v\f\ufeff\n\r\u2028\u2029")


def ecma_whitespace_by_the_spec(character: str) -> bool:
    return character in _ECMA_NAMED or unicodedata.category(character) == "Zs"


def test_the_set_is_ecma_262_whitespace_as_the_spec_defines_it() -> None:
    spec = {character for character in CODE_POINTS if ecma_whitespace_by_the_spec(character)}

    assert set(whitespace.WHITESPACE) == spec
    assert len(whitespace.WHITESPACE) == len(spec)  # no character twice


def test_the_set_is_what_a_javascript_compatible_engine_matches_with_backslash_s() -> None:
    """jsonschema-rs evaluates patterns the ECMA-262 way (schemathesis validates with it)."""
    backslash_s = jsonschema_rs.validator_for({"type": "string", "pattern": "^\\s$"})

    matched = {character for character in CODE_POINTS if backslash_s.is_valid(character)}

    assert matched == set(whitespace.WHITESPACE)


def test_python_disagrees_with_it_on_exactly_six_code_points() -> None:
    """Why the module exists: these are blank to one side and not to the other."""
    python = {character for character in CODE_POINTS if character.isspace()}
    python_re = {character for character in CODE_POINTS if re.fullmatch(r"\s", character)}

    assert python == python_re
    assert python ^ set(whitespace.WHITESPACE) == set("\x1c\x1d\x1e\x1f\x85\ufeff")


def test_the_character_class_matches_exactly_the_set_in_python_and_ecma_engines() -> None:
    pattern = f"^[{whitespace.CHARACTER_CLASS}]$"
    ecma = jsonschema_rs.validator_for({"type": "string", "pattern": pattern})
    python = re.compile(pattern)
    candidates = [*whitespace.WHITESPACE, "\x1c", "\x1f", "\x85", "\u200b", "a", "\\", "u"]

    for character in candidates:
        expected = character in whitespace.WHITESPACE
        assert ecma.is_valid(character) is expected, hex(ord(character))
        assert bool(python.match(character)) is expected, hex(ord(character))


@pytest.mark.parametrize(
    ("value", "stripped"),
    [
        ("  title\t\n", "title"),
        ("\ufefftitle\u3000", "title"),
        ("\x1ctitle\x85", "\x1ctitle\x85"),  # separators and NEL are kept: not ECMA whitespace
        ("in \u2028 side", "in \u2028 side"),
    ],
)
def test_strip_trims_this_set_only(value: str, stripped: str) -> None:
    assert whitespace.strip(value) == stripped


@pytest.mark.parametrize(
    ("value", "blank"),
    [("", True), (" \t\ufeff\u00a0", True), ("\x1c", False), ("\x85", False), ("a", False)],
)
def test_is_blank(value: str, blank: bool) -> None:
    assert whitespace.is_blank(value) is blank
