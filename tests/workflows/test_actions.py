"""The action table: every ticket action it declares can be carried out from the chat card (by
pressing its button and answering its questions) and from the console's form, by whoever the
table says may take it, in a status it allows; and is refused to anyone else, or in another
status, in both places — with nothing changed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlmodel import Session

from bot.console import case_pages
from bot.settings import Settings
from storage import repo
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Conversation, Staff, Ticket, TicketEvent
from workflows import audit
from workflows import staff as records
from workflows.calendar import WorkingCalendar
from workflows.casework import cards
from workflows.casework.actions import ACTIONS, TABLE, choices
from workflows.casework.desk import Desk
from workflows.casework.service import Casework, Refused
from workflows.engine import Inbound, Say
from workflows.flowbook import load_flowbook
from workflows.lifecycle import IllegalTransition
from workflows.staff import contact_for_staff
from workflows.texts import Texts

NOW = datetime(2026, 11, 23, 10, tzinfo=timezone(timedelta(hours=7)))
UMBULHARJO = "34.71.04"
ANSWERS = {
    "category_group": "lansia",
    "category": "lansia_telantar",
    "subject": "other",
    "person_name": "Mbah Sarinah",
    "district_code": UMBULHARJO,
    "village_code": "34.71.04.1001",
    "address": "Jl. Imogiri Timur",
    "description": "Nenek tinggal sendiri tanpa yang merawat.",
}
# What each action leaves on the ticket's record.
RECORDED = {
    "accept": "accept",
    "ask_citizen": "ask_citizen",
    "refer": "refer",
    "resolve": "resolve",
    "reject": "reject",
    "return": "return",
    "referral": "referral_acknowledged",
    "note": "note",
    "reassign": "assign",
    "reopen": "reopen",
    "link_duplicate": "link",
    "unlink": "unlink",
}
# Who takes each action, and what happens to the ticket first so that it may.
READY: dict[str, tuple[str, tuple[str, ...]]] = {
    "accept": ("budi", ()),
    "note": ("budi", ()),
    "reassign": ("sri", ()),
    "ask_citizen": ("budi", ("accept",)),
    "refer": ("budi", ("accept",)),
    "resolve": ("budi", ("accept",)),
    "reject": ("budi", ("accept",)),
    "return": ("budi", ("accept",)),
    "referral": ("budi", ("accept", "refer")),
    "reopen": ("sri", ("accept", "resolve")),
    # "earlier": the same report was filed before, so the new one may be linked to it.
    "link_duplicate": ("budi", ("earlier",)),
    "unlink": ("sri", ("earlier", "link_duplicate")),
}


class World:
    def __init__(self, settings: Settings) -> None:
        upgrade(settings.effective_database_url)
        self.db = Database(settings.effective_database_url)
        book = load_flowbook(settings.flows_dir)
        self.casework = Casework(
            book=book, texts=Texts(), calendar=WorkingCalendar(settings.zone, book.settings.office_days_off)
        )
        self.desk = Desk(self.casework, ttl=timedelta(hours=1), console_url="https://satupintu.example/console")
        # Wati is on leave, so every new report is routed to Budi; she still sees her district's cases.
        self.staff = {
            name: self._hire(name, role, status)
            for name, role, status in (
                ("budi", "officer", "active"),
                ("sri", "supervisor", "active"),
                ("wati", "officer", "away"),
            )
        }
        self.citizens = 0

    def _hire(self, name: str, role: str, status: str) -> int:
        book = self.casework.book

        def add(session: Session) -> int:
            scope = records.check_scope(book, role=role, team=None, districts=[UMBULHARJO], categories=[])
            staff = records.add_staff(
                session,
                book=book,
                name=name.title(),
                scope=scope,
                language="id",
                now=NOW,
                by=audit.CLI,
                telegram_user_id=str(7000 + len(name) * 10 + ord(name[0])),
                whatsapp_number=None,
            )
            staff.status = status
            session.flush()
            return staff.id  # type: ignore[return-value]

        return self.db.run_sync(add)

    def ticket(self, before: tuple[str, ...]) -> int:
        """A new report, routed to Budi, with `before` done to it by him."""
        earlier = self.ticket(()) if "earlier" in before else None
        self.citizens += 1

        def work(session: Session) -> int:
            contact = repo.get_or_create_contact(
                session,
                channel="web",
                external_id=f"web-{self.citizens}",
                chat_id=f"web-{self.citizens}",
                language="id",
                display_name=None,
                now=NOW,
            )
            ticket = self.casework.open(session, contact=contact, flow="complaint", answers=ANSWERS, now=NOW)
            budi = session.get(Staff, self.staff["budi"])
            for name in (n for n in before if n != "earlier"):
                values = {
                    "agency": "disdukcapil",
                    "request": "Mohon perekaman KTP-el.",
                    "resolution": "Sudah dibantu.",
                    "case": str(earlier),
                }
                ACTIONS[name].do(self.casework, session, budi, ticket, values, NOW)
            return ticket.id  # type: ignore[return-value]

        return self.db.run_sync(work)

    def recorded(self, ticket_id: int, kind: str) -> int:
        return len(
            self.db.run_sync(
                lambda s: (
                    s.execute(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind == kind))
                    .scalars()
                    .all()
                )
            )
        )

    def status(self, ticket_id: int) -> str:
        return self.db.run_sync(lambda s: s.get(Ticket, ticket_id).status)

    # ------------------------------------------------------------------ the chat
    def card(self, who: str, ticket_id: int) -> Say:
        return self.db.run_sync(
            lambda s: self.casework.card(s, s.get(Staff, self.staff[who]), s.get(Ticket, ticket_id), NOW)
        )

    def chat(self, who: str, event: Inbound) -> list[Say]:
        def work(session: Session) -> list[Say]:
            staff = session.get(Staff, self.staff[who])
            contact = contact_for_staff(session, staff, NOW)
            assert contact is not None
            conversation = (
                session.execute(select(Conversation).where(Conversation.contact_id == contact.id)).scalars().first()
            )
            if conversation is None:
                conversation = Conversation(contact_id=contact.id, updated_at=NOW)  # type: ignore[arg-type]
                session.add(conversation)
            return self.desk.handle(session, staff, conversation, event, NOW)

        return self.db.run_sync(work)

    def press_and_answer(self, who: str, ticket_id: int, action: str) -> list[Say]:
        """Press the action's card button, then answer every question: the first choice, or a text."""
        [button] = [o.value for o in self.card(who, ticket_id).options if o.value.startswith(action + ":")]
        says = self.chat(who, Inbound(kind="choice", value=button, step=cards.CARD_STEP))
        while says and says[-1].key in ("desk/ask_text", "desk/choose"):
            last = says[-1]
            if last.key == "desk/choose":
                says = self.chat(who, Inbound(kind="choice", value=last.options[0].value, step=last.step))
            else:
                says = self.chat(who, Inbound(kind="text", text="Sudah ditangani sesuai permintaan."))
        return says

    # ------------------------------------------------------------------ the console
    def console_actions(self, who: str, ticket_id: int) -> frozenset[str]:
        def look(session: Session) -> frozenset[str]:
            number = session.get(Ticket, ticket_id).number
            view = case_pages.load_case(
                session,
                casework=self.casework,
                staff=session.get(Staff, self.staff[who]),
                number=number,
                now=NOW,
                secret=b"s" * 32,
            )
            assert isinstance(view, case_pages.CaseView)
            return view.actions

        return self.db.run_sync(look)

    def post(self, who: str, ticket_id: int, action: str) -> str:
        """Fill the action's form as the page offers it (the first option of each choice) and send it."""

        def work(session: Session) -> str:
            staff, ticket = session.get(Staff, self.staff[who]), session.get(Ticket, ticket_id)
            form: dict[str, str] = {}
            for item in ACTIONS[action].inputs:
                if item.source is not None:
                    offered_now = choices(self.casework, session, staff, ticket, item.source, form)
                    form[item.name] = offered_now[0].value if offered_now else "1"
                else:
                    form[item.name] = "Sudah ditangani sesuai permintaan."
            values, problem = case_pages.read_fields(form, action)
            assert problem is None
            return case_pages.act(
                session,
                casework=self.casework,
                staff=staff,
                number=ticket.number,
                action=action,
                version=ticket.version,
                values=values,
                now=NOW,
            )

        return self.db.run_sync(work)


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    made = World(settings)
    yield made
    made.db.close()


def test_the_table_names_every_action_once_and_its_questions_once() -> None:
    assert [a.name for a in TABLE] == list(ACTIONS) and set(ACTIONS) == set(READY)
    steps = [item.step for action in TABLE for item in action.inputs]
    assert len(steps) == len(set(steps)), "a pending chat question must name one action's one input"


@pytest.mark.parametrize("action", [a.name for a in TABLE if a.button])
def test_each_card_action_is_carried_out_from_the_chat(world: World, action: str) -> None:
    who, before = READY[action]
    ticket_id = world.ticket(before)
    says = world.press_and_answer(who, ticket_id, action)
    assert [s.key for s in says][-1] in ("desk/card", "desk/done"), says
    assert world.recorded(ticket_id, RECORDED[action]) == (2 if action == "reassign" else 1)


@pytest.mark.parametrize("action", list(ACTIONS))
def test_each_action_is_carried_out_from_the_console(world: World, action: str) -> None:
    who, before = READY[action]
    ticket_id = world.ticket(before)
    assert action in world.console_actions(who, ticket_id)
    assert world.post(who, ticket_id, action) == "done"
    assert world.recorded(ticket_id, RECORDED[action]) == (2 if action == "reassign" else 1)


def test_what_is_offered_is_the_same_on_the_card_and_the_page(world: World) -> None:
    for before in ((), ("accept",), ("accept", "refer"), ("accept", "resolve")):
        ticket_id = world.ticket(before)
        for who in world.staff:
            on_card = {o.value.split(":")[0] for o in world.card(who, ticket_id).options}
            on_page = world.console_actions(who, ticket_id)
            assert on_card == {name for name in on_page if ACTIONS[name].button}, (before, who)


def test_an_officer_who_does_not_own_the_case_is_offered_notes_only_and_refused_the_rest(world: World) -> None:
    ticket_id = world.ticket(("accept",))
    assert world.console_actions("wati", ticket_id) == {"note"}
    for action in ("resolve", "reject", "refer", "ask_citizen", "reassign"):
        forged = f"{action}:{ticket_id}:{world.db.run_sync(lambda s: s.get(Ticket, ticket_id).version)}"
        [said] = world.chat("wati", Inbound(kind="choice", value=forged, step=cards.CARD_STEP))
        assert said.key == "desk/denied"
        assert world.post("wati", ticket_id, action) == "denied"
    assert world.status(ticket_id) == "in_progress"
    assert world.recorded(ticket_id, "access_denied") == 10


def test_an_action_the_status_does_not_allow_is_refused_in_both_places(world: World) -> None:
    ticket_id = world.ticket(("accept",))
    version = world.db.run_sync(lambda s: s.get(Ticket, ticket_id).version)
    [said] = world.chat("budi", Inbound(kind="choice", value=f"accept:{ticket_id}:{version}", step=cards.CARD_STEP))
    assert said.key == "desk/illegal" and said.context["status"] == "in_progress"
    with pytest.raises(IllegalTransition):
        world.post("budi", ticket_id, "reopen")
    assert world.recorded(ticket_id, "accept") == 1 and world.status(ticket_id) == "in_progress"


def test_an_acknowledged_referral_is_not_acknowledged_again(world: World) -> None:
    """The answers a referral may still get are the same in the chat and on the page."""
    ticket_id = world.ticket(("accept", "refer"))
    world.press_and_answer("budi", ticket_id, "referral")  # the first answer offered: acknowledged

    def answers(session: Session) -> list[str]:
        staff, ticket = session.get(Staff, world.staff["budi"]), session.get(Ticket, ticket_id)
        [referral] = choices(world.casework, session, staff, ticket, "open_referrals", {})
        return [
            c.value
            for c in choices(world.casework, session, staff, ticket, "referral_statuses", {"referral": referral.value})
        ]

    assert world.db.run_sync(answers) == ["done", "declined"]


def test_a_choice_no_longer_on_offer_is_refused_on_the_page(world: World) -> None:
    ticket_id = world.ticket(())

    def forged(session: Session) -> None:
        staff, ticket = session.get(Staff, world.staff["sri"]), session.get(Ticket, ticket_id)
        case_pages.act(
            session,
            casework=world.casework,
            staff=staff,
            number=ticket.number,
            action="reassign",
            version=ticket.version,
            values={"officer": str(world.staff["sri"])},
            now=NOW,
        )

    with pytest.raises(Refused) as refused:
        world.db.run_sync(forged)
    assert refused.value.reason == "no_longer_offered"
    assert world.recorded(ticket_id, "assign") == 1
