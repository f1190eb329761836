"""One inbound message, handled in one unit of work: de-duplicate, load the conversation, let
the engine (a citizen) or the desk (a staff member) decide, carry out the effects, store the
new state and queue the replies. What it works with (the office's configuration, texts, case
workflows, photo store) it is given: the process's `Services`.

This is the only place where engine effects touch storage; it knows nothing of Telegram or
HTTP. The caller supplies the transaction (and commits it) and delivers the queued messages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from storage import outbox, repo
from storage.files import StoredPhoto
from storage.models import Contact, Conversation, Staff, stored_id
from workflows import link_codes
from workflows import staff as staff_records
from workflows.casework.desk import Desk
from workflows.casework.service import Refused
from workflows.engine import (
    AddFile,
    ConversationState,
    DropAttachments,
    Effect,
    Engine,
    Inbound,
    OpenDataRights,
    OpenTicket,
    RecordConsent,
    RelayReply,
    ReopenTicket,
    Say,
    SetLanguage,
    ShowStatus,
    SubmitSurvey,
)
from workflows.engine.commands import Command, UnknownCommand, parse_command
from workflows.engine.engine import ATTACH
from workflows.jobs.reminders import EXPIRED
from workflows.lifecycle import OPEN
from workflows.messages import OutMessage, RenderedOption
from workflows.privacy import dialogue
from workflows.privacy.dialogue import LOCK, RIGHTS, DataRights
from workflows.services import Services
from workflows.status_lookup import status_row
from workflows.validation.ticket_number import parse_ticket_number

log = logging.getLogger(__name__)

# `last_inbound_at` is refreshed at most this often: a write saved on most messages, and a
# minute is precise enough for WhatsApp's 24-hour window.
LAST_SEEN_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class Envelope:
    """Who sent an event, where to answer, and the platform's id for de-duplication."""

    channel: str
    external_id: str
    chat_id: str
    event: Inbound
    message_id: str | None = None
    language_hint: str | None = None
    display_name: str | None = None
    phone: str | None = None  # the sender's own number, when the platform vouches for it (WhatsApp)


@dataclass
class Handled:
    """What the caller still has to do: deliver the queued replies, remove dropped photos."""

    outbox_ids: list[int] = field(default_factory=list)
    files_to_delete: list[str] = field(default_factory=list)


def language_from_hint(hint: str | None) -> str:
    """Telegram's `language_code`: English speakers get English, everyone else Indonesian."""
    return "en" if hint and hint.lower().startswith("en") else "id"


class InboundHandler:
    """The conversation side of the product: one inbound message at a time. The citizen's part
    is the engine's, a staff member's the desk's; both work with the process's services."""

    def __init__(self, *, services: Services, engine: Engine, desk: Desk) -> None:
        self.services = services
        self.engine = engine
        self.desk = desk
        self.rights = DataRights(services)

    def wants_photo(self, session: Session, envelope: Envelope) -> bool:
        """Download a photo (or a PDF) only when it answers the current question, answers an
        officer's, or is the file the citizen chose to add to a ticket, and is not a
        redelivery: nobody's pictures or papers are kept by accident."""
        if envelope.message_id and repo.inbound_seen(session, channel=envelope.channel, message_id=envelope.message_id):
            return False
        contact = repo.find_contact(session, channel=envelope.channel, external_id=envelope.external_id)
        if contact is None:
            return False
        conversation = repo.find_conversation(session, contact_id=contact.id)  # type: ignore[arg-type]
        if conversation is None or staff_records.staff_for_contact(session, contact) is not None:
            return False
        state = self._with_waiting(session, _state(conversation, contact), contact)
        return self.engine.wants_file(state, envelope.event.kind)

    def _with_waiting(self, session: Session, state: ConversationState, contact: Contact) -> ConversationState:
        """At the menu, the ticket an officer waits on their answer for (not stored: it changes
        with the ticket)."""
        if state.flow is not None:
            return state
        return replace(state, waiting_ticket=self.services.casework.waiting_ticket(session, contact))

    def _photo_event(
        self, session: Session, contact: Contact, event: Inbound, photo: StoredPhoto | str, now: datetime
    ) -> Inbound:
        if isinstance(photo, str):
            return replace(event, photo_error=photo)
        return replace(event, attachment_id=self.services.record_photo(session, contact, photo, now).id)

    # ------------------------------------------------------------------ the unit of work
    def handle(
        self, session: Session, envelope: Envelope, now: datetime, photo: StoredPhoto | str | None = None
    ) -> Handled:
        """Process one inbound event. `photo` is what `keep_photo` made of the image when the
        event is a photo that `wants_photo` asked for; it is recorded in this transaction."""
        if envelope.message_id and not repo.first_delivery(
            session, channel=envelope.channel, message_id=envelope.message_id, now=now
        ):
            return Handled()  # a redelivery: already handled
        party = repo.load_party(
            session,
            channel=envelope.channel,
            external_id=envelope.external_id,
            staff_column=staff_records.platform_column(envelope.channel),
        )
        if party is None:
            contact = repo.get_or_create_contact(
                session,
                channel=envelope.channel,
                external_id=envelope.external_id,
                chat_id=envelope.chat_id,
                language=language_from_hint(envelope.language_hint),
                display_name=envelope.display_name,
                now=now,
            )
            conversation = repo.load_conversation(session, contact_id=contact.id, now=now)  # type: ignore[arg-type]
            known_staff = staff_records.staff_for_contact(session, contact)
        else:
            contact, conversation, known_staff = party
        if envelope.phone and contact.phone != envelope.phone:
            contact.phone = envelope.phone
        if contact.last_inbound_at is None or now - contact.last_inbound_at > LAST_SEEN_PRECISION:
            contact.last_inbound_at = now
            # What waited for them (WhatsApp, outside its window) goes out now, before the
            # answer. Checked with this once-a-minute refresh, not on every message (that cost
            # the Telegram webhook a fifth of its throughput); a notice that crosses a message
            # of theirs is handled by the channel, which looks at the window again.
            outbox.release_held(session, channel=contact.channel, chat_id=contact.chat_id)
        event = envelope.event
        handled = Handled()
        replies: list[OutMessage] = []
        lasting: set[int] = set()  # replies that stand whatever the person does next (see storage/outbox.py)
        staff = self._staff(session, contact, known_staff, event, now, replies)
        if staff is not None:
            staff.language = contact.language
            says = self.desk.handle(session, staff, conversation, event, now)
            replies += [self.services.texts.message(say, contact.language) for say in says]
            version = repo.save_conversation(
                session,
                conversation_id=stored_id(conversation),
                now=now,
                flow=conversation.flow,
                step=conversation.step,
                answers=conversation.answers,
                extra=conversation.extra or {},
                expires_at=conversation.expires_at,
            )
        elif not replies:
            extra = dict(conversation.extra or {})
            turn = self._rights_turn(session, contact, extra, event, now) if photo is None else None
            if turn is None:
                if photo is not None:
                    event = self._photo_event(session, contact, event, photo, now)
                state = self._with_waiting(session, _state(conversation, contact), contact)
                outcome = self.engine.step(state, event, now)
                for effect in outcome.effects:
                    if isinstance(effect, OpenDataRights):
                        turn = self.rights.start(session, contact, extra.get(LOCK) or {}, now)
                        self._rights_replies(turn, contact, outcome.state, handled, replies)
                    else:
                        self._apply(session, effect, contact, now, handled, replies, lasting)
                stored = _stored(outcome.state)
            else:
                state = _state(conversation, contact)
                self._rights_replies(turn, contact, state, handled, replies)
                stored = _stored(state)
            stored["extra"] |= {
                RIGHTS: turn.session if turn else None,
                LOCK: turn.lock if turn else extra.get(LOCK) or {},
            }
            version = repo.save_conversation(session, conversation_id=stored_id(conversation), now=now, **stored)
        else:  # an invite or a link code answered; the conversation itself is as it was
            version = None
        step = outbox.Step(stored_id(conversation), version) if version is not None else None
        handled.outbox_ids = outbox.enqueue_many(
            session,
            channel=contact.channel,
            chat_id=contact.chat_id,
            contact_id=contact.id,
            payloads=[reply.to_json() for reply in replies],
            now=now,
            steps=[None if index in lasting else step for index in range(len(replies))],
        )
        return handled

    def _rights_turn(
        self, session: Session, contact: Contact, extra: dict[str, Any], event: Inbound, now: datetime
    ) -> dialogue.Turn | None:
        """The data-rights dialogue's answer, when one is going on and this message is for it:
        not a command, a button of another message, a file, or a message after it lapsed."""
        state = extra.get(RIGHTS)
        if not state or dialogue.expired(state, now):
            return None
        if event.kind == "text" and isinstance(self.engine.command(event.text or ""), (Command, UnknownCommand)):
            return None
        if event.kind not in ("text", "choice") or (event.kind == "choice" and event.step != dialogue.STEP):
            return None
        return self.rights.handle(session, contact, state, extra.get(LOCK) or {}, event, now)

    def _rights_replies(
        self,
        turn: dialogue.Turn,
        contact: Contact,
        state: ConversationState,
        handled: Handled,
        replies: list[OutMessage],
    ) -> None:
        """The dialogue's replies; once it is over, the menu, where the person is again."""
        says = [*turn.says, *(self.engine.prompt(state) if turn.session is None else ())]
        replies += [self.services.texts.message(say, contact.language) for say in says if isinstance(say, Say)]
        handled.files_to_delete += turn.files

    def _staff(
        self,
        session: Session,
        contact: Contact,
        known: Staff | None,
        event: Inbound,
        now: datetime,
        replies: list[OutMessage],
    ) -> Staff | None:
        """The staff member writing (`known`, loaded with the contact), if it is one.
        `/start join_…` redeems an invite first, and `/start k_…` (a walk-in citizen's receipt)
        links this chat to their ticket; the answer to either goes into `replies`."""
        command = parse_command(event.text) if event.kind == "text" and event.text else None
        code = command.argument if isinstance(command, Command) and command.name == "start" else None
        if code is not None and code.startswith(link_codes.PREFIX):
            linked = link_codes.redeem(session, code=code, contact=contact, now=now)
            say = (
                Say("citizen/link_refused", {"reason": linked})
                if isinstance(linked, str)
                else Say("citizen/linked", {"number": linked.number})
            )
            replies.append(self.services.texts.message(say, contact.language))
            return None
        if code is not None and code.startswith(staff_records.INVITE_PREFIX):
            joined = staff_records.redeem_invite(
                session, code=code, contact=contact, now=now, rehome=self.services.casework
            )
            if isinstance(joined, str):
                log.warning("invite refused for contact %s: %s", contact.id, joined)
                replies.append(
                    self.services.texts.message(Say("desk/invite_refused", {"reason": joined}), contact.language)
                )
                return None
            log.info("contact %s joined as staff %s (%s)", contact.id, joined.id, joined.role)
            replies.append(
                self.services.texts.message(
                    Say("desk/welcome", {"name": joined.name, "role": joined.role}), contact.language
                )
            )
            return None
        return known

    def _apply(
        self,
        session: Session,
        effect: Effect,
        contact: Contact,
        now: datetime,
        handled: Handled,
        replies: list[OutMessage],
        lasting: set[int],
    ) -> None:
        """Carry out one effect; what is said goes into `replies`, and the index of what must
        reach the person even after the conversation moved on (the ticket's number, the
        hotlines of an urgent report) into `lasting` too."""
        if isinstance(effect, Say):
            replies.append(self.services.texts.message(effect, contact.language))
        elif isinstance(effect, SetLanguage):
            contact.language = effect.language
        elif isinstance(effect, RecordConsent):
            contact.consent_at = now
            contact.consent_version = effect.version
        elif isinstance(effect, OpenTicket):
            ticket = self.services.casework.open(
                session, contact=contact, flow=effect.flow, answers=effect.answers, now=now
            )
            log.info("ticket %s opened (contact %s, %s)", ticket.number, contact.id, contact.channel)
            replies.append(
                self.services.texts.message(self.services.ticket_created(ticket, contact.language), contact.language)
            )
            lasting.add(len(replies) - 1)
            advice = self.services.urgent_advice(ticket, contact.language)
            if advice is not None:
                replies.append(self.services.texts.message(advice, contact.language))
                lasting.add(len(replies) - 1)
        elif isinstance(effect, ShowStatus):
            status, offers = self._status(session, contact, effect.number, offer_files=effect.offer_files)
            replies.append(status)
            for then in effect.then:
                self._apply(session, then, contact, now, handled, replies, lasting)
            if offers:
                replies[-1] = replace(replies[-1], options=(*replies[-1].options, *offers))
        elif isinstance(effect, (RelayReply, AddFile, ReopenTicket, SubmitSurvey)):
            replies.append(
                self.services.texts.message(self._after_intake(session, effect, contact, now), contact.language)
            )
        elif isinstance(effect, DropAttachments):
            handled.files_to_delete += repo.drop_attachments(
                session,
                contact_id=stored_id(contact),
                attachment_ids=effect.attachment_ids,
            )

    def _after_intake(
        self,
        session: Session,
        effect: RelayReply | AddFile | ReopenTicket | SubmitSurvey,
        contact: Contact,
        now: datetime,
    ) -> Say:
        """The citizen's part in working a ticket; a request that does not apply is explained."""
        try:
            if isinstance(effect, RelayReply):
                return self.services.casework.citizen_replied(
                    session, contact, effect.ticket_id, effect.text, now, attachment_id=effect.attachment_id
                )
            if isinstance(effect, AddFile):
                return self.services.casework.citizen_added_file(
                    session, contact, effect.ticket_id, effect.attachment_id, now
                )
            if isinstance(effect, ReopenTicket):
                return self.services.casework.reopen(session, contact, effect.ticket_id, now)
            return self.services.casework.survey(session, contact, effect.ticket_id, effect.scores, effect.comment, now)
        except Refused as refused:
            return Say(
                "citizen/refused", {"reason": refused.reason, "reopen_days": self.services.book.office.reopen_days}
            )

    def _status(
        self, session: Session, contact: Contact, asked: str | None, *, offer_files: bool
    ) -> tuple[OutMessage, tuple[RenderedOption, ...]]:
        """The status list, and a button per open ticket to add a photo or document to it."""
        number = parse_ticket_number(asked) if asked else None
        if asked and number is None:
            number = asked.strip()[:24]
        tickets = repo.tickets_of_contact(session, contact_id=contact.id, number=number)  # type: ignore[arg-type]
        language = contact.language
        rows = []
        offers = []
        for ticket in tickets:
            rows.append(status_row(self.services, ticket, language))
            if offer_files and ticket.status in OPEN:  # a photo or a letter may still help the officer
                label = self.services.texts.render("status/attach_option", language, {"number": ticket.number})
                offers.append(RenderedOption(f"{ATTACH}:{ticket.id}", label))
        say = Say("status/list", {"tickets": rows, "number": number, "can_attach": bool(offers)})
        return self.services.texts.message(say, language), tuple(offers)


def _state(conversation: Conversation, contact: Contact) -> ConversationState:
    extra = conversation.extra or {}
    return ConversationState(
        language=contact.language,
        flow=conversation.flow,
        step=conversation.step,
        answers=dict(conversation.answers or {}),
        history=tuple(extra.get("history", ())),
        page=int(extra.get("page", 0)),
        editing=bool(extra.get("editing", False)),
        sub=extra.get("sub"),
        source=extra.get("source"),
        consent_version=contact.consent_version,
        expires_at=conversation.expires_at,
        known_phone=contact.phone,
        expired=bool(extra.get(EXPIRED)),
        attaching=extra.get("attaching"),
    )


def _stored(state: ConversationState) -> dict[str, Any]:
    """The conversation columns for `state`."""
    extra = {
        "history": list(state.history),
        "page": state.page,
        "editing": state.editing,
        "sub": state.sub,
        "source": state.source,
        "attaching": state.attaching,
    }
    return {
        "flow": state.flow,
        "step": state.step,
        "answers": dict(state.answers),
        "extra": extra,
        "expires_at": state.expires_at,
    }
