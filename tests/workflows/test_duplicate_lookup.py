"""The duplicate lookup at filing, on the database under test: what is near enough and alike
enough is suggested, what is elsewhere, closed, of another kind of problem or in other words
is not, and a NIK finds the same person anywhere. On PostgreSQL the words are scored by
pg_trgm's `similarity()`, and the Python measure used elsewhere gives the same numbers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlmodel import Session

from bot.settings import Settings
from storage import repo
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Contact, DuplicateSuggestion, OutboxMessage, Ticket
from workflows import audit
from workflows import staff as records
from workflows.calendar import WorkingCalendar
from workflows.casework.service import Casework
from workflows.duplicates import lookup
from workflows.duplicates.trigrams import similarity
from workflows.flowbook import load_flowbook
from workflows.texts import Texts

NOW = datetime(2026, 11, 23, 10, tzinfo=timezone(timedelta(hours=7)))
GIWANGAN = {"district_code": "34.71.04", "village_code": "34.71.04.1001"}
SARINAH = {
    "category_group": "lansia",
    "category": "lansia_telantar",
    "subject": "other",
    "person_name": "Mbah Sarinah",
    "description": "Nenek tinggal sendiri dan tidak ada yang merawat sejak bulan lalu.",
    **GIWANGAN,
}
SAME_IN_OTHER_WORDS = {
    **SARINAH,
    "person_name": "Nenek Sarinah",
    "description": "Mbah Sarinah sudah tua, hidup sendirian, tidak ada yang merawat.",
}


class Filing:
    def __init__(self, settings: Settings) -> None:
        upgrade(settings.effective_database_url)
        self.db = Database(settings.effective_database_url)
        book = load_flowbook(settings.flows_dir)
        self.casework = Casework(book=book, texts=Texts(), calendar=WorkingCalendar(settings.zone, ()))
        self.people = 0

    def file(self, answers: dict[str, Any], *, at: datetime = NOW) -> Ticket:
        self.people += 1

        def work(session: Session) -> Ticket:
            contact = repo.get_or_create_contact(
                session,
                channel="web",
                external_id=f"w{self.people}",
                chat_id=f"w{self.people}",
                language="id",
                display_name=None,
                now=at,
            )
            return self.casework.open(session, contact=contact, flow="complaint", answers=answers, now=at)

        return self.db.run_sync(work)

    def suggested_for(self, ticket: Ticket) -> list[str]:
        return self.db.run_sync(lambda s: [t.number for t in lookup.suggested(s, ticket=s.get(Ticket, ticket.id))])

    def reasons(self, ticket: Ticket) -> list[list[str]]:
        rows = self.db.run_sync(
            lambda s: (
                s.execute(select(DuplicateSuggestion).where(DuplicateSuggestion.ticket_id == ticket.id)).scalars().all()
            )
        )
        return [r.reasons for r in rows]


@pytest.fixture
def filing(settings: Settings) -> Iterator[Filing]:
    made = Filing(settings)
    yield made
    made.db.close()


def test_the_same_person_in_other_words_in_the_same_village_is_suggested(filing: Filing) -> None:
    first = filing.file(SARINAH)
    second = filing.file(SAME_IN_OTHER_WORDS, at=NOW + timedelta(days=3))
    assert filing.suggested_for(second) == [first.number]
    assert filing.suggested_for(first) == [second.number]  # and on the first one's card too
    assert filing.reasons(second) == [["village", "words"]]


def test_other_words_another_village_another_group_or_a_closed_case_are_not(filing: Filing) -> None:
    first = filing.file(SARINAH)
    unrelated = filing.file(
        {**SARINAH, "person_name": None, "description": "Anak putus sekolah, butuh bantuan seragam."}
    )
    elsewhere = filing.file({**SAME_IN_OTHER_WORDS, "district_code": "34.71.01", "village_code": "34.71.01.1001"})
    other_group = filing.file(
        {**SAME_IN_OTHER_WORDS, "category_group": "disabilitas", "category": "disabilitas_dewasa"}
    )
    too_late = filing.file(SAME_IN_OTHER_WORDS, at=NOW + timedelta(days=61))
    assert [filing.suggested_for(t) for t in (unrelated, elsewhere, other_group, too_late)] == [[], [], [], []]

    def close(session: Session) -> None:
        session.get(Ticket, first.id).status = "closed"

    filing.db.run_sync(close)
    assert first.number not in filing.suggested_for(filing.file(SAME_IN_OTHER_WORDS))


def test_a_map_point_nearby_across_a_village_boundary_or_the_same_nik_is_suggested(filing: Filing) -> None:
    first = filing.file({**SARINAH, "location": {"lat": -7.8305, "lon": 110.3920}})
    nearby = filing.file(
        {**SAME_IN_OTHER_WORDS, "village_code": "34.71.04.1002", "location": {"lat": -7.8320, "lon": 110.3930}}
    )
    assert filing.suggested_for(nearby) == [first.number] and filing.reasons(nearby) == [["nearby", "words"]]
    far = filing.file(
        {**SAME_IN_OTHER_WORDS, "village_code": "34.71.04.1002", "location": {"lat": -7.8500, "lon": 110.4100}}
    )
    assert filing.suggested_for(far) == [nearby.number] or filing.suggested_for(far) == []
    assert first.number not in filing.suggested_for(far)

    nik = "3471045708460001"
    known = filing.file({**SARINAH, "person_nik": nik, "description": "Butuh kursi roda."})
    again = filing.file(
        {
            **SARINAH,
            "category_group": "disabilitas",
            "category": "disabilitas_dewasa",
            "district_code": "34.71.01",
            "village_code": "34.71.01.1001",
            "person_nik": nik,
            "description": "Minta didaftarkan PBI.",
        }
    )
    assert known.number in filing.suggested_for(again) and ["nik"] in filing.reasons(again)


def test_postgresql_scores_with_pg_trgm_and_python_gives_the_same_numbers(filing: Filing) -> None:
    schema = filing.db.run_sync(lookup.trigram_schema)
    if filing.db.is_sqlite:
        assert schema is None  # the Python measure: the tests above ran on it
        return
    assert schema is not None, "the migration creates pg_trgm where the role may"
    pairs = [
        (SARINAH["description"], SAME_IN_OTHER_WORDS["description"]),
        ("ODGJ mengamuk di pasar Giwangan", "orang gangguan jiwa ngamuk dekat pasar"),
        ("Bapak Slamet, 70 th, sakit", "bapak slamet (70) sakit-sakitan"),
        ("", "apa saja"),
    ]

    def scored(session: Session) -> list[float]:
        return [
            session.execute(text(f"SELECT {schema}.similarity(:a, :b)"), {"a": a, "b": b}).scalar_one()
            for a, b in pairs
        ]

    assert [round(s, 5) for s in filing.db.run_sync(scored)] == [round(similarity(a, b), 5) for a, b in pairs]


def test_a_rejected_case_takes_its_linked_reports_with_it_and_tells_each_reporter(filing: Filing) -> None:
    first = filing.file(SARINAH)
    second = filing.file(SAME_IN_OTHER_WORDS, at=NOW + timedelta(days=1))
    book = filing.casework.book

    def work(session: Session) -> list[tuple[str, str]]:
        scope = records.check_scope(book, role="supervisor", team=None, districts=["34.71.04"], categories=[])
        sri = records.add_staff(
            session,
            book=book,
            name="Sri",
            scope=scope,
            telegram_user_id=None,
            whatsapp_number=None,
            language="id",
            by=audit.CLI,
            now=NOW,
        )
        case, follower = session.get(Ticket, first.id), session.get(Ticket, second.id)
        filing.casework.link_duplicate(session, sri, follower, case.id, NOW)
        filing.casework.reject(session, sri, case, "not_authority", "Ditangani Dinsos provinsi.", NOW)
        session.flush()
        told = []
        for ticket in (case, follower):
            contact = session.get(Contact, ticket.reporter_contact_id)
            last = (
                session.execute(
                    select(OutboxMessage)
                    .where(OutboxMessage.contact_id == contact.id)
                    .order_by(OutboxMessage.id.desc())
                )
                .scalars()
                .first()
            )
            told.append((ticket.status, last.payload["text"]))
        return told

    (case_status, case_text), (follower_status, follower_text) = filing.db.run_sync(work)
    assert (case_status, follower_status) == ("rejected", "rejected")
    assert first.number in case_text and second.number in follower_text and "Dinsos provinsi" in follower_text
    assert first.number not in follower_text
