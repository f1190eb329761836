"""The full satisfaction form (`/survey/<token>`): the nine IKM elements of PermenPAN-RB
14/2017, one question each, answered 1–4, reached from the link in the citizen's chat, with no
account. A form sent with a question left open is shown again with what was chosen and a word
on what is missing, so nothing is lost; a spent, expired or unknown link says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from jinja2 import Environment
from sqlmodel import Session

from bot.runner import Runner
from workflows import survey_links
from workflows.casework.service import Refused

COMMENT_MAX = 1000


class SurveyForm:
    def __init__(self, runner: Runner, pages: Environment, language: Callable[[web.Request], str]) -> None:
        self.runner = runner
        self.pages = pages
        self.language = language

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.get("/survey/{token}", self.form), web.post("/survey/{token}", self.answer)]

    def _render(self, request: web.Request, status: int = 200, **context: Any) -> web.Response:
        language = self.language(request)
        strings = self.pages.get_template(f"web/strings.{language}.j2").module
        body = self.pages.get_template("web/survey.html").render(
            lang=language,
            strings=strings,
            elements=self.runner.services.book.ikm_elements,
            token=request.match_info["token"],
            **context,
        )
        response = web.Response(text=body, content_type="text/html", status=status)
        response.headers["Content-Security-Policy"] = "default-src 'self'"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the address
        response.headers["Cache-Control"] = "no-store"
        return response

    async def form(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        now = self.runner.clock()
        found = await self.runner.db.read(lambda s: _number(survey_links.find(s, token=token, now=now)))
        if found in ("unknown", "expired", "used"):
            return self._render(request, 404 if found == "unknown" else 410, problem=found)
        return self._render(request, number=found, chosen={}, comment="", missing=[])

    async def answer(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        form = await request.post()
        elements = [e.key for e in self.runner.services.book.ikm_elements]
        chosen = {key: int(v) for key in elements if (v := str(form.get(key, ""))) in ("1", "2", "3", "4")}
        comment = str(form.get("comment", "")).strip()[:COMMENT_MAX] or None
        missing = [key for key in elements if key not in chosen]
        now = self.runner.clock()
        casework = self.runner.services.casework

        def store(session: Session) -> str:
            found = survey_links.find(session, token=token, now=now, lock=True)
            if isinstance(found, str):
                return found
            link, ticket = found
            if missing:
                return "missing:" + ticket.number
            try:
                casework.survey_in_full(session, ticket, chosen, comment, now)
            except Refused as refused:
                return refused.reason
            link.used_at = now
            return "thanks:" + ticket.number

        outcome = await self.runner.db.run(store)
        kind, _, number = outcome.partition(":")
        if kind == "missing":
            return self._render(request, 422, number=number, chosen=chosen, comment=comment or "", missing=missing)
        if kind == "thanks":
            return self._render(request, number=number, thanks=True)
        return self._render(request, 404 if kind == "unknown" else 410, problem=kind)


def _number(found: tuple[Any, Any] | str) -> str:
    return found if isinstance(found, str) else found[1].number
