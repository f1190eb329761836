"""Where the cases are: the map's circles, counted by the database.

An office may hold a million tickets, so the browser never gets every point. The map asks for
the box it shows and its zoom; the database puts each matching ticket in a grid cell about a
quarter of a map tile wide (64 px at that zoom) and answers one circle per cell: how many, and
where their mean lies. Only close in (zoom `POINTS_FROM` and over) are cases sent one by one,
and then at most `MOST_POINTS`. Every query is bounded by the viewer's area, as the queue is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, cast, func, literal_column, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from storage.models import Staff, Ticket
from workflows.casework import access
from workflows.lifecycle import OPEN, STATUSES

CELLS_PER_TILE = 4  # a cell is 256/4 = 64 px wide: circles of ~40 px never overlap
MOST_CELLS = 1000  # a map a few tiles wide has ~200; a larger answer is cut, busiest cells kept
POINTS_FROM = 16  # from this zoom (a few streets) cases are sent one by one
MOST_POINTS = 2000
LIST_LENGTH = 50
EXTENT_ZOOM = 10  # cells ~10 km wide to find where most of an office's cases are
EXTENT_SHARE = 0.95  # the map opens on the cells holding this share of cases: a stray point far away is left out
STATUS_CHOICES = ("open", "all", *STATUSES)
ROW_STRIDE = 10_000_000  # more columns than a world has cells at any zoom the grid is used for
BBox = tuple[float, float, float, float]  # south, west, north, east


@dataclass(frozen=True)
class Filters:
    """What the map shows: one category (or all), and "open", "all" or one status."""

    category: str | None = None
    status: str = "open"


@dataclass(frozen=True)
class Spot:
    """A circle on the map: `count` cases around (lat, lon). A single case carries its number,
    category and status, so the map can link to it."""

    lat: float
    lon: float
    count: int
    number: str | None = None
    category: str | None = None
    status: str | None = None

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"lat": round(self.lat, 6), "lon": round(self.lon, 6), "count": self.count}
        if self.count == 1:
            found.update(number=self.number, category=self.category, status=self.status)
        return found


@dataclass(frozen=True)
class View:
    spots: list[Spot]
    points: bool  # one spot per case (close in) rather than per cell
    truncated: bool  # more cells or points matched than were sent


@dataclass(frozen=True)
class Extent:
    """Where to open the map: the box around most of the matching cases (None: none placed),
    how many matching cases have a location, and how many do not (they cannot be drawn)."""

    bounds: BBox | None
    placed: int
    unplaced: int


@dataclass(frozen=True)
class Listed:
    number: str
    kind: str
    category: str
    status: str
    district_code: str | None
    village_code: str | None
    created_at: datetime


def statuses(filters: Filters) -> list[str] | None:
    """The statuses the filter names; None for all of them."""
    if filters.status == "all":
        return None
    return sorted(OPEN) if filters.status == "open" else [filters.status]


def matching(viewer: Staff, filters: Filters, *, status: bool = True) -> list[ColumnElement[bool]]:
    """The filter as conditions on tickets (without the status one when `status` is False)."""
    conditions = access.visible_tickets(viewer)
    if filters.category:
        conditions.append(col(Ticket.category) == filters.category)
    wanted = statuses(filters)
    if status and wanted is not None:
        conditions.append(col(Ticket.status).in_(wanted))
    return conditions


def _inside(bbox: BBox | None) -> list[ColumnElement[bool]]:
    if bbox is None:
        return [col(Ticket.latitude).is_not(None), col(Ticket.longitude).is_not(None)]
    south, west, north, east = bbox
    return [col(Ticket.latitude).between(south, north), col(Ticket.longitude).between(west, east)]


def cell_size(zoom: int) -> float:
    """Degrees of longitude in a cell at this zoom (a tile spans 360 / 2^zoom)."""
    return 360.0 / (2**zoom) / CELLS_PER_TILE


def _grid(session: Session, conditions: Sequence[ColumnElement[bool]], zoom: int, limit: int) -> list[Any]:
    """(cell, count, mean lat, mean lon, lowest ticket id) per cell, busiest first. A cell is
    one number, row * ROW_STRIDE + column counted from the south-west corner of the world (one
    sort key: SQLite groups by sorting, and one integer sorts faster than two); a ticket without
    a location falls in the cell None. The size is inlined as a literal so PostgreSQL sees the
    same expression in SELECT and GROUP BY."""
    size: ColumnElement[Any] = literal_column(repr(float(cell_size(zoom))))
    row = cast((col(Ticket.latitude) + 90.0) / size, BigInteger)
    column = cast((col(Ticket.longitude) + 180.0) / size, BigInteger)
    statement = (
        select(
            (row * ROW_STRIDE + column).label("cell"),
            func.count().label("n"),
            func.avg(col(Ticket.latitude)),
            func.avg(col(Ticket.longitude)),
            func.min(col(Ticket.id)),
        )
        .where(*conditions)
        .group_by(literal_column("cell"))
        .order_by(literal_column("n").desc())
        .limit(limit)
    )
    return list(session.execute(statement).all())


def _singles(session: Session, ids: list[int]) -> dict[int, tuple[str, str, str]]:
    """Number, category and status of the cases alone in their cell (read after the counts, so
    the count over many rows carries no text)."""
    if not ids:
        return {}
    statement = select(col(Ticket.id), col(Ticket.number), col(Ticket.category), col(Ticket.status)).where(
        col(Ticket.id).in_(ids)
    )
    return {ticket_id: (number, category, status) for ticket_id, number, category, status in session.execute(statement)}


def clusters(session: Session, *, viewer: Staff, filters: Filters, bbox: BBox | None, zoom: int) -> View:
    """The circles for a map showing `bbox` at `zoom`: cells, or close in single cases."""
    conditions = [*matching(viewer, filters), *_inside(bbox)]
    if zoom >= POINTS_FROM:
        statement = (
            select(
                col(Ticket.latitude),
                col(Ticket.longitude),
                col(Ticket.number),
                col(Ticket.category),
                col(Ticket.status),
            )
            .where(*conditions)
            .order_by(col(Ticket.created_at).desc())
            .limit(MOST_POINTS + 1)
        )
        rows = session.execute(statement).all()
        spots = [Spot(lat, lon, 1, number, category, status) for lat, lon, number, category, status in rows]
        return View(spots[:MOST_POINTS], points=True, truncated=len(spots) > MOST_POINTS)
    rows = _grid(session, conditions, zoom, MOST_CELLS + 1)
    singles = _singles(session, [first for _, n, _, _, first in rows[:MOST_CELLS] if n == 1])
    spots = [Spot(lat, lon, n, *singles.get(first, (None, None, None))) for _, n, lat, lon, first in rows]
    return View(spots[:MOST_CELLS], points=False, truncated=len(rows) > MOST_CELLS)


def extent(session: Session, *, viewer: Staff, filters: Filters) -> Extent:
    """Where the matching cases are, from one coarse grid: the smallest box around the busiest
    cells that hold EXTENT_SHARE of them."""
    rows = _grid(session, matching(viewer, filters), EXTENT_ZOOM, MOST_CELLS)
    unplaced = sum(n for cell, n, *_ in rows if cell is None)
    cells = [(n, lat, lon) for cell, n, lat, lon, _ in rows if cell is not None]
    placed = sum(n for n, _, _ in cells)
    if not cells:
        return Extent(None, 0, unplaced)
    half, kept, taken = cell_size(EXTENT_ZOOM) / 2, [], 0
    for n, lat, lon in cells:  # busiest first
        kept.append((lat, lon))
        taken += n
        if taken >= EXTENT_SHARE * placed:
            break
    bounds = (
        min(lat for lat, _ in kept) - half,
        min(lon for _, lon in kept) - half,
        max(lat for lat, _ in kept) + half,
        max(lon for _, lon in kept) + half,
    )
    return Extent(bounds, placed, unplaced)


def listing(session: Session, *, viewer: Staff, filters: Filters, limit: int = LIST_LENGTH) -> list[Listed]:
    """The newest matching cases that are on the map, for the page's plain list. One read per
    status, each newest first along the (status, created_at) index and stopping at `limit`:
    with all open statuses in one IN, SQLite would sort every open case to find the newest."""
    columns = (
        col(Ticket.number),
        col(Ticket.kind),
        col(Ticket.category),
        col(Ticket.status),
        col(Ticket.district_code),
        col(Ticket.village_code),
        col(Ticket.created_at),
        col(Ticket.id),
    )
    found: list[Any] = []  # rows of `columns`
    each_status: Sequence[str | None] = statuses(filters) or [None]
    for status in each_status:
        statement = select(*columns).where(*matching(viewer, filters, status=False), *_inside(None))
        if status is not None:
            statement = statement.where(col(Ticket.status) == status)
        found += session.execute(
            statement.order_by(col(Ticket.created_at).desc(), col(Ticket.id).desc()).limit(limit)
        ).all()
    found.sort(key=lambda row: (row.created_at, row.id), reverse=True)
    return [Listed(*row[:-1]) for row in found[:limit]]
