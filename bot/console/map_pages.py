"""The map of cases and the PPKS register.

The map page is drawn by the server with a plain list of the newest cases on it, so it works
for a screen reader and without JavaScript; `map.js` then draws the Leaflet map (served from
this server, never a CDN) and asks `/console/map.json` for the circles of the box it shows
whenever it moves. The register is a server-rendered table, keyset-paged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from aiohttp import web
from sqlmodel import Session

from bot.console.core import PREFIX, console_of, render, signed_in
from workflows.console import mapview, register
from workflows.flowbook import FlowBook

MAX_ZOOM = 19
DEFAULT_ZOOM = 12


def filters_of(query: Mapping[str, str], book: FlowBook) -> mapview.Filters:
    """The map's filters from the address; anything not offered counts as not chosen."""
    category = query.get("category") or None
    if category and not any(book.category(kind, category) for kind in ("complaint", "service")):
        category = None
    status = query.get("status", "open")
    return mapview.Filters(category=category, status=status if status in mapview.STATUS_CHOICES else "open")


def bbox_of(text: str | None) -> mapview.BBox | None:
    """ "south,west,north,east" in degrees, clamped to the world; None when absent or unreadable."""
    try:
        south, west, north, east = (float(part) for part in (text or "").split(","))
    except ValueError:
        return None
    if not all(math.isfinite(v) for v in (south, west, north, east)):
        return None
    south, north = max(-90.0, min(south, north)), min(90.0, max(south, north))
    west, east = max(-180.0, min(west, east)), min(180.0, max(west, east))
    return south, west, north, east


def zoom_of(text: str | None) -> int:
    try:
        return max(0, min(MAX_ZOOM, int(text or DEFAULT_ZOOM)))
    except ValueError:
        return DEFAULT_ZOOM


async def map_page(request: web.Request) -> web.Response:
    staff = signed_in(request)
    console = console_of(request)
    filters = filters_of(request.query, console.services.book)
    centres = console.services.book.areas.centres()

    def read(session: Session) -> tuple[mapview.Extent, list[mapview.Listed]]:
        return (
            mapview.extent(session, viewer=staff, filters=filters, centres=centres),
            mapview.listing(session, viewer=staff, filters=filters, centres=centres),
        )

    extent, listed = await console.read(read)
    bounds = ",".join(f"{v:.6f}" for v in extent.bounds) if extent.bounds else ""
    return render(
        request,
        "console/map.html",
        filters=filters,
        extent=extent,
        bounds=bounds,
        listed=listed,
        statuses=mapview.STATUS_CHOICES,
    )


async def map_json(request: web.Request) -> web.Response:
    staff = signed_in(request)
    console = console_of(request)
    filters = filters_of(request.query, console.services.book)
    zoom = zoom_of(request.query.get("zoom"))
    view = await console.read(
        mapview.clusters,
        viewer=staff,
        filters=filters,
        bbox=bbox_of(request.query.get("bbox")),
        zoom=zoom,
        centres=console.services.book.areas.centres(),
    )
    return web.json_response(
        {
            "zoom": zoom,
            "points": view.points,
            "truncated": view.truncated,
            "spots": [spot.as_json() for spot in view.spots],
        }
    )


async def register_page(request: web.Request) -> web.Response:
    staff = signed_in(request)
    console = console_of(request)
    book = console.services.book
    given = request.query
    category = given.get("category") or None
    district = given.get("district") or None
    village = given.get("village") or None
    query = register.Query(
        category=category if category and book.category("complaint", category) else None,
        district=district if district and book.areas.district(district) else None,
        village=village if village and book.areas.village(village) else None,
        name=given.get("q", "")[:100],
    )
    page = await console.read(register.people, viewer=staff, query=query, cursor=given.get("cursor"))
    params = {"category": query.category, "district": query.district, "village": query.village, "q": query.name}
    return render(
        request,
        "console/register.html",
        query=query,
        page=page,
        params=params,
        first_page=not given.get("cursor"),
        now=console.now(),
    )


def routes() -> list[web.RouteDef]:
    return [
        web.get(PREFIX + "/map", map_page),
        web.get(PREFIX + "/map.json", map_json),
        web.get(PREFIX + "/register", register_page),
    ]
