"""Masking NIK- and phone-like numbers in free text that leaves our control: log lines.

A safety net, not the rule: code logs ids, never what a person typed. But an exception's
message (a database error quotes the row's values) or a library's line may carry a number
someone typed, and a log file is copied, shipped and kept far longer than a ticket.
"""

from __future__ import annotations

import re

from workflows.validation.nik import mask_nik
from workflows.validation.phone import mask_phone

# Sixteen digits in a row, not part of a longer number: a NIK or a family-card number.
_NIK = re.compile(r"(?<!\d)\d{16}(?!\d)")
# An Indonesian mobile or landline number as people write it: +62 / 62 / 0, then 8–13 more
# digits, spaces, dots or dashes allowed between them ("0812-3456-7890", "+62 812 3456 7890").
_PHONE = re.compile(r"(?<![\d+])(?:\+?62|0)[\s.-]?\d(?:[\s.-]?\d){7,12}(?!\d)")


def redact(text: str) -> str:
    """`text` with every NIK-like number masked as `3471********0001` and every phone-like one
    down to its last three digits."""
    text = _NIK.sub(lambda m: mask_nik(m.group(0)), text)
    return _PHONE.sub(lambda m: mask_phone(re.sub(r"\D", "", m.group(0))), text)
