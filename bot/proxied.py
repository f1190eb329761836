"""What a request looked like before the reverse proxy in front of us, for every page alike.

The console and the web chat both set cookies and count failed tries by address; behind a TLS
proxy the connection we see is plain HTTP from the proxy's address. Only when the office says
a proxy is there (`SATUPINTU_BEHIND_PROXY`) are its headers believed: without one, any client
could write them.
"""

from __future__ import annotations

from aiohttp import web

from bot.settings import Settings


def over_https(request: web.Request, settings: Settings) -> bool:
    """Whether the browser reached us over TLS: directly, through the proxy that says so, or by
    the public address people are given. Cookies are then Secure."""
    if request.secure or settings.console_url.startswith("https://"):
        return True
    return settings.behind_proxy and request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip() == "https"


def client_address(request: web.Request, *, behind_proxy: bool) -> str:
    """The address failed tries are counted by. Behind a proxy: the address the proxy itself
    appended (the last of X-Forwarded-For); the ones before it are whatever the client wrote."""
    forwarded = request.headers.get("X-Forwarded-For", "") if behind_proxy else ""
    return (forwarded.split(",")[-1].strip() or request.remote or "?")[:64]
