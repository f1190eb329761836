"""Web chat sessions the server issued, and only those.

A browser's chat is found by its cookie. Were any value accepted, someone could plant a value
of their choosing in another person's browser (a shared phone, a lookalike link on a sibling
domain) and read that person's conversation with it later: session fixation. So the server
makes every session itself — a random nonce and its HMAC under the server's key — and a cookie
it cannot verify is replaced by a new one, never taken up.

Cookies from before sessions were signed are bare nonces; such a cookie stays good only when
its chat already exists (the server did issue it then), so nobody's conversation is lost by the
upgrade while an invented one still gets nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

MAX_LENGTH = 100  # anything longer is not ours: refused before any hashing


def issue(key: bytes) -> str:
    """A new session token: nonce, a dot, and its MAC (URL-safe, so it needs no quoting)."""
    nonce = secrets.token_urlsafe(32)
    return f"{nonce}.{_mac(key, nonce)}"


def is_signed(key: bytes, token: str) -> bool:
    """Whether `token` is one `issue` made under `key`."""
    nonce, dot, mac = token.partition(".")
    return bool(dot) and bool(nonce) and hmac.compare_digest(mac.encode(), _mac(key, nonce).encode())


def is_legacy(token: str) -> bool:
    """A bare nonce, as issued before sessions were signed (its chat must exist to count)."""
    return "." not in token and 32 <= len(token) <= MAX_LENGTH


def _mac(key: bytes, nonce: str) -> str:
    return hmac.new(key, b"webchat-session:" + nonce.encode(), hashlib.sha256).hexdigest()[:32]
