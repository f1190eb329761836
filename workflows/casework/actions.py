"""Every ticket action an officer or supervisor takes, declared once: who may take it, in which
statuses, what it asks for, in order, and how it is confirmed.

The chat card's buttons, the chat's follow-up questions, the console's case forms and their
checks all read this table, so a new action is one entry here (plus its `Casework` method and
its words in the templates). Statuses come from the lifecycle's transition table, never
repeated here. `Casework` checks access again when it carries an action out; this table also
decides what is *offered* (a supervisor reassigns rather than accepting for someone).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlmodel import Session

from storage.models import Referral, Staff, Ticket
from workflows.casework import access
from workflows.duplicates import lookup
from workflows.engine import Option
from workflows.lifecycle import OPEN, TRANSITIONS, allowed_actions

if TYPE_CHECKING:
    from workflows.casework.service import Casework

OPEN_REFERRAL = ("sent", "acknowledged")  # a referral still waiting on the agency's answer
REFERRAL_STATUSES = ("acknowledged", "done", "declined")  # the answers an agency gives

Source = Literal["agencies", "reject_reasons", "officers", "open_referrals", "referral_statuses", "duplicates"]
Values = Mapping[str, str]


@dataclass(frozen=True)
class Outcome:
    """What an action did: the chat turns it into a card or a short confirmation, the console
    into a redirect. `detail` carries what the confirmation names (the new officer)."""

    action: str
    ticket: Ticket
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Input:
    """One thing an action asks for: typed text, or a choice from `source`.

    `name` is the form field and the key the chat keeps the answer under; `step` is the chat's
    name for the question (the prompt's wording and the step its buttons carry). `unless` =
    (field, value): the chat does not ask when an earlier answer was that value (a form shows
    the field anyway, and may leave it empty). `pick_single`: the chat takes a lone choice
    without asking."""

    name: str
    step: str
    source: Source | None = None
    required: bool = True
    unless: tuple[str, str] | None = None
    pick_single: bool = False

    @property
    def typed(self) -> bool:
        return self.source is None

    def asked(self, values: Values) -> bool:
        return self.unless is None or values.get(self.unless[0]) != self.unless[1]


@dataclass(frozen=True)
class Choice:
    """One offered answer to a choice input; `subject` is what it stands for (the officer, …),
    for a page that shows more than the label."""

    value: str
    label: Mapping[str, str] | None = None
    label_key: str | None = None
    subject: Any = None

    def option(self) -> Option:
        return Option(self.value, label=self.label, label_key=self.label_key)


Do = Callable[["Casework", Session, Staff, Ticket, Values, datetime], Outcome]


@dataclass(frozen=True)
class Action:
    """One ticket action. `access` is the rule `Casework` enforces; `offered_to` narrows what is
    offered (a button, a form) without forbidding it; `open_when` is for actions outside the
    lifecycle table. `button` is the card button's label key (None: console only). `confirm`:
    the chat shows the card under `heading`, or `desk/done` naming `done`. `needs_choices`: the
    card and the page leave it out while its choice offers nothing (a link needs a suggestion)."""

    name: str
    access: Callable[[Staff, Ticket], bool]
    inputs: tuple[Input, ...]
    do: Do
    button: str | None
    confirm: Literal["card", "done"]
    heading: str | None = None
    done: str | None = None
    offered_to: Callable[[Staff, Ticket], bool] | None = None
    open_when: Callable[[Ticket, Sequence[Referral]], bool] | None = None
    needs_choices: bool = False  # offered only while its choice has something to offer

    def in_status(self, ticket: Ticket, referrals: Sequence[Referral]) -> bool:
        if self.name in TRANSITIONS:
            return self.name in allowed_actions(ticket.status)
        return self.open_when is None or self.open_when(ticket, referrals)

    def available(self, staff: Staff, ticket: Ticket, referrals: Sequence[Referral]) -> bool:
        return (
            self.access(staff, ticket)
            and (self.offered_to is None or self.offered_to(staff, ticket))
            and self.in_status(ticket, referrals)
        )

    def next_input(self, values: Values) -> Input | None:
        """The first question not answered yet (skipping those the answers so far rule out)."""
        return next((i for i in self.inputs if i.name not in values and i.asked(values)), None)


def id_of(value: str) -> int:
    """A chosen id; anything else reads as an id nobody has, so Casework refuses it kindly."""
    value = str(value)
    return int(value) if value.isdigit() and len(value) <= 9 else -1


def _assignee(staff: Staff, ticket: Ticket) -> bool:
    return ticket.assignee_staff_id == staff.id


def _officer(staff: Staff, ticket: Ticket) -> bool:
    return staff.role == "officer"


def _any_open_referral(ticket: Ticket, referrals: Sequence[Referral]) -> bool:
    return any(r.status in OPEN_REFERRAL for r in referrals)


def _still_open(ticket: Ticket, referrals: Sequence[Referral]) -> bool:
    return ticket.status in OPEN


def _linkable(ticket: Ticket, referrals: Sequence[Referral]) -> bool:
    return "link" in allowed_actions(ticket.status)


def _linked(ticket: Ticket, referrals: Sequence[Referral]) -> bool:
    return "unlink" in allowed_actions(ticket.status)


# In the order the card shows its buttons and the console its forms (reopening has no button:
# a closed case is reopened from the console).
TABLE: tuple[Action, ...] = (
    Action(
        "accept",
        access.can_act,
        (),
        lambda work, s, staff, t, v, now: work.accept(s, staff, t, now),
        button="card_accept",
        confirm="card",
        heading="accepted",
        offered_to=_assignee,
    ),  # a supervisor reassigns rather than accepting for someone
    Action(
        "ask_citizen",
        access.can_act,
        (Input("question", "ask"),),
        lambda work, s, staff, t, v, now: work.ask_citizen(s, staff, t, v["question"], now),
        button="card_ask",
        confirm="done",
        done="ask",
    ),
    Action(
        "refer",
        access.can_act,
        (Input("agency", "agency", "agencies"), Input("request", "agency_request")),
        lambda work, s, staff, t, v, now: work.refer(s, staff, t, v["agency"], v["request"], now),
        button="card_refer",
        confirm="card",
        heading="referred",
    ),
    Action(
        "resolve",
        access.can_act,
        (Input("resolution", "resolve"),),
        lambda work, s, staff, t, v, now: work.resolve(s, staff, t, v["resolution"], now),
        button="card_resolve",
        confirm="done",
        done="resolve",
    ),
    Action(
        "reject",
        access.can_act,
        (Input("reason", "reason", "reject_reasons"), Input("text", "reason_text")),
        lambda work, s, staff, t, v, now: work.reject(s, staff, t, v["reason"], v["text"], now),
        button="card_reject",
        confirm="done",
        done="reject",
    ),
    Action(
        "return",
        access.can_act,
        (),
        lambda work, s, staff, t, v, now: work.return_to_supervisor(s, staff, t, now),
        button="card_return",
        confirm="done",
        done="return",
        offered_to=_officer,
    ),
    Action(
        "referral",
        access.can_act,
        (
            Input("referral", "referral", "open_referrals", pick_single=True),
            Input("status", "referral_status", "referral_statuses"),
            Input("outcome", "referral_outcome", required=False, unless=("status", "acknowledged")),
        ),
        lambda work, s, staff, t, v, now: work.record_referral(
            s, staff, t, id_of(v["referral"]), v["status"], v.get("outcome") or None, now
        ),
        button="card_referral",
        confirm="card",
        heading="referral_recorded",
        open_when=_any_open_referral,
    ),
    Action(
        "reopen",
        access.can_act,
        (Input("reason", "reopen_reason"),),
        lambda work, s, staff, t, v, now: work.reopen_by_staff(s, staff, t, v["reason"], now),
        button=None,
        confirm="card",
    ),
    Action(
        "note",
        access.can_note,
        (Input("text", "note"),),
        lambda work, s, staff, t, v, now: work.note(s, staff, t, v["text"], now),
        button="card_note",
        confirm="done",
        done="note",
    ),  # in any status
    Action(
        "reassign",
        access.can_reassign,
        (Input("officer", "officer", "officers"),),
        lambda work, s, staff, t, v, now: work.reassign(s, staff, t, id_of(v["officer"]), now),
        button="card_reassign",
        confirm="done",
        done="reassign",
        open_when=_still_open,
    ),
    Action(
        "link_duplicate",
        access.can_act,
        (Input("case", "duplicate_of", "duplicates", pick_single=True),),
        lambda work, s, staff, t, v, now: work.link_duplicate(s, staff, t, id_of(v["case"]), now),
        button="card_link",
        confirm="done",
        done="link",
        open_when=_linkable,
        needs_choices=True,
    ),
    Action(
        "unlink",
        access.can_act,
        (),
        lambda work, s, staff, t, v, now: work.unlink_duplicate(s, staff, t, now),
        button="card_unlink",
        confirm="card",
        heading="unlinked",
        open_when=_linked,
    ),
)
ACTIONS: dict[str, Action] = {a.name: a for a in TABLE}
# The chat's question name → its action and input (a pending follow-up is stored by this name).
STEPS: dict[str, tuple[Action, Input]] = {i.step: (a, i) for a in TABLE for i in a.inputs}


def access_rule(action: str) -> Callable[[Staff, Ticket], bool]:
    """The check `Casework` makes before `action` (looking at a ticket needs `can_view`;
    anything not in the table is treated as acting on it)."""
    return access.can_view if action == "view" else ACTIONS[action].access if action in ACTIONS else access.can_act


def offered(staff: Staff, ticket: Ticket, referrals: Sequence[Referral]) -> list[Action]:
    """The actions `staff` may take on `ticket` now, in the table's order."""
    return [a for a in TABLE if a.available(staff, ticket, referrals)]


def choices(
    work: Casework, session: Session, staff: Staff, ticket: Ticket, source: Source, values: Values
) -> tuple[Choice, ...]:
    """What a choice input offers now, given the answers so far (the chat's buttons, the
    console's select, and the check that a posted or pressed answer is still on offer)."""
    office = work.book.office
    if source == "agencies":
        return tuple(Choice(a.key, a.label.as_dict(), subject=a) for a in office.agencies)
    if source == "reject_reasons":
        return tuple(Choice(r.key, r.label.as_dict(), subject=r) for r in office.reject_reasons)
    if source == "officers":
        return tuple(
            Choice(str(s.id), {"id": s.name[:24], "en": s.name[:24]}, subject=s)
            for s in work.officers_for(session, staff, ticket)
        )
    if source == "duplicates":  # the suggested cases the viewer may also act on
        return tuple(
            Choice(str(t.id), {"id": t.number, "en": t.number}, subject=t)
            for t in lookup.suggested(session, ticket=ticket)
            if access.can_act(staff, t)
        )
    if source == "open_referrals":
        return tuple(
            Choice(str(r.id), office.agency_label(r.agency), subject=r)
            for r in work.referrals(session, ticket)
            if r.status in OPEN_REFERRAL
        )
    # referral_statuses: an agency acknowledges a referral once; done or declined close it.
    referral = session.get(Referral, id_of(values.get("referral", "")))
    return tuple(
        Choice(status, label_key=f"referral_{status}")
        for status in REFERRAL_STATUSES
        if status != "acknowledged" or referral is None or referral.status == "sent"
    )


def offered_value(
    work: Casework, session: Session, staff: Staff, ticket: Ticket, action: Action, values: Values
) -> bool:
    """Whether every choice in `values` is one the action offers now."""
    return all(
        values[item.name] in {c.value for c in choices(work, session, staff, ticket, item.source, values)}
        for item in action.inputs
        if item.source is not None and item.name in values
    )
