"""Working a ticket: every action an officer, supervisor or citizen takes on a case.

Each action checks access, moves the ticket through the lifecycle table (an illegal move raises
`IllegalTransition`), records an audit event, bumps the ticket's version (so old cards go stale)
and queues the messages it causes for the people it concerns, in their own language, in the
caller's transaction. An officer's action returns an `Outcome` (what happened), which the chat
turns into a card or a confirmation and the console into a redirect; it knows no channel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from storage import outbox, repo
from storage.models import Attachment, Contact, Referral, Staff, SurveyResponse, Ticket, stored_id
from workflows import ikm, sla, survey_links
from workflows.calendar import WorkingCalendar
from workflows.casework import access, cards, on_call, routing
from workflows.casework.actions import OPEN_REFERRAL, REFERRAL_STATUSES, Outcome, access_rule
from workflows.duplicates import lookup
from workflows.engine import Option, Say
from workflows.flowbook import FlowBook
from workflows.lifecycle import OPEN, IllegalTransition, next_status
from workflows.staff import contact_for_staff, contacts_for_staff
from workflows.texts import Texts
from workflows.tickets import open_ticket
from workflows.validation.redaction import redact

log = logging.getLogger(__name__)


class Denied(Exception):
    """The staff member may not do this to this ticket (logged and put in the audit trail)."""


class Refused(Exception):
    """A request that does not apply: not their ticket, too late, already done, a choice that
    is no longer on offer. `reason` names the template variant that explains it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def actor_of(staff: Staff) -> str:
    return f"staff:{staff.id}"


@dataclass
class Casework:
    book: FlowBook
    texts: Texts
    calendar: WorkingCalendar
    console_url: str = ""  # the server's address, for links to a case page in staff messages

    # ------------------------------------------------------------------ plumbing
    def send(
        self, session: Session, contact: Contact, says: Sequence[Say], now: datetime, dedupe_key: str | None = None
    ) -> int:
        """Queue messages to someone, rendered in their language (the one swappable send).
        Returns how many were queued (none when `dedupe_key` was used before)."""
        return len(
            outbox.enqueue_many(
                session,
                channel=contact.channel,
                chat_id=contact.chat_id,
                contact_id=contact.id,
                dedupe_key=dedupe_key,
                payloads=[self.texts.message(say, contact.language).to_json() for say in says],
                now=now,
            )
        )

    def tell_staff(
        self,
        session: Session,
        staff: Staff,
        says: Sequence[Say],
        now: datetime,
        dedupe_key: str | None = None,
        *,
        every_chat: bool = False,
    ) -> int:
        """Queue messages to a staff member's chat, or (`every_chat`, an urgent alert) to each
        chat they have, each under its own dedupe key."""
        contacts = contacts_for_staff(session, staff, now) if every_chat else [contact_for_staff(session, staff, now)]
        reachable = [c for c in contacts if c is not None]
        if not reachable:
            log.warning("staff %s has no chat to reach them", staff.id)
            return 0
        return sum(
            self.send(session, c, says, now, f"{dedupe_key}:{c.channel}" if dedupe_key and every_chat else dedupe_key)
            for c in reachable
        )

    def tell_citizen(
        self, session: Session, ticket: Ticket, say: Say, now: datetime, dedupe_key: str | None = None
    ) -> int:
        reporter = session.get(Contact, ticket.reporter_contact_id)
        if reporter is None:
            return 0
        queued = self.send(session, reporter, [say], now, dedupe_key)
        ticket.citizen_updated_at = now
        return queued

    def tell_reporters(self, session: Session, ticket: Ticket, say_for: Callable[[Ticket], Say], now: datetime) -> None:
        """News of a case for everyone who reported it: its own reporter, and the reporter of
        each ticket linked to it, each under their own ticket number (`say_for(their ticket)`),
        none told who else reported it."""
        for own in (ticket, *self.joined(session, ticket)):
            self.tell_citizen(session, own, say_for(own), now)

    @staticmethod
    def joined(session: Session, ticket: Ticket) -> list[Ticket]:
        """The tickets linked to `ticket` and still following it (a link made earlier in this
        unit of work counts: the session does not autoflush)."""
        session.flush()
        return [t for t in lookup.linked(session, ticket=ticket) if t.status == "linked"]

    def _move(
        self,
        session: Session,
        ticket: Ticket,
        action: str,
        *,
        actor: str,
        now: datetime,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """One lifecycle step: the new status, the service-standard stages it meets, the audit."""
        before = ticket.status
        ticket.status = next_status(before, action)
        if action in ("reopen", "unlink"):  # its own case again: deadlines counted from now
            sla.plan(ticket, book=self.book, calendar=self.calendar, now=now)
        else:
            sla.meet(ticket, action, now)
        self._touch(
            session,
            ticket,
            kind=action,
            actor=actor,
            now=now,
            data={"from": before, "to": ticket.status, **(data or {})},
        )

    def _touch(
        self,
        session: Session,
        ticket: Ticket,
        *,
        kind: str,
        actor: str,
        now: datetime,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        ticket.version += 1
        ticket.updated_at = now
        repo.add_event(session, ticket_id=ticket.id, actor=actor, kind=kind, at=now, data=dict(data or {}))  # type: ignore[arg-type]

    def _deny(self, session: Session, staff: Staff, ticket: Ticket, action: str, now: datetime) -> Denied:
        log.warning("refused: staff %s (%s) %s on ticket %s", staff.id, staff.role, action, ticket.number)
        repo.add_event(
            session,
            ticket_id=stored_id(ticket),
            actor=actor_of(staff),
            kind="access_denied",
            at=now,
            data={"action": action},
        )
        return Denied(action)

    def _check(self, session: Session, staff: Staff, ticket: Ticket, action: str, now: datetime) -> None:
        if not access_rule(action)(staff, ticket):
            raise self._deny(session, staff, ticket, action, now)

    # ------------------------------------------------------------------ reading
    def find(
        self,
        session: Session,
        staff: Staff,
        *,
        number: str | None = None,
        ticket_id: int | None = None,
        now: datetime,
        action: str = "view",
    ) -> Ticket | None:
        """A ticket the staff member may `action`; None when there is no such ticket; Denied
        (logged) when there is one they may not touch."""
        if ticket_id is not None:
            ticket = session.get(Ticket, ticket_id, with_for_update=True)
        else:
            ticket = (
                session.execute(select(Ticket).where(col(Ticket.number) == number).with_for_update()).scalars().first()
            )
        if ticket is None:
            return None
        self._check(session, staff, ticket, action, now)
        return ticket

    def card(self, session: Session, viewer: Staff, ticket: Ticket, now: datetime, heading: str | None = None) -> Say:
        reporter = session.get(Contact, ticket.reporter_contact_id)
        referrals = self.referrals(session, ticket)
        photos = session.execute(select(func.count()).where(col(Attachment.ticket_id) == ticket.id)).scalar_one()
        assignee = self.assignee(session, ticket)
        who = {
            "name": reporter.display_name if reporter else None,
            "phone": ticket.reporter_phone,
            "channel": ticket.channel,
        }
        linked_to = session.get(Ticket, ticket.linked_to_id) if ticket.linked_to_id else None
        return cards.card(
            duplicates=[t.number for t in lookup.suggested(session, ticket=ticket)],
            linked_to=linked_to.number if linked_to is not None and ticket.status == "linked" else None,
            joined=[t.number for t in self.joined(session, ticket)],
            book=self.book,
            calendar=self.calendar,
            texts=self.texts,
            viewer=viewer,
            ticket=ticket,
            assignee=assignee,
            reporter=who,
            referrals=referrals,
            photos=photos,
            heading=heading,
            language=viewer.language,
            now=now,
            link=self.case_link(ticket),
        )

    @staticmethod
    def assignee(session: Session, ticket: Ticket) -> Staff | None:
        return session.get(Staff, ticket.assignee_staff_id) if ticket.assignee_staff_id else None

    def referrals(self, session: Session, ticket: Ticket) -> Sequence[Referral]:
        return (
            session.execute(select(Referral).where(col(Referral.ticket_id) == ticket.id).order_by(col(Referral.id)))
            .scalars()
            .all()
        )

    def my_tickets(self, session: Session, staff: Staff, limit: int = 20) -> Sequence[Ticket]:
        return (
            session.execute(
                select(Ticket)
                .where(col(Ticket.assignee_staff_id) == staff.id, col(Ticket.status).in_(sorted(OPEN)))
                .order_by(col(Ticket.due_at), col(Ticket.id))
                .limit(limit)
            )
            .scalars()
            .all()
        )

    def overview(self, session: Session, staff: Staff, now: datetime) -> dict[str, Any]:
        """Open tickets in the supervisor's area by status, the unassigned and the overdue."""
        area = select(Ticket).where(col(Ticket.status).in_(sorted(OPEN)))
        if staff.districts:
            area = area.where(col(Ticket.district_code).in_(staff.districts))
        subquery = area.subquery()
        by_status = dict(session.execute(select(subquery.c.status, func.count()).group_by(subquery.c.status)).all())
        unassigned = (
            session.execute(area.where(col(Ticket.unassigned).is_(True)).order_by(col(Ticket.id)).limit(10))
            .scalars()
            .all()
        )
        overdue = (
            session.execute(area.where(col(Ticket.due_at) < now).order_by(col(Ticket.due_at)).limit(10)).scalars().all()
        )
        return {"by_status": by_status, "total": sum(by_status.values()), "unassigned": unassigned, "overdue": overdue}

    # ------------------------------------------------------------------ opening and routing
    def open(
        self, session: Session, *, contact: Contact, flow: str, answers: Mapping[str, Any], now: datetime
    ) -> Ticket:
        """File a finished report: number it, plan its service standards, give it an owner."""
        ticket = open_ticket(
            session,
            book=self.book,
            contact=contact,
            flow=flow,
            answers=answers,
            year=self.calendar.local_date(now).year,
            now=now,
        )
        sla.plan(ticket, book=self.book, calendar=self.calendar, now=now)
        ticket.citizen_updated_at = now
        lookup.record(session, ticket=ticket, rules=self.book.office.duplicates, now=now)
        self.route_new(session, ticket, now)
        return ticket

    def route_new(self, session: Session, ticket: Ticket, now: datetime, heading: str = "new") -> None:
        """Give a ticket an owner by the routing rules and show them its card."""
        self._route(session, ticket, self._choose(session, ticket, now), now, heading)

    def _choose(self, session: Session, ticket: Ticket, now: datetime) -> routing.Choice:
        """Who should own `ticket` now: for an urgent one whoever is on call, else the routing rules."""
        urgent = ticket.urgent and on_call.on_call(
            session, book=self.book, calendar=self.calendar, ticket=ticket, now=now
        )
        return urgent or routing.choose(session, book=self.book, ticket=ticket)

    def rehome(
        self, session: Session, *, now: datetime, districts: Sequence[str] = (), limit: int = routing.REHOME_BATCH
    ) -> list[Ticket]:
        """Route again the tickets nobody could take when they came in (no staff yet, or only a
        supervisor to park them with), now that someone can: the new owner gets the card. The
        tickets are locked while this runs, so two processes never route one twice."""
        routed = []
        for ticket in routing.waiting_for_owner(session, districts=districts, limit=limit):
            choice = self._choose(session, ticket, now)
            if routing.improves(ticket, choice):
                self._route(session, ticket, choice, now, "new")
                routed.append(ticket)
        return routed

    def staff_available(self, session: Session, staff: Staff, now: datetime) -> list[Ticket]:
        """Someone who can own tickets was added, joined or came back: their area's waiting tickets."""
        if staff.status != "active" or staff.role not in routing.OWNER_ROLES:
            return []
        session.flush()  # routing queries staff: it must see this change (sessions do not autoflush)
        return self.rehome(session, now=now, districts=staff.districts)

    def _route(self, session: Session, ticket: Ticket, choice: routing.Choice, now: datetime, heading: str) -> None:
        ticket.team = choice.team
        self._give(
            session, ticket, choice.staff, unassigned=choice.unassigned, actor="system", now=now, heading=heading
        )

    def _give(
        self,
        session: Session,
        ticket: Ticket,
        staff: Staff | None,
        *,
        unassigned: bool,
        actor: str,
        now: datetime,
        heading: str,
    ) -> None:
        ticket.assignee_staff_id = staff.id if staff else None
        ticket.unassigned = unassigned
        if unassigned:
            self._touch(
                session,
                ticket,
                kind="unassigned",
                actor=actor,
                now=now,
                data={"supervisor": staff.id if staff else None},
            )
        else:
            assert staff is not None
            staff.last_assigned_at = now
            self._move(session, ticket, "assign", actor=actor, now=now, data={"staff": staff.id})
        if staff is not None:
            self._show_case(session, staff, ticket, now, heading="unassigned" if unassigned else heading)

    def _show_case(self, session: Session, staff: Staff, ticket: Ticket, now: datetime, heading: str) -> None:
        """The card and the citizen's photos, for someone who has not seen the case before."""
        paths = (
            session.execute(
                select(col(Attachment.path)).where(col(Attachment.ticket_id) == ticket.id).order_by(col(Attachment.id))
            )
            .scalars()
            .all()
        )
        photos = [
            Say("desk/photo", {"number": ticket.number, "index": i, "count": len(paths)}, photo=path)
            for i, path in enumerate(paths, start=1)
        ]
        card = self.card(session, staff, ticket, now, heading=heading)
        self.tell_staff(session, staff, [card, *photos], now, every_chat=ticket.urgent)

    # ------------------------------------------------------------------ officer actions
    def accept(self, session: Session, staff: Staff, ticket: Ticket, now: datetime) -> Outcome:
        self._check(session, staff, ticket, "accept", now)
        self._move(session, ticket, "accept", actor=actor_of(staff), now=now)
        self.tell_reporters(session, ticket, lambda own: Say("citizen/accepted", {"number": own.number}), now)
        return Outcome("accept", ticket)

    def note(self, session: Session, staff: Staff, ticket: Ticket, text: str, now: datetime) -> Outcome:
        self._check(session, staff, ticket, "note", now)
        self._touch(session, ticket, kind="note", actor=actor_of(staff), now=now, data={"text": text})
        return Outcome("note", ticket)

    def ask_citizen(self, session: Session, staff: Staff, ticket: Ticket, question: str, now: datetime) -> Outcome:
        self._check(session, staff, ticket, "ask_citizen", now)
        self._move(session, ticket, "ask_citizen", actor=actor_of(staff), now=now, data={"question": question})
        ticket.waiting_question = question
        self.tell_citizen(
            session, ticket, Say("citizen/question", {"number": ticket.number, "question": question}), now
        )
        return Outcome("ask_citizen", ticket)

    def refer(
        self, session: Session, staff: Staff, ticket: Ticket, agency_key: str, request: str, now: datetime
    ) -> Outcome:
        self._check(session, staff, ticket, "refer", now)
        agency = self.book.office.agency(agency_key)
        if agency is None:
            raise Refused("no_longer_offered")
        due = self.calendar.due_after(now, agency.due_working_days)
        referral = Referral(
            ticket_id=stored_id(ticket),
            agency=agency.key,
            request=request,
            due_at=due,
            created_by_staff_id=stored_id(staff),
            created_at=now,
            updated_at=now,
        )
        session.add(referral)
        session.flush()
        self._move(
            session,
            ticket,
            "refer",
            actor=actor_of(staff),
            now=now,
            data={"referral": referral.id, "agency": agency.key, "request": request},
        )
        label = agency.label.as_dict()
        self.tell_reporters(
            session, ticket, lambda own: Say("citizen/referred", {"number": own.number, "agency": label}), now
        )
        return Outcome("refer", ticket)

    def record_referral(
        self,
        session: Session,
        staff: Staff,
        ticket: Ticket,
        referral_id: int,
        status: str,
        outcome: str | None,
        now: datetime,
    ) -> Outcome:
        """The agency's answer: acknowledged, done or declined, with what it said."""
        self._check(session, staff, ticket, "referral", now)
        referral = session.get(Referral, referral_id)
        if referral is None or referral.ticket_id != ticket.id or status not in REFERRAL_STATUSES:
            raise Refused("no_longer_offered")
        if referral.status not in OPEN_REFERRAL:
            raise IllegalTransition(referral.status, "referral")
        referral.status, referral.outcome, referral.updated_at = status, outcome, now
        self._touch(
            session,
            ticket,
            kind="referral_" + status,
            actor=actor_of(staff),
            now=now,
            data={"referral": referral.id, "agency": referral.agency, "outcome": outcome},
        )
        if status != "acknowledged":
            self.tell_reporters(
                session,
                ticket,
                lambda own: Say(
                    "citizen/referral_closed",
                    {
                        "number": own.number,
                        "agency": self.book.office.agency_label(referral.agency),
                        "status": status,
                        "outcome": outcome,
                    },
                ),
                now,
            )
            still_open = [r for r in self.referrals(session, ticket) if r.status in OPEN_REFERRAL]
            if not still_open and ticket.status == "referred":
                self._move(session, ticket, "referrals_done", actor=actor_of(staff), now=now)
        return Outcome("referral", ticket)

    def resolve(self, session: Session, staff: Staff, ticket: Ticket, resolution: str, now: datetime) -> Outcome:
        self._check(session, staff, ticket, "resolve", now)
        followers = self.joined(session, ticket)
        self._move(session, ticket, "resolve", actor=actor_of(staff), now=now, data={"resolution": resolution})
        for own in (ticket, *followers):  # each reporter rates the handling once, on their own ticket
            if own is not ticket:
                self._move(session, own, "case_resolved", actor=actor_of(staff), now=now, data={"case": ticket.number})
            own.resolution, own.resolved_at = resolution, now
            options = (
                Option(f"rate:{own.id}", label_key="rate"),
                Option(f"reopen:{own.id}", label_key="not_resolved"),
            )
            context = {
                "number": own.number,
                "resolution": resolution,
                "reopen_days": self.book.office.reopen_days,
                "form": self._survey_form(session, own, now),
            }
            self.tell_citizen(session, own, Say("citizen/resolved", context, options), now)
        return Outcome("resolve", ticket)

    def reject(
        self, session: Session, staff: Staff, ticket: Ticket, reason_key: str, text: str, now: datetime
    ) -> Outcome:
        self._check(session, staff, ticket, "reject", now)
        reason = self.book.office.reason(reason_key)
        if reason is None:
            raise Refused("no_longer_offered")
        followers = self.joined(session, ticket)
        self._move(session, ticket, "reject", actor=actor_of(staff), now=now, data={"reason": reason.key, "text": text})
        for own in followers:
            self._move(session, own, "case_rejected", actor=actor_of(staff), now=now, data={"case": ticket.number})
        for own in (ticket, *followers):
            own.resolution = text
            context = {"number": own.number, "reason": reason.label.as_dict(), "text": text}
            self.tell_citizen(session, own, Say("citizen/rejected", context), now)
        return Outcome("reject", ticket)

    def return_to_supervisor(self, session: Session, staff: Staff, ticket: Ticket, now: datetime) -> Outcome:
        self._check(session, staff, ticket, "return", now)
        self._move(session, ticket, "return", actor=actor_of(staff), now=now)
        supervisor = routing.area_supervisor(session, district_code=ticket.district_code)
        self._give(session, ticket, supervisor, unassigned=True, actor=actor_of(staff), now=now, heading="returned")
        return Outcome("return", ticket)

    def reopen_by_staff(self, session: Session, staff: Staff, ticket: Ticket, reason: str, now: datetime) -> Outcome:
        """The office reopens a resolved or closed case (the work was not finished after all):
        its service standards start again and the citizen is told why."""
        self._check(session, staff, ticket, "reopen", now)
        self._move(session, ticket, "reopen", actor=actor_of(staff), now=now, data={"reason": reason})
        self.tell_citizen(
            session, ticket, Say("citizen/reopened_by_office", {"number": ticket.number, "reason": reason}), now
        )
        return Outcome("reopen", ticket)

    def link_duplicate(self, session: Session, staff: Staff, ticket: Ticket, case_id: int, now: datetime) -> Outcome:
        """`ticket` is about the same person or event as the open case `case_id` (one of its
        suggestions): it follows that case from now on — its own deadlines stop, its reporter
        hears the case's progress under their own number and rates it once, at the end. Tickets
        already linked to `ticket` follow the case too."""
        self._check(session, staff, ticket, "link_duplicate", now)
        case = next((t for t in lookup.suggested(session, ticket=ticket) if t.id == case_id), None)
        if case is None:
            raise Refused("no_longer_offered")
        session.refresh(case, with_for_update=True)
        if not access.can_act(staff, case):
            raise self._deny(session, staff, case, "link_duplicate", now)
        actor = actor_of(staff)
        self._move(session, ticket, "link", actor=actor, now=now, data={"case": case.number})
        ticket.linked_to_id = case.id
        ticket.due_at, ticket.sla_stage = None, None  # the case's deadlines drive the work now
        ticket.waiting_question = None  # its reporter's answers go to the case's officer no more
        for follower in self.joined(session, ticket):
            follower.linked_to_id = case.id
        self._touch(session, case, kind="joined", actor=actor, now=now, data={"ticket": ticket.number})
        self.tell_citizen(session, ticket, Say("citizen/joined", {"number": ticket.number}), now)
        owner = self.assignee(session, case)
        if owner is not None and owner.id != staff.id:
            self.tell_staff(session, owner, [self.card(session, owner, case, now, heading="joined")], now)
        return Outcome("link_duplicate", ticket, {"case": case.number})

    def unlink_duplicate(self, session: Session, staff: Staff, ticket: Ticket, now: datetime) -> Outcome:
        """Undo a wrong link: the ticket is its own case again, its deadlines counted from now,
        routed to an owner, and its reporter told it is handled on its own."""
        self._check(session, staff, ticket, "unlink", now)
        case = session.get(Ticket, ticket.linked_to_id) if ticket.linked_to_id else None
        actor = actor_of(staff)
        self._move(session, ticket, "unlink", actor=actor, now=now, data={"case": case.number if case else None})
        ticket.linked_to_id = None
        if case is not None:
            self._touch(session, case, kind="unjoined", actor=actor, now=now, data={"ticket": ticket.number})
        self.tell_citizen(session, ticket, Say("citizen/unjoined", {"number": ticket.number}), now)
        self.route_new(session, ticket, now, heading="unlinked")
        return Outcome("unlink", ticket)

    def officers_for(self, session: Session, staff: Staff, ticket: Ticket) -> list[Staff]:
        """Whom a supervisor may give the ticket to: active officers covering it, any team."""
        return [
            s for s in routing.eligible_officers(session, ticket=ticket) if access.in_area(staff, ticket.district_code)
        ]

    def reassign(self, session: Session, staff: Staff, ticket: Ticket, officer_id: int, now: datetime) -> Outcome:
        self._check(session, staff, ticket, "reassign", now)
        officer = next((s for s in self.officers_for(session, staff, ticket) if s.id == officer_id), None)
        if officer is None:
            raise Refused("no_longer_offered")
        previous = self.assignee(session, ticket)
        self._give(session, ticket, officer, unassigned=False, actor=actor_of(staff), now=now, heading="reassigned")
        if previous is not None and previous.id not in (officer.id, staff.id):
            self.tell_staff(
                session, previous, [Say("desk/taken_away", {"number": ticket.number, "to": officer.name})], now
            )
        return Outcome("reassign", ticket, {"to": officer.name})

    def expire(self, session: Session, ticket: Ticket, now: datetime) -> int:
        """Close a ticket whose question the citizen never answered (a scheduled job)."""
        question = ticket.waiting_question
        self._move(session, ticket, "expire", actor="system", now=now, data={"question": question})
        ticket.waiting_question = None
        context = {"number": ticket.number, "question": question}
        queued = self.tell_citizen(session, ticket, Say("citizen/closed_unanswered", context), now)
        owner = self.assignee(session, ticket)
        if owner is not None:
            queued += self.tell_staff(session, owner, [Say("reminders/closed_unanswered", context)], now)
        return queued

    # ------------------------------------------------------------------ the citizen's side
    def _own(self, session: Session, contact: Contact, ticket_id: int) -> Ticket:
        ticket = session.get(Ticket, ticket_id, with_for_update=True)
        if ticket is None or ticket.reporter_contact_id != contact.id:
            raise Refused("not_found")
        return ticket

    def waiting_ticket(self, session: Session, contact: Contact) -> int | None:
        """The citizen's ticket an officer is waiting on an answer for, if any."""
        return session.execute(
            select(col(Ticket.id))
            .where(col(Ticket.reporter_contact_id) == contact.id, col(Ticket.status) == "waiting_citizen")
            .order_by(col(Ticket.updated_at).desc())
            .limit(1)
        ).scalar()

    def citizen_replied(
        self,
        session: Session,
        contact: Contact,
        ticket_id: int,
        text: str,
        now: datetime,
        *,
        attachment_id: int | None = None,
    ) -> Say:
        """The answer to the officer's question (words, or a photo or PDF stored already, which
        is filed with the ticket), relayed to the assignee with the card."""
        ticket = self._own(session, contact, ticket_id)
        attachment = self._file(session, contact, ticket, attachment_id)
        data: dict[str, Any] = {"text": text, "question": ticket.waiting_question}
        if attachment is not None:
            data["attachment_id"] = attachment.id
        self._move(session, ticket, "citizen_replied", actor=f"citizen:{contact.id}", now=now, data=data)
        question, ticket.waiting_question = ticket.waiting_question, None
        assignee = self.assignee(session, ticket)
        if assignee is not None:
            kind, photo = _kind_of(attachment)
            context = {
                "number": ticket.number,
                "question": question,
                "text": redact(text),  # in full on the case page, linked
                "kind": kind,
                "link": self.case_link(ticket),
            }
            relay = Say("desk/citizen_reply", context, photo=photo)
            self.tell_staff(session, assignee, [relay, self.card(session, assignee, ticket, now)], now)
        return Say("citizen/reply_received", {"number": ticket.number})

    def citizen_added_file(
        self, session: Session, contact: Contact, ticket_id: int, attachment_id: int, now: datetime
    ) -> Say:
        """A photo or PDF the citizen adds to their open ticket: filed, on the timeline, and the
        assignee told (a photo shown, a document linked to the console)."""
        ticket = self._own(session, contact, ticket_id)
        if ticket.status not in OPEN:
            raise Refused("not_open")
        attachment = self._file(session, contact, ticket, attachment_id)
        if attachment is None:
            raise Refused("not_found")
        data = {"attachment_id": attachment.id, "content_type": attachment.content_type}
        actor = f"citizen:{contact.id}"
        repo.add_event(session, ticket_id=stored_id(ticket), actor=actor, kind="citizen_file", at=now, data=data)
        ticket.updated_at = now
        kind, photo = _kind_of(attachment)
        assignee = self.assignee(session, ticket)
        if assignee is not None:
            told = Say(
                "desk/citizen_file",
                {"number": ticket.number, "kind": kind, "link": self.case_link(ticket)},
                photo=photo,
            )
            self.tell_staff(session, assignee, [told], now)
        return Say("citizen/file_added", {"number": ticket.number, "kind": kind})

    def _file(self, session: Session, contact: Contact, ticket: Ticket, attachment_id: int | None) -> Attachment | None:
        """File the contact's own stored photo or document with the ticket."""
        if attachment_id is None:
            return None
        repo.link_attachments(
            session, ticket_id=stored_id(ticket), contact_id=stored_id(contact), attachment_ids=[attachment_id]
        )
        attachment = session.get(Attachment, attachment_id)
        return attachment if attachment is not None and attachment.ticket_id == ticket.id else None

    def _survey_form(self, session: Session, ticket: Ticket, now: datetime) -> str:
        """A fresh link to the full nine-element survey of `ticket`, for its reporter."""
        return survey_links.issue(
            session, ticket=ticket, base_url=self.console_url, valid_days=self.book.office.survey_form_days, now=now
        )

    def case_link(self, ticket: Ticket) -> str:
        """The console's case page: where staff see the full record (access-checked, audited)."""
        return f"{self.console_url.rstrip('/')}/console/cases/{ticket.number}"

    def reopen(self, session: Session, contact: Contact, ticket_id: int, now: datetime) -> Say:
        ticket = self._own(session, contact, ticket_id)
        if ticket.status not in ("resolved", "closed"):
            raise Refused("not_resolved")
        window = timedelta(days=self.book.office.reopen_days)
        if ticket.resolved_at is None or now > ticket.resolved_at + window:
            raise Refused("too_late")
        self._move(session, ticket, "reopen", actor=f"citizen:{contact.id}", now=now)
        owner = self.assignee(session, ticket)
        if owner is not None and owner.status == "active":
            self.tell_staff(session, owner, [self.card(session, owner, ticket, now, heading="reopened")], now)
        else:  # the officer left or is on leave: routed again, with its audit event
            self.route_new(session, ticket, now, heading="reopened")
        return Say("citizen/reopened", {"number": ticket.number})

    def survey(
        self,
        session: Session,
        contact: Contact,
        ticket_id: int,
        scores: Mapping[str, int],
        comment: str | None,
        now: datetime,
    ) -> Say:
        ticket = self._own(session, contact, ticket_id)
        answered = session.execute(
            select(col(SurveyResponse.id)).where(col(SurveyResponse.ticket_id) == ticket.id)
        ).first()
        if answered is not None:
            raise Refused("already_rated")
        if ticket.status != "resolved":
            raise Refused("not_resolved")
        elements = [e.key for e in self.book.ikm_elements]
        complete = ikm.answers_of(scores, elements) is not None
        session.add(
            SurveyResponse(
                ticket_id=stored_id(ticket), scores=dict(scores), comment=comment, created_at=now, complete=complete
            )
        )
        self._move(session, ticket, "close", actor=f"citizen:{contact.id}", now=now, data={"survey": dict(scores)})
        form = None if complete else self._survey_form(session, ticket, now)
        return Say("citizen/survey_thanks", {"number": ticket.number, "form": form})

    def survey_in_full(
        self, session: Session, ticket: Ticket, scores: Mapping[str, int], comment: str | None, now: datetime
    ) -> None:
        """The nine-element form from the web link: the response that counts for the IKM. A
        citizen who answered the chat's short survey first has that response completed (their
        web answers win: they are the later and fuller word); a resolved ticket is closed."""
        elements = [e.key for e in self.book.ikm_elements]
        if ikm.answers_of(scores, elements) is None:
            raise Refused("incomplete")
        response = (
            session.execute(select(SurveyResponse).where(col(SurveyResponse.ticket_id) == ticket.id).with_for_update())
            .scalars()
            .first()
        )
        actor = f"citizen:{ticket.reporter_contact_id}"
        if response is None:
            if ticket.status != "resolved":
                raise Refused("not_resolved")
            session.add(
                SurveyResponse(
                    ticket_id=stored_id(ticket), scores=dict(scores), comment=comment, created_at=now, complete=True
                )
            )
            self._move(session, ticket, "close", actor=actor, now=now, data={"survey": dict(scores), "form": "web"})
            return
        if response.complete:
            raise Refused("already_rated")
        response.scores = {**response.scores, **scores}
        response.comment = "\n".join(c for c in (response.comment, comment) if c) or None
        response.complete = True
        self._touch(session, ticket, kind="survey_full", actor=actor, now=now, data={"survey": dict(scores)})


def _kind_of(attachment: Attachment | None) -> tuple[str | None, str | None]:
    """("photo" | "document" | None, the path to show as a picture): a PDF is linked, not shown."""
    if attachment is None:
        return None, None
    if attachment.content_type.startswith("image/"):
        return "photo", attachment.path
    return "document", None
