"""Ticket numbers such as "SP-2026-00042", built to be read aloud over the phone.

Prefixes never use O, I or L, so every letter after the prefix can be read as a digit: a
citizen who types "SP-2O26-0OO42" or "sp 2026 42" still finds the ticket.
"""

from __future__ import annotations

import re

SEQUENCE_WIDTH = 5
PREFIX_LETTERS = "ABCDEFGHJKMNPQRSTUVWXYZ"  # A-Z without O, I, L (read as 0, 1, 1)
_PREFIX = re.compile(rf"[{PREFIX_LETTERS}]{{1,4}}")
_TYPED = re.compile(
    rf"#?\s*(?P<prefix>[{PREFIX_LETTERS}]{{1,4}})[\s\-_./:#]*"
    r"(?P<number>[0-9OIL](?:[\s\-_./]*[0-9OIL])*)"
)
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_MAX_SEQUENCE_DIGITS = 9


def validate_prefix(prefix: str) -> None:
    """Raise ValueError unless `prefix` is 1-4 capital letters A-Z other than O, I and L."""
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(f"ticket prefix must be 1-4 letters A-Z without O, I or L, got {prefix!r}")


def format_ticket_number(prefix: str, year: int, seq: int) -> str:
    """Canonical number: prefix, 4-digit year, sequence zero-padded to 5 (wider when needed)."""
    validate_prefix(prefix)
    if not 1000 <= year <= 9999:
        raise ValueError(f"year must have 4 digits, got {year}")
    if seq < 1:
        raise ValueError(f"sequence starts at 1, got {seq}")
    return f"{prefix}-{year}-{seq:0{SEQUENCE_WIDTH}d}"


def parse_ticket_number(raw: str) -> str | None:
    """Canonical form of a typed ticket number, or None when it cannot be one.

    Case, spaces, dashes and dots are ignored; O reads as 0 and I or L as 1 in the digit part.
    The first four digits are the year and the rest the sequence, so "sp2026 42" is sequence 42.
    """
    match = _TYPED.fullmatch(raw.strip().upper())
    if match is None:
        return None
    digits = re.sub(r"[\s\-_./]", "", match["number"]).translate(_LOOKALIKES)
    year, sequence = digits[:4], digits[4:]
    if len(year) != 4 or year[0] == "0" or not 1 <= len(sequence) <= _MAX_SEQUENCE_DIGITS:
        return None
    if int(sequence) == 0:
        return None
    return format_ticket_number(match["prefix"], int(year), int(sequence))
