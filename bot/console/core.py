"""What every console page shares: who is signed in, CSRF, language, rendering, headers.

One middleware runs for every `/console` request. It finds the session behind the cookie,
refuses any POST whose CSRF token does not match (the signed-in session's own token, or for the
sign-in forms a double-submit cookie), picks the language, and puts protective headers on
every answer: no framing, no caching of pages with personal data, scripts and styles only from
this server. Handlers get the staff member with `signed_in(request)`; they never parse
cookies themselves.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from multidict import MultiDictProxy

from bot import proxied
from bot.clock import Clock
from bot.console.i18n import Words, pick_language
from bot.settings import Settings
from storage.db import Database
from storage.models import Staff, stored_id
from workflows import signin
from workflows.services import Services
from workflows.texts import TEMPLATES_DIR
from workflows.validation.nik import mask_nik

log = logging.getLogger(__name__)

PREFIX = "/console"
SESSION_COOKIE = "satupintu_console"
FORM_COOKIE = "satupintu_console_form"  # the double-submit CSRF token of the sign-in forms
LANGUAGE_COOKIE = "satupintu_console_lang"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
T = TypeVar("T")
STAFF = web.RequestKey("staff", Staff)
CSRF = web.RequestKey("csrf", str)
LANGUAGE = web.RequestKey("lang", str)


@dataclass
class Console:
    """The console's share of the server: its database, the office's workflows, its pages."""

    settings: Settings
    db: Database
    services: Services
    clock: Clock
    pages: Environment
    words: Words
    secret: bytes  # signs photo addresses; kept in the data dir
    channels: tuple[
        str, ...
    ]  # where tickets come from, for the queue's filter: every channel the server knows, and the desk

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A unit of work that may write (an action, an audit entry), as the chat's are run."""
        return await self.db.run(fn, *args, **kwargs)

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A query that only reads (a queue page, the map, a report): off the event loop, and
        on SQLite without the write lock, so a heavy page never holds up the chat."""
        return await self.db.read(fn, *args, **kwargs)

    def now(self) -> datetime:
        return self.clock()


CONSOLE = web.AppKey("console", Console)


def pages_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["mask_nik"] = lambda nik: mask_nik(nik) if nik else ""
    env.filters["query"] = lambda params: urlencode(
        [(k, v) for k, v in params.items() if v not in (None, "")], doseq=True
    )
    return env


def console_of(request: web.Request) -> Console:
    return request.app[CONSOLE]


def signed_in(request: web.Request) -> Staff:
    """The signed-in staff member; anyone else is sent to the sign-in page."""
    staff = request.get(STAFF)
    if staff is None:
        raise web.HTTPSeeOther(f"{PREFIX}/signin?" + urlencode({"next": request.path_qs}))
    return staff


def require_role(request: web.Request, *roles: str) -> Staff:
    staff = signed_in(request)
    if staff.role not in roles:
        raise forbidden(request)
    return staff


def forbidden(request: web.Request) -> web.HTTPForbidden:
    body = render_text(request, "console/error.html", status_text="403", reason="forbidden")
    return web.HTTPForbidden(text=body, content_type="text/html")


def not_found(request: web.Request) -> web.HTTPNotFound:
    body = render_text(request, "console/error.html", status_text="404", reason="not_found")
    return web.HTTPNotFound(text=body, content_type="text/html")


async def form_of(request: web.Request) -> MultiDictProxy[Any]:
    """The posted form (read once by the middleware, cached by aiohttp)."""
    return await request.post()


def language_of(request: web.Request) -> str:
    return request.get(LANGUAGE, "id")


def render_text(request: web.Request, template: str, **context: Any) -> str:
    console = console_of(request)
    language = language_of(request)
    staff = request.get(STAFF)
    base = {
        "_": console.words.gettext(language),
        "lang": language,
        "staff": staff,
        "csrf": request.get(CSRF, ""),
        "path": request.path,
        "path_qs": request.path_qs,
        "book": console.services.book,
        "label": lambda labels: labels.get(language) or labels.get("id") if isinstance(labels, Mapping) else labels,
        "local": lambda moment, fmt="%d-%m-%Y %H:%M": (
            moment.astimezone(console.settings.zone).strftime(fmt) if moment else ""
        ),
        "tiles": console.settings.map_tile_url,
    }
    return console.pages.get_template(template).render({**base, **context})


def render(request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
    return web.Response(text=render_text(request, template, **context), content_type="text/html", status=status)


def redirect(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location)


def safe_next(target: str | None) -> str:
    """Only a path inside the console: a sign-in link must never bounce to another site."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return PREFIX + "/"


def _csrf_ok(expected: str, given: str | None) -> bool:
    return bool(expected) and given is not None and hmac.compare_digest(expected.encode(), given.encode())


def _security_headers(response: web.StreamResponse, tile_origin: str) -> None:
    images = "'self' data: blob:" + (f" {tile_origin}" if tile_origin else "")
    response.headers.setdefault(
        "Content-Security-Policy",
        (
            f"default-src 'self'; img-src {images}; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
        ),
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")  # sign-in tokens live in URLs
    response.headers.setdefault("Cache-Control", "no-store")


def tile_origin(url: str | None) -> str:
    if not url:
        return ""
    parts = urlsplit(url.replace("{s}", "a"))
    origin = f"{parts.scheme}://{parts.netloc}"
    return origin.replace("://a.", "://*.") if "{s}" in url else origin


def _refusal(request: web.Request, status: int, reason: str) -> web.Response:
    body = render_text(request, "console/error.html", status_text=str(status), reason=reason)
    response = web.Response(text=body, content_type="text/html", status=status)
    _security_headers(response, tile_origin(console_of(request).settings.map_tile_url))
    return response


@web.middleware
async def console_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    if not request.path.startswith(PREFIX) or request.path.startswith(PREFIX + "/static/"):
        return await handler(request)
    console = console_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    found = await console.db.glance(signin.load_session, token=token, now=console.now()) if token else None
    if found is not None and found.stale:
        await console.db.run_unless_busy(signin.touch_session, session_id=stored_id(found.session), now=console.now())
    if found is not None:
        request[STAFF], request[CSRF] = found.staff, found.session.csrf
    else:
        request[CSRF] = request.cookies.get(FORM_COOKIE) or secrets.token_urlsafe(32)
    chosen = request.query.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    request[LANGUAGE] = pick_language(chosen or (found.staff.language if found else None))
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        given = request.headers.get(CSRF_HEADER)
        try:
            if given is None:
                given = (await request.post()).get(CSRF_FIELD)  # type: ignore[assignment]
        except web.HTTPRequestEntityTooLarge:  # photos too many or too big for one form, without the page's script
            return _refusal(request, 413, "too_large")
        except ValueError:  # a body no browser form sends (no multipart boundary, not UTF-8)
            return _refusal(request, 400, "bad_form")
        if not _csrf_ok(request[CSRF], str(given) if given is not None else None):
            log.warning("console: refused a %s to %s without its CSRF token", request.method, request.path)
            return _refusal(request, 403, "csrf")
    try:
        response = await handler(request)
    except web.HTTPException as answer:
        response = answer
        _security_headers(response, tile_origin(console.settings.map_tile_url))
        raise
    _security_headers(response, tile_origin(console.settings.map_tile_url))
    if found is None and not request.cookies.get(FORM_COOKIE):
        response.set_cookie(
            FORM_COOKIE, request[CSRF], httponly=True, samesite="Strict", secure=over_https(request), path=PREFIX
        )
    if request.query.get("lang") in ("id", "en"):
        response.set_cookie(
            LANGUAGE_COOKIE,
            request[LANGUAGE],
            samesite="Lax",
            secure=over_https(request),
            path=PREFIX,
            max_age=60 * 60 * 24 * 365,
        )
    return response


def start_session(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=over_https(request),
        path=PREFIX,
        max_age=int(signin.SESSION_LONGEST.total_seconds()),
    )


def end_session(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path=PREFIX)


def client_address(request: web.Request) -> str:
    return proxied.client_address(request, behind_proxy=console_of(request).settings.behind_proxy)


def over_https(request: web.Request) -> bool:
    return proxied.over_https(request, console_of(request).settings)
