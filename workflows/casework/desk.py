"""The staff side of the chat: commands, ticket-card buttons, and the short follow-up
questions an action needs (the note, the question for the citizen, the agency, the reason).

The questions are the action's inputs as the action table declares them (`actions.py`), asked
in order: a choice as buttons, a text as a prompt. A pending follow-up is stored in the staff
member's conversation row under the question's name, so a restart between "Refer" and the
typed request loses nothing. Every action goes through `Casework`, which checks access again
when it is carried out and says what happened; this desk words it (the card, or "done").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from storage.models import Conversation, Staff, Ticket, stored_id
from workflows import signin
from workflows import staff as staff_records
from workflows.casework import cards
from workflows.casework.actions import ACTIONS, STEPS, Action, Choice, Input, Outcome, choices
from workflows.casework.service import Casework, Denied, Refused
from workflows.engine import Inbound, Option, Say
from workflows.lifecycle import TRANSITIONS, IllegalTransition, next_status
from workflows.validation.ticket_number import parse_ticket_number

TEXT_MAX = 2000

COMMANDS = {
    "tickets": ("tickets", "tiket"),
    "ticket": ("ticket", "kasus"),
    "overview": ("overview", "ringkasan"),
    "help": ("help", "bantuan", "start", "mulai"),
    "cancel": ("cancel", "batal"),
    "away": ("away", "cuti"),
    "back": ("back", "aktif"),
    "console": ("console", "konsol"),
}
_COMMAND = {word: name for name, words in COMMANDS.items() for word in words}

# The chat's questions answered by typing (the others are answered with a button).
_TYPED = frozenset(step for step, (_, wanted) in STEPS.items() if wanted.typed)


def _answers(data: Mapping[str, Any]) -> dict[str, str]:
    """The answers a pending follow-up holds so far (besides which ticket it is about)."""
    return {k: str(v) for k, v in data.items() if k not in ("ticket", "number")}


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
    def handle(
        self, session: Session, staff: Staff, conversation: Conversation, event: Inbound, now: datetime
    ) -> list[Say]:
        pending = (
            Pending(conversation.step, dict(conversation.answers or {})) if conversation.flow == "desk" else Pending()
        )
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

    def _dispatch(
        self, session: Session, staff: Staff, pending: Pending, event: Inbound, now: datetime
    ) -> tuple[list[Say], Pending]:
        try:
            if event.kind == "text" and event.text and event.text.strip().startswith("/"):
                return self._command(session, staff, pending, event.text.strip(), now)
            if event.kind == "choice" and event.value == "cancel":
                return [Say("desk/cancelled")], Pending()
            if event.kind == "choice" and event.step == cards.CARD_STEP:
                return self._press(session, staff, event.value or "", now)
            if event.kind == "choice" and pending.step in STEPS and event.step == pending.step:
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
    def _command(
        self, session: Session, staff: Staff, pending: Pending, text: str, now: datetime
    ) -> tuple[list[Say], Pending]:
        head, _, argument = text.partition(" ")
        name = _COMMAND.get(head[1:].split("@", 1)[0].lower())
        argument = argument.strip()
        if name == "cancel":
            return [Say("desk/cancelled")], Pending()
        if name == "tickets":
            tickets = self.casework.my_tickets(session, staff)
            return [
                Say(
                    "desk/tickets",
                    {"rows": [self._row(t) for t in tickets]},
                    self._open_buttons(tickets),
                    step=cards.CARD_STEP,
                )
            ], pending
        if name == "ticket" and argument:
            number = parse_ticket_number(argument) or argument.upper()[:24]
            ticket = self.casework.find(session, staff, number=number, now=now)
            if ticket is None:
                return [Say("desk/not_found", {"number": number})], pending
            return [self.casework.card(session, staff, ticket, now)], pending
        if name == "overview" and staff.role in ("supervisor", "admin"):
            view = self.casework.overview(session, staff, now)
            context = {
                "by_status": view["by_status"],
                "total": view["total"],
                "unassigned": [self._row(t) for t in view["unassigned"]],
                "overdue": [self._row(t) for t in view["overdue"]],
            }
            return [
                Say("desk/overview", context, self._open_buttons(view["unassigned"]), step=cards.CARD_STEP)
            ], pending
        if name == "console":  # the link goes out through the outbox, to this same chat
            url = signin.issue_link(session, staff=staff, console_url=self.console_url, now=now)
            self.casework.tell_staff(session, staff, [signin.link_message(url)], now)
            return [], pending
        if name in ("away", "back"):
            # The same change as the console's and the CLI's: audited, by the staff member themself.
            staff_records.set_status(
                session,
                staff_id=stored_id(staff),
                status="away" if name == "away" else "active",
                by=stored_id(staff),
                now=now,
                rehome=self.casework,
            )
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
        name, ticket_id, version = parsed
        ticket = self.casework.find(
            session, staff, ticket_id=ticket_id, now=now, action="view" if name == "open" else name
        )
        if ticket is None:
            return [Say("desk/not_found", {"number": str(ticket_id)})], Pending()
        if name == "open":
            return [self.casework.card(session, staff, ticket, now)], Pending()
        if version != ticket.version:
            return [
                Say("desk/stale_card", {"number": ticket.number}),
                self.casework.card(session, staff, ticket, now),
            ], Pending()
        if name in TRANSITIONS:
            next_status(ticket.status, name)  # an illegal move is refused now, not after the typing
        action = ACTIONS.get(name)
        if action is None or action.button is None:
            return [Say("desk/stale_button")], Pending()
        return self._walk(session, staff, ticket, action, {"ticket": ticket.id, "number": ticket.number}, now)

    # ------------------------------------------------------------------ follow-ups
    def _walk(
        self, session: Session, staff: Staff, ticket: Ticket, action: Action, data: dict[str, Any], now: datetime
    ) -> tuple[list[Say], Pending]:
        """Ask the action's next question, or, with every answer in, carry it out."""
        values = _answers(data)
        wanted = action.next_input(values)
        if wanted is None:
            return self._said(
                session, staff, action.do(self.casework, session, staff, ticket, values, now), now
            ), Pending()
        if wanted.typed:
            return [self._ask_text(session, staff, ticket, action, wanted, values)], Pending(wanted.step, data)
        assert wanted.source is not None
        options = choices(self.casework, session, staff, ticket, wanted.source, values)
        if not options:
            return [Say("desk/nothing_to_choose", {"what": wanted.step, "number": ticket.number})], Pending()
        if wanted.pick_single and len(options) == 1:
            return self._walk(session, staff, ticket, action, {**data, wanted.name: options[0].value}, now)
        return [self._choose(wanted.step, ticket.number, options)], Pending(wanted.step, data)

    def _said(self, session: Session, staff: Staff, outcome: Outcome, now: datetime) -> list[Say]:
        """What the officer is told once an action is done: the card, or a short confirmation."""
        action = ACTIONS[outcome.action]
        if action.confirm == "card":
            return [self.casework.card(session, staff, outcome.ticket, now, heading=action.heading)]
        return [Say("desk/done", {"action": action.done, "number": outcome.ticket.number, **outcome.detail})]

    def _ask_text(
        self, session: Session, staff: Staff, ticket: Ticket, action: Action, wanted: Input, values: Mapping[str, str]
    ) -> Say:
        """The question for a typed answer, naming what was chosen before it (the agency)."""
        named: dict[str, Any] = {}
        for item in action.inputs:
            if item.source is not None and item.name in values:
                chosen = next(
                    (
                        c
                        for c in choices(self.casework, session, staff, ticket, item.source, values)
                        if c.value == values[item.name]
                    ),
                    None,
                )
                if chosen is not None and chosen.label is not None:
                    named[item.name] = chosen.label
        context = {"what": wanted.step, "number": ticket.number, **named}
        return Say("desk/ask_text", context, (Option("cancel", label_key="cancel"),), step=wanted.step)

    def _choose(self, what: str, number: str, options: tuple[Choice, ...]) -> Say:
        buttons = (*(c.option() for c in options), Option("cancel", label_key="cancel"))
        return Say("desk/choose", {"what": what, "number": number}, buttons, step=what)

    def _chosen(
        self, session: Session, staff: Staff, pending: Pending, value: str, now: datetime
    ) -> tuple[list[Say], Pending]:
        data = pending.data
        action, wanted = STEPS[pending.step or ""]
        if wanted.source is None:  # a button pressed where typing was asked for
            return [Say("desk/stale_button")], pending
        ticket = self.casework.find(session, staff, ticket_id=int(data["ticket"]), now=now, action="view")
        if ticket is None:
            return [Say("desk/not_found", {"number": data.get("number", "")})], Pending()
        values = _answers(data)
        if value not in {c.value for c in choices(self.casework, session, staff, ticket, wanted.source, values)}:
            return [Say("desk/stale_button")], pending
        return self._walk(session, staff, ticket, action, {**data, wanted.name: value}, now)

    def _typed(
        self, session: Session, staff: Staff, pending: Pending, event: Inbound, now: datetime
    ) -> tuple[list[Say], Pending]:
        data = pending.data
        action, wanted = STEPS[pending.step or ""]
        ticket = self.casework.find(session, staff, ticket_id=int(data["ticket"]), now=now, action="view")
        if ticket is None:
            return [Say("desk/not_found", {"number": data["number"]})], Pending()
        text = (event.text or "").strip() if event.kind == "text" else ""
        if not text:
            return [
                Say("errors/expected_text"),
                self._ask_text(session, staff, ticket, action, wanted, _answers(data)),
            ], pending
        if len(text) > TEXT_MAX:
            return [Say("errors/too_long", {"limit": TEXT_MAX, "length": len(text)})], pending
        return self._walk(session, staff, ticket, action, {**data, wanted.name: text}, now)
