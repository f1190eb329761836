"""Finding the open tickets a new one may duplicate, when it is filed.

Citizens reporting the same person on the street rarely give a NIK and never use the same
words, so a candidate is an open ticket of the same category group, filed in the office's
window, in the same village or within its radius of the new one's map point — or any open
ticket about the same NIK. Each narrowing is an index range (village and status; status and
latitude; NIK and status), so the lookup reads a few dozen rows however many tickets there
are; only those are scored by text (name and description), with pg_trgm's `similarity()` where
PostgreSQL has it and the same measure in Python elsewhere. Two reports that both name the
person weigh that most (`judged`): two neighbours who call her "Mbah Sarinah" and "Nenek
Sarinah" mean the same woman, whatever else they wrote, and "Pak Slamet" is not "Pak Darmo"
however alike the stock phrases. What scores enough is kept as a `DuplicateSuggestion`, shown
on both tickets' cards and case pages until an officer links them. `bench/duplicates.py`
measures precision and recall on labelled pairs.
"""

from __future__ import annotations

import math
import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, literal, or_, select, text
from sqlmodel import Session, col

from storage.models import DuplicateSuggestion, Ticket, stored_id
from workflows.duplicates.trigrams import overlap, trigrams
from workflows.flowbook import Duplicates
from workflows.lifecycle import OPEN

PER_PLACE = 30  # newest candidates read per narrowing: a village rarely has more open cases alike
EARTH_M = 6_371_000.0
SAME_NIK = 1.0  # the score of a match by NIK: the same person, whatever the words
SAME_NAME = 0.5  # names this alike (titles left out) are one person's…
NAMED_ALIKE = 0.6  # …and the pair scores at least this
OTHER_NAME = 0.5  # two different names: the words' score counts half
# Words said before a name, not part of it: "Mbah Sarinah" and "Nenek Sarinah" are one name.
TITLES = frozenset(
    [
        "pak",
        "bapak",
        "bu",
        "ibu",
        "mas",
        "mbak",
        "mbah",
        "nenek",
        "kakek",
        "eyang",
        "simbah",
        "adik",
        "dik",
        "anak",
        "bocah",
        "kak",
        "kang",
        "teh",
        "bang",
        "abang",
        "tuan",
        "nyonya",
        "sdr",
        "sdri",
        "saudara",
        "saudari",
        "almarhum",
        "alm",
    ]
)


@dataclass(frozen=True)
class Match:
    candidate_id: int
    score: float
    reasons: tuple[str, ...]


def _words(name: str | None, description: str | None) -> str:
    return f"{name or ''} {description or ''}".strip()


def bare_name(name: str | None) -> str:
    """A person's name without the titles said before it, lower case."""
    return " ".join(w for w in re.findall(r"[^\W_]+", (name or "").lower()) if w not in TITLES)


def judged(text_score: float, name: str | None, other_name: str | None) -> float:
    """The pair's score: the similarity of their words, unless both reports name the person —
    then alike names make it at least NAMED_ALIKE, and different names halve it."""
    return _Judge(name).score(text_score, other_name)


class _Judge:
    """`judged` for one new report against many: its name's trigrams made once."""

    def __init__(self, name: str | None) -> None:
        bare = bare_name(name)
        self.name = trigrams(bare) if bare else None

    def score(self, text_score: float, other_name: str | None) -> float:
        theirs = bare_name(other_name)
        if self.name is None or not theirs:
            return text_score
        if overlap(self.name, trigrams(theirs)) >= SAME_NAME:
            return max(text_score, NAMED_ALIKE)
        return text_score * OTHER_NAME


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_M * math.asin(math.sqrt(h))


def _within(ticket: Ticket, lat: float | None, lon: float | None, radius_m: int) -> bool:
    if ticket.latitude is None or ticket.longitude is None or lat is None or lon is None:
        return False
    return _distance_m(ticket.latitude, ticket.longitude, lat, lon) <= radius_m


def trigram_schema(session: Session) -> str | None:
    """The schema holding pg_trgm's functions, or None where they are not (SQLite, or a
    PostgreSQL on which the migration could not create the extension). Asked once per engine
    (a round trip per filing otherwise): the extension comes with a migration, and a process
    migrates before it serves."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return None
    engine = getattr(bind, "engine", bind)
    if engine not in _TRIGRAM_SCHEMA:
        _TRIGRAM_SCHEMA[engine] = session.execute(
            text(
                "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
                " WHERE e.extname = 'pg_trgm'"
            )
        ).scalar()
    return _TRIGRAM_SCHEMA[engine]


_TRIGRAM_SCHEMA: weakref.WeakKeyDictionary[Any, str | None] = weakref.WeakKeyDictionary()


def _candidates(ticket: Ticket, rules: Duplicates, now: datetime, score: Any) -> list[Select[Any]]:
    """One index-friendly query per way a ticket may be near the new one."""
    columns = (
        col(Ticket.id),
        col(Ticket.person_nik),
        col(Ticket.village_code),
        col(Ticket.latitude),
        col(Ticket.longitude),
        col(Ticket.person_name),
        col(Ticket.description),
        score,
    )
    others = (
        col(Ticket.status).in_(sorted(OPEN)),
        col(Ticket.id) != ticket.id,
        col(Ticket.created_at) >= now - timedelta(days=rules.window_days),
    )
    group = (
        col(Ticket.category_group) == ticket.category_group
        if ticket.category_group is not None
        else col(Ticket.category) == ticket.category
    )
    queries = []
    if ticket.village_code:
        queries.append(
            select(*columns).where(
                *others,
                group,
                col(Ticket.district_code) == ticket.district_code,
                col(Ticket.village_code) == ticket.village_code,
            )
        )
    if ticket.latitude is not None and ticket.longitude is not None:
        dlat = math.degrees(rules.radius_m / EARTH_M)
        dlon = dlat / max(math.cos(math.radians(ticket.latitude)), 0.01)
        queries.append(
            select(*columns).where(
                *others,
                group,
                col(Ticket.latitude).between(ticket.latitude - dlat, ticket.latitude + dlat),
                col(Ticket.longitude).between(ticket.longitude - dlon, ticket.longitude + dlon),
            )
        )
    if ticket.person_nik:
        queries.append(select(*columns).where(*others, col(Ticket.person_nik) == ticket.person_nik))
    return [q.order_by(col(Ticket.created_at).desc()).limit(PER_PLACE) for q in queries]


def find(session: Session, *, ticket: Ticket, rules: Duplicates, now: datetime) -> list[Match]:
    """The open tickets `ticket` may duplicate, best first."""
    words = _words(ticket.person_name, ticket.description)
    schema = trigram_schema(session)
    score: Any = literal(None)
    if schema is not None and words:
        both = func.coalesce(col(Ticket.person_name), "") + " " + func.coalesce(col(Ticket.description), "")
        score = getattr(func, schema).similarity(both, words)
    rows: dict[int, Any] = {}
    for query in _candidates(ticket, rules, now, score.label("score")):
        for row in session.execute(query):
            rows.setdefault(row.id, row)
    mine, judge = trigrams(words), _Judge(ticket.person_name)
    scored: dict[str, float] = {}  # candidates told in the same words are scored once
    matches = []
    for row in rows.values():
        reasons = []
        if ticket.person_nik and row.person_nik == ticket.person_nik:
            reasons.append("nik")
        if ticket.village_code and row.village_code == ticket.village_code:
            reasons.append("village")
        if _within(ticket, row.latitude, row.longitude, rules.radius_m):
            reasons.append("nearby")
        if row.score is not None:
            text_score = float(row.score)
        else:
            theirs = _words(row.person_name, row.description)
            text_score = scored.get(theirs) or scored.setdefault(theirs, overlap(mine, trigrams(theirs)))
        alike = judge.score(text_score, row.person_name)
        if "nik" in reasons:
            matches.append(Match(row.id, SAME_NIK, tuple(reasons)))
        elif reasons and alike >= rules.min_similarity:
            matches.append(Match(row.id, round(float(alike), 4), (*reasons, "words")))
    return sorted(matches, key=lambda m: (-m.score, -m.candidate_id))


def record(session: Session, *, ticket: Ticket, rules: Duplicates, now: datetime) -> list[Match]:
    """Find and keep the suggestions for a ticket just filed (in the filing's transaction)."""
    matches = find(session, ticket=ticket, rules=rules, now=now)
    for match in matches:
        session.add(
            DuplicateSuggestion(
                ticket_id=stored_id(ticket),
                candidate_id=match.candidate_id,
                score=match.score,
                reasons=list(match.reasons),
                created_at=now,
            )
        )
    session.flush()  # the card shown next reads them (sessions here do not autoflush)
    return matches


def suggested(session: Session, *, ticket: Ticket) -> Sequence[Ticket]:
    """The open tickets suggested as the same case as `ticket` (either was filed first), not
    yet linked, newest suggestion first: what its card and case page name."""
    me = stored_id(ticket)
    pairs = select(DuplicateSuggestion).where(
        or_(col(DuplicateSuggestion.ticket_id) == me, col(DuplicateSuggestion.candidate_id) == me)
    )
    other_ids = {s.candidate_id if s.ticket_id == me else s.ticket_id for s in session.execute(pairs).scalars()}
    if not other_ids:
        return []
    return (
        session.execute(
            select(Ticket)
            .where(
                col(Ticket.id).in_(sorted(other_ids)),
                col(Ticket.status).in_(sorted(OPEN)),  # a linked ticket is not open: it follows its case
            )
            .order_by(col(Ticket.id))
        )
        .scalars()
        .all()
    )


def linked(session: Session, *, ticket: Ticket) -> Sequence[Ticket]:
    """The tickets joined to `ticket` (the case worked for them), oldest first."""
    return (
        session.execute(select(Ticket).where(col(Ticket.linked_to_id) == ticket.id).order_by(col(Ticket.id)))
        .scalars()
        .all()
    )
