"""The audit viewer and breach support (admins only): who saw or changed which ticket, filtered
and paged; for a staff account and a time window, who was affected, as a list to download and
as the notice letters to send. Every page and download here is itself audited: looking at who
saw what is seeing personal data too.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from aiohttp import web

from bot.console.core import PREFIX, console_of, form_of, language_of, render, require_role
from storage.models import Staff
from workflows import audit
from workflows.console import audit_log, breach

AUDIT = PREFIX + "/admin/audit"
FREE_TEXT = 2000  # the letter's own words: what happened, what the office did, whom to ask


def _admin(request: web.Request) -> Staff:
    return require_role(request, "admin")


def _window(source: Any) -> tuple[int | None, date | None, date | None]:
    """The staff account and the incident's dates from a query or form; None for what is
    missing or not understood (an end before the start is not understood)."""
    filt = audit_log.TrailFilter.from_query(source)
    if filt.since and filt.until and filt.until < filt.since:
        return filt.staff, None, None
    return filt.staff, filt.since, filt.until


def _words(request: web.Request) -> Any:
    """The list's heading and its words for the data codes, in the viewer's language, from
    the page's macros (console/admin/_breach.html)."""
    console = console_of(request)
    context = {"_": console.words.gettext(language_of(request))}
    return console.pages.get_template("console/admin/_breach.html").make_module(context)


async def trail_page(request: web.Request) -> web.Response:
    staff = _admin(request)
    console = console_of(request)
    filt = audit_log.TrailFilter.from_query(request.query)
    cursor = request.query.get("before")
    found = await console.read(audit_log.page, filt=filt, zone=console.settings.zone, cursor=cursor)
    members = await console.read(audit_log.staff_list)
    await console.run(
        audit.record, staff_id=staff.id, action="audit.view", now=console.now(), data={"filter": filt.to_query()}
    )
    return render(
        request,
        "console/admin/audit.html",
        filt=filt,
        query=filt.to_query(),
        page=found,
        members=members,
        later=bool(cursor),
    )


async def affected_page(request: web.Request) -> web.Response:
    staff = _admin(request)
    console = console_of(request)
    account, since, until = _window(request.query)
    members = await console.read(audit_log.staff_list)
    found = None
    if account is not None and since and until:
        found = await console.read(
            breach.affected, staff_id=account, since=since, until=until, zone=console.settings.zone
        )
        if found is not None:
            await console.run(
                audit.record,
                staff_id=staff.id,
                action="audit.affected",
                subject=f"staff:{account}",
                now=console.now(),
                data={"since": since.isoformat(), "until": until.isoformat(), "tickets": len(found.touches)},
            )
    return render(
        request,
        "console/admin/audit_affected.html",
        members=members,
        account=account,
        since=since,
        until=until,
        found=found,
        asked=bool(request.query),
    )


async def affected_csv(request: web.Request) -> web.Response:
    staff = _admin(request)
    console = console_of(request)
    account, since, until = _window(request.query)
    if account is None or not since or not until:
        raise web.HTTPSeeOther(AUDIT + "/affected")
    found = await console.read(breach.affected, staff_id=account, since=since, until=until, zone=console.settings.zone)
    if found is None:
        raise web.HTTPSeeOther(AUDIT + "/affected")
    words = _words(request)
    zone = console.settings.zone
    body = breach.csv_text(
        found,
        heading=json.loads(str(words.heading())),
        word=lambda code: str(words.datum(code)),
        when=lambda moment: moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else "",
    )
    await console.run(
        audit.record,
        staff_id=staff.id,
        action="audit.export",
        subject=f"staff:{account}",
        now=console.now(),
        data={"since": since.isoformat(), "until": until.isoformat(), "rows": len(found.touches)},
    )
    name = f"satupintu-affected-staff{account}-{since.isoformat()}-{until.isoformat()}.csv"
    return web.Response(
        body=body.encode(),
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def letters_page(request: web.Request) -> web.Response:
    """Each affected reporter's notice, in their language, ready to print or copy."""
    staff = _admin(request)
    console = console_of(request)
    form = await form_of(request)
    account, since, until = _window(form)
    if account is None or not since or not until:
        raise web.HTTPSeeOther(AUDIT + "/affected")
    found = await console.read(breach.affected, staff_id=account, since=since, until=until, zone=console.settings.zone)
    if found is None:
        raise web.HTTPSeeOther(AUDIT + "/affected")
    texts = console.services.texts
    letters = [
        (touch, texts.render(say.key, language, say.context))
        for touch, language, say in breach.letters(
            found,
            book=console.services.book,
            long_date=texts.long_date,
            incident=str(form.get("incident", "")).strip()[:FREE_TEXT],
            actions=str(form.get("actions", "")).strip()[:FREE_TEXT],
            contact=str(form.get("contact", "")).strip()[:FREE_TEXT],
        )
    ]
    await console.run(
        audit.record,
        staff_id=staff.id,
        action="audit.letters",
        subject=f"staff:{account}",
        now=console.now(),
        data={"since": since.isoformat(), "until": until.isoformat(), "letters": len(letters)},
    )
    return render(request, "console/admin/audit_letters.html", found=found, letters=letters)


def routes() -> list[web.RouteDef]:
    return [
        web.get(AUDIT, trail_page),
        web.get(AUDIT + "/affected", affected_page),
        web.get(AUDIT + "/affected.csv", affected_csv),
        web.post(AUDIT + "/letters", letters_page),
    ]
