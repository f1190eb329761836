"""Districts and villages from a Kemendagri code list: a CSV of `code,name`, optionally with
each area's centre, `code,name,lat,lon` (degrees; the map draws cases without a GPS pin there).

Offices get their areas as the Kemendagri decree's table, one row per kecamatan (`NN.NN.NN`)
and desa/kelurahan (`NN.NN.NN.NNNN`). An import adds what is new and renames what changed; it
removes nothing, since tickets keep the codes they were filed with. A file with any bad row
changes nothing, and every bad row is reported with its line number, so the admin fixes the
file once rather than row by row. Spreadsheets saved with `;` between columns are read too. A
centre left empty keeps the one the area has.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workflows.config_store import (
    Document,
    Refused,
    add_village,
    area_level,
    clean_name,
    rename_district,
    rename_village,
)
from workflows.flowbook import Areas, District, Village

MAX_ROWS = 5000  # a regency has some hundreds; more is the wrong file
HEADER_WORDS = frozenset({"code", "kode"})


@dataclass(frozen=True)
class Problem:
    """A bad row: `reason` a code the page explains (code, regency, name_long, duplicate...)."""

    line: int
    reason: str
    text: str


Centre = tuple[float, float]  # lat, lon


@dataclass(frozen=True)
class Change:
    kind: str  # add_district, add_village, rename_district, rename_village, move_district, move_village
    code: str
    name: str
    before: str | None = None
    centre: Centre | None = None  # a new area's centre, or where a move puts it


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    problems: tuple[Problem, ...]
    unchanged: int  # rows already as the file has them


@dataclass(frozen=True)
class _Row:
    line: int
    level: str
    code: str
    name: str
    centre: Centre | None


def decode(data: bytes) -> str | None:
    """The file as text (UTF-8, with or without Excel's byte-order mark); None if it is not."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def plan(areas: Areas, text: str) -> Plan:
    """What importing `text` into `areas` would change, or why it cannot."""
    rows, problems = _read(text, regency=areas.regency.code)
    if problems:
        return Plan((), tuple(problems), 0)
    districts = {row.code for row in rows if row.level == "district"}
    with_villages = {row.code[:8] for row in rows if row.level == "village"}
    for row in rows:
        if row.level == "village" and row.code[:8] not in districts and areas.district(row.code[:8]) is None:
            problems.append(Problem(row.line, "no_district", row.code))
        if row.level == "district" and areas.district(row.code) is None and row.code not in with_villages:
            problems.append(Problem(row.line, "no_villages", row.code))
    if problems:
        return Plan((), tuple(sorted(problems, key=lambda p: p.line)), 0)
    changes: list[Change] = []
    unchanged = 0
    for level in ("district", "village"):  # a new district before its villages
        for row in (r for r in rows if r.level == level):
            found = _in(areas, row)
            if found is None:
                changes.append(Change(f"add_{level}", row.code, row.name, centre=row.centre))
                continue
            ours = [Change(f"rename_{level}", row.code, row.name, found.name)] if found.name != row.name else []
            if row.centre is not None and row.centre != found.centre:
                ours.append(Change(f"move_{level}", row.code, row.name, centre=row.centre))
            changes += ours
            unchanged += not ours
    return Plan(tuple(changes), (), unchanged)


def apply(document: Document, *, text: str) -> dict[str, Any]:
    """The edit for `config.change`: the import planned again against the areas as stored now."""
    found = plan(Areas.model_validate(document), text)
    if found.problems:
        raise Refused("import")
    for change in found.changes:
        _APPLY[change.kind](document, change)
    counts = {kind: sum(1 for c in found.changes if c.kind == kind) for kind in _APPLY}
    return {"change": "import", **{kind: count for kind, count in counts.items() if count}}


def _add_district(document: Document, change: Change) -> None:
    document["districts"].append({"code": change.code, "name": change.name, "villages": []})
    _move(document, change)


def _add_village(document: Document, change: Change) -> None:
    add_village(document, code=change.code, name=change.name)
    _move(document, change)


def _move(document: Document, change: Change) -> None:
    """Set the centre of the area `change` names (nothing when it brings none)."""
    if change.centre is None:
        return
    for district in document["districts"]:
        for area in (district, *district["villages"]):
            if area["code"] == change.code:
                area["lat"], area["lon"] = change.centre


_APPLY: dict[str, Callable[[Document, Change], Any]] = {
    "add_district": _add_district,
    "add_village": _add_village,
    "rename_district": lambda document, c: rename_district(document, code=c.code, name=c.name),
    "rename_village": lambda document, c: rename_village(document, code=c.code, name=c.name),
    "move_district": _move,
    "move_village": _move,
}


def _in(areas: Areas, row: _Row) -> District | Village | None:
    """The district or village the row names, as the areas have it now."""
    if row.level == "district":
        return areas.district(row.code)
    found = areas.village(row.code)
    return found[1] if found else None


def _centre(cells: list[str]) -> Centre | str | None:
    """The row's centre from its third and fourth columns: None when both are empty (or absent),
    "centre" when they are not two numbers in range."""
    lat, lon = (cell.strip() for cell in (*cells[2:4], "", "")[:2])
    if not lat and not lon:
        return None
    try:
        centre = float(lat), float(lon)
    except ValueError:
        return "centre"
    if not all(math.isfinite(v) for v in centre) or abs(centre[0]) > 90 or abs(centre[1]) > 180:
        return "centre"
    return centre


def _read(text: str, *, regency: str) -> tuple[list[_Row], list[Problem]]:
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text), delimiter=";" if ";" in first and "," not in first else ",")
    rows: list[_Row] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if not rows and not problems and cells[0].strip().lower() in HEADER_WORDS:
                continue
            if len(rows) + len(problems) >= MAX_ROWS:
                return [], [Problem(line, "too_many", "")]
            shown = ",".join(cells)[:80]
            if len(cells) < 2 or any(cell.strip() for cell in cells[4:]):
                problems.append(Problem(line, "columns", shown))
                continue
            centre = _centre(cells)
            if isinstance(centre, str):
                problems.append(Problem(line, centre, shown))
                continue
            code = cells[0].strip()
            try:
                level = area_level(code, regency=regency)
                name = clean_name(cells[1])
            except Refused as refused:
                problems.append(Problem(line, refused.reason, shown))
                continue
            if code in seen:
                problems.append(Problem(line, "duplicate", shown))
                continue
            seen.add(code)
            rows.append(_Row(line, level, code, name, centre))
    except csv.Error:
        problems.append(Problem(reader.line_num, "columns", ""))
    if not rows and not problems:
        problems.append(Problem(1, "empty", ""))
    return rows, problems
