"""The tables. One class per table; relationships are plain foreign keys, loaded on purpose."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import BigInteger, Column, Index, Table, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.types import JSONType, UTCDateTime


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime(), **kw)


def _json(default_factory: Any) -> Any:
    return Field(default_factory=default_factory, sa_column=Column(JSONType, nullable=False))


def table_of(model: type[SQLModel]) -> Table:
    """The Core table behind a table model, for statements that skip the ORM on hot paths.
    SQLAlchemy sets `__table__` when the class is created; SQLModel's types do not declare it."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


class _Row(Protocol):
    @property
    def id(self) -> int | None: ...


def stored_id(row: _Row) -> int:
    """The id of a row that is in the database (read, or added and flushed). SQLModel types `id`
    optional because a new object has none until it is flushed: asking for it earlier is a bug."""
    if row.id is None:
        raise ValueError(f"{type(row).__name__} has no id yet: flush it first")
    return row.id


class Contact(SQLModel, table=True):
    """A person as one channel knows them: a Telegram user, a web-chat browser, a WhatsApp number."""

    __tablename__ = "contact"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_contact_channel_external"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=128)
    chat_id: str = Field(max_length=128)
    display_name: str | None = Field(default=None, max_length=128)
    language: str = Field(default="id", max_length=8)
    phone: str | None = Field(default=None, max_length=32)
    consent_at: datetime | None = _ts(default=None, nullable=True)
    consent_version: str | None = Field(default=None, max_length=32)
    created_at: datetime = _ts()
    last_inbound_at: datetime | None = _ts(default=None, nullable=True)


class Conversation(SQLModel, table=True):
    """Where a contact is in a flow. One row per contact (and so per channel): it *is* the
    active conversation, reset when a flow ends, so two can never be active at once."""

    __tablename__ = "conversation"
    __table_args__ = (Index("ix_conversation_expires", "expires_at"),)

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", unique=True)
    flow: str | None = Field(default=None, max_length=32)
    step: str | None = Field(default=None, max_length=64)
    answers: dict[str, Any] = _json(dict)
    extra: dict[str, Any] = _json(dict)
    updated_at: datetime = _ts()
    expires_at: datetime | None = _ts(default=None, nullable=True)
    # Grows with every save: a reply queued for version N is out of date once the conversation
    # is past N, which is how a reply of unknown fate after a crash is known to be stale.
    version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class Staff(SQLModel, table=True):
    """An officer, supervisor or admin. `districts` and `categories` bound what they see and
    are routed (empty: all); `status` is active, away (on leave: no new tickets) or disabled."""

    __tablename__ = "staff"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128)
    role: str = Field(max_length=16)
    team: str | None = Field(default=None, max_length=32)
    districts: list[str] = _json(list)
    categories: list[str] = _json(list)
    telegram_user_id: str | None = Field(default=None, max_length=32, unique=True)
    whatsapp_number: str | None = Field(default=None, max_length=32, unique=True)
    status: str = Field(default="active", max_length=16)
    language: str = Field(default="id", max_length=8)
    last_assigned_at: datetime | None = _ts(default=None, nullable=True)
    created_at: datetime = _ts()
    # The web console's sign-in by password (the other way is a one-time link sent to their chat).
    username: str | None = Field(default=None, max_length=64, unique=True)
    password_hash: str | None = Field(default=None, max_length=200)


class StaffInvite(SQLModel, table=True):
    """A one-time join link: whoever opens `/start <code>` first becomes this staff member."""

    __tablename__ = "staff_invite"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    role: str = Field(max_length=16)
    team: str | None = Field(default=None, max_length=32)
    districts: list[str] = _json(list)
    categories: list[str] = _json(list)
    created_at: datetime = _ts()
    expires_at: datetime = _ts()
    used_at: datetime | None = _ts(default=None, nullable=True)
    staff_id: int | None = Field(default=None, foreign_key="staff.id")


class TicketCounter(SQLModel, table=True):
    """Per prefix-and-year sequence; incremented with an upsert so processes never collide."""

    __tablename__ = "ticket_counter"

    scope: str = Field(primary_key=True, max_length=16)
    value: int = 0


class Ticket(SQLModel, table=True):
    """A complaint or service request: what the office works on."""

    __tablename__ = "ticket"
    __table_args__ = (
        Index("ix_ticket_reporter_created", "reporter_contact_id", "created_at"),
        Index("ix_ticket_status_created", "status", "created_at"),
        Index("ix_ticket_district_created", "district_code", "created_at"),
        Index("ix_ticket_assignee_status", "assignee_staff_id", "status"),
        Index("ix_ticket_due", "due_at"),
        Index("ix_ticket_district_status", "district_code", "status"),
        Index("ix_ticket_citizen_updated", "citizen_updated_at"),
        Index("ix_ticket_created", "created_at"),  # the digest over a whole regency
        Index("ix_ticket_resolved", "resolved_at"),  # the weekly summary's resolved count
        # The console's queue (migration 0006): each filter's tickets in page order, and its
        # counts per status inside one covering index (bench/console_queue.py).
        Index("ix_ticket_category_created", "category", "created_at", "id", "status"),
        Index("ix_ticket_district_category", "district_code", "category", "created_at", "id", "status"),
        Index("ix_ticket_district_status_created", "district_code", "status", "created_at", "id"),
        Index("ix_ticket_district_status_due", "district_code", "status", "due_at"),
        Index("ix_ticket_district_due", "district_code", "due_at"),
        Index("ix_ticket_status_due", "status", "due_at"),
        Index("ix_ticket_village_status", "district_code", "village_code", "status"),
        Index("ix_ticket_assignee_queue", "assignee_staff_id", "status", "due_at", "district_code"),
        Index("ix_ticket_updated", "updated_at"),
        # The console's map reads only these (migration 0008); the register pages by its sort key.
        Index(
            "ix_ticket_map", "status", "latitude", "longitude", "category", "district_code", "assignee_staff_id", "id"
        ),
        Index("ix_ticket_register", text("lower(person_name)"), text("coalesce(person_nik, village_code, '')")),
        # Urgent tickets first in the queue, and the alert job's scan of those not yet accepted (0010).
        Index("ix_ticket_urgent_status_created", "urgent", "status", "created_at", "id"),
        # The duplicate lookup at filing (0017): a category group's open tickets in a village, or
        # in a band of latitude, or with a NIK, each one index range (bench/duplicates.py); and
        # the tickets joined to a worked case (so its news reaches every reporter).
        Index("ix_ticket_group_village", "category_group", "village_code", "created_at", "status"),
        Index("ix_ticket_group_place", "category_group", "status", "latitude", "longitude"),
        Index("ix_ticket_nik_status", "person_nik", "status"),
        Index("ix_ticket_linked_to", "linked_to_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=24, unique=True)
    kind: str = Field(max_length=16)
    category_group: str | None = Field(default=None, max_length=32)
    category: str = Field(max_length=32)
    reporter_contact_id: int = Field(foreign_key="contact.id")
    reporter_phone: str | None = Field(default=None, max_length=32)
    subject: str = Field(default="self", max_length=8)
    person_name: str | None = Field(default=None, max_length=200)
    person_nik: str | None = Field(default=None, max_length=16)
    person_age: int | None = None
    person_sex: str | None = Field(default=None, max_length=1)
    address: str | None = Field(default=None, max_length=500)
    district_code: str | None = Field(default=None, max_length=16)
    village_code: str | None = Field(default=None, max_length=16)
    latitude: float | None = None
    longitude: float | None = None
    description: str | None = None
    details: dict[str, Any] = _json(dict)
    status: str = Field(default="new", max_length=24)
    # Someone is in danger: deadlines in calendar hours, the on-call officer alerted until they accept.
    urgent: bool = False
    # Routing and handling. `version` grows with every change, so a press on an out-of-date
    # ticket card is recognised; `unassigned` flags a ticket parked with a supervisor because
    # no officer could take it.
    team: str | None = Field(default=None, max_length=32)
    assignee_staff_id: int | None = Field(default=None, foreign_key="staff.id")
    unassigned: bool = False
    version: int = 1
    # Service standards: each stage's due and met time; `due_at`/`sla_stage` the earliest
    # stage not yet met (indexed: the scheduler's and digest's scans start there).
    sla: dict[str, Any] = _json(dict)
    due_at: datetime | None = _ts(default=None, nullable=True)
    sla_stage: str | None = Field(default=None, max_length=24)
    citizen_updated_at: datetime | None = _ts(default=None, nullable=True)
    resolved_at: datetime | None = _ts(default=None, nullable=True)
    resolution: str | None = None
    waiting_question: str | None = None
    channel: str = Field(max_length=16)
    source: str | None = Field(default=None, max_length=64)
    language: str = Field(default="id", max_length=8)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    # Its personal data erased (retention period over, or the person asked): when, and why
    # ("retention", "request"). The counts the office reports stay; the ticket stays closed.
    anonymised_at: datetime | None = _ts(default=None, nullable=True)
    anonymised_reason: str | None = Field(default=None, max_length=32)
    # A possible duplicate an officer joined to the case worked for it (status "linked"): its
    # status follows that case, its reporter hears that case's progress under this number.
    linked_to_id: int | None = Field(default=None, foreign_key="ticket.id")


class DuplicateSuggestion(SQLModel, table=True):
    """A ticket that may be about the same person or event as an open one filed earlier, found
    when it was filed: shown on both cards ("mungkin sama dengan …") until an officer links them."""

    __tablename__ = "duplicate_suggestion"
    __table_args__ = (UniqueConstraint("ticket_id", "candidate_id", name="uq_duplicate_pair"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    candidate_id: int = Field(foreign_key="ticket.id", index=True)
    score: float
    reasons: list[str] = _json(list)
    created_at: datetime = _ts()


class SurveyLink(SQLModel, table=True):
    """The link to the full nine-element satisfaction form on the web, for one ticket: the
    citizen opens it without an account, so it is unguessable (only its hash is kept), ends on
    `expires_at` and is spent once the form is sent."""

    __tablename__ = "survey_link"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    created_at: datetime = _ts()
    expires_at: datetime = _ts()
    used_at: datetime | None = _ts(default=None, nullable=True)


class Attachment(SQLModel, table=True):
    """A photo kept under the data dir by content hash; linked to its ticket once filed."""

    __tablename__ = "attachment"

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    sha256: str = Field(max_length=64)
    path: str = Field(max_length=200)
    content_type: str = Field(max_length=32)
    size: int
    width: int
    height: int
    created_at: datetime = _ts()


class TicketEvent(SQLModel, table=True):
    """Append-only log of what happened to a ticket, by whom and when."""

    __tablename__ = "ticket_event"
    # The console's audit viewer: one staff member's work over a time window, and all work by time (0016).
    __table_args__ = (Index("ix_ticket_event_actor_at", "actor", "at"), Index("ix_ticket_event_at", "at"))

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    at: datetime = _ts()
    actor: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    data: dict[str, Any] = _json(dict)


class Referral(SQLModel, table=True):
    """A case handed to another agency, followed until it answers: sent → acknowledged →
    done | declined. A ticket may have several."""

    __tablename__ = "referral"
    __table_args__ = (Index("ix_referral_status_due", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    agency: str = Field(max_length=32)
    request: str
    due_at: datetime = _ts()
    status: str = Field(default="sent", max_length=16)
    outcome: str | None = None
    created_by_staff_id: int = Field(foreign_key="staff.id")
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class SurveyResponse(SQLModel, table=True):
    """The citizen's rating after resolution: 1–4 per survey element (IKM scale) and a comment.
    `complete` when all nine elements of PermenPAN-RB 14/2017 were answered (the web form): only
    those count towards the IKM; the chat's short survey asks a few."""

    __tablename__ = "survey_response"
    __table_args__ = (Index("ix_survey_response_created", "created_at"),)  # the digest's satisfaction window

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", unique=True)
    scores: dict[str, Any] = _json(dict)
    comment: str | None = None
    created_at: datetime = _ts()
    complete: bool = False


class InboundMessage(SQLModel, table=True):
    """Ids of inbound messages already processed, so a redelivered update does nothing twice."""

    __tablename__ = "inbound_message"
    __table_args__ = (UniqueConstraint("channel", "message_id", name="uq_inbound_channel_message"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    message_id: str = Field(max_length=128)
    received_at: datetime = _ts(index=True)


DELIVERY_REPORTED = "channel = 'whatsapp'"  # rows whose platform reports their fate later


class OutboxMessage(SQLModel, table=True):
    """An outbound message, written in the same transaction as the change that caused it."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_pending", "channel", "status", "id"),
        Index("ix_outbox_chat", "channel", "chat_id", "id"),
        # Only WhatsApp reports on messages later (status callbacks, found by their wamid): a
        # partial index, so Telegram's and the web chat's rows pay nothing to keep it (an index
        # on every row cost a fifth of the Telegram webhook's throughput on SQLite).
        Index(
            "ix_outbox_external",
            "external_id",
            sqlite_where=text(DELIVERY_REPORTED),
            postgresql_where=text(DELIVERY_REPORTED),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    chat_id: str = Field(max_length=128)
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    payload: dict[str, Any] = _json(dict)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    not_before: datetime | None = _ts(default=None, nullable=True)
    claimed_until: datetime | None = _ts(default=None, nullable=True)
    last_error: str | None = Field(default=None, max_length=500)
    external_id: str | None = Field(default=None, max_length=128)
    # Set by scheduled jobs (e.g. "breach:42:first_response"): a doubled tick queues nothing twice.
    dedupe_key: str | None = Field(default=None, max_length=128, unique=True)
    created_at: datetime = _ts()
    sent_at: datetime | None = _ts(default=None, nullable=True)
    # How it went out when not as itself (WhatsApp: "template:<name>" outside the 24-hour window).
    sent_as: str | None = Field(default=None, max_length=128)
    # A message said in several requests (a long text, a location request and its choices):
    # how many went out before a retry, so the retry sends only the rest.
    parts_sent: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # What the platform reported afterwards (WhatsApp status callbacks: delivered, read, failed).
    delivery: str | None = Field(default=None, max_length=16)
    delivery_error: str | None = Field(default=None, max_length=500)
    delivery_at: datetime | None = _ts(default=None, nullable=True)
    # When it was handed to the platform (committed before the call): a row still `sending`
    # with this set went out or not, nobody knows, after a crash.
    handed_at: datetime | None = _ts(default=None, nullable=True)
    # A reply to a conversation's step: which conversation, at which of its versions. Once the
    # conversation has moved past that version, a reply of unknown fate is not sent again.
    # None for what stands whatever the conversation does (a ticket's number, an officer's question).
    conversation_id: int | None = None
    conversation_version: int | None = None


class SchedulerLease(SQLModel, table=True):
    """Who runs the scheduled jobs, until when (SQLite; PostgreSQL uses an advisory lock)."""

    __tablename__ = "scheduler_lease"

    name: str = Field(primary_key=True, max_length=32)
    holder: str = Field(max_length=64)
    until: datetime = _ts()


class ConsoleSession(SQLModel, table=True):
    """A signed-in browser of the staff console. The cookie holds a random token; the row only
    its hash, so a copy of the database signs nobody in. `csrf` is the token every form carries."""

    __tablename__ = "console_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    csrf: str = Field(max_length=64)
    created_at: datetime = _ts()
    last_seen_at: datetime = _ts()
    expires_at: datetime = _ts()


class SigninLink(SQLModel, table=True):
    """A one-time console sign-in link sent to a staff member's own chat (hash kept, not the token)."""

    __tablename__ = "signin_link"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    staff_id: int = Field(foreign_key="staff.id", index=True)
    created_at: datetime = _ts()
    expires_at: datetime = _ts()
    used_at: datetime | None = _ts(default=None, nullable=True)


class SigninFailure(SQLModel, table=True):
    """A failed sign-in, by username and by address, counted to slow down guessing."""

    __tablename__ = "signin_failure"
    __table_args__ = (Index("ix_signin_failure_key_at", "key", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=128)
    at: datetime = _ts()


class ConfigDocument(SQLModel, table=True):
    """An office's configuration changed in the console (areas, categories, office), kept whole
    and validated as the YAML files are; it overrides the file of the same name."""

    __tablename__ = "config_document"

    name: str = Field(primary_key=True, max_length=32)
    document: dict[str, Any] = _json(dict)
    version: int = 1
    updated_at: datetime = _ts()
    updated_by_staff_id: int | None = Field(default=None, foreign_key="staff.id")


class AuditEntry(SQLModel, table=True):
    """Who changed what outside a ticket (configuration, staff, sign-ins, exports), and when."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_at", "at"),
        # The audit viewer by staff member, and by ticket number (a view's subject), over time (0016).
        Index("ix_audit_entry_staff_at", "staff_id", "at"),
        Index("ix_audit_entry_subject_at", "subject", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts()
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    action: str = Field(max_length=48)
    subject: str | None = Field(default=None, max_length=128)
    data: dict[str, Any] = _json(dict)


class LinkCode(SQLModel, table=True):
    """A code printed on a walk-in citizen's receipt: opening the bot with it (`/start k_…`)
    links their Telegram chat to the ticket, so its news reaches them there. Kept as is (not
    hashed): staff who may see the ticket may print its receipt again."""

    __tablename__ = "ticket_claim"  # the table's first name: renaming it would gain nothing

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    created_at: datetime = _ts()
    expires_at: datetime = _ts()
    used_at: datetime | None = _ts(default=None, nullable=True)
    contact_id: int | None = Field(default=None, foreign_key="contact.id")


class PushSubscription(SQLModel, table=True):
    """A browser's Web Push subscription for one web chat: where to send a "new reply" nudge
    while the page is closed. The keys are the browser's (they encrypt the nudge for it)."""

    __tablename__ = "push_subscription"

    id: int | None = Field(default=None, primary_key=True)
    chat_id: str = Field(max_length=64, index=True)
    endpoint: str = Field(max_length=1000, unique=True)
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)
    created_at: datetime = _ts()


class SendSlot(SQLModel, table=True):
    """One of a channel's send slots (`storage/send_slots.py`): the bot's rate limit shared by
    every process that sends for it. Times are the database server's, the one clock they share."""

    __tablename__ = "send_slot"

    channel: str = Field(max_length=16, primary_key=True)
    slot: int = Field(primary_key=True)
    free_at: datetime = _ts()
    holder: str = Field(default="", max_length=64)  # the process that claimed it last
    ticket: int = Field(
        default=0, sa_type=BigInteger
    )  # counts the slot's claims: an answer counts only for its own claim


class DataRightsRequest(SQLModel, table=True):
    """A citizen's request under UU 27/2022 made in the chat: to see what is held (`access`),
    correct a field (`correction`), withdraw consent (`withdraw`) or have their data erased
    (`erase`). The law gives the office 3×24 hours (`due_at`); what the chat answers at once is
    `done` on arrival, the rest stays `open` (an open case's data waits for the office) and is
    chased by the scheduler and listed in the supervisors' digest. `ticket_ids` are the
    citizen's tickets it covers and `districts` theirs, so each supervisor sees their area's."""

    __tablename__ = "data_rights_request"
    __table_args__ = (Index("ix_data_rights_request_status_due", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    kind: str = Field(max_length=16)
    status: str = Field(default="open", max_length=16)
    ticket_ids: list[int] = _json(list)
    districts: list[str] = _json(list)
    detail: dict[str, Any] = _json(dict)
    received_at: datetime = _ts()
    due_at: datetime = _ts()
    done_at: datetime | None = _ts(default=None, nullable=True)
