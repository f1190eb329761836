"""`/datasaya` (`/mydata`): a citizen sees what the office holds about them, corrects a field,
withdraws consent or asks for erasure, in the chat they filed from.

Who may see it: the same chat (the contact the tickets were filed from, never another's)
plus the last four digits of a phone number or NIK they gave on one of those tickets, so a
borrowed or lost unlocked phone is not enough. Three wrong answers lock the dialogue for half
an hour; the reply never says which number nearly matched. A chat whose tickets carry neither
number has nothing to check against but the chat itself.

The dialogue's place is the conversation's `extra` (RIGHTS: this session; LOCK: failures,
kept across sessions), beside the engine's own state; the engine only opens it (the command
and the menu entry, effect `OpenDataRights`). Its buttons carry the step `rights`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from storage.models import Contact, Ticket, stored_id
from workflows.engine import Inbound, Option, Say
from workflows.engine.words import fold
from workflows.lifecycle import OPEN
from workflows.privacy import requests
from workflows.privacy.corrections import apply, checked, fields
from workflows.privacy.erasure import is_erased
from workflows.privacy.held import TICKETS_SHOWN, chat_facts, held_facts, moment
from workflows.services import Services
from workflows.validation import answers as checks

RIGHTS, LOCK = "rights", "rights_lock"  # the conversation's extra keys
STEP = "rights"
MAX_TRIES = 3
LOCKED_FOR = timedelta(minutes=30)
IDLE_FOR = timedelta(minutes=30)  # a verified session lasts this long after the last message
ACTIONS = ("correct", "withdraw", "erase", "done")


@dataclass
class Turn:
    """What one message did: the replies, the session after it (None: ended), the lock, files."""

    says: list[Say]
    session: dict[str, Any] | None
    lock: dict[str, Any]
    files: list[str] = field(default_factory=list)


class DataRights:
    """The dialogue, on the process's services (texts, calendar, case workflows, flow book)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    # ------------------------------------------------------------------ entry
    def start(self, session: Session, contact: Contact, lock: Mapping[str, Any], now: datetime) -> Turn:
        return self._offers(self._start(session, contact, _current_lock(lock, now), now))

    def _start(self, session: Session, contact: Contact, lock: dict[str, Any], now: datetime) -> Turn:
        if lock.get("until"):
            return Turn([self._locked(lock, now)], None, lock)
        tickets = requests.tickets_of(session, contact)
        if not tickets:
            return Turn([Say("privacy/nothing_held", chat_facts(self.services, contact))], None, lock)
        if not _secrets(tickets):  # nothing they gave to check against: the chat is all there is
            return self._verified(session, contact, tickets, lock, now)
        return Turn([Say("privacy/ask_digits", step=STEP)], {"stage": "verify", "until": _iso(now + IDLE_FOR)}, lock)

    def handle(
        self,
        session: Session,
        contact: Contact,
        state: Mapping[str, Any],
        lock: Mapping[str, Any],
        event: Inbound,
        now: datetime,
    ) -> Turn:
        """A message inside the dialogue (the caller hands commands and other buttons to the engine)."""
        return self._offers(self._handle(session, contact, state, _current_lock(lock, now), event, now))

    def _offers(self, turn: Turn) -> Turn:
        """Remember the buttons just offered, in both languages, so their label typed chooses too."""
        says = [s for s in turn.says if s.options]
        if turn.session is not None and says:
            titles = {
                o.value: [self.services.texts.option(o, lang).title for lang in ("id", "en")] for o in says[-1].options
            }
            turn.session = {**turn.session, "offered": titles}
        return turn

    def _handle(
        self,
        session: Session,
        contact: Contact,
        state: Mapping[str, Any],
        lock: dict[str, Any],
        event: Inbound,
        now: datetime,
    ) -> Turn:
        stage = state.get("stage")
        if stage == "verify":
            return self._verify(session, contact, lock, event, now)
        choice = self._choice(event, state)
        if stage == "menu":
            return self._menu_choice(session, contact, state, lock, choice, now)
        if stage == "ticket":
            return self._pick_ticket(session, contact, state, lock, choice, now)
        if stage == "field":
            return self._pick_field(session, contact, state, lock, choice, now)
        if stage == "value":
            return self._correct(session, contact, state, lock, event, now)
        if stage == "confirm":
            return self._confirm(session, contact, state, lock, choice, now)
        return Turn([], None, lock)

    # ------------------------------------------------------------------ verification
    def _verify(self, session: Session, contact: Contact, lock: dict[str, Any], event: Inbound, now: datetime) -> Turn:
        typed = re.sub(r"\D", "", event.text or "") if event.kind == "text" else ""
        tickets = requests.tickets_of(session, contact)
        if len(typed) != 4:
            return Turn([Say("privacy/digits_format", step=STEP)], _stage("verify", now), lock)
        if typed in _secrets(tickets):
            return self._verified(session, contact, tickets, {}, now)
        failures = int(lock.get("failures", 0)) + 1
        if failures >= MAX_TRIES:
            locked = {"failures": failures, "until": _iso(now + LOCKED_FOR)}
            return Turn([self._locked(locked, now)], None, locked)
        left = MAX_TRIES - failures
        wrong = Say("privacy/wrong_digits", {"left": left}, step=STEP)
        return Turn([wrong], _stage("verify", now), {"failures": failures, "last": _iso(now)})

    def _verified(
        self, session: Session, contact: Contact, tickets: Sequence[Ticket], lock: dict[str, Any], now: datetime
    ) -> Turn:
        """They are who filed: what is held, recorded as an access request answered at once."""
        requests.record(session, contact=contact, kind="access", tickets=tickets, now=now)
        held = Say("privacy/held", held_facts(self.services, session, contact, tickets))
        return Turn([held, self._actions()], _stage("menu", now), lock)

    def _locked(self, lock: Mapping[str, Any], now: datetime) -> Say:
        until = datetime.fromisoformat(lock["until"])
        return Say("privacy/locked", {"minutes": max(1, math.ceil((until - now).total_seconds() / 60))})

    # ------------------------------------------------------------------ the choices
    def _actions(self) -> Say:
        options = tuple(Option(f"{STEP}:{a}", label_key=f"rights_{a}") for a in ACTIONS)
        return Say("privacy/actions", options=options, step=STEP)

    def _choice(self, event: Inbound, state: Mapping[str, Any]) -> str | None:
        """The value chosen: a button of ours, or its label typed (the SMS number is the channel's)."""
        if event.kind == "choice":
            return event.value
        if event.kind != "text" or not event.text:
            return None
        typed = fold(event.text)
        for value, labels in (state.get("offered") or {}).items():
            if typed in (fold(label) for label in labels):
                return str(value)
        return None

    def _menu_choice(
        self,
        session: Session,
        contact: Contact,
        state: Mapping[str, Any],
        lock: dict[str, Any],
        choice: str | None,
        now: datetime,
    ) -> Turn:
        action = choice.removeprefix(f"{STEP}:") if choice else None
        if action == "done":
            return Turn([Say("privacy/bye")], None, lock)
        if action in ("withdraw", "erase"):
            tickets = requests.tickets_of(session, contact)
            kept = [t.number for t in tickets if t.status in OPEN and not is_erased(t)]
            options = (Option(f"{STEP}:yes", label_key="rights_yes"), Option(f"{STEP}:no", label_key="rights_no"))
            say = Say("privacy/confirm", {"kind": action, "kept": kept}, options, step=STEP)
            return Turn([say], {**_stage("confirm", now), "action": action}, lock)
        if action == "correct":
            return self._ask_ticket(session, contact, lock, now)
        return self._again(lock, now)

    def _again(self, lock: dict[str, Any], now: datetime) -> Turn:
        """Not one of the choices: the choices again (a web chat shows only the last message's buttons)."""
        return Turn([Say("errors/choose_option"), self._actions()], _stage("menu", now), lock)

    def _confirm(
        self,
        session: Session,
        contact: Contact,
        state: Mapping[str, Any],
        lock: dict[str, Any],
        choice: str | None,
        now: datetime,
    ) -> Turn:
        if choice == f"{STEP}:no":
            return Turn([Say("privacy/not_changed"), self._actions()], _stage("menu", now), lock)
        if choice != f"{STEP}:yes":
            return self._again(lock, now)
        request, files = requests.withdraw_or_erase(
            session, self.services.casework, contact=contact, kind=state["action"], now=now
        )
        context = {
            "kind": request.kind,
            "erased": request.detail.get("erased", []),
            "kept": request.detail.get("kept", []),
            "due": moment(self.services, request.due_at),
        }
        return Turn([Say("privacy/request_received", context)], None, lock, files)

    # ------------------------------------------------------------------ correcting a field
    def _correctable(self, session: Session, contact: Contact) -> list[Ticket]:
        return [t for t in requests.tickets_of(session, contact)[:TICKETS_SHOWN] if not is_erased(t)]

    def _ask_ticket(self, session: Session, contact: Contact, lock: dict[str, Any], now: datetime) -> Turn:
        tickets = self._correctable(session, contact)
        if not tickets:
            return Turn([Say("privacy/nothing_to_correct"), self._actions()], _stage("menu", now), lock)
        options = tuple(Option(f"{STEP}:t{t.id}", label={"id": t.number, "en": t.number}) for t in tickets)
        say = Say("privacy/which_ticket", options=options, step=STEP)
        return Turn([say], _stage("ticket", now), lock)

    def _pick_ticket(
        self,
        session: Session,
        contact: Contact,
        state: Mapping[str, Any],
        lock: dict[str, Any],
        choice: str | None,
        now: datetime,
    ) -> Turn:
        by_value = {f"{STEP}:t{t.id}": t for t in self._correctable(session, contact)}
        ticket = by_value.get(choice or "")
        if ticket is None:
            return self._again(lock, now)
        steps = fields(self.services.book, ticket)
        if not steps:
            return Turn([Say("privacy/nothing_to_correct"), self._actions()], _stage("menu", now), lock)
        options = tuple(Option(f"{STEP}:f{key}", label=s.title.as_dict()) for key, s in steps.items() if s.title)
        say = Say("privacy/which_field", {"number": ticket.number}, options, step=STEP)
        return Turn([say], {**_stage("field", now), "ticket": ticket.id}, lock)

    def _own(self, session: Session, contact: Contact, ticket_id: Any) -> Ticket | None:
        ticket = session.get(Ticket, int(ticket_id)) if ticket_id is not None else None
        ok = ticket is not None and ticket.reporter_contact_id == stored_id(contact) and not is_erased(ticket)
        return ticket if ok else None

    def _pick_field(
        self,
        session: Session,
        contact: Contact,
        state: Mapping[str, Any],
        lock: dict[str, Any],
        choice: str | None,
        now: datetime,
    ) -> Turn:
        ticket = self._own(session, contact, state.get("ticket"))
        key = (choice or "").removeprefix(f"{STEP}:f")
        step = fields(self.services.book, ticket).get(key) if ticket is not None else None
        if ticket is None or step is None or step.title is None:
            return self._again(lock, now)
        say = Say(
            "privacy/ask_value", {"number": ticket.number, "field": step.title.as_dict(), "type": step.type}, step=STEP
        )
        return Turn([say], {**_stage("value", now), "ticket": ticket.id, "field": key}, lock)

    def _correct(
        self,
        session: Session,
        contact: Contact,
        state: Mapping[str, Any],
        lock: dict[str, Any],
        event: Inbound,
        now: datetime,
    ) -> Turn:
        ticket = self._own(session, contact, state.get("ticket"))
        step = fields(self.services.book, ticket).get(state.get("field", "")) if ticket is not None else None
        if ticket is None or step is None or step.title is None:
            return self._again(lock, now)
        if event.kind != "text" or not event.text:
            return Turn([Say("errors/expected_text")], {**state, "until": _iso(now + IDLE_FOR)}, lock)
        value = checked(self.services, step, event.text, now)
        if isinstance(value, checks.Invalid):
            return Turn([Say(f"errors/{value.reason}", value.context)], {**state, "until": _iso(now + IDLE_FOR)}, lock)
        apply(self.services, session, contact, ticket, step, value, now)
        done = Say("privacy/corrected", {"number": ticket.number, "field": step.title.as_dict()})
        return Turn([done, self._actions()], _stage("menu", now), lock)


def _secrets(tickets: Sequence[Ticket]) -> set[str]:
    """The last four digits of every phone number and NIK given on the tickets (erased ones gave theirs up)."""
    numbers = [n for t in tickets for n in (t.reporter_phone, t.person_nik) if n]
    return {re.sub(r"\D", "", n)[-4:] for n in numbers if len(re.sub(r"\D", "", n)) >= 4}


def _stage(stage: str, now: datetime) -> dict[str, Any]:
    return {"stage": stage, "until": _iso(now + IDLE_FOR)}


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _current_lock(lock: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The lock as it stands: a lock whose time is up is gone, and its failures with it; so are
    a miss or two that long ago (a slip last month does not count towards today's three)."""
    until = lock.get("until") or (lock.get("last") and _iso(datetime.fromisoformat(lock["last"]) + LOCKED_FOR))
    if until and datetime.fromisoformat(until) <= now:
        return {}
    return dict(lock)


def expired(state: Mapping[str, Any], now: datetime) -> bool:
    until = state.get("until")
    return not until or datetime.fromisoformat(until) <= now
