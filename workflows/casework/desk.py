"""The staff side of the chat: commands, ticket-card buttons, and the short follow-up
questions an action needs (the note, the question for the citizen, the agency, the reason).

A pending follow-up is stored in the staff member's conversation row, so a restart between
"Refer" and the typed request loses nothing. Every action goes through `Casework`, which
checks access again when it is carried out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from storage.models import Conversation, Staff, Ticket
from workflows.casework import cards
from workflows.casework.service import Casework, Denied, Refused
from workflows import signin
from workflows.engine import Inbound, Option, Say
from workflows.lifecycle import TRANSITIONS, IllegalTransition, next_status
from workflows.validation.ticket_number import parse_ticket_number

TEXT_MAX = 2000

COMMANDS = {
    "tickets": ("tickets", "tiket"), "ticket": ("ticket", "kasus"), "overview": ("overview", "ringkasan"),
    "help": ("help", "bantuan", "start", "mulai"), "cancel": ("cancel", "batal"),
    "away": ("away", "cuti"), "back": ("back", "aktif"), "console": ("console", "konsol"),
}
_COMMAND = {word: name for name, words in COMMANDS.items() for word in words}

# Card action → the follow-up it needs: a typed text, or first a choice.
_TEXT_STEPS = {"note": "note", "ask_citizen": "ask", "resolve": "resolve"}
_CHOICE_STEPS = {"refer": "agency", "reject": "reason", "reassign": "officer", "referral": "referral"}
# Steps answered by typing: the note, question and resolution, and the text after a choice.
_TYPED = frozenset({*_TEXT_STEPS.values(), "agency_request", "reason_text", "referral_outcome"})


@dataclass
class Pending:
    """What the desk is waiting for from this staff member (stored in their conversation)."""

    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class Desk:
    def __init__(self, casework: Casework, *, ttl: timedelta, console_url: str) -> None:
        self.casework = casework
        self.ttl = ttl
        self.console_url = console_url  # where the web console's sign-in links point

    # ------------------------------------------------------------------ entry
    def handle(self, session: Session, staff: Staff, conversation: Conversation, event: Inbound,
               now: datetime) -> list[Say]:
        pending = Pending(conversation.step, dict(conversation.answers or {})) if conversation.flow == "desk" else Pending()
        if conversation.expires_at is not None and now >= conversation.expires_at:
            pending = Pending()
        if staff.status == "disabled":
            says, pending = [Say("desk/disabled")], Pending()
        else:
            says, pending = self._dispatch(session, staff, pending, event, now)
        conversation.flow = "desk" if pending.step else None
        conversation.step = pending.step
        conversation.answers = pending.data
        conversation.expires_at = now + self.ttl if pending.step else None
        return says

    def _dispatch(self, session: Session, staff: Staff, pending: Pending, event: Inbound,
                  now: datetime) -> tuple[list[Say], Pending]:
        try:
            if event.kind == "text" and event.text and event.text.strip().startswith("/"):
                return self._command(session, staff, pending, event.text.strip(), now)
            if event.kind == "choice" and event.value == "cancel":
                return [Say("desk/cancelled")], Pending()
            if event.kind == "choice" and event.step == cards.CARD_STEP:
                return self._press(session, staff, event.value or "", now)
            if event.kind == "choice" and pending.step and event.step == pending.step:
                return self._chosen(session, staff, pending, event.value or "", now)
            if event.kind == "choice":
                return [Say("desk/stale_button")], pending
            if pending.step in _TYPED:
                return self._typed(session, staff, pending, event, now)
            return [Say("desk/help", {"role": staff.role})], pending
        except Denied:
            return [Say("desk/denied")], Pending()
        except Refused as refused:
            return [Say("desk/refused", {"reason": refused.reason})], Pending()
        except IllegalTransition as illegal:
            return [Say("desk/illegal", {"status": illegal.status, "action": illegal.action})], Pending()

    # ------------------------------------------------------------------ commands
    def _command(self, session: Session, staff: Staff, pending: Pending, text: str,
                 now: datetime) -> tuple[list[Say], Pending]:
        head, _, argument = text.partition(" ")
        name = _COMMAND.get(head[1:].split("@", 1)[0].lower())
        argument = argument.strip()
        if name == "cancel":
            return [Say("desk/cancelled")], Pending()
        if name == "tickets":
            tickets = self.casework.my_tickets(session, staff)
            return [Say("desk/tickets", {"rows": [self._row(t) for t in tickets]}, self._open_buttons(tickets), step=cards.CARD_STEP)], pending
        if name == "ticket" and argument:
            number = parse_ticket_number(argument) or argument.upper()[:24]
            ticket = self.casework.find(session, staff, number=number, now=now)
            if ticket is None:
                return [Say("desk/not_found", {"number": number})], pending
            return [self.casework.card(session, staff, ticket, now)], pending
        if name == "overview" and staff.role in ("supervisor", "admin"):
            view = self.casework.overview(session, staff, now)
            context = {"by_status": view["by_status"], "total": view["total"],
                       "unassigned": [self._row(t) for t in view["unassigned"]],
                       "overdue": [self._row(t) for t in view["overdue"]]}
            return [Say("desk/overview", context, self._open_buttons(view["unassigned"]), step=cards.CARD_STEP)], pending
        if name == "console":  # the link goes out through the outbox, to this same chat
            url = signin.issue_link(session, staff=staff, console_url=self.console_url, now=now)
            self.casework.tell_staff(session, staff, [signin.link_message(url)], now)
            return [], pending
        if name in ("away", "back"):
            staff.status = "away" if name == "away" else "active"
            return [Say("desk/availability", {"status": staff.status})], pending
        return [Say("desk/help", {"role": staff.role})], pending

    def _row(self, ticket: Ticket) -> dict[str, Any]:
        return {"number": ticket.number, "status": ticket.status, "category": ticket.category}

    def _open_buttons(self, tickets: Any) -> tuple[Option, ...]:
        return tuple(Option(f"open:{t.id}:0", label={"id": t.number, "en": t.number}) for t in tickets[:10])

    # ------------------------------------------------------------------ card buttons
    def _press(self, session: Session, staff: Staff, value: str, now: datetime) -> tuple[list[Say], Pending]:
        parsed = cards.parse_button(value)
        if parsed is None:
            return [Say("desk/stale_button")], Pending()
        action, ticket_id, version = parsed
        ticket = self.casework.find(session, staff, ticket_id=ticket_id, now=now,
                                    action="view" if action == "open" else action)
        if ticket is None:
            return [Say("desk/not_found", {"number": str(ticket_id)})], Pending()
        if action == "open":
            return [self.casework.card(session, staff, ticket, now)], Pending()
        if version != ticket.version:
            return [Say("desk/stale_card", {"number": ticket.number}), self.casework.card(session, staff, ticket, now)], Pending()
        if action in TRANSITIONS:
            next_status(ticket.status, action)  # an illegal move is refused now, not after the typing
        base = {"ticket": ticket.id, "number": ticket.number}
        if action == "accept":
            return self.casework.accept(session, staff, ticket, now), Pending()
        if action == "return":
            return self.casework.return_to_supervisor(session, staff, ticket, now), Pending()
        if action in _TEXT_STEPS:
            step = _TEXT_STEPS[action]
            return [self._ask_text(step, ticket.number)], Pending(step, base)
        if action in _CHOICE_STEPS:
            step = _CHOICE_STEPS[action]
            options = self._choices(session, staff, ticket, step)
            if not options:
                return [Say("desk/nothing_to_choose", {"what": step, "number": ticket.number})], Pending()
            if step == "referral" and len(options) == 1:
                return self._chosen(session, staff, Pending(step, base), options[0].value, now)
            return [self._choose(step, ticket.number, options)], Pending(step, base)
        return [Say("desk/stale_button")], Pending()

    def _ask_text(self, what: str, number: str, **extra: Any) -> Say:
        return Say("desk/ask_text", {"what": what, "number": number, **extra}, (Option("cancel", label_key="cancel"),), step=what)

    def _choose(self, what: str, number: str, options: tuple[Option, ...]) -> Say:
        return Say("desk/choose", {"what": what, "number": number}, (*options, Option("cancel", label_key="cancel")), step=what)

    def _choices(self, session: Session, staff: Staff, ticket: Ticket, step: str) -> tuple[Option, ...]:
        office = self.casework.book.office
        if step == "agency":
            return tuple(Option(a.key, label=a.label.as_dict()) for a in office.agencies)
        if step == "reason":
            return tuple(Option(r.key, label=r.label.as_dict()) for r in office.reject_reasons)
        if step == "officer":
            officers = self.casework.officers_for(session, staff, ticket)
            return tuple(Option(str(s.id), label={"id": s.name[:24], "en": s.name[:24]}) for s in officers)
        if step == "referral":
            return tuple(
                Option(str(r.id), label=office.agency_label(r.agency)) for r in self.casework.referrals(session, ticket)
                if r.status in cards.OPEN_REFERRAL
            )
        return (Option("acknowledged", label_key="referral_acknowledged"), Option("done", label_key="referral_done"),
                Option("declined", label_key="referral_declined"))

    # ------------------------------------------------------------------ follow-ups
    def _chosen(self, session: Session, staff: Staff, pending: Pending, value: str,
                now: datetime) -> tuple[list[Say], Pending]:
        data = pending.data
        ticket = self.casework.find(session, staff, ticket_id=int(data["ticket"]), now=now, action="view")
        if ticket is None:
            return [Say("desk/not_found", {"number": data.get("number", "")})], Pending()
        offered = {o.value for o in self._choices(session, staff, ticket, pending.step or "")}
        if value not in offered:
            return [Say("desk/stale_button")], pending
        if pending.step == "agency":
            return [self._ask_text("agency_request", ticket.number, agency=self.casework.book.office.agency_label(value))], Pending("agency_request", {**data, "agency": value})
        if pending.step == "reason":
            return [self._ask_text("reason_text", ticket.number)], Pending("reason_text", {**data, "reason": value})
        if pending.step == "officer":
            return self.casework.reassign(session, staff, ticket, int(value), now), Pending()
        if pending.step == "referral":
            options = self._choices(session, staff, ticket, "referral_status")
            return [self._choose("referral_status", ticket.number, options)], Pending("referral_status", {**data, "referral": int(value)})
        if value == "acknowledged":
            return self.casework.record_referral(session, staff, ticket, int(data["referral"]), value, None, now), Pending()
        return [self._ask_text("referral_outcome", ticket.number)], Pending("referral_outcome", {**data, "status": value})

    def _typed(self, session: Session, staff: Staff, pending: Pending, event: Inbound,
               now: datetime) -> tuple[list[Say], Pending]:
        data = pending.data
        text = (event.text or "").strip() if event.kind == "text" else ""
        if not text:
            return [Say("errors/expected_text"), self._ask_text(pending.step or "", data["number"])], pending
        if len(text) > TEXT_MAX:
            return [Say("errors/too_long", {"limit": TEXT_MAX, "length": len(text)})], pending
        ticket = self.casework.find(session, staff, ticket_id=int(data["ticket"]), now=now, action="view")
        if ticket is None:
            return [Say("desk/not_found", {"number": data["number"]})], Pending()
        work = self.casework
        step = pending.step
        if step == "note":
            return work.note(session, staff, ticket, text, now), Pending()
        if step == "ask":
            return work.ask_citizen(session, staff, ticket, text, now), Pending()
        if step == "resolve":
            return work.resolve(session, staff, ticket, text, now), Pending()
        if step == "agency_request":
            return work.refer(session, staff, ticket, data["agency"], text, now), Pending()
        if step == "reason_text":
            return work.reject(session, staff, ticket, data["reason"], text, now), Pending()
        return work.record_referral(session, staff, ticket, int(data["referral"]), data["status"], text, now), Pending()
