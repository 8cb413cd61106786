"""Text the gateway can store: the one rule every string from a client is checked against.

PostgreSQL's text types cannot hold U+0000 (asyncpg raises CharacterNotInRepertoireError, which
was a 500), and no UTF-8 column, SQLite's included, can hold a lone surrogate (U+D800-U+DFFF).
SQLite would store the NUL, so the rule is the same on both databases: such text is refused
at the edge, naming the field, before anything is stored or looked up.

JSON bodies and percent-decoded paths cannot carry a lone surrogate (the JSON parser and the
URL decoder refuse or keep them encoded), so over HTTP the NUL is the case that occurs; the
OpenAPI document states it as ``NO_NUL_PATTERN``.
"""

from __future__ import annotations

import re

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
NO_NUL_PATTERN = r"^[^\x00]*$"


def unstorable_character(value: str) -> str | None:
    """The first character of ``value`` that cannot be stored, as ``U+XXXX``, else None."""
    found = _UNSTORABLE.search(value)
    return None if found is None else f"U+{ord(found.group()):04X}"


def unstorable_message(character: str) -> str:
    return f"must not contain the character {character}, which cannot be stored"
