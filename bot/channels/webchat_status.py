"""The status page (`/status`): a ticket number plus the phone number given at filing answers
with the ticket's status, from any device, without the chat's cookie.

Guessing is throttled: after `LIMIT` failed tries in `WINDOW` from one address, or for one
ticket number, further tries are refused until the window has passed. A wrong number and a
wrong phone get the same answer (`workflows.status_lookup`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from aiohttp import web
from jinja2 import Environment

from bot.proxied import client_address
from bot.runner import Runner
from workflows.status_lookup import look_up
from workflows.validation.ticket_number import parse_ticket_number

LIMIT = 5
WINDOW = 15 * 60.0  # seconds
MAX_KEYS = 50_000  # addresses and numbers remembered at once: a flood cannot grow memory forever


class Throttle:
    """Failed tries per key within a sliding window, in this process's memory."""

    def __init__(self, *, limit: int = LIMIT, window: float = WINDOW, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        cutoff = self.clock() - self.window
        while failures and failures[0] <= cutoff:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    def blocked(self, *keys: str) -> bool:
        return any(len(self._recent(key)) >= self.limit for key in keys)

    def failed(self, *keys: str) -> None:
        if len(self._failures) >= MAX_KEYS:  # forget the oldest keys (dicts keep insertion order)
            for key in list(self._failures)[: MAX_KEYS // 10]:
                del self._failures[key]
        now = self.clock()
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)


class StatusPage:
    def __init__(
        self, runner: Runner, pages: Environment, language: Callable[[web.Request], str], *, behind_proxy: bool
    ) -> None:
        self.runner = runner
        self.pages = pages
        self.language = language
        self.behind_proxy = behind_proxy
        self.throttle = Throttle()

    def address(self, request: web.Request) -> str:
        """Who is asking, counted as the console counts failed sign-ins."""
        return client_address(request, behind_proxy=self.behind_proxy)

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.get("/status", self.form), web.post("/status", self.answer)]

    def _render(self, request: web.Request, **context: object) -> web.Response:
        language = self.language(request)
        strings = self.pages.get_template(f"web/strings.{language}.j2").module
        body = self.pages.get_template("web/status.html").render(lang=language, strings=strings, **context)
        response = web.Response(text=body, content_type="text/html")
        response.headers["Content-Security-Policy"] = "default-src 'self'"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"  # an answer stays off shared computers' caches
        return response

    async def form(self, request: web.Request) -> web.Response:
        return self._render(request, number="", outcome=None, answer=None)

    async def answer(self, request: web.Request) -> web.Response:
        form = await request.post()
        number, phone = str(form.get("number", ""))[:40], str(form.get("phone", ""))[:64]
        ticket_key = "ticket:" + (parse_ticket_number(number) or number.strip().upper())
        address_key = "address:" + self.address(request)
        if self.throttle.blocked(address_key, ticket_key):
            return self._render(request, number=number, outcome="throttled", answer=None)
        language = self.language(request)
        services = self.runner.services
        found = await self.runner.db.read(
            lambda session: look_up(session, services, number=number, phone=phone, language=language)
        )
        if found is None:
            self.throttle.failed(address_key, ticket_key)
            return self._render(request, number=number, outcome="not_found", answer=None)
        return self._render(request, number=number, outcome="found", answer=found)
