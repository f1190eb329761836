"""Reports: the monthly summary per category and district, as a printable page."""

from __future__ import annotations

import re
from datetime import date

from aiohttp import web

from bot.console.core import PREFIX, console_of, render, signed_in
from workflows.console.summary import PERIODS, ikm_by_unit, monthly, period_start

MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _month(request: web.Request, today: date) -> date:
    """The month asked for (`?month=2026-11`), else the current one; never one in the future."""
    match = MONTH.match(request.query.get("month", ""))
    if match and 1 <= int(match.group(2)) <= 12 and int(match.group(1)) >= 2000:
        chosen = date(int(match.group(1)), int(match.group(2)), 1)
        if chosen <= today:
            return chosen
    return today.replace(day=1)


async def summary_page(request: web.Request) -> web.Response:
    console = console_of(request)
    staff = signed_in(request)
    now = console.now()
    today = console.services.calendar.local_date(now)
    first = _month(request, today)
    summary = await console.read(monthly, viewer=staff, first=first, zone=console.settings.zone, now=now)
    period = request.query.get("period", "month")
    period = period if period in PERIODS else "month"
    indexes = await console.read(
        ikm_by_unit,
        viewer=staff,
        elements=[e.key for e in console.services.book.ikm_elements],
        first=period_start(first, period),
        period=period,
        zone=console.settings.zone,
    )
    months = []
    year, month = today.year, today.month
    for _ in range(24):
        months.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return render(
        request, "console/reports.html", summary=summary, first=first, months=months, indexes=indexes, periods=PERIODS
    )


def routes() -> list[web.RouteDef]:
    return [web.get(PREFIX + "/reports", summary_page)]
