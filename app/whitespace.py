"""What this service calls whitespace: the characters ECMA-262 ``\\s`` matches.

The OpenAPI schema states input rules as JSON Schema patterns, which are ECMA-262 regular
expressions, so a client validating a title reads "blank" the JavaScript way. Python's
``str.strip()``/``str.isspace()`` disagree with it on six code points (U+001C-U+001F and
U+0085 are Python whitespace only, U+FEFF is ECMA whitespace only), and ``\\s`` itself means
either set depending on the engine that reads the pattern. So the server trims and tests for
blank with this set, and the schema spells the same set out instead of writing ``\\s``.

ECMA-262 ``\\s`` is WhiteSpace (TAB, VT, FF, ZWNBSP U+FEFF, and every ``Zs`` space separator)
plus LineTerminator (LF, CR, LS U+2028, PS U+2029).
"""

from __future__ import annotations

WHITESPACE = (
    "\t\n\v\f\r"  # TAB, LF, VT, FF, CR
    " \u00a0\u1680"  # Zs: space, no-break space, ogham space mark
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"  # Zs: en quad .. hair
    "\u2028\u2029"  # LS, PS
    "\u202f\u205f\u3000"  # Zs: narrow no-break, medium mathematical, ideographic space
    "\ufeff"  # ZWNBSP (byte order mark)
)

# The set as the body of a regex character class, every character escaped as \uXXXX: read
# the same by ECMA-262, Python's re and Rust's regex (no engine-dependent `\s` or `\v`).
CHARACTER_CLASS = "".join(f"\\u{ord(character):04x}" for character in WHITESPACE)


def strip(value: str) -> str:
    """``value`` without leading and trailing whitespace (this module's set, not Python's)."""
    return value.strip(WHITESPACE)


def is_blank(value: str) -> bool:
    """True when ``value`` is empty or only whitespace."""
    return not strip(value)
