"""The application's services, built once per process (bot/app.py) and handed to the chat, the
web console, the scheduled jobs and the CLIs: the office's configuration (its flow book) with
the texts and the working calendar, the case workflows, and the photo store the chat and the
console's assisted intake share.

Sign-in, staff records, the audit trail and the configuration store hold no state of their
own: they are the modules `workflows.signin`, `workflows.staff`, `workflows.audit` and
`workflows.config_store`, called with a database session.

The flow book changes while the process runs, when an admin saves a change here or in another
process on the same database. `use_book` swaps it for everyone holding it, and `refresh`
takes up a change stored elsewhere, for the server to call every few seconds.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlmodel import Session

from storage import repo
from storage.files import PhotoRejected, StoredPhoto, store_document, store_photo
from storage.models import Attachment, Contact, Staff, Ticket, stored_id
from workflows import config_store, signin
from workflows.calendar import WorkingCalendar
from workflows.casework.service import Casework
from workflows.engine import Say
from workflows.flowbook import FlowBook
from workflows.texts import Texts

log = logging.getLogger(__name__)

NOT_SAVED = "not_saved"  # a good file the server could not write: the person is asked to send it later


class HoldsBook(Protocol):
    """Anything that reads the office's configuration from its own `book` (the conversation
    engine, the case workflows)."""

    book: FlowBook


class Services:
    """What the parts of one process share, and the one place the configuration is swapped."""

    def __init__(
        self,
        *,
        book: FlowBook,
        texts: Texts,
        calendar: WorkingCalendar,
        attachments_dir: Path,
        max_photo_bytes: int,
        console_url: str,
        files_book: FlowBook | None = None,
    ) -> None:
        self.book = book
        self.files_book = files_book or book  # the YAML files alone: what "back to the file" returns to
        self.texts = texts
        self.calendar = calendar
        self.casework = Casework(book=book, texts=texts, calendar=calendar, console_url=console_url)
        self.attachments_dir = attachments_dir
        self.max_photo_bytes = max_photo_bytes
        self.console_url = console_url  # where the web console's sign-in links point
        self._holders: list[HoldsBook] = [self.casework]
        self._stamp: int | None = None  # config_store.stamp when last refreshed; None: not yet

    # ------------------------------------------------------------------ the configuration
    def share_book(self, holder: HoldsBook) -> None:
        """Keep `holder.book` the book in use from now on."""
        holder.book = self.book
        self._holders.append(holder)

    def use_book(self, book: FlowBook) -> None:
        """Work with a changed configuration (areas, categories, office) from the next message
        on: the engine, the case workflows, the desk, the console and the jobs all read it from
        here. Flows and texts are not changed this way, so the templates need no new check."""
        self.book = book
        for holder in self._holders:
            holder.book = book

    def refresh(self, session: Session) -> bool:
        """Take up a configuration stored by another process; True when the book changed. One
        small query when nothing did; the documents are read only when the stored stamp moved
        (a change saved by this process moves it too, and then the documents match)."""
        stamp = config_store.stamp(session)
        if stamp == self._stamp:
            return False
        fresh = config_store.current(session, book=self.book, files=self.files_book)
        self._stamp = stamp
        if fresh is self.book:
            return False
        self.use_book(fresh)
        log.info("configuration: took up the version stored by another process (stamp %s)", stamp)
        return True

    # ------------------------------------------------------------------ shared by the chat and the console
    def ticket_created(self, ticket: Ticket, language: str) -> Say:
        """The citizen's confirmation of a new ticket: its number and the first-response deadline."""
        days = self.book.office.service_standards.days(ticket.kind, ticket.category)["first_response"]
        first_due = datetime.fromisoformat(ticket.sla["first_response"]["due"])
        context: dict[str, Any] = {
            "number": ticket.number,
            "kind": ticket.kind,
            "working_days": days,
            "due_date": self.texts.long_date(self.calendar.local_date(first_due), language),
        }
        if ticket.urgent:
            context["hours"] = self.book.office.urgent.hours(ticket.category)["first_response"]
            context["due_date"] = self.texts.long_moment(first_due, self.calendar.zone, language)
        return Say("intake/ticket_created", context)

    def urgent_advice(self, ticket: Ticket, language: str) -> Say | None:
        """For an urgent ticket, what to do now: the on-call officer is alerted, and the
        hotlines to call if someone is in danger this minute (those the office gave a number)."""
        if not ticket.urgent:
            return None
        first_due = datetime.fromisoformat(ticket.sla["first_response"]["due"])
        hotlines = [
            {"name": h.name, "number": h.number, "when": h.when.model_dump() if h.when else None}
            for h in self.book.office.urgent.shown_hotlines()
        ]
        context = {
            "number": ticket.number,
            "due_time": self.texts.long_moment(first_due, self.calendar.zone, language),
            "hotlines": hotlines,
        }
        return Say("urgent/hotlines", context)

    def keep_photo(self, data: bytes, kind: str = "photo") -> StoredPhoto | str:
        """Check the photo (or, for `kind` "document", the PDF) and write it to disk, or say why
        not (a reason code). No database: the caller runs this in a thread, since decoding a
        large image takes a while."""
        store = store_document if kind == "document" else store_photo
        try:
            return store(self.attachments_dir, data, max_bytes=self.max_photo_bytes)
        except PhotoRejected as rejected:
            return rejected.reason
        except OSError as error:  # the folder unwritable, the disk full: the office's fault, not the file's
            log.error("photos: could not keep a %s in %s: %s", kind, self.attachments_dir, error)
            return NOT_SAVED

    def record_photo(self, session: Session, contact: Contact, photo: StoredPhoto, now: datetime) -> Attachment:
        """The stored photo as the contact's attachment, not yet filed (the chat and the console's
        assisted intake keep photos the same way)."""
        return repo.add_attachment(
            session,
            contact_id=stored_id(contact),
            sha256=photo.sha256,
            path=photo.path,
            content_type=photo.content_type,
            size=photo.size,
            width=photo.width,
            height=photo.height,
            now=now,
        )

    def send_signin_link(self, session: Session, staff: Staff, now: datetime) -> bool:
        """Put a fresh console sign-in link in the staff member's own chat; False when they have no chat."""
        url = signin.issue_link(session, staff=staff, console_url=self.console_url, now=now)
        return self.casework.tell_staff(session, staff, [signin.link_message(url)], now) > 0
