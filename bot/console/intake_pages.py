"""Assisted intake pages: the form an officer or village facilitator fills in for a walk-in or
outreach citizen, and the printable receipt the citizen takes home.

The form is the chat's flow as one page (workflows/console/assisted.py asks and checks the same
questions). A refused form comes back with everything typed kept (files excepted: browsers do
not let a page refill a file input). Photos are checked on a worker thread before the unit of
work, as the chat does, and written to disk only when the whole form is accepted.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from bot.channels import registry
from bot.console.core import PREFIX, console_of, forbidden, form_of, language_of, not_found, redirect, render, signed_in
from bot.settings import Settings
from storage.files import StoredPhoto
from storage.models import Staff
from workflows.casework import access
from workflows.console import assisted
from workflows.services import NOT_SAVED, Services
from workflows.validation.answers import Invalid


async def intake_form(request: web.Request) -> web.Response:
    staff = signed_in(request)
    return _form(
        request,
        staff,
        kind=request.query.get("kind", ""),
        values={},
        errors={},
        form_key=assisted.new_form_key(),
        photos_dropped=False,
    )


async def intake_submit(request: web.Request) -> web.Response:
    console = console_of(request)
    staff = signed_in(request)
    form = await form_of(request)
    values = {key: str(form[key]) for key in form.keys() if isinstance(form[key], str) and key != "csrf"}
    files = [field for _, field in form.items() if isinstance(field, web.FileField)]
    key, now = values.get("form_key", ""), console.now()
    if assisted.FORM_KEY.fullmatch(key):
        earlier = await console.run(assisted.filed_with_key, staff_id=staff.id, form_key=key, now=now)
        if earlier is not None:  # sent again (a double tap, a retry after a lost answer)
            raise redirect(_receipt_path(earlier.number))

    def read_and_check() -> assisted.Checked:
        uploads = [assisted.Upload(f.filename or "", data) for f in files if (data := f.file.read())]
        return assisted.check(
            console.services.book,
            staff=staff,
            kind=values.get("kind", ""),
            form=values,
            uploads=uploads,
            today=console.services.calendar.local_date(now),
            max_photo_bytes=console.settings.max_photo_bytes,
            ways=_news_ways(console.settings),
        )

    checked = await asyncio.to_thread(read_and_check)
    if checked.filing is None:
        return _form(
            request,
            staff,
            kind=values.get("kind", ""),
            values=values,
            errors=checked.errors,
            form_key=key if assisted.FORM_KEY.fullmatch(key) else assisted.new_form_key(),
            photos_dropped=bool(files),
            status=400,
        )
    photos = await asyncio.to_thread(_keep_photos, console.services, checked.filing.photos)
    if photos is None:  # checked, but the server could not write them (logged): nothing is filed yet
        return _form(
            request,
            staff,
            kind=values.get("kind", ""),
            values=values,
            errors={checked.filing.photo_field or "photos": Invalid("photo_rejected", {"reason": NOT_SAVED})},
            form_key=key if assisted.FORM_KEY.fullmatch(key) else assisted.new_form_key(),
            photos_dropped=True,
            status=503,
        )
    ticket = await console.run(
        assisted.file,
        services=console.services,
        staff_id=staff.id,
        filing=checked.filing,
        photos=photos,
        now=console.now(),
    )
    raise redirect(_receipt_path(ticket.number))


def _keep_photos(services: Services, photos: tuple[bytes, ...]) -> list[StoredPhoto] | None:
    """Write the accepted photos to disk exactly as the chat's are; None when the server could
    not write them (each passed the same check in assisted.check, so nothing else refuses one)."""
    kept = [services.keep_photo(data) for data in photos]
    stored = [photo for photo in kept if isinstance(photo, StoredPhoto)]
    return stored if len(stored) == len(kept) else None


def _news_ways(settings: Settings) -> tuple[str, ...]:
    """The ways to get news this server can keep (SMS only with a gateway)."""
    return assisted.offered({spec.name for spec in registry.switched_on(settings)})


def _receipt_path(number: str) -> str:
    return f"{PREFIX}/intake/receipt/{number}"


def _form(
    request: web.Request,
    staff: Staff,
    *,
    kind: str,
    values: dict[str, str],
    errors: dict[str, Invalid],
    form_key: str,
    photos_dropped: bool,
    status: int = 200,
) -> web.Response:
    console = console_of(request)
    book = console.services.book
    kinds = assisted.kinds(book)
    kind = kind if kind in kinds else kinds[0]
    flow = book.flow(assisted.flow_for(book, kind))  # type: ignore[arg-type]
    context: dict[str, Any] = {
        "kind": kind,
        "kinds": kinds,
        "steps": assisted.fields(flow),
        "groups": book.categories.groups(flow.kind),
        "districts": access.districts_of(book, staff),
        "asks_phone": assisted.asks_phone(flow),
        "consent_text": console.services.texts.render(
            "steps/consent",
            language_of(request),
            {"retention_months": book.office.retention.default_months},
        ),
        "consent_version": book.settings.consent_version,
        "sources": assisted.SOURCES,
        "updates": _news_ways(console.settings),
        "max_photo_bytes": console.settings.max_photo_bytes,
    }
    return render(
        request,
        "console/intake.html",
        status=status,
        values=values,
        errors=errors,
        form_key=form_key,
        photos_dropped=photos_dropped,
        **context,
    )


async def receipt_page(request: web.Request) -> web.Response:
    console = console_of(request)
    staff = signed_in(request)
    found = await console.run(
        assisted.receipt,
        services=console.services,
        staff=staff,
        number=request.match_info["number"][:24],
        now=console.now(),
    )
    if found == "denied":
        raise forbidden(request)
    if isinstance(found, str):
        raise not_found(request)
    ticket, calendar = found.ticket, console.services.calendar
    texts, language = console.services.texts, language_of(request)
    due_date = None
    if ticket.due_at is not None:  # an urgent ticket's deadline is an hour of the day
        due_date = (
            texts.long_moment(ticket.due_at, calendar.zone, language)
            if ticket.urgent
            else texts.long_date(calendar.local_date(ticket.due_at), language)
        )
    username = console.settings.telegram_bot_username
    return render(
        request,
        "console/receipt.html",
        ticket=ticket,
        filed_by=found.filed_by,
        due_date=due_date,
        updates_via=(ticket.details or {}).get("updates_via"),
        link_code=found.link_code,
        link_open=found.link_open,
        bot_url=f"https://t.me/{username.lstrip('@')}" if username else None,
        hotlines=console.services.book.office.urgent.shown_hotlines() if ticket.urgent else [],
    )


def routes() -> list[web.RouteDef]:
    return [
        web.get(PREFIX + "/intake", intake_form),
        web.post(PREFIX + "/intake", intake_submit),
        web.get(PREFIX + "/intake/receipt/{number}", receipt_page),
    ]
