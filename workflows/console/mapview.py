"""Where the cases are: the map's circles, counted by the database.

An office may hold a million tickets, so the browser never gets every point. The map asks for
the box it shows and its zoom; the database puts each matching ticket in a grid cell about a
quarter of a map tile wide (64 px at that zoom) and answers one circle per cell: how many, and
where their mean lies. Only close in (zoom `POINTS_FROM` and over) are cases sent one by one,
and then at most `MOST_POINTS`. Every query is bounded by the viewer's area, as the queue is.

A case reported with a village but no GPS pin is drawn at the village's centre (else its
district's), from `areas.yaml`, and marked approximate. Those come from a second query over the
cases without a location, grouped by district and village (the (district, village, status)
index), merged with the centres in Python: a regency has some hundred villages, not a million.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, and_, cast, false, func, literal_column, or_, select
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
Centres = dict[tuple[str, str | None], tuple[float, float]]  # (district, village) -> (lat, lon): Areas.centres


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
    approximate: bool = False  # at the centre of the village (or district), not a GPS pin

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "lat": round(self.lat, 6),
            "lon": round(self.lon, 6),
            "count": self.count,
            "approximate": self.approximate,
        }
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
    how many matching cases are on it, how many of those only at their village's centre, and
    how many cannot be drawn (no pin, and no centre for their area)."""

    bounds: BBox | None
    placed: int
    unplaced: int
    approximate: int = 0


@dataclass(frozen=True)
class Listed:
    number: str
    kind: str
    category: str
    status: str
    district_code: str | None
    village_code: str | None
    created_at: datetime
    approximate: bool  # drawn at the village's (or district's) centre


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


def _within(bbox: BBox | None, centre: tuple[float, float]) -> bool:
    return bbox is None or (bbox[0] <= centre[0] <= bbox[2] and bbox[1] <= centre[1] <= bbox[3])


def _unpinned(centres: Centres, bbox: BBox | None) -> list[ColumnElement[bool]]:
    """Cases without a pin whose area has a centre in the box: conditions that start with the
    district, so the (district, village, status) index finds them."""
    inside = [key for key, centre in centres.items() if _within(bbox, centre)]
    if not inside:
        return [false()]
    villages = sorted({village for _, village in inside if village is not None})
    bare = sorted({district for district, village in inside if village is None})  # the district's own centre
    return [
        col(Ticket.latitude).is_(None),
        col(Ticket.district_code).in_(sorted({district for district, _ in inside})),
        or_(col(Ticket.village_code).in_(villages), col(Ticket.district_code).in_(bare)),
    ]


def _centre(centres: Centres, district: str | None, village: str | None) -> tuple[float, float] | None:
    if district is None:
        return None
    return centres.get((district, village)) or centres.get((district, None))


def _approximate(
    session: Session, conditions: Sequence[ColumnElement[bool]], centres: Centres, bbox: BBox | None
) -> list[tuple[tuple[float, float], int, int]]:
    """(centre, count, lowest ticket id) of the cases without a pin, one per centre in the box."""
    statement = (
        select(col(Ticket.district_code), col(Ticket.village_code), func.count(), func.min(col(Ticket.id)))
        .where(*conditions, *_unpinned(centres, bbox))
        .group_by(col(Ticket.district_code), col(Ticket.village_code))
    )
    merged: dict[tuple[float, float], tuple[int, int]] = {}
    for district, village, count, first in session.execute(statement):
        centre = _centre(centres, district, village)
        if centre is None or not _within(bbox, centre):
            continue  # a village without a centre of its own, whose district's is outside the box
        before = merged.get(centre)
        merged[centre] = (before[0] + count, min(before[1], first)) if before else (count, first)
    return sorted(((centre, n, first) for centre, (n, first) in merged.items()), key=lambda row: -row[1])


def clusters(
    session: Session, *, viewer: Staff, filters: Filters, bbox: BBox | None, zoom: int, centres: Centres
) -> View:
    """The circles for a map showing `bbox` at `zoom`: cells, or close in single cases; the
    cases without a pin at their area's centre, marked approximate."""
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
        spots += _approximate_points(session, matching(viewer, filters), centres, bbox)
        return View(spots[:MOST_POINTS], points=True, truncated=len(spots) > MOST_POINTS)
    rows = _grid(session, conditions, zoom, MOST_CELLS + 1)
    around = _approximate(session, matching(viewer, filters), centres, bbox)
    singles = _singles(
        session,
        [first for _, n, _, _, first in rows[:MOST_CELLS] if n == 1] + [first for _, n, first in around if n == 1],
    )
    spots = [_circle(lat, lon, n, singles.get(first)) for _, n, lat, lon, first in rows[:MOST_CELLS]]
    spots += [_circle(lat, lon, n, singles.get(first), approximate=True) for (lat, lon), n, first in around]
    return View(spots, points=False, truncated=len(rows) > MOST_CELLS)


def _circle(
    lat: float, lon: float, count: int, single: tuple[str, str, str] | None, *, approximate: bool = False
) -> Spot:
    number, category, status = single or (None, None, None)
    return Spot(lat, lon, count, number, category, status, approximate)


def _approximate_points(
    session: Session, conditions: Sequence[ColumnElement[bool]], centres: Centres, bbox: BBox | None
) -> list[Spot]:
    """Close in, the cases without a pin one by one, each at its area's centre (the map spreads
    those that share one)."""
    statement = (
        select(
            col(Ticket.district_code),
            col(Ticket.village_code),
            col(Ticket.number),
            col(Ticket.category),
            col(Ticket.status),
        )
        .where(*conditions, *_unpinned(centres, bbox))
        .order_by(col(Ticket.created_at).desc())
        .limit(MOST_POINTS + 1)
    )
    spots = []
    for district, village, number, category, status in session.execute(statement):
        centre = _centre(centres, district, village)
        if centre is not None and _within(bbox, centre):
            spots.append(Spot(centre[0], centre[1], 1, number, category, status, approximate=True))
    return spots


def extent(session: Session, *, viewer: Staff, filters: Filters, centres: Centres) -> Extent:
    """Where the matching cases are, from one coarse grid and the centres of the areas of those
    without a pin: the smallest box around the busiest cells that hold EXTENT_SHARE of them."""
    rows = _grid(session, matching(viewer, filters), EXTENT_ZOOM, MOST_CELLS)
    around = _approximate(session, matching(viewer, filters), centres, None)
    approximate = sum(n for _, n, _ in around)
    unplaced = sum(n for cell, n, *_ in rows if cell is None) - approximate
    cells = [(n, lat, lon) for cell, n, lat, lon, _ in rows if cell is not None]
    cells = sorted(cells + [(n, lat, lon) for (lat, lon), n, _ in around], key=lambda cell: -cell[0])
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
    return Extent(bounds, placed, unplaced, approximate)


def listing(
    session: Session, *, viewer: Staff, filters: Filters, centres: Centres, limit: int = LIST_LENGTH
) -> list[Listed]:
    """The newest matching cases that are on the map (by a pin or at their area's centre), for
    the page's plain list. One read per status, each newest first along the (status, created_at)
    index and stopping at `limit`: with all open statuses in one IN, SQLite would sort every
    open case to find the newest."""
    columns = (
        col(Ticket.number),
        col(Ticket.kind),
        col(Ticket.category),
        col(Ticket.status),
        col(Ticket.district_code),
        col(Ticket.village_code),
        col(Ticket.created_at),
        col(Ticket.latitude).is_(None),
        col(Ticket.id),
    )
    on_map = or_(col(Ticket.latitude).is_not(None), and_(*_unpinned(centres, None)))
    found: list[Any] = []  # rows of `columns`
    each_status: Sequence[str | None] = statuses(filters) or [None]
    for status in each_status:
        statement = select(*columns).where(*matching(viewer, filters, status=False), on_map)
        if status is not None:
            statement = statement.where(col(Ticket.status) == status)
        found += session.execute(
            statement.order_by(col(Ticket.created_at).desc(), col(Ticket.id).desc()).limit(limit)
        ).all()
    found.sort(key=lambda row: (row.created_at, row.id), reverse=True)
    return [Listed(*row[:-1]) for row in found[:limit]]
