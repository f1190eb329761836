"""The office's configuration as changed in the console: its areas, categories and office rules.

Each of the three is kept whole in a `ConfigDocument` and replaces the YAML file of the same
name when the server starts (bot/app.py), so an office that never opens these pages runs on its
files alone. A change here is a small edit of one document, checked by building the whole
FlowBook with the same validation as the files (a routing rule is checked against the areas and
the catalogue too), so the console cannot store what start-up would refuse. It is stored with
version + 1 and audited; the caller then hands the new book to the running services
(`Services.use_book`), so the chat, routing, service standards and jobs use it from the next
message.

Other server processes on the same database see the change through `stamp`, which each checks
every few seconds (`Services.refresh`). Each form carries the version it was drawn from, so of
two admins editing at once the second is told to look again instead of silently undoing the
first.

A stored document silently hiding its file would leave an office editing a YAML file that no
longer counts, so each one is named (`overrides`) on the console's pages and in the start-up
log, and an admin can go back to the file (`back_to_file`). Going back empties the document
but keeps its row, with the version counting on: `stamp` only grows, so every process sees
the change, and a form drawn before it is told to look again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlmodel import Session, col

from storage.models import AuditEntry, ConfigDocument, Staff
from workflows import audit
from workflows.flowbook import (
    LIST_TITLE_MAX,
    SLA_STAGES,
    STORED_DOCUMENTS,
    FlowBook,
    document_of,
    with_document,
)

Document = dict[str, Any]
Edit = Callable[[Document], dict[str, Any]]  # changes a document in place; returns what changed (for the audit)

DISTRICT_CODE = re.compile(r"^\d{2}\.\d{2}\.\d{2}$")
VILLAGE_CODE = re.compile(r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$")
KEY = re.compile(r"^[a-z0-9_]{1,24}$")


class Refused(ValueError):
    """A change that was not stored. `reason` is a code the page explains in words; `detail`
    the validator's own message when it was the validator that said no."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Override:
    """A document the console saved, standing in for its file: when and by whom."""

    name: str
    file: str  # the YAML file it replaces, e.g. "areas.yaml"
    version: int
    saved_at: datetime
    saved_by: str | None  # the admin's name; None when the staff record is gone


# ---------------------------------------------------------------------- storage
def stored_documents(session: Session) -> dict[str, Document]:
    """The documents changed in the console, by name (what replaces the files at start-up);
    one an admin sent back to its file is empty and left out."""
    rows = session.execute(select(ConfigDocument)).scalars().all()
    return {row.name: row.document for row in rows if row.name in STORED_DOCUMENTS and row.document}


def overrides(session: Session) -> dict[str, Override]:
    """The stored documents that replace their files, by name, for the notices."""
    rows = session.execute(
        select(ConfigDocument, col(Staff.name)).outerjoin(
            Staff, col(Staff.id) == col(ConfigDocument.updated_by_staff_id)
        )
    ).all()
    return {
        row.name: Override(row.name, f"{row.name}.yaml", row.version, row.updated_at, name)
        for row, name in rows
        if row.name in STORED_DOCUMENTS and row.document
    }


def versions(session: Session) -> dict[str, int]:
    """Each document's stored version; 0 while it is still the file's."""
    found = dict(session.execute(select(col(ConfigDocument.name), col(ConfigDocument.version))).all())
    return {name: found.get(name, 0) for name in STORED_DOCUMENTS}


def stamp(session: Session) -> int:
    """A number that grows with every stored change (the sum of the documents' versions): one
    small query, so every process can ask it every few seconds."""
    return int(session.execute(select(func.coalesce(func.sum(col(ConfigDocument.version)), 0))).scalar_one())


def current(session: Session, *, book: FlowBook, files: FlowBook | None = None) -> FlowBook:
    """`book` with the stored documents as they are now; `book` itself when nothing differs
    (another process may have saved a change since this one started). `files`: the book as the
    YAML files give it, whose documents come back where the stored one was sent back."""
    fresh = book
    stored = stored_documents(session)
    for name in STORED_DOCUMENTS:
        document = stored.get(name) or (document_of(files, name) if files is not None else None)
        if document is not None and document != document_of(fresh, name):
            fresh = with_document(fresh, name, document)
    return fresh


def change(
    session: Session, *, book: FlowBook, name: str, edit: Edit, version: int, staff_id: int, now: datetime
) -> FlowBook:
    """Apply `edit` to the document `name` as stored now, validate the whole book, store and
    audit it; returns the new book for the caller to put to use once this commits. `version`
    is the one the admin's form was drawn from."""
    row = (
        session.execute(select(ConfigDocument).where(col(ConfigDocument.name) == name).with_for_update())
        .scalars()
        .first()
    )
    if version != (row.version if row else 0):
        raise Refused("stale")
    base = current(session, book=book)
    document = document_of(base, name)
    summary = edit(document)
    try:
        changed = with_document(base, name, document)
    except ValidationError as error:
        raise Refused("invalid", explain(error)) from error
    stored = document_of(changed, name)
    if stored == document_of(base, name):
        return base
    if row is None:
        session.add(ConfigDocument(name=name, document=stored, version=1, updated_at=now, updated_by_staff_id=staff_id))
    else:
        row.document, row.version, row.updated_at, row.updated_by_staff_id = stored, row.version + 1, now, staff_id
    audit.record(
        session, staff_id=staff_id, action=f"config.{name}", subject=summary.get("change"), now=now, data=summary
    )
    return changed


def back_to_file(
    session: Session, *, book: FlowBook, files: FlowBook, name: str, version: int, staff_id: int, now: datetime
) -> FlowBook:
    """Forget the console's document `name`, so its YAML file counts again; audited. Returns
    the new book for the caller to put to use once this commits. Refused when the form is
    stale, nothing is stored, or the file does not fit the rest (a routing rule saved in the
    console may name a district only the console's areas have)."""
    row = (
        session.execute(select(ConfigDocument).where(col(ConfigDocument.name) == name).with_for_update())
        .scalars()
        .first()
    )
    if row is None or not row.document:
        raise Refused("unknown")
    if version != row.version:
        raise Refused("stale")
    try:
        changed = with_document(current(session, book=book), name, document_of(files, name))
    except ValidationError as error:
        raise Refused("invalid", explain(error)) from error
    row.document, row.version, row.updated_at, row.updated_by_staff_id = {}, row.version + 1, now, staff_id
    audit.record(
        session,
        staff_id=staff_id,
        action=f"config.{name}",
        subject="back_to_file",
        now=now,
        data={"change": "back_to_file", "file": f"{name}.yaml", "version": version},
    )
    return changed


def explain(error: ValidationError) -> str:
    """The validator's words without pydantic's decoration: "districts 3 name: String should
    have at most 24 characters"."""
    parts = []
    for item in error.errors():
        where = " ".join(str(part) for part in item["loc"][1:])
        message = str(item["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


# ---------------------------------------------------------------------- form values
def clean_name(value: str) -> str:
    """A name or label as a chat list row shows it: single spaces, 1-24 characters."""
    name = " ".join(value.split())
    if not name:
        raise Refused("name_empty")
    if len(name) > LIST_TITLE_MAX:
        raise Refused("name_long")
    return name


def number(value: object) -> int | None:
    """A whole number typed in a form; blank is None."""
    text = str(value or "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 6:
        raise Refused("number")
    return int(text)


def _key(value: str) -> str:
    key = value.strip()
    if not KEY.match(key):
        raise Refused("key")
    return key


# ---------------------------------------------------------------------- areas
def area_level(code: str, *, regency: str) -> str:
    """ "district" or "village" for a Kemendagri code of this regency."""
    level = "district" if DISTRICT_CODE.match(code) else "village" if VILLAGE_CODE.match(code) else None
    if level is None:
        raise Refused("code")
    if not code.startswith(regency + "."):
        raise Refused("regency")
    return level


def _district(document: Document, code: str) -> Document | None:
    return next((d for d in document["districts"] if d["code"] == code), None)


def _village(document: Document, code: str) -> Document | None:
    district = _district(document, code[:8])
    return next((v for v in district["villages"] if v["code"] == code), None) if district else None


def add_district(document: Document, *, code: str, name: str, village_code: str, village_name: str) -> dict[str, Any]:
    """A new district comes with its first village: the chat has nothing to offer in an empty one."""
    code, village_code = code.strip(), village_code.strip()
    if area_level(code, regency=document["regency"]["code"]) != "district":
        raise Refused("code")
    if _district(document, code) is not None:
        raise Refused("exists")
    if not village_code.startswith(code + "."):
        raise Refused("outside")
    name = clean_name(name)
    document["districts"].append({"code": code, "name": name, "villages": []})
    add_village(document, code=village_code, name=village_name)
    return {"change": "add_district", "code": code, "name": name, "village": village_code}


def rename_district(document: Document, *, code: str, name: str) -> dict[str, Any]:
    district = _district(document, code)
    if district is None:
        raise Refused("unknown")
    before, district["name"] = district["name"], clean_name(name)
    return {"change": "rename_district", "code": code, "from": before, "to": district["name"]}


def add_village(document: Document, *, code: str, name: str) -> dict[str, Any]:
    code = code.strip()
    if area_level(code, regency=document["regency"]["code"]) != "village":
        raise Refused("code")
    district = _district(document, code[:8])
    if district is None:
        raise Refused("outside")
    if _village(document, code) is not None:
        raise Refused("exists")
    name = clean_name(name)
    district["villages"].append({"code": code, "name": name})
    return {"change": "add_village", "code": code, "name": name}


def rename_village(document: Document, *, code: str, name: str) -> dict[str, Any]:
    village = _village(document, code)
    if village is None:
        raise Refused("unknown")
    before, village["name"] = village["name"], clean_name(name)
    return {"change": "rename_village", "code": code, "from": before, "to": village["name"]}


# ---------------------------------------------------------------------- categories
def _category(document: Document, key: str) -> Document | None:
    """A group or a type of either kind."""
    for kind in ("complaint", "service"):
        for group in document[kind]:
            if group["key"] == key:
                return group
            found = next((t for t in group["types"] if t["key"] == key), None)
            if found is not None:
                return found
    return None


def set_labels(document: Document, *, key: str, label_id: str, label_en: str) -> dict[str, Any]:
    """New words for a group or type; its key (stored in tickets) stays."""
    found = _category(document, key)
    if found is None:
        raise Refused("unknown")
    before, found["label"] = found["label"], {"id": clean_name(label_id), "en": clean_name(label_en)}
    return {"change": "set_labels", "key": key, "from": before, "to": found["label"]}


def add_type(document: Document, *, group: str, key: str, label_id: str, label_en: str) -> dict[str, Any]:
    found = _category(document, group)
    if found is None or "types" not in found:
        raise Refused("unknown")
    key = _key(key)
    if _category(document, key) is not None:
        raise Refused("exists")
    found["types"].append({"key": key, "label": {"id": clean_name(label_id), "en": clean_name(label_en)}})
    return {"change": "add_type", "group": group, "key": key}


# ---------------------------------------------------------------------- office
def set_standards(document: Document, *, category: str, days: Mapping[str, int | None]) -> dict[str, Any]:
    """A category's own working days per stage; a stage left blank follows the office's default."""
    own = {stage: days[stage] for stage in SLA_STAGES if days.get(stage) is not None}
    table = document["service_standards"]["categories"]
    before = table.pop(category, None)
    if own:
        table[category] = own
    return {"change": "set_standards", "category": category, "from": before, "to": own or None}


def save_rule(
    document: Document, *, index: int | None, team: str, categories: Sequence[str], districts: Sequence[str]
) -> dict[str, Any]:
    """Change rule `index`, or add one (`index` None) just before the last, catch-all rule."""
    rule = {"team": team, "categories": sorted(set(categories)), "districts": sorted(set(districts))}
    routing = document["routing"]
    if index is None:
        routing.insert(max(len(routing) - 1, 0), rule)
        return {"change": "add_rule", "rule": rule}
    if not 0 <= index < len(routing):
        raise Refused("unknown")
    before, routing[index] = routing[index], rule
    return {"change": "edit_rule", "position": index + 1, "from": before, "to": rule}


def move_rule(document: Document, *, index: int, step: int) -> dict[str, Any]:
    routing = document["routing"]
    target = index + step
    if not (0 <= index < len(routing) and 0 <= target < len(routing)):
        raise Refused("unknown")
    routing[index], routing[target] = routing[target], routing[index]
    return {"change": "move_rule", "from": index + 1, "to": target + 1}


def remove_rule(document: Document, *, index: int) -> dict[str, Any]:
    routing = document["routing"]
    if not 0 <= index < len(routing):
        raise Refused("unknown")
    return {"change": "remove_rule", "position": index + 1, "rule": routing.pop(index)}


def save_agency(
    document: Document, *, key: str, label_id: str, label_en: str, due_working_days: int | None, new: bool
) -> dict[str, Any]:
    """Add an agency (`new`) or change the words and answer time of one; keys stay, since
    referrals keep them."""
    key = _key(key)
    agencies = document["agencies"]
    found = next((a for a in agencies if a["key"] == key), None)
    if new and found is not None:
        raise Refused("exists")
    if not new and found is None:
        raise Refused("unknown")
    if due_working_days is None:
        raise Refused("number")
    agency = {
        "key": key,
        "label": {"id": clean_name(label_id), "en": clean_name(label_en)},
        "due_working_days": due_working_days,
    }
    if found is None:
        agencies.append(agency)
    else:
        agencies[agencies.index(found)] = agency
    return {"change": "add_agency" if new else "edit_agency", "key": key, "to": agency}


# ---------------------------------------------------------------------- the audit trail
@dataclass(frozen=True)
class TrailPage:
    entries: Sequence[AuditEntry]
    names: dict[int, str]  # staff id -> name, for the entries on this page
    older: int | None  # the `before` of the next page, None on the last


def trail(session: Session, *, before_id: int | None, limit: int = 50) -> TrailPage:
    """The audit trail newest first, a page at a time, with the names of the staff in it."""
    rows = list(audit.recent(session, limit=limit + 1, before_id=before_id))
    entries, more = rows[:limit], len(rows) > limit
    ids = {entry.staff_id for entry in entries if entry.staff_id is not None}
    names = (
        dict(session.execute(select(col(Staff.id), col(Staff.name)).where(col(Staff.id).in_(ids))).all()) if ids else {}
    )
    return TrailPage(entries, names, entries[-1].id if more else None)
