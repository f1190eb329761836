"""What the engine decides; the caller does it. Small frozen values, no behaviour."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Option:
    """A button or list row. The label is either per-language data from the flow file
    (`label`) or a word from the button templates (`label_key`)."""

    value: str
    label: Mapping[str, str] | None = None
    label_key: str | None = None
    description: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Say:
    """Send the message rendered from template `key` with `context`, offering `options`
    and, when set, a button that asks for the person's location or a photo, or a picture."""

    key: str
    context: Mapping[str, Any] = field(default_factory=dict)
    options: tuple[Option, ...] = ()
    request: Literal["location", "photo"] | None = None
    step: str | None = None
    photo: str | None = None  # a stored attachment's path, sent as a picture with the text as caption


@dataclass(frozen=True)
class RecordConsent:
    version: str


@dataclass(frozen=True)
class SetLanguage:
    language: str


@dataclass(frozen=True)
class OpenTicket:
    """File the ticket from the flow's answers; the caller numbers it and confirms."""

    flow: str
    answers: Mapping[str, Any]


@dataclass(frozen=True)
class ShowStatus:
    """List the person's own tickets (or the one numbered), then say `then`. `offer_files`:
    at the menu, the last message offers to add a photo or document to each open ticket (the
    last, since a web chat shows only the newest message's buttons)."""

    number: str | None
    then: tuple[Say, ...] = ()
    offer_files: bool = False


@dataclass(frozen=True)
class DropAttachments:
    """Delete photos uploaded for a report that will not be filed (nothing kept without need)."""

    attachment_ids: tuple[int, ...]


@dataclass(frozen=True)
class RelayReply:
    """The citizen answered an officer's question about `ticket_id`: attach and pass it on.
    `attachment_id`: the answer is a photo or a document, stored already."""

    ticket_id: int
    text: str
    attachment_id: int | None = None


@dataclass(frozen=True)
class AddFile:
    """The citizen adds a photo or document (stored already) to their filed `ticket_id`; the
    caller checks it is theirs and still open, files it and tells the officer."""

    ticket_id: int
    attachment_id: int


@dataclass(frozen=True)
class SubmitSurvey:
    """The citizen rated the handling of `ticket_id`: scores per survey step, 1–4."""

    ticket_id: int
    scores: Mapping[str, int]
    comment: str | None


@dataclass(frozen=True)
class ReopenTicket:
    """The citizen says `ticket_id` is not resolved; the caller checks it is theirs and in time."""

    ticket_id: int


@dataclass(frozen=True)
class OpenDataRights:
    """`/datasaya` or the menu's "my data": the caller opens the data-rights dialogue
    (workflows/privacy/dialogue.py), which needs the person's tickets to check who they are."""


Effect = (
    Say
    | RecordConsent
    | SetLanguage
    | OpenTicket
    | ShowStatus
    | DropAttachments
    | RelayReply
    | AddFile
    | SubmitSurvey
    | ReopenTicket
    | OpenDataRights
)
