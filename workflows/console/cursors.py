"""Opaque page cursors: a small JSON value in URL-safe base64, read back defensively.

A cursor comes back from the address bar, so anything that is not one of ours (garbled, too
long, an id no database holds) reads as "no cursor": the first page, never an error.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

LONGEST = 200


def pack(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode().rstrip("=")


def unpack(text: str | None) -> Any:
    """The value a cursor holds; None for no cursor or one that is not ours."""
    if not text or len(text) > LONGEST:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        return None


def is_id(value: Any) -> bool:
    """A row id a database can hold (a forged 10**20 would overflow the query)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63
